// The WebSocket layer of one direction of an MQTT-over-WebSocket connection, between TCP reassembly and the MQTT
// framer: the HTTP head of the opening handshake, then frames (codec/websocket.hpp), their payloads inflated
// when permessage-deflate was negotiated (zlib). What comes out is the MQTT byte stream as the peer meant it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "mqttauth/websocket.hpp"

namespace mqttauth::cli {

class WsLayer {
 public:
  // Where the layer's output goes.
  class Out {
   public:
    virtual ~Out() = default;
    virtual void mqtt(std::span<const std::uint8_t> bytes) = 0;
    // `offset`: in this direction's TCP stream.
    virtual void violation(const char* rule, const char* detail, std::uint64_t offset) = 0;
    virtual void head(const ws::HttpHead& h) = 0;
    virtual void control(std::uint8_t opcode, std::uint16_t close_code) = 0;
  };

  // `deflate`: whether permessage-deflate was negotiated, read when the first frame comes (the server's head
  // is parsed before the client's first frame in capture order).
  WsLayer(bool from_client, const bool& deflate);
  ~WsLayer();
  WsLayer(const WsLayer&) = delete;
  WsLayer& operator=(const WsLayer&) = delete;

  // The direction's TCP bytes from `offset` on, in order.
  void feed(std::span<const std::uint8_t> bytes, std::uint64_t offset, Out& out);
  // Bytes are missing: WebSocket framing cannot be found again, the rest of the direction is passed over.
  void lost() noexcept { stage_ = Stage::lost; }
  bool is_lost() const noexcept { return stage_ == Stage::lost; }
  std::uint64_t frames() const noexcept { return deframer_ ? deframer_->frames() : 0; }

 private:
  enum class Stage : std::uint8_t { head, frames, lost };
  void inflate(std::span<const std::uint8_t> in, bool end, std::uint64_t at, Out& out);

  bool from_client_;
  const bool& deflate_;
  Stage stage_ = Stage::head;
  std::vector<std::uint8_t> head_;
  std::uint64_t head_offset_ = 0;
  std::unique_ptr<ws::Deframer> deframer_;
  struct Zlib;
  std::unique_ptr<Zlib> z_;
  bool skip_message_ = false;  // the message could not be inflated: its remaining bytes are passed over
};

}  // namespace mqttauth::cli
