// Writing an OpenSSL context's TLS secrets to a key log file (NSS key log format, as SSLKEYLOGFILE), for the
// reference broker and device: captures of them can then be decrypted. Header-only: its users link libssl.
#pragma once

#include <openssl/ssl.h>

#include <cstdio>
#include <memory>
#include <string>

namespace mqttauth::cli {

struct FileCloser {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
using KeylogFile = std::unique_ptr<std::FILE, FileCloser>;

namespace detail {
// The ex_data slot of an SSL_CTX that holds its key log file (not the app data, which Asio's context uses).
inline int keylog_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
inline void write_keylog_line(const SSL* ssl, const char* line) {
  auto* f = static_cast<std::FILE*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), keylog_index()));
  if (f == nullptr) return;
  std::fprintf(f, "%s\n", line);
  std::fflush(f);
}
}  // namespace detail

// Appends the secrets of every session of `ctx` to `path`; the file must outlive the sessions (keep `out`
// until the context is gone). False when the file cannot be opened.
inline bool log_tls_secrets(SSL_CTX* ctx, const std::string& path, KeylogFile& out) {
  out.reset(std::fopen(path.c_str(), "a"));
  if (!out) return false;
  SSL_CTX_set_ex_data(ctx, detail::keylog_index(), out.get());
  SSL_CTX_set_keylog_callback(ctx, detail::write_keylog_line);
  return true;
}

}  // namespace mqttauth::cli
