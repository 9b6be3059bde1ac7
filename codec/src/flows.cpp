#include "mqttauth/flows.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <string_view>

#include "mqttauth/fleet.hpp"
#include "mqttauth/session.hpp"

namespace mqttauth {

namespace {

using Stage = OpenFlow::Stage;

int side_of(Direction d) { return d == Direction::c2s ? 0 : 1; }

}  // namespace

FlowAudit::Step FlowAudit::observe(const Packet& p, Direction dir, std::uint8_t level, std::uint64_t ref_id,
                                   std::int64_t ts_ns) {
  Step st = step(p, dir, level, ref_id, ts_ns);
  if (st.bits != 0) ++flagged_;
  return st;
}

FlowAudit::Step FlowAudit::step(const Packet& p, Direction dir, std::uint8_t level, std::uint64_t ref_id,
                                std::int64_t ts_ns) {
  if (closed_ || dir == Direction::unknown) return {};
  const int me = side_of(dir), peer = 1 - me;
  if (const auto* c = std::get_if<Connect>(&p)) {
    seen_connect_ = true;
    clean_ = c->clean;
    if (c->level == kLevel5)
      if (auto rm = c->properties.find(PropertyId::receive_maximum)) sides_[1].receive_maximum = rm->number;
    return {};
  }
  if (const auto* ca = std::get_if<Connack>(&p)) {
    if (level == kLevel5)
      if (auto rm = ca->properties.find(PropertyId::receive_maximum)) sides_[0].receive_maximum = rm->number;
    return {};
  }
  if (const auto* pub = std::get_if<Publish>(&p)) return on_publish(*pub, sides_[me], level, ref_id, ts_ns);
  // Acknowledgements go to the flows of the other side (the sender of the PUBLISH); PUBREL to the sender's own.
  const bool strict = seen_connect_ && clean_;
  if (const auto* a = std::get_if<Puback>(&p))
    return on_ack(sides_[peer], a->packet_id, Stage::awaiting_puback, std::nullopt, ref_id, ts_ns, !strict);
  if (const auto* a = std::get_if<Pubrec>(&p)) {
    // A v5 PUBREC with an error reason ends the flow (§4.3.3).
    std::optional<Stage> to = a->reason_code >= 0x80 ? std::nullopt : std::optional<Stage>(Stage::awaiting_pubrel);
    return on_ack(sides_[peer], a->packet_id, Stage::awaiting_pubrec, to, ref_id, ts_ns, !strict);
  }
  if (const auto* a = std::get_if<Pubrel>(&p)) {
    Side& s = sides_[me];
    Flight* it = s.flights.find(a->packet_id);
    // PUBREL again while awaiting PUBCOMP is a legitimate resend.
    if (it != nullptr && it->stage == Stage::awaiting_pubcomp) {
      it->last_id = ref_id;
      return Step{0, it->publish_id ? std::optional(it->publish_id) : std::nullopt};
    }
    Step st = on_ack(s, a->packet_id, Stage::awaiting_pubrel, Stage::awaiting_pubcomp, ref_id, ts_ns, !strict);
    if ((st.bits & flow::unknown_packet_id) != 0 || !st.related) {
      // A PUBREL of a PUBLISH this capture did not see (an earlier connection's): followed to its PUBCOMP.
      Flight f;
      f.stage = Stage::awaiting_pubcomp;
      f.qos = 2;
      f.last_id = ref_id;
      f.publish_ts = ts_ns;
      if (s.flights.size() < FlowAudit::kMaxFlights && s.flights.find(a->packet_id) == nullptr)
        s.flights.insert(a->packet_id, f);
    }
    return st;
  }
  if (const auto* a = std::get_if<Pubcomp>(&p))
    return on_ack(sides_[peer], a->packet_id, Stage::awaiting_pubcomp, std::nullopt, ref_id, ts_ns, !strict);
  return {};
}

FlowAudit::Step FlowAudit::on_publish(const Publish& p, Side& s, std::uint8_t level, std::uint64_t ref_id,
                                      std::int64_t ts_ns) {
  // The topic's hash for every PUBLISH, hashed once here: the fleet model and the stats tables reuse it.
  Step st;
  const std::uint64_t th = topic_hash(p.topic);
  st.topic = th;
  if (p.qos == 0 || p.qos > 2) return st;  // QoS 3 is a violation (bad_qos) with no flow to follow
  const std::uint64_t dg = publish_digest(th, p.payload);
  st.digest = dg;
  if (Flight* it = s.flights.find(p.packet_id)) {
    Flight& f = *it;
    st.related = f.publish_id ? std::optional(f.publish_id) : std::nullopt;
    const bool awaiting_first_ack = f.stage == Stage::awaiting_puback || f.stage == Stage::awaiting_pubrec;
    // A DUP resend that crossed the receiver's PUBREC on the wire is the same message too.
    const bool crossed = p.dup && f.stage == Stage::awaiting_pubrel;
    if ((awaiting_first_ack || crossed) && f.digest == dg && f.qos == p.qos) {
      // The same message again before its acknowledgement: a resend, which must say DUP [MQTT-3.3.1-1].
      if (!p.dup) st.bits |= flow::resend_without_dup;
      f.last_id = ref_id;
      return st;
    }
    // A new message under an identifier still in use [MQTT-2.3.1-2].
    st.bits |= flow::packet_id_in_use;
    s.flights.erase(p.packet_id);
  }
  Flight f;
  f.stage = p.qos == 1 ? Stage::awaiting_puback : Stage::awaiting_pubrec;
  f.qos = p.qos;
  f.publish_id = f.last_id = ref_id;
  f.publish_ts = ts_ns;
  f.digest = dg;
  f.topic = th;
  if (s.flights.size() >= FlowAudit::kMaxFlights) {
    // Memory stays bounded on hostile or broken traffic: beyond the bound a flow is counted, not followed.
    ++s.untracked;
    return st;
  }
  s.flights.insert(p.packet_id, f);
  // MQTT 5: the sender must not have more QoS 1/2 PUBLISH unacknowledged than the receiver allows [MQTT-3.3.4-7].
  if (level == kLevel5 && s.flights.size() > s.receive_maximum) st.bits |= flow::receive_maximum_exceeded;
  return st;
}

FlowAudit::Step FlowAudit::on_ack(Side& sender, std::uint16_t id, Stage from, std::optional<Stage> to,
                                  std::uint64_t ref_id, std::int64_t ts_ns, bool tolerate_unknown) {
  Flight* it = sender.flights.find(id);
  if (it != nullptr && it->qos == 2 && from != Stage::awaiting_puback &&
      static_cast<int>(it->stage) > static_cast<int>(from)) {
    // A QoS 2 step the flow has passed already: a repeated acknowledgement (the answer to a DUP resend), not
    // an unknown identifier.
    return Step{0, it->publish_id ? std::optional(it->publish_id) : std::nullopt};
  }
  if (it == nullptr || it->stage != from) {
    // QoS 1 and 2 acknowledgements crossing (a PUBREC for a QoS 1 flow) are just as unknown.
    return Step{tolerate_unknown ? std::uint8_t{0} : flow::unknown_packet_id, std::nullopt};
  }
  Step st{0, it->publish_id ? std::optional(it->publish_id) : std::nullopt};
  // PUBREL is the publisher's own step, not an acknowledgement.
  if (it->publish_id && from != Stage::awaiting_pubrel) {
    st.latency_ns = ts_ns - it->publish_ts;
    st.topic = it->topic;
  }
  if (to) {
    it->stage = *to;
    it->last_id = ref_id;
  } else {
    sender.flights.erase(id);
    ++sender.completed;
  }
  return st;
}

FlowAudit::Flight* FlowAudit::Flights::find(std::uint16_t id) noexcept {
  if (n_ == 0) return nullptr;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = home(id);; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (!s.used) return nullptr;
    if (s.id == id) return &s.flight;
  }
}

