// The per-connection model shared by the CLI and the Wireshark plugin: which protocol level later packets
// are decoded at, and the authentication handshake
//   CONNECT -> authenticate (challenge, server->device) -> authenticate (response, device->server) -> CONNACK
// or, in MQTT 5, CONNECT with an Authentication Method -> AUTH 0x18 ... -> CONNACK.
// Pure and deterministic: the same packets in the same order give the same result.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mqttauth/codec.hpp"
#include "mqttauth/fleet.hpp"
#include "mqttauth/flows.hpp"
#include "mqttauth/keepalive.hpp"

namespace mqttauth {

enum class Direction : std::uint8_t { c2s, s2c, unknown };
enum class Role : std::uint8_t { none, challenge, response };
enum class AuthScheme : std::uint8_t { none, custom0, custom15, v5 };
enum class Outcome : std::uint8_t {
  pending,     // still in progress
  accepted,    // CONNACK with code 0
  refused,     // CONNACK with a non-zero code
  incomplete,  // the capture ended during the handshake
  abandoned,   // the connection closed during the handshake
};

std::string_view direction_name(Direction d) noexcept;  // "c2s", "s2c", "unknown"
std::string_view role_name(Role r) noexcept;            // "", "challenge", "response"
std::string_view scheme_name(AuthScheme s) noexcept;    // "none", "custom0", "custom15", "v5"
std::string_view outcome_name(Outcome o) noexcept;      // "pending", "accepted", ...

// Things a packet did that the handshake does not expect (bit flags).
namespace anomaly {
inline constexpr std::uint32_t unexpected_direction = 1u << 0;  // e.g. a "challenge" sent by the device
inline constexpr std::uint32_t unexpected_state = 1u << 1;      // authenticate before CONNECT / after CONNACK
inline constexpr std::uint32_t challenge_without_response = 1u << 2;
inline constexpr std::uint32_t refused_after_exchange = 1u << 3;
inline constexpr std::uint32_t repeated_response = 1u << 4;   // the device answered twice
inline constexpr std::uint32_t repeated_challenge = 1u << 5;  // a second challenge before a response
inline constexpr std::uint32_t second_connect = 1u << 6;      // CONNECT twice on one connection
inline constexpr std::uint32_t second_connack = 1u << 7;
inline constexpr std::uint32_t code_mismatch = 1u << 8;       // challenge and response of the two custom codes
inline constexpr std::uint32_t client_id_mismatch = 1u << 9;  // the response names another client than CONNECT
}  // namespace anomaly
// Comma-separated names of the set bits, e.g. "unexpected_state,repeated_response" (the names of the findings
// vocabulary, findings.hpp).
std::string anomaly_names(std::uint32_t bits);

struct PacketRef {
  std::uint64_t id = 0;  // caller's reference: frame number, packet index
  std::int64_t ts_ns = 0;
  friend bool operator==(const PacketRef&, const PacketRef&) = default;
};

struct Handshake {
  AuthScheme scheme = AuthScheme::none;
  Outcome outcome = Outcome::pending;
  std::uint8_t level = 0;  // from CONNECT; 0 when the capture started after it
  std::optional<std::uint8_t> connack_code;
  std::uint8_t connack_level = 0;  // the format the CONNACK was read in: 4 for a 3.1.1 refusal of a v5 client
  std::string client_id;
  std::string auth_method;  // v5
  std::string challenge;    // bytes of the first challenge (password / authentication data)
  std::string response;     // bytes of the first response
  std::optional<PacketRef> connect, challenge_pkt, response_pkt, connack, closed;
  std::uint8_t challenge_code = 0;  // custom packet type of the first challenge (0 or 15)
  std::uint32_t challenges = 0, responses = 0;
  std::uint32_t anomalies = 0;  // union of the anomalies of its packets
  // MQTT 5 re-authentications after CONNACK (§4.12.1): ended by the server's AUTH 0x00, or refused (the
  // server's DISCONNECT while one was in progress).
  std::uint32_t reauths = 0, reauths_refused = 0;
  // CONNECT (or the first handshake packet seen) to CONNACK.
  std::optional<std::int64_t> latency_ns() const noexcept;
};

struct Observation {
  // Every member has its initialiser; a provided constructor keeps `Observation{}` from zeroing the whole
  // object (and the Step around it) first, once per packet.
  Observation() noexcept {}            // NOLINT(modernize-use-equals-default)
  Direction dir = Direction::unknown;  // as given, or inferred when given as unknown
  Role role = Role::none;
  std::uint32_t anomalies = 0;
  std::optional<std::size_t> handshake;  // index of the handshake the packet belongs to
  // The QoS flow and keep-alive audits (flows.hpp, keepalive.hpp): this packet's findings (flow:: bits), the
  // PacketRef::id of the PUBLISH it acknowledges, repeats or reuses the identifier of, and the one a keep-alive
  // finding refers to (the client's previous packet, or the PINGREQ left unanswered).
  std::uint8_t flow = 0;
  std::optional<std::uint64_t> flow_related;
  std::optional<std::uint64_t> keep_alive_related;
  // An acknowledgement that moves a PUBLISH on (PUBACK, PUBREC, PUBCOMP): the time since that PUBLISH (-1:
  // none), and the topic_hash() of its topic; of a PUBLISH, its topic_hash() (0: not computed, e.g. when the
  // direction is unknown).
  std::int64_t ack_latency_ns = -1;
  std::uint64_t ack_topic = 0;
  std::uint64_t publish_digest = 0;  // of a QoS 1/2 PUBLISH: publish_digest() (0: not computed)
  // topic_hash() of this PUBLISH's topic: the flow audit's, or computed when it did not hash it.
  std::uint64_t topic_hash_of(const Publish& p) const noexcept {
    return ack_latency_ns < 0 && ack_topic ? ack_topic : topic_hash(p.topic);
  }
  // The model across connections (fleet.hpp), when the caller feeds one: filled in by the caller.
  FleetStep fleet;
};

struct SessionOptions {
  Dialect dialect = Dialect::auto_detect;
  Limits limits{};
  std::uint8_t level = 0;  // a known level when the capture starts after CONNECT
  bool strict = false;     // decode strictly: a rule violation is an Error (DecodeContext::strict)
  // The keep-alive audit (keepalive.hpp); a caller that shows none of its findings may leave it out.
  bool keep_alive_audit = true;
};

class Session {
 public:
  explicit Session(SessionOptions opts = {}) : opts_(opts), level_(opts.level) {}

