#include "tls_crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <algorithm>
#include <string>

namespace mqttauth::cli::tlsc {

namespace {

const char* digest_name(tls::Hash h) { return h == tls::Hash::sha256 ? "SHA256" : "SHA384"; }

// One EVP_KDF derivation with the given parameters.
Bytes derive(const char* kdf_name, OSSL_PARAM* params, std::size_t length) {
  Bytes out(length);
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, kdf_name, nullptr);
  if (!kdf) return {};
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (!ctx) return {};
  const bool ok = EVP_KDF_derive(ctx, out.data(), out.size(), params) == 1;
  EVP_KDF_CTX_free(ctx);
  if (!ok) return {};
  return out;
}

// OSSL_PARAM takes non-const pointers; the KDFs only read these.
void* mut(View v) { return const_cast<std::uint8_t*>(v.data()); }  // NOLINT(cppcoreguidelines-pro-type-const-cast)

}  // namespace

Bytes hkdf_extract(tls::Hash h, View salt, View ikm) {
  int mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY;
  std::string md = digest_name(h);
  static const std::uint8_t kEmpty = 0;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, md.data(), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm.empty() ? mut(View(&kEmpty, 0)) : mut(ikm), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, mut(salt), salt.size()), OSSL_PARAM_construct_end()};
  return derive("HKDF", params, tls::hash_length(h));
}

Bytes hkdf_expand(tls::Hash h, View prk, View info, std::size_t length) {
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  std::string md = digest_name(h);
  OSSL_PARAM params[] = {OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
                         OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, md.data(), 0),
                         OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, mut(prk), prk.size()),
                         OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, mut(info), info.size()),
                         OSSL_PARAM_construct_end()};
  return derive("HKDF", params, length);
}

Bytes hkdf_expand_label(tls::Hash h, View secret, std::string_view label, View context, std::size_t length) {
  const Bytes info = tls::hkdf_label(static_cast<std::uint16_t>(length), label, context);
  return hkdf_expand(h, secret, info, length);
}

Bytes tls12_prf(tls::Hash h, View secret, std::string_view label, View seed, std::size_t length) {
  std::string md = digest_name(h);
  Bytes full(label.begin(), label.end());  // the PRF's seed is label + seed (RFC 5246 5)
  full.insert(full.end(), seed.begin(), seed.end());
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, md.data(), 0),
                         OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, mut(secret), secret.size()),
                         OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, full.data(), full.size()),
                         OSSL_PARAM_construct_end()};
  return derive("TLS1-PRF", params, length);
}

Aead::Aead(tls::Aead a, View key) : aead_(a), key_(key.begin(), key.end()) {
  if (key_.size() != tls::key_length(a)) return;
  // The cipher fetched and keyed once: a record only sets its nonce (re-keying per record, and fetching the
  // cipher by name, cost several times the decryption itself).
  const char* name = a == tls::Aead::aes_128_gcm   ? "AES-128-GCM"
                     : a == tls::Aead::aes_256_gcm ? "AES-256-GCM"
                                                   : "ChaCha20-Poly1305";
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, name, nullptr);
  auto* ctx = cipher ? EVP_CIPHER_CTX_new() : nullptr;
  if (ctx && EVP_DecryptInit_ex2(ctx, cipher, key_.data(), nullptr, nullptr) == 1) {
    ctx_ = ctx;
  } else {
    EVP_CIPHER_CTX_free(ctx);
  }
  EVP_CIPHER_free(cipher);
}

Aead::~Aead() { EVP_CIPHER_CTX_free(static_cast<EVP_CIPHER_CTX*>(ctx_)); }

bool Aead::open(View nonce, View aad, View in, Bytes& out) {
  constexpr std::size_t kTag = 16;
  if (!ctx_ || nonce.size() != 12 || in.size() < kTag) return false;
  auto* ctx = static_cast<EVP_CIPHER_CTX*>(ctx_);
  const std::size_t n = in.size() - kTag;
  out.resize(n);
  int len = 0;
  if (aead_ == tls::Aead::chacha20_poly1305) {
    if (EVP_DecryptInit_ex2(ctx, nullptr, nullptr, nonce.data(), nullptr) != 1) return false;
  } else {
    // AES-GCM: the nonce as the TLS fields GCM knows, a fixed part (its first 4 bytes, the same for every record
    // of a key: the sequence number only changes the last 8) set once, and the invocation part per record. A
    // full re-initialisation with the nonce costs OpenSSL 3.0 a parameter query per record.
    if (!fixed_set_ || !std::equal(nonce.begin(), nonce.begin() + 4, fixed_)) {
      std::copy(nonce.begin(), nonce.begin() + 4, fixed_);
      OSSL_PARAM fixed[] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, fixed_, 4),
                            OSSL_PARAM_construct_end()};
      if (EVP_CIPHER_CTX_set_params(ctx, fixed) != 1) return false;
      fixed_set_ = true;
    }
    // The invocation part and the expected tag in one call (each call searches its parameters by name).
    OSSL_PARAM inv[] = {
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_SET_IV_INV, mut(nonce.subspan(4)), 8),
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, mut(in.subspan(n)), kTag),
        OSSL_PARAM_construct_end()};
    if (EVP_CIPHER_CTX_set_params(ctx, inv) != 1) return false;
  }
  if (!aad.empty() && EVP_DecryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1)
    return false;
  if (n > 0 && EVP_DecryptUpdate(ctx, out.data(), &len, in.data(), static_cast<int>(n)) != 1) return false;
  if (aead_ == tls::Aead::chacha20_poly1305) {
    // (set_params rather than the ctrl, which is translated into parameters on every call)
    OSSL_PARAM tag[] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, mut(in.subspan(n)), kTag),
                        OSSL_PARAM_construct_end()};
    if (EVP_CIPHER_CTX_set_params(ctx, tag) != 1) return false;
  }
  int fin = 0;
  return EVP_DecryptFinal_ex(ctx, out.data() + len, &fin) == 1;
}

}  // namespace mqttauth::cli::tlsc
