#include "mqttauth/boundary.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace mqttauth {

bool plausible_first_byte(std::uint8_t b, Direction dir, std::uint8_t level) noexcept {
  const unsigned flags = b & 0x0Fu;
  const bool from_client = dir != Direction::s2c, from_server = dir != Direction::c2s;
  switch (static_cast<PacketCode>(b >> 4)) {
    case PacketCode::reserved0: return false;
    case PacketCode::connect: return from_client && flags == 0;
    case PacketCode::connack: return from_server && flags == 0;
    case PacketCode::publish: {
      const unsigned qos = (flags >> 1) & 3u;
      return qos != 3 && !((flags & 8u) && qos == 0);
    }
    case PacketCode::puback:
    case PacketCode::pubrec:
    case PacketCode::pubcomp: return flags == 0;
    case PacketCode::pubrel: return flags == 2;
    case PacketCode::subscribe:
    case PacketCode::unsubscribe: return from_client && flags == 2;
    case PacketCode::suback:
    case PacketCode::unsuback: return from_server && flags == 0;
    case PacketCode::pingreq: return from_client && flags == 0;
    case PacketCode::pingresp: return from_server && flags == 0;
    case PacketCode::disconnect: return flags == 0 && (from_client || level != kLevel311);
    case PacketCode::auth: return flags == 0;
  }
  return false;
}

namespace {

enum class Verdict : std::uint8_t { reject, partial, complete };
struct Candidate {
  Verdict verdict = Verdict::reject;
  std::size_t size = 0;
  bool disconnect = false;
  bool prefix_clean = false;  // partial: its first kPrefix bytes decode cleanly as a whole (topic and all)
};

// Enough of a partial packet to judge its first fields by.
constexpr std::size_t kPrefix = 512;

Candidate classify(std::span<const std::uint8_t> buf, std::size_t pos, const BoundaryOptions& o, bool first) {
  Candidate c;
  auto b = buf.subspan(pos);
  if (b.empty()) return c;
  // Type 0 may be the custom authenticate packet: evidence only when it decodes as one, cleanly (its body
  // is as structured as a CONNECT's); a reserved type-0 body never is.
  const bool custom = b[0] == 0x00 && o.ctx.dialect != Dialect::standard;
  if (!custom && !plausible_first_byte(b[0], o.dir, o.ctx.level)) return c;
  auto h = parse_fixed_header(b, false);  // a non-minimal length is legal in 3.1.1, but never sent: no evidence
  if (!h) {
    if (h.error().kind == ErrorKind::need_more && !o.end_of_stream) c.verdict = Verdict::partial;
    return c;
  }
  const std::size_t size = h->packet_size();
  const bool big_start = first && o.at_start && pos == 0;
  const std::size_t limit =
      big_start ? o.ctx.limits.max_packet_size : std::min<std::size_t>(o.window, o.ctx.limits.max_packet_size);
  if (size > limit) return c;
  DecodeContext strict = o.ctx;
  strict.strict = true;
  if (b.size() < size) {
    if (o.end_of_stream) return c;
    // Judge the first fields: decode the bytes there are as if the packet ended there; running out is fine.
    std::array<std::uint8_t, kPrefix + 8> tmp{};
    const std::size_t body = std::min(b.size() - h->size, kPrefix);
    tmp[0] = b[0];
    const std::size_t n = 1 + write_variable_int(static_cast<std::uint32_t>(body), tmp.data() + 1);
    std::memcpy(tmp.data() + n, b.data() + h->size, body);
    auto d = decode(std::span<const std::uint8_t>(tmp.data(), n + body), strict);
    if (d) {
      if (std::holds_alternative<Reserved>(d->packet)) return c;
      c.prefix_clean = true;
    } else {
      const ErrorKind k = d.error().kind;
      if (k != ErrorKind::field_overrun && k != ErrorKind::empty_payload && k != ErrorKind::missing_field &&
          k != ErrorKind::need_more)
        return c;
    }
    c.verdict = Verdict::partial;
    c.size = size;
    return c;
  }
  auto d = decode(b.first(size), strict);
  if (!d && big_start) {
    // Where the capture started, a packet that a real peer sent with a rule broken still counts.
    DecodeContext tolerant = o.ctx;
    tolerant.strict = false;
    d = decode(b.first(size), tolerant);
  }
  if (!d || std::holds_alternative<Reserved>(d->packet)) return c;
  c.verdict = Verdict::complete;
  c.size = size;
  c.disconnect = std::holds_alternative<Disconnect>(d->packet);
  return c;
}

}  // namespace

