// Where packets start in a stream whose position is unknown: a capture that begins mid-stream, the bytes
// after a gap, or after a framing error. Also the first-bytes probes that tell MQTT from TLS.
//
// Honest resynchronisation: a position is taken as a packet boundary only on strong evidence, so that no
// packet is ever reported that the peer did not send. A candidate must start with a first byte legal for the
// direction (type 0, reserved flags and types the sender cannot send are no evidence) and decode cleanly
// (strict); then
//   - two or more such packets in a row that end exactly where the bytes seen so far end, or
//   - three in a row, or
//   - at the end of the stream, a run of them that ends exactly at its last byte;
//   - where a mid-stream capture started (position 0), one packet of 4 bytes or more that ends exactly where
//     the bytes seen so far end (the end of a TCP segment).
// A candidate whose packet is not complete yet, but whose first bytes are plausible, makes the search wait
// for more bytes instead of trying later positions: the earliest plausible boundary wins. Data after a
// DISCONNECT rules a candidate out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "mqttauth/codec.hpp"
#include "mqttauth/session.hpp"

namespace mqttauth {

struct BoundaryOptions {
  DecodeContext ctx{};                 // the connection's (its level may be 0: unknown)
  Direction dir = Direction::unknown;  // who sent the bytes, when known
  std::size_t window = 64u << 10;      // the largest packet considered after a gap
  // The bytes start where the capture started (a mid-stream start): position 0 is tried first, and there a
  // PUBLISH up to ctx.limits.max_packet_size is waited for (only up to `window` bytes; then it is taken if
  // its topic name, packet identifier and properties decode cleanly).
  bool at_start = false;
  bool end_of_stream = false;  // no more bytes will come
};

struct BoundarySearch {
  enum class Kind : std::uint8_t {
    found,  // `pos` is a packet boundary
    wait,   // nothing proven yet: search again from `pos` when more bytes arrive
    none,   // no boundary can start before `pos` (all ruled out); nothing after it waits
  };
  Kind kind = Kind::none;
  std::size_t pos = 0;
};

// Searches `buf` from position `from`. Pure: the same bytes and options give the same answer.
BoundarySearch find_boundary(std::span<const std::uint8_t> buf, std::size_t from, const BoundaryOptions& opts) noexcept;

// Could a packet with this first byte be sent in direction `dir` at `level` (0: unknown)? Type 0 never.
bool plausible_first_byte(std::uint8_t b, Direction dir, std::uint8_t level) noexcept;

// Does `b` start like a CONNECT? true / false, or nullopt when more bytes are needed to tell.
std::optional<bool> looks_like_connect(std::span<const std::uint8_t> b) noexcept;
// A TLS handshake record.
bool looks_like_tls(std::span<const std::uint8_t> b) noexcept;

}  // namespace mqttauth
