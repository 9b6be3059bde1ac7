// From a captured frame to a TCP segment: link layers (Ethernet with 802.1Q / QinQ tags, Linux cooked v1 and
// v2, BSD loopback, raw IP), IPv4 (fragments reassembled, bounded) and IPv6 (extension headers).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace mqttauth::cli {

struct IpAddr {
  std::array<std::uint8_t, 16> b{};  // IPv4 in the first 4 bytes
  bool v6 = false;
  // Bytes 0-7 (i = 0) or 8-15 (i = 1) as one integer, for comparing and hashing eight bytes at a time.
  std::uint64_t word(std::size_t i) const noexcept {
    std::uint64_t v;
    std::memcpy(&v, b.data() + 8 * i, 8);
    return v;
  }
  // Two word compares: the connection table compares addresses on every lookup (memcmp was 3% of stats).
  friend bool operator==(const IpAddr& x, const IpAddr& y) noexcept {
    return x.word(0) == y.word(0) && x.word(1) == y.word(1) && x.v6 == y.v6;
  }
  friend auto operator<=>(const IpAddr&, const IpAddr&) = default;  // NOLINT(modernize-use-nullptr): clang-tidy 14
  std::string str() const;
};

struct Endpoint {
  IpAddr ip;
  std::uint16_t port = 0;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;  // NOLINT(modernize-use-nullptr): clang-tidy 14
  std::string str() const;                                              // "1.2.3.4:1883", "[::1]:1883"
  // The same text into `buf` (at least kTextMax bytes, not terminated); returns its length. No allocation.
  static constexpr std::size_t kTextMax = 56;
  std::size_t format(char* buf) const noexcept;
};

namespace tcpflag {
inline constexpr std::uint8_t fin = 0x01, syn = 0x02, rst = 0x04, psh = 0x08, ack = 0x10;
}

struct TcpSegment {
  Endpoint src, dst;
  std::uint32_t seq = 0, ack = 0;
  std::uint8_t flags = 0;
  std::uint16_t window = 0;
  std::span<const std::uint8_t> payload;  // what was captured of it
  std::uint32_t payload_wire_len = 0;     // its length on the wire (more when the snap length cut it)
};

// Why a frame yields no TCP segment.
enum class FrameSkip : std::uint8_t {
  none,
  not_ip,            // ARP, LLDP, ...: nothing to say
  not_tcp,           // UDP, ICMP, ...
  fragment_pending,  // an IPv4 fragment held for reassembly
  unsupported_link,  // a link type we do not read
  malformed,         // a header is cut or inconsistent
};

struct ParsedFrame {
  FrameSkip skip = FrameSkip::none;
  const char* why = "";  // for malformed / unsupported
  TcpSegment seg;
};

// IPv4 fragment reassembly with bounded memory; completed datagrams are kept until the next call.
// Overlaps: the first bytes received for an offset win (as in TCP reassembly); a later fragment only fills
// what is still missing.
class Ipv4Defrag {
 public:
  struct Limits {
    std::size_t max_datagrams = 1024;   // in reassembly at once
    std::size_t max_bytes = 16u << 20;  // held in all
    std::size_t max_ranges = 1024;      // disjoint pieces of one datagram
    std::int64_t timeout_ns = 30'000'000'000;
  };
  Ipv4Defrag() = default;
  explicit Ipv4Defrag(Limits l) : limits_(l) {}
  // Feeds one fragment (the IPv4 header included). Returns the whole datagram (header + payload, as one
  // unfragmented packet) once complete.
  std::optional<std::span<const std::uint8_t>> add(std::span<const std::uint8_t> ip, std::int64_t ts_ns);
  std::uint64_t dropped() const noexcept { return dropped_; }
  std::size_t pending() const noexcept { return pending_.size(); }  // datagrams in reassembly
  std::size_t held_bytes() const noexcept { return held_; }
  std::size_t held_ranges() const noexcept;  // disjoint received ranges, in all

 private:
  struct Key {
    std::uint32_t src, dst;
    std::uint16_t id;
    std::uint8_t proto;
    friend auto operator<=>(const Key&, const Key&) = default;  // NOLINT(modernize-use-nullptr): clang-tidy 14
  };
  struct Pending {
    std::vector<std::uint8_t> header;
    std::vector<std::uint8_t> data;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> have;  // [begin, end) ranges: sorted, disjoint
    std::optional<std::uint32_t> total;
    std::int64_t first_ts = 0;
  };
  void expire(std::int64_t now);
  Limits limits_{};
  std::map<Key, Pending> pending_;
  std::size_t held_ = 0;
  std::uint64_t dropped_ = 0;
  std::vector<std::uint8_t> done_;
};

// The common case fast: a well-formed, unfragmented Ethernet / IPv4 / TCP frame into `seg`, exactly as
// FrameParser::parse would give it. False for everything else (VLAN tags, IPv6, fragments, TSO, other link
// types, anything cut or odd: parse those fully); `seg` is then unspecified.
bool quick_ipv4_tcp(std::uint32_t link_type, std::span<const std::uint8_t> frame, TcpSegment& seg) noexcept;

// Whether FrameParser reads frames of this link type.
bool link_supported(std::uint32_t link_type) noexcept;

class FrameParser {
 public:
  ParsedFrame parse(std::uint32_t link_type, std::span<const std::uint8_t> frame, std::uint32_t orig_len,
                    std::int64_t ts_ns);
  Ipv4Defrag& defrag() { return defrag_; }

 private:
  ParsedFrame ip(std::span<const std::uint8_t> p, std::uint32_t wire_len, std::int64_t ts_ns);
  // The TCP header into `f` (whose addresses are set); marks `f` malformed when the header is bad.
  static void tcp(ParsedFrame& f, std::span<const std::uint8_t> p, std::uint32_t wire_len);
  Ipv4Defrag defrag_;
};

// Splits "HOST:PORT" / "[v6]:PORT" (the one parser of addresses given on the command line and in
// configuration files). False when malformed: no port, a port that is not a number up to 65535, no host.
bool split_host_port(const std::string& s, std::string& host, std::uint16_t& port);

}  // namespace mqttauth::cli
