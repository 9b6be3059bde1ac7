// TLS as MQTT travels in it (RFC 5246 for TLS 1.2, RFC 8446 for TLS 1.3), sans-I/O and without cryptography:
// the record layer of one direction, handshake messages reassembled across records, the ClientHello and
// ServerHello fields that decide how a connection is protected (randoms, version, cipher suite), the AEAD
// cipher suites that can be decrypted with a key log, and the NSS key log format (SSLKEYLOGFILE) that gives the
// secrets. The key schedule and the AEAD are the caller's (the CLI uses OpenSSL's); nothing here can decrypt.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mqttauth::tls {

enum class ContentType : std::uint8_t {
  change_cipher_spec = 20,
  alert = 21,
  handshake = 22,
  application_data = 23,
  heartbeat = 24
};
std::string_view content_type_name(std::uint8_t t) noexcept;

enum class HandshakeType : std::uint8_t {
  client_hello = 1,
  server_hello = 2,
  new_session_ticket = 4,
  end_of_early_data = 5,
  encrypted_extensions = 8,
  certificate = 11,
  server_key_exchange = 12,
  certificate_request = 13,
  server_hello_done = 14,
  certificate_verify = 15,
  client_key_exchange = 16,
  finished = 20,
  key_update = 24
};

inline constexpr std::uint16_t kTls12 = 0x0303, kTls13 = 0x0304;
// "TLS 1.2", "TLS 1.3", "TLS 1.0", ... ("TLS 0x7f1c" for others).
std::string version_name(std::uint16_t v);

// The largest record fragment a peer may send: TLSCiphertext of TLS 1.2 (2^14 + 2048, RFC 5246 6.2.3); TLS 1.3
// allows 2^14 + 256 (RFC 8446 5.2), checked by the caller once the version is known.
inline constexpr std::size_t kMaxFragment12 = (1u << 14) + 2048, kMaxFragment13 = (1u << 14) + 256;

// One record: its header fields and its fragment (a view into the reader's buffer or into the bytes last
// pushed, valid until the next push()). `offset`: where the record's header starts in the direction's byte stream.
struct Record {
  std::uint8_t type = 0;
  std::uint16_t version = 0;
  std::span<const std::uint8_t> fragment;
  std::uint64_t offset = 0;
};

// The records of one direction, from bytes pushed in order (any split); the caller takes every record (next()
// until need_more) before it pushes again, and the pushed bytes live until then. A header that cannot be a TLS record
// (unknown content type, a version other than 3.x, a length over kMaxFragment12) stops the reader: framing is
// lost, as it would be for the peer.
class RecordReader {
 public:
  enum class Status : std::uint8_t { record, need_more, error };
  void push(std::span<const std::uint8_t> bytes);
  Status next(Record& r);
  const char* error() const noexcept { return error_; }
  std::uint64_t error_offset() const noexcept { return error_at_; }
  std::size_t buffered() const noexcept { return buf_.size() - pos_ + ext_.size(); }

 private:
  Status take(const std::uint8_t* h, std::size_t avail, std::uint64_t at, Record& r);
  std::vector<std::uint8_t> buf_;
  std::size_t pos_ = 0;
  std::uint64_t base_ = 0;  // stream offset of buf_[0] (of ext_[0] while buf_ is empty)
  // The last push() when nothing was held: read in place (records are views of it), not copied unless a
  // record is left incomplete. Valid until the next push(), as the records are.
  std::span<const std::uint8_t> ext_;
  const char* error_ = nullptr;
  std::uint64_t error_at_ = 0;
};

// Handshake messages (type, 24-bit length, body), from the plaintext handshake bytes of one direction in order:
// a message may span records and a record may hold several (RFC 8446 5.1).
class HandshakeReader {
 public:
  void push(std::span<const std::uint8_t> bytes) { buf_.insert(buf_.end(), bytes.begin(), bytes.end()); }
  // The next complete message: its type and body (valid until the next push() or next()).
  bool next(std::uint8_t& type, std::span<const std::uint8_t>& body);
  void clear() noexcept { buf_.clear(), pos_ = 0; }