  // The context to decode the next packet of this connection with.
  DecodeContext context() const noexcept {
    return DecodeContext{level_, opts_.dialect, opts_.limits, false, opts_.strict};
  }
  std::uint8_t level() const noexcept { return level_; }

  // Feeds one decoded packet. Pass Direction::unknown when the caller cannot tell; the session then infers
  // it from the packet type and the handshake state where it can.
  Observation observe(const Decoded& d, Direction dir, PacketRef ref);
  // The same into `ob`, a fresh Observation (decode() fills its Step's in place: no copy per packet).
  void observe_into(const Decoded& d, Direction dir, PacketRef ref, Observation& ob);
  // Decode + observe, for callers that have the packet bytes.
  struct Step {
    Expected<Decoded> decoded;
    Observation obs;
  };
  Step decode(std::span<const std::uint8_t> packet, Direction dir, PacketRef ref);
  // The same with the packet's fixed header already parsed (a Framer's frame: its bytes and header).
  Step decode(std::span<const std::uint8_t> packet, const FixedHeader& h, Direction dir, PacketRef ref);

  // The connection closed (FIN, RST, DISCONNECT): a pending handshake is abandoned.
  void close(PacketRef ref);
  // The capture ended: a pending handshake is incomplete.
  void finish();

  const std::vector<Handshake>& handshakes() const noexcept { return hs_; }
  // The QoS flows: after close(), open_flows() holds what the connection's end left in flight.
  const FlowAudit& flows() const noexcept { return flows_; }
  // The keep-alive: after close(), whether a PINGREQ was left unanswered and how long the client was silent.
  const KeepAliveAudit& keep_alive() const noexcept { return keep_alive_; }

 private:
  enum class State : std::uint8_t { idle, wait_challenge, challenged, responded, done };
  Handshake& begin_handshake(PacketRef ref);
  void end_pending(Outcome o, std::optional<PacketRef> ref);
  // The handshake a packet belongs to; one is begun when the capture started after CONNECT.
  Handshake& current(Observation& ob, PacketRef ref);
  // One handler per packet type that the handshake model follows.
  void on_connect(const Connect& c, Observation& ob, PacketRef ref);
  void on_authenticate(const Authenticate& a, Observation& ob, PacketRef ref);
  void on_auth(const Auth& a, Observation& ob, PacketRef ref);
  void on_auth_data(const Auth& a, Handshake& h, bool fresh, Observation& ob, PacketRef ref);
  void on_connack(const Connack& c, std::uint8_t decoded_level, Observation& ob, PacketRef ref);
  void on_other(const Packet& p, Observation& ob);

  SessionOptions opts_;
  std::uint8_t level_ = 0;
  State state_ = State::idle;
  bool reauth_pending_ = false;  // after CONNACK: AUTH 0x19 seen, no AUTH 0x00 or DISCONNECT yet
  std::vector<Handshake> hs_;
  FlowAudit flows_;
  KeepAliveAudit keep_alive_;
};

// How a challenge could be guessed by an attacker.
enum class ChallengeWeakness : std::uint8_t {
  none,
  timestamp_ms,  // 13 decimal digits: milliseconds since 1970 (the field's scheme)
  timestamp_s,   // 10 decimal digits: seconds since 1970
  counter,       // a short decimal number
  too_short,     // fewer than 8 bytes
};
std::string_view weakness_name(ChallengeWeakness w) noexcept;
// `near_ns`: a capture timestamp; when non-zero a timestamp challenge must lie within a day of it.
ChallengeWeakness classify_challenge(std::string_view challenge, std::int64_t near_ns = 0) noexcept;

}  // namespace mqttauth
