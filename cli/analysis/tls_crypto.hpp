// The cryptography of TLS decryption with a key log, on OpenSSL's primitives: HKDF and HKDF-Expand-Label (RFC
// 5869, RFC 8446 7.1) for the TLS 1.3 traffic keys, the TLS 1.2 PRF (RFC 5246 5) for its key block, and the
// AEADs (AES-GCM, ChaCha20-Poly1305) that open the records.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "mqttauth/tls.hpp"

namespace mqttauth::cli::tlsc {

using Bytes = std::vector<std::uint8_t>;
using View = std::span<const std::uint8_t>;

// Empty on failure (OpenSSL refused), which callers report as "cannot derive keys".
Bytes hkdf_extract(tls::Hash h, View salt, View ikm);
Bytes hkdf_expand(tls::Hash h, View prk, View info, std::size_t length);
Bytes hkdf_expand_label(tls::Hash h, View secret, std::string_view label, View context, std::size_t length);
Bytes tls12_prf(tls::Hash h, View secret, std::string_view label, View seed, std::size_t length);

// One direction's AEAD key: opens records (ciphertext with its 16-byte tag at the end).
class Aead {
 public:
  Aead(tls::Aead a, View key);
  ~Aead();
  Aead(const Aead&) = delete;
  Aead& operator=(const Aead&) = delete;
  bool valid() const noexcept { return ctx_ != nullptr; }
  // Opens `in` (ciphertext || tag) with a 12-byte nonce; false when the tag does not verify.
  bool open(View nonce, View aad, View in, Bytes& out);

 private:
  tls::Aead aead_;
  Bytes key_;
  void* ctx_ = nullptr;         // EVP_CIPHER_CTX
  std::uint8_t fixed_[4] = {};  // AES-GCM: the fixed part of the nonce set in the context
  bool fixed_set_ = false;
};

}  // namespace mqttauth::cli::tlsc
