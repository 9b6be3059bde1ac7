#include "mqttauth/tls.hpp"

#include <cstring>

namespace mqttauth::tls {

namespace {

// A bounds-checked cursor over a handshake body.
struct Cursor {
  std::span<const std::uint8_t> b;
  std::size_t pos = 0;
  bool ok = true;
  bool have(std::size_t n) {
    if (!ok || b.size() - pos < n) ok = false;
    return ok;
  }
  std::uint32_t num(std::size_t n) {
    if (!have(n)) return 0;
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | b[pos + i];
    pos += n;
    return v;
  }
  std::span<const std::uint8_t> take(std::size_t n) {
    if (!have(n)) return {};
    auto s = b.subspan(pos, n);
    pos += n;
    return s;
  }
  std::span<const std::uint8_t> vec(std::size_t len_bytes) { return take(num(len_bytes)); }
  bool done() const { return ok && pos == b.size(); }
};

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool from_hex(std::string_view s, std::vector<std::uint8_t>& out) {
  if (s.size() % 2 != 0 || s.empty()) return false;
  out.resize(s.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

constexpr Random kHelloRetryRandom = {0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C,
                                      0x02, 0x1E, 0x65, 0xB8, 0x91, 0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB,
                                      0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};

constexpr std::uint16_t kExtServerName = 0, kExtSupportedVersions = 43;

constexpr Suite kSuites[] = {
    {0x1301, Aead::aes_128_gcm, Hash::sha256, true, "TLS_AES_128_GCM_SHA256"},
    {0x1302, Aead::aes_256_gcm, Hash::sha384, true, "TLS_AES_256_GCM_SHA384"},
    {0x1303, Aead::chacha20_poly1305, Hash::sha256, true, "TLS_CHACHA20_POLY1305_SHA256"},
    {0xC02B, Aead::aes_128_gcm, Hash::sha256, false, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
    {0xC02C, Aead::aes_256_gcm, Hash::sha384, false, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
    {0xC02F, Aead::aes_128_gcm, Hash::sha256, false, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
    {0xC030, Aead::aes_256_gcm, Hash::sha384, false, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
    {0xCCA8, Aead::chacha20_poly1305, Hash::sha256, false, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
    {0xCCA9, Aead::chacha20_poly1305, Hash::sha256, false, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
    {0xCCAA, Aead::chacha20_poly1305, Hash::sha256, false, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
    {0x009C, Aead::aes_128_gcm, Hash::sha256, false, "TLS_RSA_WITH_AES_128_GCM_SHA256"},
    {0x009D, Aead::aes_256_gcm, Hash::sha384, false, "TLS_RSA_WITH_AES_256_GCM_SHA384"},
    {0x009E, Aead::aes_128_gcm, Hash::sha256, false, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"},
    {0x009F, Aead::aes_256_gcm, Hash::sha384, false, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"},
};

}  // namespace

std::string_view content_type_name(std::uint8_t t) noexcept {
  switch (static_cast<ContentType>(t)) {
    case ContentType::change_cipher_spec: return "change_cipher_spec";
    case ContentType::alert: return "alert";
    case ContentType::handshake: return "handshake";
    case ContentType::application_data: return "application_data";
    case ContentType::heartbeat: return "heartbeat";
  }
  return "unknown";
}

std::string version_name(std::uint16_t v) {
  switch (v) {
    case 0x0300: return "SSL 3.0";
    case 0x0301: return "TLS 1.0";
    case 0x0302: return "TLS 1.1";
    case kTls12: return "TLS 1.2";
    case kTls13: return "TLS 1.3";
    default: break;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s = "TLS 0x";
  for (int sh = 12; sh >= 0; sh -= 4) s += kHex[(v >> sh) & 0xF];
  return s;
}

void RecordReader::push(std::span<const std::uint8_t> bytes) {
  if (error_) return;
  if (!ext_.empty()) {  // (the caller did not take every record: keep what is left)
    buf_.insert(buf_.end(), ext_.begin(), ext_.end());
    ext_ = {};
  }
  if (pos_ > 0 && pos_ == buf_.size()) {
    base_ += pos_;
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 65536) {
    base_ += pos_;
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  if (buf_.empty()) {  // nothing held: the records are read where they are, what is left is copied at the end
    ext_ = bytes;
    return;
  }
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

RecordReader::Status RecordReader::take(const std::uint8_t* h, std::size_t avail, std::uint64_t at, Record& r) {
  const std::uint16_t len = static_cast<std::uint16_t>(h[3] << 8 | h[4]);
  if (h[0] < 20 || h[0] > 24) {
    error_ = "not a TLS record: unknown content type";
  } else if (h[1] != 3) {
    error_ = "not a TLS record: version is not 3.x";
  } else if (len > kMaxFragment12) {
    error_ = "TLS record longer than 2^14 + 2048 bytes (RFC 5246 6.2.3)";
  }
  if (error_) {
    error_at_ = at;
    return Status::error;
  }
  if (avail < 5u + len) return Status::need_more;
  r.type = h[0];
  r.version = static_cast<std::uint16_t>(h[1] << 8 | h[2]);
  r.fragment = std::span<const std::uint8_t>(h + 5, len);
  r.offset = at;
  return Status::record;
}

RecordReader::Status RecordReader::next(Record& r) {
  if (error_) return Status::error;
  if (!ext_.empty()) {
    // Bytes pushed while nothing was held (buf_ empty, base_ their offset): a whole record is a view of them.
    Status st = ext_.size() < 5 ? Status::need_more : take(ext_.data(), ext_.size(), base_, r);
    if (st == Status::record) {
      const std::size_t n = 5 + r.fragment.size();
      ext_ = ext_.subspan(n);
      base_ += n;
      return st;
    }
    if (st == Status::need_more) {  // the start of a record: kept until the rest comes
      buf_.assign(ext_.begin(), ext_.end());
      pos_ = 0;
      ext_ = {};
    }
    return st;
  }
  const std::size_t avail = buf_.size() - pos_;
  if (avail < 5) return Status::need_more;
  const Status st = take(buf_.data() + pos_, avail, base_ + pos_, r);
  if (st == Status::record) pos_ += 5 + r.fragment.size();
  return st;
}

bool HandshakeReader::next(std::uint8_t& type, std::span<const std::uint8_t>& body) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  const std::size_t avail = buf_.size() - pos_;
  if (avail < 4) return false;
  const std::uint8_t* h = buf_.data() + pos_;
  const std::size_t len = std::size_t{h[1]} << 16 | std::size_t{h[2]} << 8 | h[3];
  if (avail < 4 + len) return false;
  type = h[0];
  body = std::span<const std::uint8_t>(h + 4, len);
  pos_ += 4 + len;
  return true;
}

namespace {

// legacy_version and random, the start of both hellos.
bool hello_start(Cursor& c, std::uint16_t& version, Random& random) {
  version = static_cast<std::uint16_t>(c.num(2));
  auto rnd = c.take(32);
  if (!c.ok) return false;
  std::memcpy(random.data(), rnd.data(), 32);
  return true;
}

// The extensions that end a hello, if any (TLS 1.2 allows none): f(type, data cursor) for each. False when
// they do not parse.
template <class F>
bool each_extension(Cursor& c, F&& f) {
  if (c.pos == c.b.size()) return true;
  Cursor ext{c.vec(2)};
  if (!c.ok) return false;
  while (ext.ok && ext.pos < ext.b.size()) {
    const auto type = static_cast<std::uint16_t>(ext.num(2));
    Cursor data{ext.vec(2)};
    if (ext.ok) f(type, data);
  }
  return ext.ok;
}

}  // namespace

std::optional<ClientHello> parse_client_hello(std::span<const std::uint8_t> body) {
  Cursor c{body};
  ClientHello ch;
  if (!hello_start(c, ch.legacy_version, ch.random)) return std::nullopt;
  c.vec(1);  // legacy_session_id
  auto suites = c.vec(2);
  c.vec(1);  // compression methods
  if (!c.ok || suites.size() % 2 != 0) return std::nullopt;
  for (std::size_t i = 0; i + 1 < suites.size(); i += 2)
    ch.suites.push_back(static_cast<std::uint16_t>(suites[i] << 8 | suites[i + 1]));
  const bool ok = each_extension(c, [&](std::uint16_t type, Cursor& data) {
    if (type == kExtSupportedVersions) {
      auto list = data.vec(1);
      for (std::size_t i = 0; i + 1 < list.size(); i += 2)
        ch.versions.push_back(static_cast<std::uint16_t>(list[i] << 8 | list[i + 1]));
    } else if (type == kExtServerName) {
      Cursor names{data.vec(2)};
      while (names.ok && names.pos < names.b.size()) {
        const auto kind = names.num(1);
        auto name = names.vec(2);
        if (names.ok && kind == 0 && ch.server_name.empty()) ch.server_name.assign(name.begin(), name.end());
      }
    }
  });
  if (!ok) return std::nullopt;
  return ch;
}

std::optional<ServerHello> parse_server_hello(std::span<const std::uint8_t> body) {
  Cursor c{body};
  ServerHello sh;
  if (!hello_start(c, sh.legacy_version, sh.random)) return std::nullopt;
  sh.hello_retry = sh.random == kHelloRetryRandom;
  c.vec(1);  // legacy_session_id_echo
  sh.suite = static_cast<std::uint16_t>(c.num(2));
  c.num(1);  // compression method
  if (!c.ok) return std::nullopt;
  sh.version = sh.legacy_version;
  const bool ok = each_extension(c, [&](std::uint16_t type, Cursor& data) {
    if (type != kExtSupportedVersions) return;
    const auto v = static_cast<std::uint16_t>(data.num(2));
    if (data.ok) sh.version = v;
  });
  if (!ok) return std::nullopt;
  return sh;
}

const Suite* find_suite(std::uint16_t id) noexcept {
  for (const Suite& s : kSuites)
    if (s.id == id) return &s;
  return nullptr;
}

std::size_t key_length(Aead a) noexcept { return a == Aead::aes_128_gcm ? 16 : 32; }
std::size_t hash_length(Hash h) noexcept { return h == Hash::sha256 ? 32 : 48; }

std::size_t KeyLog::add(std::string_view text) {
  std::size_t bad = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    const std::size_t s1 = line.find(' ');
    const std::size_t s2 = s1 == std::string_view::npos ? s1 : line.find(' ', s1 + 1);
    if (s2 == std::string_view::npos) {
      ++bad;
      continue;
    }
    const std::string_view label = line.substr(0, s1), rnd = line.substr(s1 + 1, s2 - s1 - 1),
                           secret = line.substr(s2 + 1);
    std::vector<std::uint8_t> r, s;
    if (!from_hex(rnd, r) || r.size() != 32 || !from_hex(secret, s) || s.size() > 64) {
      ++bad;
      continue;
    }
    Random key{};
    std::memcpy(key.data(), r.data(), 32);
    std::vector<std::uint8_t> Secrets::*member = nullptr;
    if (label == "CLIENT_RANDOM")
      member = &Secrets::master;
    else if (label == "CLIENT_HANDSHAKE_TRAFFIC_SECRET")
      member = &Secrets::client_handshake;
    else if (label == "SERVER_HANDSHAKE_TRAFFIC_SECRET")
      member = &Secrets::server_handshake;
    else if (label == "CLIENT_TRAFFIC_SECRET_0")
      member = &Secrets::client_traffic;
    else if (label == "SERVER_TRAFFIC_SECRET_0")
      member = &Secrets::server_traffic;
    if (!member) continue;  // EXPORTER_SECRET, EARLY_EXPORTER_SECRET, CLIENT_EARLY_TRAFFIC_SECRET, ...
    by_random_[key].*member = std::move(s);
  }
  return bad;
}

const KeyLog::Secrets* KeyLog::find(const Random& client_random) const {
  auto it = by_random_.find(client_random);
  return it == by_random_.end() ? nullptr : &it->second;
}

void KeyLog::merge(const KeyLog& o) {
  for (const auto& [k, v] : o.by_random_) {
    Secrets& into = by_random_[k];
    if (!v.master.empty()) into.master = v.master;
    if (!v.client_handshake.empty()) into.client_handshake = v.client_handshake;
    if (!v.server_handshake.empty()) into.server_handshake = v.server_handshake;
    if (!v.client_traffic.empty()) into.client_traffic = v.client_traffic;
    if (!v.server_traffic.empty()) into.server_traffic = v.server_traffic;
  }
}

std::vector<std::uint8_t> hkdf_label(std::uint16_t length, std::string_view label,
                                     std::span<const std::uint8_t> context) {
  std::vector<std::uint8_t> out;
  const std::string full = "tls13 " + std::string(label);
  out.reserve(4 + full.size() + context.size());
  out.push_back(static_cast<std::uint8_t>(length >> 8));
  out.push_back(static_cast<std::uint8_t>(length));
  out.push_back(static_cast<std::uint8_t>(full.size()));
  out.insert(out.end(), full.begin(), full.end());
  out.push_back(static_cast<std::uint8_t>(context.size()));
  out.insert(out.end(), context.begin(), context.end());
  return out;
}

std::array<std::uint8_t, 12> xor_nonce(std::span<const std::uint8_t> iv, std::uint64_t seq) noexcept {
  std::array<std::uint8_t, 12> n{};
  for (std::size_t i = 0; i < 12 && i < iv.size(); ++i) n[i] = iv[i];
  for (std::size_t i = 0; i < 8; ++i) n[11 - i] ^= static_cast<std::uint8_t>(seq >> (8 * i));
  return n;
}

std::array<std::uint8_t, 13> tls12_aad(std::uint64_t seq, std::uint8_t type, std::uint16_t version,
                                       std::uint16_t plain_len) noexcept {
  std::array<std::uint8_t, 13> a{};
  for (std::size_t i = 0; i < 8; ++i) a[7 - i] = static_cast<std::uint8_t>(seq >> (8 * i));
  a[8] = type;
  a[9] = static_cast<std::uint8_t>(version >> 8);
  a[10] = static_cast<std::uint8_t>(version);
  a[11] = static_cast<std::uint8_t>(plain_len >> 8);
  a[12] = static_cast<std::uint8_t>(plain_len);
  return a;
}

Inner inner_plaintext(std::span<const std::uint8_t> plain) noexcept {
  std::size_t n = plain.size();
  while (n > 0 && plain[n - 1] == 0) --n;
  if (n == 0) return {};
  return Inner{plain[n - 1], n - 1};
}

}  // namespace mqttauth::tls
