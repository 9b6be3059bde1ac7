// Byte-exact encoding of every packet. The encoder writes what it is given (it does not re-validate
// semantics), but refuses fields that the format cannot carry.
#include <cstring>
#include <stdexcept>

#include "mqttauth/codec.hpp"

namespace mqttauth {
namespace {

constexpr std::uint32_t kMaxRemaining = 268435455;

class Writer {
 public:
  explicit Writer(std::vector<std::uint8_t>& out) : out_(out) {}
  bool ok() const { return ok_; }
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v >> 8));
    out_.push_back(static_cast<std::uint8_t>(v));
  }
  void raw(const std::uint8_t* p, std::size_t n) { out_.insert(out_.end(), p, p + n); }
  void varint(std::uint32_t v) {
    if (v > kMaxRemaining) ok_ = false;
    do {
      auto b = static_cast<std::uint8_t>(v & 0x7Fu);
      v >>= 7;
      if (v) b |= 0x80u;
      out_.push_back(b);
    } while (v);
  }
  void binary(const std::uint8_t* p, std::size_t n) {
    if (n > 0xFFFF) {
      ok_ = false;
      return;
    }
    u16(static_cast<std::uint16_t>(n));
    raw(p, n);
  }
  void str(std::string_view s) { binary(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }
  void bytes(Bytes b) { binary(b.data(), b.size()); }
  void props(const Properties& p) {
    if (p.raw().size() > kMaxRemaining) {
      ok_ = false;
      return;
    }
    varint(static_cast<std::uint32_t>(p.raw().size()));
    raw(p.raw().data(), p.raw().size());
  }

 private:
  std::vector<std::uint8_t>& out_;
  bool ok_ = true;
};

void connect_body(Writer& w, const ConnectBody& c) {
  w.str(c.protocol_name);
  w.u8(static_cast<std::uint8_t>(c.level | (c.bridge ? 0x80u : 0u)));
  w.u8(c.flags());
  w.u16(c.keep_alive);
  bool v5 = c.level == kLevel5;
  if (v5) w.props(c.properties);
  w.str(c.client_id);
  if (c.will) {
    if (v5) w.props(c.will->properties);
    w.str(c.will->topic);
    w.bytes(c.will->payload);
  }
  if (c.username) w.str(*c.username);
  if (c.password) w.bytes(*c.password);
}

void pubresp(Writer& w, const PubResponse& p, bool v5) {
  w.u16(p.packet_id);
  if (!v5 || (p.reason_code == 0 && p.properties.empty())) return;
  w.u8(p.reason_code);
  if (!p.properties.empty()) w.props(p.properties);
}

