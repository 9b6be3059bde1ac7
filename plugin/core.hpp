// The plugin's C++ core: per-conversation codec state and per-PDU analysis, with no Wireshark calls, so
// that nothing here can be crossed by Wireshark's longjmp-based exceptions, and nothing here throws.
// The Wireshark glue (plugin.cpp) turns the plain results into tree items.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "mqttauth/session.hpp"
#include "mqttauth/verify.hpp"

namespace mqttauth::plugin {

struct Span {
  std::uint32_t off = 0, len = 0;  // offsets in the PDU
  bool present = false;
};

enum class PduKind : std::uint8_t {
  standard,      // a standard MQTT packet: for Wireshark's MQTT dissector
  authenticate,  // the custom packet: ours
  reserved,      // type 0 that is not an authenticate body (raw); `error` may say why
  malformed,     // could not be decoded (the error says where); standard types go to Wireshark's MQTT too
};

using mqttauth::Verification;  // the verification library's: not_applicable, verified, mismatch, no_secret

// What the first pass learnt about a PDU, kept for later dissections of the same frame.
struct Stored {
  std::uint8_t level = 0;       // the decode context's level
  std::uint8_t role = 0;        // mqttauth::Role
  std::uint32_t anomalies = 0;  // mqttauth::anomaly bits
  std::int32_t handshake = -1;  // index in the conversation's handshakes
  std::uint32_t replay_of = 0;  // a challenge equal to the one of this earlier frame
  std::uint8_t weakness = 0;    // mqttauth::ChallengeWeakness
  Verification verification = Verification::not_applicable;
  bool ends_handshake = false;           // the CONNACK of a handshake
  std::uint8_t flow = 0;                 // mqttauth::flow bits: the QoS flow audit's findings on this packet
  std::uint32_t flow_related = 0;        // the PUBLISH this packet acknowledges, repeats or reuses the id of (0: none)
  std::uint32_t keep_alive_related = 0;  // a keep-alive finding's frame: the client's previous packet, or PINGREQ
  std::int64_t ack_latency_ns = -1;      // an acknowledgement (PUBACK, PUBREC, PUBCOMP): the time since its PUBLISH
  // The model across connections (mqttauth/fleet.hpp): its findings on this packet and the frame they refer to,
  // the client PUBLISH a server PUBLISH delivers (and how long after it).
  std::uint8_t fleet = 0;
  std::uint32_t fleet_related = 0;
  std::uint32_t delivered_from = 0;
  std::int64_t delivery_ns = -1;
  // A QoS 1/2 PUBLISH: where it was acknowledged (PUBACK or PUBREC) and completed (PUBCOMP); filled in when
  // those are dissected on the first pass (shown on a second pass, e.g. tshark -2).
  std::uint32_t acked_in = 0, completed_in = 0;
  // What the connection's end left on this packet (first pass, at the FIN/RST; shown on a second pass):
  // at_end bits 1 unacked_publish, 2 incomplete_qos2, 4 pingreq_unanswered, as `check` reports them.
  std::uint8_t at_end = 0;
  std::int64_t waited_ns = 0;
};

struct PduResult {
  PduKind kind = PduKind::standard;
  std::uint8_t type_code = 0;  // 4-bit type
  bool custom = false;         // dissected by the plugin (authenticate, reserved, or a malformed attempt)
  // authenticate fields
  std::uint8_t code = 0;  // 0 or 15
  Span protoname, clientid, username, password, will_topic, will_payload;
  std::uint32_t level_off = 0, flags_off = 0, keepalive_off = 0;
  std::uint8_t level = 0, flags = 0;
  std::uint16_t keepalive = 0;
  std::uint32_t header_len = 0;
  // A QoS 1/2 PUBLISH: its packet identifier, for its forward links (Conversation::note_publish).
  bool qos_publish = false;
  std::uint16_t packet_id = 0;
  // error (malformed, or why a type-0 body is not authenticate)
  bool has_error = false;
  std::uint8_t error_kind = 0;
  std::uint32_t error_offset = 0;
  char error_text[160] = {};
  Violations violations;  // rules the packet breaks (it decoded in full)
  Stored stored;
};

struct HandshakeView {
  bool valid = false;
  std::uint8_t scheme = 0;   // mqttauth::AuthScheme
  std::uint8_t outcome = 0;  // mqttauth::Outcome
  bool has_code = false;
  std::uint8_t code = 0;
  bool has_latency = false;
  std::int64_t latency_ns = 0;
  std::uint32_t connect_in = 0, challenge_in = 0, response_in = 0, connack_in = 0;
  char client_id[128] = {};
};

struct Options {
  std::uint8_t code = 0;  // the "authenticate packet type" preference: 0 auto, 1 type 0 only, 2 type 15 only
};

class Capture;

// One TCP conversation.
class Conversation {
 public:
  explicit Conversation(const Options& o);
  // Analyses one whole PDU. On the first pass (`first`), the session model learns from it and `stored` is
  // filled; later passes read `stored`.
  PduResult analyze(Capture& cap, const std::uint8_t* pdu, std::size_t len, Direction dir, std::uint32_t frame,
                    std::int64_t ts_ns, bool first, const Stored* stored) noexcept;
  HandshakeView handshake(std::int32_t index) const noexcept;
  // The conversation's identity in the model across connections: a number unique in the file, and a value
  // per client address (takeover loops are told by it).
  void identify(std::uint64_t id, std::uint64_t peer) noexcept {
    id_ = id;
    peer_ = peer;
  }
  // The first pass kept `stored` for the QoS 1/2 PUBLISH `r` sent in direction `dir`: its acknowledgements fill
  // in acked_in / completed_in.
  void note_publish(const PduResult& r, Direction dir, Stored* stored) noexcept;
  // Every PDU's kept Stored (first pass): the connection's end may have to mark it (Stored::at_end).
  void note_stored(const PduResult& r, std::uint32_t frame, Stored* stored) noexcept;
  // A TCP segment of this conversation with FIN or RST (first pass, every frame): the connection ends when both
  // sides sent FIN, or at a RST, as the CLI's analyzer ends it.
  void tcp_flags(Capture& cap, bool fin, bool rst, Direction dir, std::uint32_t frame, std::int64_t ts_ns) noexcept;

