#include "mqttauth/keepalive.hpp"

#include "mqttauth/session.hpp"

namespace mqttauth {

namespace {
// Client and server timers commonly wake once a second (libmosquitto, mosquitto): a second of grace on every
// limit, so that a PINGREQ sent on the dot of its keep-alive is never reported.
constexpr std::int64_t kGraceNs = 1'000'000'000;
}  // namespace

FlowAudit::Step KeepAliveAudit::observe(const Packet& p, Direction dir, std::uint8_t level, std::uint64_t ref_id,
                                        std::int64_t ts_ns) {
  if (closed_ || dir == Direction::unknown) return {};
  if (const auto* c = std::get_if<Connect>(&p)) {
    keep_alive_ = c->keep_alive;
    known_ = true;
    pending_ping_.reset();
  } else if (const auto* ca = std::get_if<Connack>(&p); ca && level == kLevel5) {
    if (auto ska = ca->properties.find(PropertyId::server_keep_alive))
      keep_alive_ = static_cast<std::uint16_t>(ska->number);
  }
  FlowAudit::Step st;
  if (dir == Direction::s2c) {
    if (std::holds_alternative<Pingresp>(p)) pending_ping_.reset();
    // The server still talks to a client silent for more than 1.5 x its keep-alive [MQTT-3.1.2-24]: reported
    // once, on the server's first packet after that point.
    if (known_ && keep_alive_ != 0 && last_client_id_ && !expired_reported_ &&
        ts_ns - last_client_ts_ > static_cast<std::int64_t>(keep_alive_) * 1'500'000'000 + kGraceNs) {
      st.bits |= flow::keep_alive_expired;
      st.related = last_client_id_;
      expired_reported_ = true;
      ++flagged_;
    }
    return st;
  }
  // The client's packet: how long it was silent before [MQTT-3.1.2-23].
  if (known_ && keep_alive_ != 0 && last_client_id_ &&
      ts_ns - last_client_ts_ > static_cast<std::int64_t>(keep_alive_) * 1'000'000'000 + kGraceNs) {
    st.bits |= flow::keep_alive_late;
    st.related = last_client_id_;
  }
  if (std::holds_alternative<Pingreq>(p)) {
    if (pending_ping_) {
      st.bits |= flow::pingreq_unanswered;
      st.related = pending_ping_;
    }
    pending_ping_ = ref_id;
    ping_ts_ = ts_ns;
  }
  last_client_id_ = ref_id;
  last_client_ts_ = ts_ns;
  expired_reported_ = false;
  if (st.bits != 0) ++flagged_;
  return st;
}

void KeepAliveAudit::close(std::int64_t ts_ns) {
  if (closed_) return;
  closed_ = true;
  if (last_client_id_) silence_at_close_ = ts_ns - last_client_ts_;
  if (known_ && keep_alive_ != 0 && last_client_id_ && !expired_reported_ &&
      ts_ns - last_client_ts_ > static_cast<std::int64_t>(keep_alive_) * 1'500'000'000 + kGraceNs)
    expired_at_close_ = last_client_id_;
  // A PINGREQ just before the end (the client's own close, say) had no time to be answered: not reported.
  if (pending_ping_ && ts_ns - ping_ts_ <= kGraceNs) pending_ping_.reset();
}

}  // namespace mqttauth