BoundarySearch find_boundary(std::span<const std::uint8_t> buf, std::size_t from, const BoundaryOptions& o) noexcept {
  using K = BoundarySearch::Kind;
  const std::size_t n = buf.size();
  for (std::size_t pos = from; pos < n; ++pos) {
    Candidate c = classify(buf, pos, o, true);
    if (c.verdict == Verdict::reject) continue;
    if (c.verdict == Verdict::partial) {
      // A large PUBLISH where the capture started: taken once `window` bytes of it have been seen.
      if (o.at_start && pos == 0 && c.size > o.window && n >= o.window && (buf[0] >> 4) == 3 && c.prefix_clean)
        return {K::found, 0};
      return {K::wait, pos};
    }
    // A complete clean packet: follow the packets after it.
    std::size_t run = 1, next = pos + c.size;
    bool last_disconnect = c.disconnect;
    bool rejected = false;
    while (true) {
      if (next == n) {
        if (o.end_of_stream || run >= 2) return {K::found, pos};
        // Where the capture started, a whole packet of some size that ends where the data ends (senders
        // write packets whole: a segment ends with one) is taken, so that the connection's level is known
        // early (a v5 CONNACK tells it for both directions).
        if (o.at_start && pos == 0 && run == 1 && c.size >= 4) return {K::found, pos};
        return {K::wait, pos};
      }
      if (last_disconnect) {  // nothing follows a DISCONNECT
        rejected = true;
        break;
      }
      Candidate d = classify(buf, next, o, false);
      if (d.verdict == Verdict::reject) {
        rejected = true;
        break;
      }
      if (d.verdict == Verdict::partial) {
        if (run >= 2) return {K::found, pos};
        return {K::wait, pos};
      }
      if (++run >= 3) return {K::found, pos};
      next += d.size;
      last_disconnect = d.disconnect;
    }
    if (rejected) continue;
  }
  return {K::none, n};
}

std::optional<bool> looks_like_connect(std::span<const std::uint8_t> b) noexcept {
  if (b.empty()) return std::nullopt;
  if (b[0] != 0x10) return false;
  auto h = parse_fixed_header(b);
  if (!h) {
    if (h.error().kind == ErrorKind::need_more) return std::nullopt;
    return false;
  }
  static constexpr std::uint8_t mqtt[] = {0x00, 0x04, 'M', 'Q', 'T', 'T'};
  static constexpr std::uint8_t mqisdp[] = {0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p'};
  auto body = b.subspan(h->size);
  auto match = [&](const std::uint8_t* p, std::size_t len) -> std::optional<bool> {
    std::size_t k = std::min(len, body.size());
    if (std::memcmp(body.data(), p, k) != 0) return false;
    if (k < len) return std::nullopt;
    return true;
  };
  auto a = match(mqtt, sizeof mqtt);
  if (a && *a) return true;
  auto c = match(mqisdp, sizeof mqisdp);
  if (c && *c) return true;
  if (!a || !c) return std::nullopt;  // a prefix of one of them
  return false;
}

bool looks_like_tls(std::span<const std::uint8_t> b) noexcept {
  return b.size() >= 3 && b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04;
}

}  // namespace mqttauth
