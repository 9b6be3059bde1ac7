#include "mqttauth/session.hpp"

#include <cstdlib>

#include "mqttauth/findings.hpp"

namespace mqttauth {

std::string_view direction_name(Direction d) noexcept {
  switch (d) {
    case Direction::c2s: return "c2s";
    case Direction::s2c: return "s2c";
    default: return "unknown";
  }
}

std::string_view role_name(Role r) noexcept {
  switch (r) {
    case Role::challenge: return "challenge";
    case Role::response: return "response";
    default: return "";
  }
}

std::string_view scheme_name(AuthScheme s) noexcept {
  switch (s) {
    case AuthScheme::custom0: return "custom0";
    case AuthScheme::custom15: return "custom15";
    case AuthScheme::v5: return "v5";
    default: return "none";
  }
}

std::string_view outcome_name(Outcome o) noexcept {
  switch (o) {
    case Outcome::accepted: return "accepted";
    case Outcome::refused: return "refused";
    case Outcome::incomplete: return "incomplete";
    case Outcome::abandoned: return "abandoned";
    default: return "pending";
  }
}

std::string anomaly_names(std::uint32_t bits) {
  std::string s;
  for (unsigned i = 0; i < 32; ++i)
    if (auto f = (bits & (1u << i)) ? anomaly_finding(1u << i) : std::nullopt) {
      if (!s.empty()) s += ',';
      s += finding(*f).name;
    }
  return s;
}

std::optional<std::int64_t> Handshake::latency_ns() const noexcept {
  // The capture may start at the response (no CONNECT, no challenge): that is the first packet seen then.
  const std::optional<PacketRef>& start = connect ? connect : challenge_pkt ? challenge_pkt : response_pkt;
  if (!start || !connack) return std::nullopt;
  return connack->ts_ns - start->ts_ns;
}

Handshake& Session::begin_handshake(PacketRef) {
  hs_.emplace_back();
  hs_.back().level = level_;
  return hs_.back();
}

void Session::end_pending(Outcome o, std::optional<PacketRef> ref) {
  if (hs_.empty() || hs_.back().outcome != Outcome::pending) return;
  Handshake& h = hs_.back();
  if (state_ == State::challenged) h.anomalies |= anomaly::challenge_without_response;
  h.outcome = o;
  if (ref) h.closed = ref;
  state_ = State::done;
}

void Session::close(PacketRef ref) {
  end_pending(Outcome::abandoned, ref);
  flows_.close(ref.ts_ns);
  keep_alive_.close(ref.ts_ns);
}
void Session::finish() { end_pending(Outcome::incomplete, std::nullopt); }

namespace {

std::string to_string(Bytes b) { return std::string(b.as_chars()); }

// A packet of unknown direction takes the one its type or the handshake state implies.
void infer(Observation& ob, Direction want) {
  if (ob.dir == Direction::unknown) ob.dir = want;
}

void flag(Observation& ob, Handshake& h, std::uint32_t bits) {
  ob.anomalies |= bits;
  h.anomalies |= bits;
}

// MQTT 5 AUTH reason codes that do not carry a challenge or a response (§4.12).
constexpr std::uint8_t kAuthSuccess = 0x00, kAuthReauthenticate = 0x19;

}  // namespace

Handshake& Session::current(Observation& ob, PacketRef ref) {
  if (hs_.empty()) begin_handshake(ref);  // the capture started after CONNECT
  ob.handshake = hs_.size() - 1;
  return hs_.back();
}

Observation Session::observe(const Decoded& d, Direction dir, PacketRef ref) {
  Observation ob;
  observe_into(d, dir, ref, ob);
  return ob;
}

void Session::observe_into(const Decoded& d, Direction dir, PacketRef ref, Observation& ob) {
  ob.dir = dir;
  const Packet& p = d.packet;
  // The level of a connection that started before the capture: adopt what only level 5 could decode.
  if (level_ == 0 && d.level == kLevel5 && !std::holds_alternative<Connect>(p)) level_ = kLevel5;

  if (const auto* c = std::get_if<Connect>(&p))
    on_connect(*c, ob, ref);
  else if (const auto* a = std::get_if<Authenticate>(&p))
    on_authenticate(*a, ob, ref);
  else if (const auto* v5 = std::get_if<Auth>(&p))
    on_auth(*v5, ob, ref);
  else if (const auto* ack = std::get_if<Connack>(&p))
    on_connack(*ack, d.level, ob, ref);
  else
    on_other(p, ob);
  // The QoS flows (CONNECT and CONNACK for the clean session and the Receive Maximums).
  const FlowAudit::Step st = flows_.observe(p, ob.dir, level_, ref.id, ref.ts_ns);
  ob.flow = st.bits;
  ob.flow_related = st.related;
  if (opts_.keep_alive_audit) {
    const FlowAudit::Step ka = keep_alive_.observe(p, ob.dir, level_, ref.id, ref.ts_ns);
    ob.flow |= ka.bits;
    ob.keep_alive_related = ka.related;
  }
  ob.ack_latency_ns = st.latency_ns;
  ob.ack_topic = st.topic;
  ob.publish_digest = st.digest;
}

void Session::on_connect(const Connect& c, Observation& ob, PacketRef ref) {
  infer(ob, Direction::c2s);
  if (!hs_.empty()) {
    if (hs_.back().outcome == Outcome::pending) end_pending(Outcome::abandoned, ref);
    ob.anomalies |= anomaly::second_connect;
  }
  level_ = c.level;
  Handshake& h = begin_handshake(ref);
  ob.handshake = hs_.size() - 1;
  h.anomalies |= ob.anomalies;
  h.connect = ref;
  h.client_id = std::string(c.client_id);
  if (c.level == kLevel5) {
    if (auto m = c.properties.find(PropertyId::authentication_method)) {
      h.scheme = AuthScheme::v5;
      h.auth_method = std::string(m->text);
    }
  }
  if (ob.dir == Direction::s2c) flag(ob, h, anomaly::unexpected_direction);
  state_ = State::wait_challenge;
}

void Session::on_authenticate(const Authenticate& a, Observation& ob, PacketRef ref) {
  // Only the direction tells challenge from response; unknown direction follows the handshake state.
  infer(ob, state_ == State::challenged ? Direction::c2s : Direction::s2c);
  const bool fresh = hs_.empty();
  Handshake& h = current(ob, ref);
  if (h.scheme == AuthScheme::none || h.scheme == AuthScheme::v5)
    h.scheme = a.code == 15 ? AuthScheme::custom15 : AuthScheme::custom0;
  // The client id the device connected with (or, when CONNECT had none, the one the challenge named).
  if (h.client_id.empty()) h.client_id = std::string(a.client_id);
  Bytes value = a.password.value_or(Bytes());
  if (ob.dir == Direction::s2c) {
    ob.role = Role::challenge;
    ++h.challenges;
    if (state_ == State::challenged)
      flag(ob, h, anomaly::repeated_challenge);
    else if (state_ == State::responded || (state_ == State::done && !fresh))
      flag(ob, h, anomaly::unexpected_state);
    if (!h.challenge_pkt) {
      h.challenge_pkt = ref;
      h.challenge = to_string(value);
      h.challenge_code = a.code;
    }
    if (state_ != State::done) state_ = State::challenged;
  } else {
    ob.role = Role::response;
    ++h.responses;
    if (state_ == State::responded)
      flag(ob, h, anomaly::repeated_response);
    else if (state_ == State::wait_challenge || (state_ == State::done && !fresh))
      flag(ob, h, anomaly::unexpected_state);
    // Answered with the other custom code (challenge type 0, response type 15, or the reverse).
    if (h.challenge_pkt && h.challenge_code != a.code) flag(ob, h, anomaly::code_mismatch);
    if (h.client_id != a.client_id) flag(ob, h, anomaly::client_id_mismatch);
    if (!h.response_pkt) {
      h.response_pkt = ref;
      h.response = to_string(value);
    }
    if (state_ != State::done) state_ = State::responded;
  }
  if (fresh) state_ = ob.role == Role::challenge ? State::challenged : State::responded;
}

void Session::on_auth(const Auth& a, Observation& ob, PacketRef ref) {
  // MQTT 5 re-authentication (§4.12.1) happens after CONNACK: the client starts it with AUTH 0x19
  // (Re-authenticate), AUTH 0x18 goes back and forth, the server ends it with AUTH 0x00 (Success) or a
  // DISCONNECT. Neither 0x19 nor 0x00 belongs to the connect handshake, which CONNACK ends.
  if (a.reason_code == kAuthReauthenticate) infer(ob, Direction::c2s);
  if (a.reason_code == kAuthSuccess) infer(ob, Direction::s2c);
  if (state_ == State::done) {
    // Re-authentication after CONNACK: not part of the connect handshake, counted on it.
    if (!hs_.empty()) {
      ob.handshake = hs_.size() - 1;
      if (a.reason_code == kAuthReauthenticate) {
        reauth_pending_ = true;
      } else if (a.reason_code == kAuthSuccess && reauth_pending_) {
        ++hs_.back().reauths;
        reauth_pending_ = false;
      }
    }
    return;
  }
  infer(ob, state_ == State::challenged ? Direction::c2s : Direction::s2c);
  const bool fresh = hs_.empty();
  Handshake& h = current(ob, ref);
  h.scheme = AuthScheme::v5;
  if (h.auth_method.empty())
    if (auto m = a.properties.find(PropertyId::authentication_method)) h.auth_method = std::string(m->text);
  // The capture started after CONNACK (no CONNECT seen): the first re-authentication seen stands for the
  // connection's authentication, from its AUTH 0x19 (the request: neither challenge nor response) to the
  // server's AUTH 0x00 (accepted). During a connect handshake both are protocol violations.
  if (a.reason_code == kAuthReauthenticate || a.reason_code == kAuthSuccess) {
    const bool reauth = !h.connect && (a.reason_code == kAuthReauthenticate ? fresh : state_ == State::responded);
    if (!reauth) {
      flag(ob, h, anomaly::unexpected_state);
    } else if (a.reason_code == kAuthSuccess) {
      h.outcome = Outcome::accepted;
      state_ = State::done;
    } else {
      state_ = State::wait_challenge;
    }
    return;
  }
  on_auth_data(a, h, fresh, ob, ref);
}

// AUTH 0x18 (Continue authentication) during the handshake: a challenge or a response.
void Session::on_auth_data(const Auth& a, Handshake& h, bool fresh, Observation& ob, PacketRef ref) {
  auto data = a.properties.find(PropertyId::authentication_data);
  std::string value = data ? to_string(data->binary) : std::string();
  if (ob.dir == Direction::s2c) {
    ob.role = Role::challenge;
    ++h.challenges;
    if (!h.challenge_pkt) {
      h.challenge_pkt = ref;
      h.challenge = value;
    }
    state_ = State::challenged;
  } else {
    ob.role = Role::response;
    ++h.responses;
    if (state_ == State::responded)
      flag(ob, h, anomaly::repeated_response);
    else if (state_ == State::wait_challenge && !fresh)
      flag(ob, h, anomaly::unexpected_state);
    if (!h.response_pkt) {
      h.response_pkt = ref;
      h.response = value;
    }
    state_ = State::responded;
  }
}

void Session::on_connack(const Connack& c, std::uint8_t decoded_level, Observation& ob, PacketRef ref) {
  infer(ob, Direction::s2c);
  Handshake& h = current(ob, ref);
  if (ob.dir == Direction::c2s) flag(ob, h, anomaly::unexpected_direction);
  if (h.connack) {
    flag(ob, h, anomaly::second_connack);
    return;
  }
  if (h.level == 0) h.level = level_;
  h.connack = ref;
  h.connack_code = c.code;
  h.connack_level = decoded_level;
  // The CONNACK's own format decides: a 3.1.1 server refuses a level-5 CONNECT with return code 1.
  const std::uint8_t format = decoded_level ? decoded_level : level_;
  bool ok = format == kLevel5 ? c.code < 0x80 : c.code == 0;
  if (state_ == State::challenged) flag(ob, h, anomaly::challenge_without_response);
  if (!ok && h.challenges > 0 && h.responses > 0) flag(ob, h, anomaly::refused_after_exchange);
  h.outcome = ok ? Outcome::accepted : Outcome::refused;
  state_ = State::done;
}

void Session::on_other(const Packet& p, Observation& ob) {
  if (std::holds_alternative<Disconnect>(p) && reauth_pending_ && !hs_.empty()) {
    // The server ends a re-authentication in progress with a DISCONNECT: refused (0x87 Not authorized,
    // 0x8C Bad authentication method, ...). The client's own DISCONNECT just abandons it.
    if (ob.dir == Direction::s2c) ++hs_.back().reauths_refused;
    reauth_pending_ = false;
  }
  // Packets whose sender the type tells.
  if (holds_any<Subscribe, Unsubscribe, Pingreq>(p))
    infer(ob, Direction::c2s);
  else if (holds_any<Suback, Unsuback, Pingresp>(p))
    infer(ob, Direction::s2c);
  if (!hs_.empty()) ob.handshake = hs_.size() - 1;
}

Session::Step Session::decode(std::span<const std::uint8_t> packet, Direction dir, PacketRef ref) {
  auto h = parse_fixed_header(packet, true);
  if (!h) {
    Step s{h.error(), Observation{}};
    s.obs.dir = dir;
    return s;
  }
  return decode(packet, *h, dir, ref);
}

Session::Step Session::decode(std::span<const std::uint8_t> packet, const FixedHeader& h, Direction dir,
                              PacketRef ref) {
  Step s{mqttauth::decode(packet, h, context()), Observation{}};
  s.obs.dir = dir;
  if (s.decoded) observe_into(*s.decoded, dir, ref, s.obs);
  return s;
}

std::string_view weakness_name(ChallengeWeakness w) noexcept {
  switch (w) {
    case ChallengeWeakness::timestamp_ms: return "timestamp_ms";
    case ChallengeWeakness::timestamp_s: return "timestamp_s";
    case ChallengeWeakness::counter: return "counter";
    case ChallengeWeakness::too_short: return "too_short";
    default: return "none";
  }
}

ChallengeWeakness classify_challenge(std::string_view c, std::int64_t near_ns) noexcept {
  bool digits = !c.empty() && c.size() <= 19;
  for (char ch : c) digits = digits && ch >= '0' && ch <= '9';
  if (digits) {
    std::uint64_t v = std::strtoull(std::string(c).c_str(), nullptr, 10);
    constexpr std::uint64_t day_ms = 86400000ull;
    auto within = [&](std::uint64_t ms) {
      if (near_ns == 0) return true;
      auto near_ms = static_cast<std::uint64_t>(near_ns / 1000000);
      return (ms > near_ms ? ms - near_ms : near_ms - ms) <= day_ms;
    };
    // 2001-09-09 .. 2286: 13 digits of milliseconds; 10 digits of seconds.
    if (c.size() == 13 && within(v)) return ChallengeWeakness::timestamp_ms;
    if (c.size() == 10 && within(v * 1000)) return ChallengeWeakness::timestamp_s;
    if (c.size() <= 9) return ChallengeWeakness::counter;
  }
  if (c.size() < 8) return ChallengeWeakness::too_short;
  return ChallengeWeakness::none;
}

}  // namespace mqttauth