void FlowAudit::Flights::insert(std::uint16_t id, const Flight& f) {
  if ((n_ + 1) * 2 > slots_.size()) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.resize(old.empty() ? 8 : old.size() * 2);
    n_ = 0;
    for (const Slot& s : old)
      if (s.used) insert(s.id, s.flight);
  }
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = home(id);
  while (slots_[i].used) i = (i + 1) & mask;
  slots_[i].id = id;
  slots_[i].used = true;
  slots_[i].flight = f;
  ++n_;
}

void FlowAudit::Flights::erase(std::uint16_t id) noexcept {
  const std::size_t mask = slots_.size() - 1;
  std::size_t hole = home(id);
  while (slots_[hole].id != id || !slots_[hole].used) hole = (hole + 1) & mask;
  slots_[hole].used = false;
  --n_;
  // Backward shift: a later entry of the run whose home is not cyclically within (hole, j] moves into the hole.
  for (std::size_t j = (hole + 1) & mask; slots_[j].used; j = (j + 1) & mask) {
    const std::size_t k = home(slots_[j].id);
    const bool stays = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
    if (stays) continue;
    slots_[hole] = slots_[j];
    slots_[j].used = false;
    hole = j;
  }
}

void FlowAudit::Flights::clear() noexcept {
  slots_.clear();
  n_ = 0;
}

void FlowAudit::close(std::int64_t ts_ns) {
  if (closed_) return;
  closed_ = true;
  for (int side = 0; side < 2; ++side)
    sides_[side].flights.for_each([&](std::uint16_t id, const Flight& f) {
      OpenFlow o;
      o.dir = side == 0 ? Direction::c2s : Direction::s2c;
      o.packet_id = id;
      o.qos = f.qos;
      o.stage = f.stage;
      o.publish_id = f.publish_id;
      o.last_id = f.last_id;
      o.waited_ns = ts_ns - f.publish_ts;
      open_.push_back(o);
    });
  // In the order the flows began.
  std::sort(open_.begin(), open_.end(), [](const OpenFlow& a, const OpenFlow& b) {
    return a.publish_id != b.publish_id ? a.publish_id < b.publish_id : a.last_id < b.last_id;
  });
  for (auto& s : sides_) s.flights.clear();
}

}  // namespace mqttauth