 private:
  std::vector<std::uint8_t> buf_;
  std::size_t pos_ = 0;
};

using Random = std::array<std::uint8_t, 32>;

struct ClientHello {
  std::uint16_t legacy_version = 0;
  Random random{};
  std::vector<std::uint16_t> suites;
  std::vector<std::uint16_t> versions;  // supported_versions (empty: the legacy version only)
  std::string server_name;              // SNI host name, if any
};
// The body of a ClientHello handshake message; nullopt when it does not parse.
std::optional<ClientHello> parse_client_hello(std::span<const std::uint8_t> body);

struct ServerHello {
  std::uint16_t legacy_version = 0;
  Random random{};
  std::uint16_t suite = 0;
  std::uint16_t version = 0;  // the one negotiated: supported_versions' if present, else legacy_version
  bool hello_retry = false;   // a HelloRetryRequest (RFC 8446 4.1.3: its special random)
};
std::optional<ServerHello> parse_server_hello(std::span<const std::uint8_t> body);

enum class Aead : std::uint8_t { aes_128_gcm, aes_256_gcm, chacha20_poly1305 };
enum class Hash : std::uint8_t { sha256, sha384 };
struct Suite {
  std::uint16_t id;
  Aead aead;
  Hash hash;
  bool tls13;
  const char* name;
};
// The AEAD suites a key log can decrypt (TLS 1.3's three common ones; TLS 1.2's AES-GCM and ChaCha20-Poly1305
// with ECDHE, DHE or RSA key exchange); nullptr for the others.
const Suite* find_suite(std::uint16_t id) noexcept;
std::size_t key_length(Aead a) noexcept;   // 16 or 32
std::size_t hash_length(Hash h) noexcept;  // 32 or 48

// The secrets of an NSS key log (the SSLKEYLOGFILE format: "LABEL <client random hex> <secret hex>" lines,
// '#' comments), by client random.
class KeyLog {
 public:
  struct Secrets {
    std::vector<std::uint8_t> master;  // CLIENT_RANDOM: the TLS 1.2 master secret
    std::vector<std::uint8_t> client_handshake, server_handshake;
    std::vector<std::uint8_t> client_traffic, server_traffic;  // CLIENT_TRAFFIC_SECRET_0, SERVER_TRAFFIC_SECRET_0
  };
  // Adds the lines of `text`; returns how many lines were malformed (labels it does not use are skipped).
  std::size_t add(std::string_view text);
  const Secrets* find(const Random& client_random) const;
  std::size_t size() const noexcept { return by_random_.size(); }
  bool empty() const noexcept { return by_random_.empty(); }
  void merge(const KeyLog& o);

 private:
  std::map<Random, Secrets> by_random_;
};

// The HkdfLabel structure of RFC 8446 7.1 ("tls13 " + label), the info of HKDF-Expand-Label.
std::vector<std::uint8_t> hkdf_label(std::uint16_t length, std::string_view label,
                                     std::span<const std::uint8_t> context);

// The nonce of a TLS 1.3 record, and of a TLS 1.2 ChaCha20-Poly1305 one (RFC 8446 5.3, RFC 7905 2): the
// 12-byte IV XOR the 64-bit sequence number, left-padded.
std::array<std::uint8_t, 12> xor_nonce(std::span<const std::uint8_t> iv, std::uint64_t seq) noexcept;

// The additional data of a TLS 1.2 AEAD record (RFC 5246 6.2.3.3): seq_num, type, version, plaintext length.
std::array<std::uint8_t, 13> tls12_aad(std::uint64_t seq, std::uint8_t type, std::uint16_t version,
                                       std::uint16_t plain_len) noexcept;

// TLS 1.3 TLSInnerPlaintext (RFC 8446 5.2): the content, then the real type, then zero padding. The type (0 when
// the plaintext is all zeros, which the RFC forbids) and the length of the content.
struct Inner {
  std::uint8_t type = 0;
  std::size_t length = 0;
};
Inner inner_plaintext(std::span<const std::uint8_t> plain) noexcept;

}  // namespace mqttauth::tls
