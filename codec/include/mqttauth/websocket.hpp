// MQTT over WebSocket (MQTT 3.1.1 §6, MQTT 5 §6; RFC 6455, RFC 7692): the HTTP/1.1 opening handshake and the
// frames of one direction, sans-I/O. The Deframer streams each data frame's payload out unmasked as its bytes
// arrive (nothing is held but a frame header and a control frame's payload), so a 256 MB MQTT packet split
// over frames costs no more memory than one over bare TCP. What RFC 6455 or MQTT §6 forbids is reported as a
// violation with the clause and the stream offset of the frame, and the stream goes on wherever the framing
// can still be walked. permessage-deflate is only signalled (`compressed` on a message's data): inflating is
// the caller's (the codec has no zlib).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mqttauth::ws {

// A parsed HTTP/1.1 request or response head (up to and including the blank line).
struct HttpHead {
  enum class Status : std::uint8_t { need_more, not_http, too_long, complete };
  Status status = Status::need_more;
  std::size_t length = 0;  // bytes of the head, blank line included (complete)
  bool request = false;
  int status_code = 0;       // a response's
  bool upgrade = false;      // Upgrade: websocket (and, for a response, status 101)
  std::string subprotocols;  // Sec-WebSocket-Protocol, as sent (a request may list several)
  std::string extensions;    // Sec-WebSocket-Extensions, as sent
  std::string key, accept;   // Sec-WebSocket-Key (a request's), Sec-WebSocket-Accept (a response's)
  std::string path;          // a request's target
};

// Parses an HTTP/1.1 head at the start of `b` (a request when it starts with a method, else a response). Heads
// longer than `max` bytes are too_long.
HttpHead parse_http_head(std::span<const std::uint8_t> b, std::size_t max = 16384) noexcept;
// Does `b` start like an HTTP request line ("GET ")? nullopt-free: false while fewer than 4 bytes.
bool looks_like_http_get(std::span<const std::uint8_t> b) noexcept;
// A Sec-WebSocket-Protocol value naming MQTT: the token "mqtt" (MQTT 3.1.1 and 5 §6) or "mqttv3.1"
// (MQTT 3.1's), case-insensitive, anywhere in a comma-separated list.
bool names_mqtt(std::string_view subprotocols) noexcept;
// permessage-deflate negotiated: the server's Sec-WebSocket-Extensions accepts it (RFC 7692 §5).
struct Deflate {
  bool on = false;
  bool client_no_context_takeover = false, server_no_context_takeover = false;
  int client_max_window_bits = 15, server_max_window_bits = 15;
};
Deflate parse_deflate(std::string_view extensions) noexcept;

enum class Opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };
std::string_view opcode_name(std::uint8_t op) noexcept;

// One frame (RFC 6455 5.2): the shortest length encoding; masked with `mask` when given (a client's frames).
std::vector<std::uint8_t> encode_frame(std::uint8_t opcode, std::span<const std::uint8_t> payload, bool fin,
                                       const std::optional<std::array<std::uint8_t, 4>>& mask);

class Deframer {
 public:
  // `from_client`: client frames must be masked, server frames must not (RFC 6455 §5.1). `deflate`: RSV1 may
  // mark a compressed message (RFC 7692 §6).
  Deframer(bool from_client, bool deflate) noexcept : from_client_(from_client), deflate_(deflate) {}

  struct Event {
    enum class Kind : std::uint8_t { need_more, data, control, violation };
    Kind kind = Kind::need_more;
    // data: a piece of a data message's payload, unmasked (valid until the next call); control: the whole
    // payload of a ping, pong or close.
    std::span<const std::uint8_t> payload;
    std::uint8_t opcode = 0;       // the frame's (data: the message's, text or binary)
    bool compressed = false;       // data: the message has RSV1 set (permessage-deflate)
    bool message_end = false;      // data: this piece ends the message (its last frame, FIN, fully seen)
    std::uint64_t offset = 0;      // stream offset of the frame's first header byte
    std::uint16_t close_code = 0;  // control, close: the status code (0: none given)
    const char* rule = "";         // violation: "RFC 6455 5.1", "MQTT-6.0.0-1", ...
    const char* detail = "";       // violation: static text
  };

  // Appends bytes of the stream (they are kept only until next() has used them).
  void push(std::span<const std::uint8_t> bytes);
  // The next event; need_more when the bytes pushed so far are used up.
  Event next();

  std::uint64_t frames() const noexcept { return frames_; }
  bool closed() const noexcept { return close_seen_; }

 private:
  Event violation(std::uint64_t at, const char* rule, const char* detail);
  bool parse_header();

  bool from_client_, deflate_;
  std::vector<std::uint8_t> in_;  // bytes not yet used
  std::size_t at_ = 0;            // next unused byte of in_
  std::uint64_t base_ = 0;        // stream offset of in_[0]
  // The frame being read.
  bool in_frame_ = false;
  std::uint8_t opcode_ = 0;
  bool fin_ = false, masked_ = false;
  bool skip_ = false;  // a reserved opcode, or a control frame over 125 bytes: its payload is passed over
  std::uint8_t mask_[4] = {};
  std::uint64_t left_ = 0, done_ = 0, frame_at_ = 0;
  // The data message in progress.
  bool in_message_ = false, message_compressed_ = false;
  std::uint8_t message_opcode_ = 0;
  bool close_seen_ = false;
  std::uint64_t frames_ = 0;
  std::vector<std::uint8_t> out_;  // unmasked payload handed out
  // Violations found in a header, reported before its frame's data.
  struct Pending {
    const char* rule;
    const char* detail;
  };
  std::vector<Pending> pending_;
};

}  // namespace mqttauth::ws
