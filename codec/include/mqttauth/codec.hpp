// Decoding and encoding of single MQTT packets. Sans-I/O, no allocation for the common packets (SUBSCRIBE
// and UNSUBSCRIBE lists are vectors of views), never throws from decode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "mqttauth/error.hpp"
#include "mqttauth/packet.hpp"

namespace mqttauth {

// How packet types 0 and 15 are read.
enum class Dialect : std::uint8_t {
  auto_detect,   // the dialect rules: type 0 = authenticate if the body is CONNECT-like, else reserved;
                 // type 15 = AUTH at level 5, authenticate at level 3/4, by the body when the level is unknown
  authenticate,  // types 0 and 15 are always the custom authenticate packet
  standard,      // plain MQTT: type 15 is always AUTH; type 0 is an error (bad_packet_type)
};

struct Limits {
  // Largest packet accepted, fixed header included. The spec's maximum is 268435460 bytes.
  std::uint32_t max_packet_size = 268435460;
};

struct DecodeContext {
  // Protocol level of the connection: 3, 4, 5, or 0 when unknown (no CONNECT seen). At level 0 packets are
  // read as 3.1.1 first and as 5.0 when that fails.
  std::uint8_t level = 0;
  Dialect dialect = Dialect::auto_detect;
  Limits limits{};
  // Accept a variable byte integer that is not minimally encoded (the spec forbids it at level 5 only).
  bool lenient_vbi = false;
  // Strict decoding, for conformance work: the first rule violation is an Error. By default a packet whose
  // structure can be walked is decoded in full and its violations are listed in Decoded::violations; only
  // what makes a packet impossible to walk is an Error (a length that overruns, a variable integer of more
  // than 4 bytes, an unknown property identifier, a protocol level other than 3, 4 or 5, the size limit).
  bool strict = false;
};

struct FixedHeader {
  std::uint8_t byte = 0;  // type << 4 | flags
  std::uint32_t remaining_length = 0;
  std::uint8_t size = 0;  // 2..5 bytes
  std::uint8_t code() const noexcept { return byte >> 4; }
  std::uint8_t flags() const noexcept { return byte & 0x0Fu; }
  std::size_t packet_size() const noexcept { return std::size_t{size} + remaining_length; }
};

// Parses a fixed header at the start of `in`. need_more when `in` ends inside it; bad_remaining_length
// on a 5th length byte (or a non-minimal encoding unless `lenient`).
Expected<FixedHeader> parse_fixed_header(std::span<const std::uint8_t> in, bool lenient = true) noexcept;

// Writes `value` (at most 268435455) as a variable byte integer, minimally; returns the 1..4 bytes written.
std::size_t write_variable_int(std::uint32_t value, std::uint8_t out[4]) noexcept;

struct Decoded {
  FixedHeader header;
  Packet packet;
  std::uint8_t level = 0;  // the level the packet was read at (for level-0 contexts: 4 or 5)
  Violations violations;   // rules the packet breaks (never in a strict decode)
  Decoded() = default;
  // (A constructor rather than aggregate initialisation, so that Expected<Decoded> can build one in place with
  // every compiler the project builds with: Clang 14 has no parenthesised aggregate initialisation.)
  Decoded(const FixedHeader& h, Packet&& p, std::uint8_t lv, const Violations& v)
      : header(h), packet(std::move(p)), level(lv), violations(v) {}
  // An empty packet of type T, to be read into where it lies (no violations yet).
  template <class T>
  Decoded(const FixedHeader& h, std::in_place_type_t<T> t, std::uint8_t lv) : header(h), packet(t), level(lv) {}
};

// Decodes the one packet at the start of `in` (extra bytes after it are ignored: header.packet_size() tells
// how many were used). need_more (offset = bytes needed in all) when `in` is shorter than the packet.
// Error offsets count from the first byte of the fixed header.
Expected<Decoded> decode(std::span<const std::uint8_t> in, const DecodeContext& ctx = {}) noexcept;
// The same with the fixed header already parsed (parse_fixed_header(in), as a Framer's frame has it).
Expected<Decoded> decode(std::span<const std::uint8_t> in, const FixedHeader& h, const DecodeContext& ctx) noexcept;

// Does `body` (the bytes after the fixed header) parse as a CONNECT-like authenticate body?
bool is_connect_like(std::span<const std::uint8_t> body) noexcept;

// Encodes `p` at protocol level `level` (3, 4 or 5; properties are written only at level 5). Appends to
// `out`. Fails with encode_too_long when a field or the packet does not fit the format.
Expected<std::size_t> encode(const Packet& p, std::uint8_t level, std::vector<std::uint8_t>& out);

// Convenience for tests and tools.
std::vector<std::uint8_t> encode_or_throw(const Packet& p, std::uint8_t level);

}  // namespace mqttauth