 private:
  void follow(Capture& cap, const Decoded& d, const Observation& ob, const PacketRef& ref, PduResult& r);

  Options opts_;
  Session session_;
  std::uint64_t id_ = 0, peer_ = 0;
  bool fin_[2] = {false, false}, ended_ = false;
  // In-flight QoS 1/2 PUBLISH by (publisher side << 16 | packet id), for their forward links (bounded).
  std::unordered_map<std::uint32_t, Stored*> publishes_;
  // The kept Stored of recent frames that the end of the connection may name (PUBLISH, PUBREC, PUBREL,
  // PINGREQ), at most kMaxRecent, the oldest forgotten first.
  static constexpr std::size_t kMaxRecent = 8192;
  std::unordered_map<std::uint32_t, Stored*> recent_;
  std::deque<std::uint32_t> recent_order_;
};

// File-wide state: challenges seen (for replays), the secrets.
class Capture {
 public:
  Capture() : fleet_(std::make_unique<Fleet>()) {}
  void clear() noexcept {
    challenges_.clear();
    fleet_ = std::make_unique<Fleet>();
  }
  Fleet& fleet() noexcept { return *fleet_; }
  bool load_secrets(const std::string& path, std::string& error) noexcept;
  // Frame where this challenge was first seen, or 0 (and remembers it).
  std::uint32_t note_challenge(const std::string& challenge, std::uint32_t frame) noexcept;
  Verification verify(const std::string& client_id, const std::string& challenge,
                      const std::string& response) const noexcept;

 private:
  ChallengeRegistry challenges_;
  std::unique_ptr<Secrets> loaded_;
  std::unique_ptr<Fleet> fleet_;  // the model across connections, fed every PDU on the first pass
};

}  // namespace mqttauth::plugin
