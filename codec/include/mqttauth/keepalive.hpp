// The keep-alive audit of one connection (MQTT 3.1.1 §3.1.2.10, MQTT 5 §3.1.2.10 and §3.2.2.3.14): the
// client must send a control packet at least every Keep Alive seconds (PINGREQ when it has nothing else), and
// the server should close a connection that has been silent for one and a half times that. Reported: a client
// gap longer than the keep-alive (a late PINGREQ), one longer than 1.5 x with the server still talking (it
// should have closed), a PINGREQ whose PINGRESP never came; and at the end, who closed and after how long a
// silence. Pure and deterministic, part of the session model (Session owns one). Only when the CONNECT was
// seen (the keep-alive is in it; an MQTT 5 Server Keep Alive in CONNACK replaces it).
#pragma once

#include <cstdint>
#include <optional>

#include "mqttauth/codec.hpp"
#include "mqttauth/flows.hpp"

namespace mqttauth {

class KeepAliveAudit {
 public:
  // One decoded packet with a known direction: its flow:: keep-alive bits, and the PacketRef::id of the packet
  // the finding refers back to (the client's previous packet, or the unanswered PINGREQ).
  FlowAudit::Step observe(const Packet& p, Direction dir, std::uint8_t level, std::uint64_t ref_id, std::int64_t ts_ns);
  // The connection ended at `ts_ns`.
  void close(std::int64_t ts_ns);

  // The keep-alive in force, seconds (0: none, or not known).
  std::uint16_t keep_alive() const noexcept { return keep_alive_; }
  // After close(): a PINGREQ still unanswered more than a second after it was sent (its PacketRef::id), and how
  // long the client had been silent.
  std::optional<std::uint64_t> unanswered_pingreq() const noexcept { return pending_ping_; }
  std::optional<std::int64_t> client_silence_at_close_ns() const noexcept { return silence_at_close_; }
  // After close(): the client had been silent for more than 1.5 x its keep-alive (and the second of grace)
  // when the connection closed, and the server had not said anything since that point (else it was reported
  // on that packet): the server closed late, or never, against [MQTT-3.1.2-24]. The PacketRef::id of the
  // client's last packet.
  std::optional<std::uint64_t> expired_at_close() const noexcept { return expired_at_close_; }
  // Packets that raised a keep-alive finding so far.
  std::uint32_t flagged() const noexcept { return flagged_; }

 private:
  std::uint16_t keep_alive_ = 0;
  bool known_ = false, closed_ = false, expired_reported_ = false;
  std::optional<std::uint64_t> last_client_id_, pending_ping_, expired_at_close_;
  std::int64_t last_client_ts_ = 0, ping_ts_ = 0;
  std::optional<std::int64_t> silence_at_close_;
  std::uint32_t flagged_ = 0;
};

}  // namespace mqttauth
