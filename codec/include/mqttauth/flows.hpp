// The QoS flow audit of one connection (MQTT 3.1.1 §4.3, MQTT 5 §4.3 and §4.9): each side's QoS 1 and 2
// PUBLISH followed to its acknowledgement (PUBACK; PUBREC, PUBREL, PUBCOMP), and what breaks the rules on the
// way: a packet identifier reused while in flight, a resend without DUP, an acknowledgement of an identifier
// not in flight, more in flight than the receiver's Receive Maximum; and, when the connection ends, what was
// never acknowledged or left half-way. Pure and deterministic, part of the session model (Session owns one).
//
// Careful with captures that start mid-connection: an acknowledgement of an unknown identifier is only a
// finding when the connection was seen from its CONNECT with a clean session (otherwise it may belong to a
// PUBLISH sent before the capture, or before a reconnect). Nothing is reported at the end of a capture that
// stops while the connection is open: those PUBLISH may still be acknowledged.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "mqttauth/codec.hpp"

namespace mqttauth {

enum class Direction : std::uint8_t;

// Findings of one packet, as bits (Observation::flow); flow_finding() names each. The QoS flows' and the
// keep-alive audit's.
namespace flow {
inline constexpr std::uint8_t packet_id_in_use = 1u << 0;    // a new PUBLISH with an identifier in flight
inline constexpr std::uint8_t resend_without_dup = 1u << 1;  // the same PUBLISH again, DUP 0
inline constexpr std::uint8_t unknown_packet_id = 1u << 2;   // an acknowledgement of no PUBLISH in flight
inline constexpr std::uint8_t receive_maximum_exceeded = 1u << 3;
// The keep-alive audit's (keepalive.hpp).
inline constexpr std::uint8_t keep_alive_late = 1u << 4;     // the client silent longer than its keep-alive
inline constexpr std::uint8_t keep_alive_expired = 1u << 5;  // silent over 1.5 x, and the server talks on
inline constexpr std::uint8_t pingreq_unanswered = 1u << 6;  // a PINGREQ again, the previous one unanswered
}  // namespace flow

// What the connection's end left in flight: a PUBLISH never acknowledged (FindingId::unacked_publish), or a
// QoS 2 exchange left half-way (FindingId::incomplete_qos2: `stage` says where).
struct OpenFlow {
  enum class Stage : std::uint8_t { awaiting_puback, awaiting_pubrec, awaiting_pubrel, awaiting_pubcomp };
  Direction dir{};  // of the PUBLISH: c2s when the client published
  std::uint16_t packet_id = 0;
  std::uint8_t qos = 0;
  Stage stage = Stage::awaiting_puback;
  std::uint64_t publish_id = 0;  // PacketRef::id of the PUBLISH (0: not seen, e.g. a PUBREL of an older one)
  std::uint64_t last_id = 0;     // PacketRef::id of the flow's last packet
  std::int64_t waited_ns = 0;    // from the PUBLISH (or its last packet) to the connection's end
  bool unacked() const noexcept { return stage == Stage::awaiting_puback || stage == Stage::awaiting_pubrec; }
};

class FlowAudit {
 public:
  // The findings of one packet (flow:: bits) and the earlier packet it refers to: the PUBLISH an
  // acknowledgement completes, or the one a reused identifier or a resend repeats.
  struct Step {
    std::uint8_t bits = 0;
    std::optional<std::uint64_t> related;  // PacketRef::id
    // PUBACK, PUBREC, PUBCOMP that move a flow on: the time since its PUBLISH, and topic_hash() of its topic;
    // of a PUBLISH: topic_hash() of its topic.
    std::int64_t latency_ns = -1;
    std::uint64_t topic = 0;
    std::uint64_t digest = 0;  // of a QoS 1/2 PUBLISH: publish_digest() (0: not computed)
  };

  // One decoded packet with a known direction (c2s or s2c); `level` is the connection's.
  Step observe(const Packet& p, Direction dir, std::uint8_t level, std::uint64_t ref_id, std::int64_t ts_ns);
  // The connection ended (FIN, RST, DISCONNECT) at `ts_ns`: what is still in flight becomes open_flows().
  void close(std::int64_t ts_ns);
  const std::vector<OpenFlow>& open_flows() const noexcept { return open_; }
  // QoS 1/2 PUBLISH completed (acknowledged) and in flight now, per direction (0: c2s, 1: s2c).
  std::uint64_t completed(int side) const noexcept { return sides_[side].completed; }
  std::size_t in_flight(int side) const noexcept { return sides_[side].flights.size(); }
  // At most this many flows are followed per side (memory bounded by what is in flight, on any traffic); the
  // PUBLISH beyond it are counted in untracked(), and their acknowledgements may then look unknown.
  static constexpr std::size_t kMaxFlights = 4096;
  std::uint64_t untracked() const noexcept { return sides_[0].untracked + sides_[1].untracked; }
  // Packets that raised a flow:: finding so far.
  std::uint32_t flagged() const noexcept { return flagged_; }

 private:
  struct Flight {
    OpenFlow::Stage stage = OpenFlow::Stage::awaiting_puback;
    std::uint8_t qos = 0;
    std::uint64_t publish_id = 0, last_id = 0;
    std::int64_t publish_ts = 0;
    std::uint64_t digest = 0;  // of topic and payload, to tell a resend from a new message
    std::uint64_t topic = 0;   // topic_hash()
  };
  // The flows of one sender by packet id: open addressing with linear probing (no allocation per PUBLISH, as a
  // node-based map had: a tenth of the audit's cost), at most half full, erased by backward shift.
  class Flights {
   public:
    Flight* find(std::uint16_t id) noexcept;
    void insert(std::uint16_t id, const Flight& f);  // `id` must not be present
    void erase(std::uint16_t id) noexcept;           // `id` must be present
    std::size_t size() const noexcept { return n_; }
    void clear() noexcept;
    template <class F>
    void for_each(F f) const {
      for (const Slot& s : slots_)
        if (s.used) f(s.id, s.flight);
    }

   private:
    struct Slot {
      std::uint16_t id = 0;
      bool used = false;
      Flight flight;
    };
    std::size_t home(std::uint16_t id) const noexcept { return id & (slots_.size() - 1); }
    std::vector<Slot> slots_;  // a power of two in size, or empty
    std::size_t n_ = 0;
  };
  // The PUBLISH flows of one sender.
  struct Side {
    Flights flights;
    std::uint32_t receive_maximum = 65535;  // the receiver's (MQTT 5)
    std::uint64_t completed = 0, untracked = 0;
  };
  Step step(const Packet& p, Direction dir, std::uint8_t level, std::uint64_t ref_id, std::int64_t ts_ns);
  Step on_publish(const Publish& p, Side& s, std::uint8_t level, std::uint64_t ref_id, std::int64_t ts_ns);
  // An acknowledgement of `sender`'s flow `id` that moves it from `from` to `to` (nothing: completed).
  Step on_ack(Side& sender, std::uint16_t id, OpenFlow::Stage from, std::optional<OpenFlow::Stage> to,
              std::uint64_t ref_id, std::int64_t ts_ns, bool tolerate_unknown);

  Side sides_[2];  // [0]: the client's PUBLISH (c2s), [1]: the server's
  bool seen_connect_ = false, clean_ = false, closed_ = false;
  std::uint32_t flagged_ = 0;
  std::vector<OpenFlow> open_;
};

}  // namespace mqttauth