// Writes the body of `p`; returns the fixed-header byte.
std::uint8_t body(Writer& w, const Packet& p, std::uint8_t level) {
  const bool v5 = level == kLevel5;
  struct Visitor {
    Writer& w;
    bool v5;
    std::uint8_t operator()(const Connect& c) {
      connect_body(w, c);
      return 0x10;
    }
    std::uint8_t operator()(const Authenticate& a) {
      connect_body(w, a);
      return static_cast<std::uint8_t>((a.code & 0x0Fu) << 4);
    }
    std::uint8_t operator()(const Connack& c) {
      w.u8(c.session_present ? 1 : 0);
      w.u8(c.code);
      if (v5) w.props(c.properties);
      return 0x20;
    }
    std::uint8_t operator()(const Publish& p) {
      w.str(p.topic);
      if (p.qos > 0) w.u16(p.packet_id);
      if (v5) w.props(p.properties);
      w.raw(p.payload.data(), p.payload.size());
      return static_cast<std::uint8_t>(0x30u | (p.dup ? 0x08u : 0u) | ((p.qos & 3u) << 1) | (p.retain ? 1u : 0u));
    }
    std::uint8_t operator()(const Puback& p) {
      pubresp(w, p, v5);
      return 0x40;
    }
    std::uint8_t operator()(const Pubrec& p) {
      pubresp(w, p, v5);
      return 0x50;
    }
    std::uint8_t operator()(const Pubrel& p) {
      pubresp(w, p, v5);
      return 0x62;
    }
    std::uint8_t operator()(const Pubcomp& p) {
      pubresp(w, p, v5);
      return 0x70;
    }
    std::uint8_t operator()(const Subscribe& s) {
      w.u16(s.packet_id);
      if (v5) w.props(s.properties);
      for (const auto& sub : s.subscriptions) {
        w.str(sub.filter);
        w.u8(sub.options);
      }
      return 0x82;
    }
    std::uint8_t operator()(const Suback& s) {
      w.u16(s.packet_id);
      if (v5) w.props(s.properties);
      w.raw(s.codes.data(), s.codes.size());
      return 0x90;
    }
    std::uint8_t operator()(const Unsubscribe& u) {
      w.u16(u.packet_id);
      if (v5) w.props(u.properties);
      for (auto f : u.filters) w.str(f);
      return 0xA2;
    }
    std::uint8_t operator()(const Unsuback& u) {
      w.u16(u.packet_id);
      if (v5) {
        w.props(u.properties);
        w.raw(u.codes.data(), u.codes.size());
      }
      return 0xB0;
    }
    std::uint8_t operator()(const Pingreq&) { return 0xC0; }
    std::uint8_t operator()(const Pingresp&) { return 0xD0; }
    std::uint8_t operator()(const Disconnect& d) {
      if (v5 && (d.reason_code != 0 || !d.properties.empty())) {
        w.u8(d.reason_code);
        if (!d.properties.empty()) w.props(d.properties);
      }
      return 0xE0;
    }
    std::uint8_t operator()(const Auth& a) {
      if (a.reason_code != 0 || !a.properties.empty()) {
        w.u8(a.reason_code);
        w.props(a.properties);
      }
      return 0xF0;
    }
    std::uint8_t operator()(const Reserved& r) {
      w.raw(r.body.data(), r.body.size());
      return static_cast<std::uint8_t>(((r.code & 0x0Fu) << 4) | (r.flags & 0x0Fu));
    }
  };
  return std::visit(Visitor{w, v5}, p);
}

}  // namespace

std::uint8_t ConnectBody::flags() const noexcept {
  std::uint8_t f = 0;
  if (username) f |= 0x80u;
  if (password) f |= 0x40u;
  if (will) {
    f |= 0x04u;
    f |= static_cast<std::uint8_t>((will->qos & 3u) << 3);
    if (will->retain) f |= 0x20u;
  }
  if (clean) f |= 0x02u;
  return f;
}

Expected<std::size_t> encode(const Packet& p, std::uint8_t level, std::vector<std::uint8_t>& out) {
  const std::size_t start = out.size();
  out.resize(start + 5);  // header byte + room for the longest remaining length
  Writer w(out);
  std::uint8_t header = body(w, p, level);
  const std::size_t body_size = out.size() - start - 5;
  if (!w.ok() || body_size > kMaxRemaining) {
    out.resize(start);
    return Error{ErrorKind::encode_too_long, 0, "a field or the packet is too long for the format"};
  }
  std::uint8_t len[4];
  const std::size_t n = write_variable_int(static_cast<std::uint32_t>(body_size), len);
  // Close the gap between the header and the body.
  const std::size_t hdr = 1 + n;
  out[start] = header;
  std::memcpy(out.data() + start + 1, len, n);
  std::memmove(out.data() + start + hdr, out.data() + start + 5, body_size);
  out.resize(start + hdr + body_size);
  return hdr + body_size;
}

std::vector<std::uint8_t> encode_or_throw(const Packet& p, std::uint8_t level) {
  std::vector<std::uint8_t> out;
  auto r = encode(p, level, out);
  if (!r) throw std::length_error(r.error().message());
  return out;
}

std::size_t write_variable_int(std::uint32_t value, std::uint8_t out[4]) noexcept {
  std::size_t n = 0;
  do {
    auto b = static_cast<std::uint8_t>(value & 0x7Fu);
    value >>= 7;
    if (value) b |= 0x80u;
    out[n++] = b;
  } while (value && n < 4);
  return n;
}

}  // namespace mqttauth
