#include "broker/core.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "mqttauth/topic.hpp"

namespace mqttauth::cli::broker {

namespace {

constexpr std::uint32_t kNever = 0xFFFFFFFFu;

// v5 reason codes used here.
constexpr std::uint8_t kRcMalformed = 0x81;
constexpr std::uint8_t kRcProtocolError = 0x82;
constexpr std::uint8_t kRcNotAuthorized = 0x87;
constexpr std::uint8_t kRcBadAuthMethod = 0x8C;
constexpr std::uint8_t kRcKeepAliveTimeout = 0x8D;
constexpr std::uint8_t kRcSessionTakenOver = 0x8E;
constexpr std::uint8_t kRcTopicAliasInvalid = 0x94;
constexpr std::uint8_t kRcPacketTooLarge = 0x95;
constexpr std::uint8_t kRcReceiveMaxExceeded = 0x93;
constexpr std::uint8_t kRcClientIdInvalid = 0x85;
constexpr std::uint8_t kRcUnsupportedVersion = 0x84;
constexpr std::uint8_t kRcConnectionRateExceeded = 0x9F;
constexpr std::uint8_t kRcSuccess = 0x00;
constexpr std::uint8_t kRcContinue = 0x18;
constexpr std::uint8_t kRcReauthenticate = 0x19;

void copy_property(PropertyBuilder& b, const Property& p) {
  switch (p.type) {
    case PropertyType::utf8_pair: b.add_user_property(p.text, p.value); break;
    case PropertyType::utf8: b.add_string(p.id, p.text); break;
    case PropertyType::binary: b.add_binary(p.id, p.binary); break;
    default: b.add_int(p.id, p.number); break;
  }
}

std::vector<std::uint8_t> to_vector(Bytes b) { return std::vector<std::uint8_t>(b.begin(), b.end()); }

std::uint32_t prop_int(const Properties& ps, PropertyId id, std::uint32_t dflt) {
  auto p = ps.find(id);
  return p ? p->number : dflt;
}

TimeMs add_seconds(TimeMs now, std::uint32_t s) { return now + static_cast<TimeMs>(s) * 1000; }

// The Authentication Data of an AUTH (empty when absent).
std::string_view auth_data(const Auth& p) {
  auto data = p.properties.find(PropertyId::authentication_data);
  return data ? data->binary.as_chars() : std::string_view{};
}

// "1.5 s", "30 s"
std::string seconds_text(TimeMs ms) {
  std::string s = std::to_string(ms / 1000);
  if (ms % 1000) {
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms % 1000));
    std::string f(frac);
    while (f.back() == '0') f.pop_back();
    s += f;
  }
  return s + " s";
}

}  // namespace

std::string source_key(const IpAddr& ip) {
  IpAddr a = ip;
  if (a.v6) {
    static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (std::equal(std::begin(mapped), std::end(mapped), a.b.begin())) {  // ::ffff:a.b.c.d is IPv4
      IpAddr v4;
      std::copy(a.b.begin() + 12, a.b.end(), v4.b.begin());
      return v4.str();
    }
    std::fill(a.b.begin() + 8, a.b.end(), std::uint8_t{0});
    return a.str() + "/64";
  }
  return a.str();
}

std::string make_challenge(bool seed_compat) {
  if (seed_compat) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                  .count();
    return std::to_string(ms);
  }
  unsigned char buf[16];
  if (RAND_bytes(buf, sizeof buf) != 1) throw std::runtime_error("RAND_bytes failed");
  static constexpr char hexd[] = "0123456789abcdef";
  std::string out(32, '0');
  for (std::size_t i = 0; i < sizeof buf; ++i) {
    out[2 * i] = hexd[buf[i] >> 4];
    out[2 * i + 1] = hexd[buf[i] & 15];
  }
  return out;
}

Core::Core(const BrokerConfig& config)
    : config_(config),
      failed_clients_(config.auth_limit.client_failures, config.auth_limit),
      failed_sources_(config.auth_limit.address_failures, config.auth_limit),
      trusted_(config.auth_limit.max_entries) {
  if (!config_.challenges) {
    bool compat = config_.seed_compat;
    config_.challenges = [compat](std::string_view) { return make_challenge(compat); };
  }
}

std::vector<Action> Core::take_actions() {
  std::vector<Action> out;
  out.swap(actions_);
  return out;
}

bool Core::is_connected(const std::string& client_id) const {
  auto it = sessions_.find(client_id);
  return it != sessions_.end() && it->second.conn != 0;
}
bool Core::has_session(const std::string& client_id) const { return sessions_.count(client_id) != 0; }
std::size_t Core::pending_messages(const std::string& client_id) const {
  auto it = sessions_.find(client_id);
  return it == sessions_.end() ? 0 : it->second.inflight.size() + it->second.queue.size();
}

Core::Conn* Core::find(ConnId id) {
  auto it = conns_.find(id);
  return it == conns_.end() ? nullptr : &it->second;
}

void Core::log(const std::string& line) const {
  if (config_.log) config_.log(line);
}

void Core::send(Conn& c, const Packet& p) {
  std::uint8_t level = c.level == 0 ? kLevel311 : c.level;
  if (std::holds_alternative<Authenticate>(p)) level = std::get<Authenticate>(p).level;
  if (!actions_.empty() && actions_.back().kind == Action::Kind::send && actions_.back().conn == c.id) {
    if (!encode(p, level, actions_.back().bytes)) log("conn " + std::to_string(c.id) + ": cannot encode a packet");
    return;
  }
  Action a;
  a.conn = c.id;
  if (!encode(p, level, a.bytes)) {
    log("conn " + std::to_string(c.id) + ": cannot encode a packet");
    return;
  }
  actions_.push_back(std::move(a));
}

void Core::open(ConnId id, const ListenerConfig& listener, TimeMs now, std::string source) {
  now_ = now;
  auto [it, inserted] = conns_.try_emplace(id, config_.max_packet_size);
  if (!inserted) return;
  Conn& c = it->second;
  c.id = id;
  c.listener = listener;
  c.source = std::move(source);
  c.deadline = now + config_.connect_timeout.count();
  c.last_rx = now;
}

void Core::closed(ConnId id, TimeMs now) {
  now_ = now;
  Conn* c = find(id);
  if (!c) return;
  log("conn " + std::to_string(id) + ": closed by peer" + (c->client_id.empty() ? "" : " (" + c->client_id + ")"));
  // Closed without DISCONNECT: abnormal, the will goes out. No close action (the socket is gone).
  detach(id, now);
}

// Forgets connection `id`; when it was connected, its session goes offline (will, expiry).
void Core::detach(ConnId id, TimeMs now) {
  Conn* c = find(id);
  if (!c) return;
  Conn copy = std::move(*c);
  conns_.erase(id);
  if (copy.state == State::connected) {
    auto sit = sessions_.find(copy.client_id);
    if (sit != sessions_.end() && sit->second.conn == id) {
      Session& s = sit->second;
      s.conn = 0;
      if (copy.will) {
        std::uint32_t delay = copy.level == kLevel5 ? std::min(copy.will->delay, s.expiry) : 0;
        if (delay == 0) {
          publish_will(*copy.will, now);
        } else {
          s.pending_will = copy.will;
          s.will_at = add_seconds(now, delay);
        }
      }
      if (s.expiry == 0) {
        end_session(copy.client_id, now);
      } else {
        s.expires_at = s.expiry == kNever ? 0 : add_seconds(now, s.expiry);
      }
    }
  }
}

// Closes a connection from the broker's side. abnormal: the will is published (keep-alive timeout, protocol
// error, takeover); otherwise (DISCONNECT) it is discarded.
void Core::close(Conn& c, bool abnormal, std::optional<std::uint8_t> v5_reason) {
  ConnId id = c.id;
  if (v5_reason && c.level == kLevel5 && c.state == State::connected) {
    Disconnect d;
    d.reason_code = *v5_reason;
    send(c, d);
  }
  if (!abnormal) c.will.reset();
  Action a;
  a.kind = Action::Kind::close;
  a.conn = id;
  actions_.push_back(std::move(a));
  detach(id, now_);
}

void Core::protocol_error(Conn& c, std::uint8_t v5_reason, const char* why) {
  log("conn " + std::to_string(c.id) + (c.client_id.empty() ? "" : " (" + c.client_id + ")") +
      ": protocol violation: " + why);
  close(c, true, v5_reason);
}

void Core::receive(ConnId id, std::span<const std::uint8_t> bytes, TimeMs now) {
  now_ = now;
  Conn* c = find(id);
  if (!c) return;
  c->last_rx = now;
  c->framer.push(bytes);
  for (;;) {
    c = find(id);
    if (!c) return;
    FrameEvent ev = c->framer.next();
    if (ev.kind == FrameEvent::Kind::need_more) return;
    if (ev.kind == FrameEvent::Kind::oversized) {
      // Do not read on: the packet's bytes would have to be skipped, and the peer breaks the limit anyway.
      protocol_error(*c, kRcPacketTooLarge, "packet larger than the maximum packet size");
      return;
    }
    if (ev.kind == FrameEvent::Kind::error) {
      protocol_error(*c, kRcMalformed, "malformed remaining length");
      return;
    }
    DecodeContext ctx;
    ctx.level = c->level;
    ctx.dialect = c->state == State::wait_custom_auth ? Dialect::authenticate : Dialect::standard;
    ctx.limits.max_packet_size = config_.max_packet_size;
    // A server: a packet that breaks a rule is a protocol error, not a packet to act on; but for a zero-byte
    // client id without clean session the spec wants CONNACK 0x02 (identifier rejected) [MQTT-3.1.3-8], which
    // on_connect answers.
    auto d = decode(ev.frame.bytes, ctx);
    if (d) {
      for (const Violation& v : d->violations)
        if (!(v.kind == ErrorKind::bad_connect_flags && std::holds_alternative<Connect>(d->packet) &&
              std::get<Connect>(d->packet).client_id.empty() &&
              (std::string_view(v.rule) == "MQTT-3.1.3-7" || std::string_view(v.rule) == "MQTT 3.1 CONNECT"))) {
          d = Error{v.kind, v.offset, v.detail};
          break;
        }
    }
    if (!d) {
      if (c->state == State::wait_connect) {
        // A CONNECT with an unknown protocol level gets the 3.1.1 "unacceptable protocol version" answer.
        if (ev.frame.header.code() == 1 &&
            (d.error().kind == ErrorKind::bad_protocol_level || d.error().kind == ErrorKind::bad_protocol_name)) {
          std::vector<std::uint8_t> ack = {0x20, 0x02, 0x00, 0x01};
          Action a;
          a.conn = id;
          a.bytes = ack;
          actions_.push_back(std::move(a));
        }
      }
      log("conn " + std::to_string(id) + ": " + d.error().message());
      std::uint8_t rc = d.error().kind == ErrorKind::bad_packet_type ? kRcProtocolError : kRcMalformed;
      if (d.error().kind == ErrorKind::packet_too_large) rc = kRcPacketTooLarge;
      close(*c, true, rc);
      return;
    }
    handle(*c, d->packet, now);
  }
}

void Core::handle(Conn& c, const Packet& p, TimeMs now) {
  if (c.state == State::wait_connect) {
    if (auto* cp = std::get_if<Connect>(&p)) return on_connect(c, *cp, now);
    return protocol_error(c, kRcProtocolError, "first packet is not CONNECT");
  }
  if (c.state == State::wait_custom_auth) {
    if (auto* ap = std::get_if<Authenticate>(&p)) return on_custom_response(c, *ap, now);
    return protocol_error(c, kRcProtocolError, "expected the authenticate response");
  }
  if (c.state == State::wait_v5_auth) {
    if (auto* ap = std::get_if<Auth>(&p)) return on_auth(c, *ap, now);
    if (std::holds_alternative<Disconnect>(p)) return close(c, false);
    return protocol_error(c, kRcProtocolError, "expected AUTH");
  }
  // Connected.
  std::visit(
      [&](const auto& pk) {
        using T = std::decay_t<decltype(pk)>;
        if constexpr (std::is_same_v<T, Publish>) {
          on_publish(c, pk, now);
        } else if constexpr (std::is_same_v<T, Puback> || std::is_same_v<T, Pubcomp>) {
          auto sit = sessions_.find(c.client_id);
          if (sit == sessions_.end()) return;
          Session& s = sit->second;
          auto it = s.inflight.find(pk.packet_id);
          if (it != s.inflight.end()) {
            bool expected = std::is_same_v<T, Puback> ? it->second.qos == 1 : it->second.released;
            if (expected) s.inflight.erase(it);
          }
          pump(s, now);
        } else if constexpr (std::is_same_v<T, Pubrec>) {
          auto sit = sessions_.find(c.client_id);
          if (sit == sessions_.end()) return;
          Session& s = sit->second;
          auto it = s.inflight.find(pk.packet_id);
          if (it != s.inflight.end() && it->second.qos == 2) {
            if (pk.reason_code >= 0x80) {
              s.inflight.erase(it);
              pump(s, now);
              return;
            }
            it->second.released = true;
            it->second.sent_at = now;
          }
          Pubrel rel;
          rel.packet_id = pk.packet_id;
          if (it == s.inflight.end()) rel.reason_code = c.level == kLevel5 ? 0x92 : 0;
          send(c, rel);
        } else if constexpr (std::is_same_v<T, Pubrel>) {
          auto sit = sessions_.find(c.client_id);
          if (sit == sessions_.end()) return;
          bool known = sit->second.incoming_qos2.erase(pk.packet_id) != 0;
          Pubcomp comp;
          comp.packet_id = pk.packet_id;
          if (!known && c.level == kLevel5) comp.reason_code = 0x92;
          send(c, comp);
        } else if constexpr (std::is_same_v<T, Subscribe>) {
          on_subscribe(c, pk, now);
        } else if constexpr (std::is_same_v<T, Unsubscribe>) {
          on_unsubscribe(c, pk);
        } else if constexpr (std::is_same_v<T, Pingreq>) {
          send(c, Pingresp{});
        } else if constexpr (std::is_same_v<T, Disconnect>) {
          auto sit = sessions_.find(c.client_id);
          if (c.level == kLevel5 && sit != sessions_.end()) {
            if (auto e = pk.properties.find(PropertyId::session_expiry_interval)) {
              if (c.session_expiry == 0 && e->number != 0)
                return protocol_error(c, kRcProtocolError, "DISCONNECT sets a session expiry after 0");
              sit->second.expiry = std::min(e->number, config_.max_session_expiry);
            }
          }
          bool with_will = c.level == kLevel5 && pk.reason_code == 0x04;
          log("conn " + std::to_string(c.id) + " (" + c.client_id + "): DISCONNECT");
          close(c, with_will);
        } else if constexpr (std::is_same_v<T, Auth>) {
          on_reauth(c, pk, now);
        } else if constexpr (std::is_same_v<T, Connect>) {
          protocol_error(c, kRcProtocolError, "second CONNECT");
        } else {
          protocol_error(c, kRcProtocolError, "unexpected packet type");
        }
      },
      p);
}

void Core::on_connect(Conn& c, const Connect& p, TimeMs now) {
  c.level = p.level;
  c.clean = p.clean;
  c.keep_alive = p.keep_alive;
  c.client_id = std::string(p.client_id);
  const bool v5 = p.level == kLevel5;
  if (v5) {
    c.session_expiry =
        std::min(prop_int(p.properties, PropertyId::session_expiry_interval, 0), config_.max_session_expiry);
    c.client_receive_max = static_cast<std::uint16_t>(prop_int(p.properties, PropertyId::receive_maximum, 65535));
    c.client_max_packet = prop_int(p.properties, PropertyId::maximum_packet_size, 0);
    c.client_alias_max = static_cast<std::uint16_t>(prop_int(p.properties, PropertyId::topic_alias_maximum, 0));
    c.problem_info = prop_int(p.properties, PropertyId::request_problem_information, 1) != 0;
    if (config_.server_keep_alive != 0 && (c.keep_alive > config_.server_keep_alive)) {
      c.keep_alive = config_.server_keep_alive;
      c.keep_alive_imposed = true;
    }
  } else {
    c.session_expiry = p.clean ? 0 : kNever;
  }
  if (p.will) {
    auto m = std::make_shared<Message>();
    m->topic = std::string(p.will->topic);
    m->payload = to_vector(p.will->payload);
    m->qos = p.will->qos;
    m->retain = p.will->retain;
    m->origin = c.client_id;
    Will w;
    if (v5) {
      PropertyBuilder b;
      for (const Property& pr : p.will->properties) {
        // The Message Expiry Interval counts from the will's publication: it is kept as a plain property and
        // turned into a deadline then.
        if (pr.id == PropertyId::will_delay_interval)
          w.delay = pr.number;
        else
          copy_property(b, pr);
      }
      m->props = to_vector(b.properties().raw());
    }
    w.msg = std::move(m);
    c.will = std::move(w);
  }
  // Client identifier rules.
  if (c.client_id.empty()) {
    if (p.level == kLevel31 || (!v5 && !p.clean)) {
      log("conn " + std::to_string(c.id) + ": empty client id refused");
      return refuse(c, 0x02, kRcClientIdInvalid);
    }
    c.client_id = "mqttauth-" + std::to_string(++assigned_ids_) + "-" + make_challenge(false).substr(0, 8);
    c.assigned_id = true;
  }
  if (p.bridge) return refuse(c, 0x01, kRcUnsupportedVersion);

  // Authentication.
  AuthMode mode = c.listener.auth;
  auto method = v5 ? p.properties.find(PropertyId::authentication_method) : std::nullopt;
  Scheme scheme = Scheme::none;
  switch (mode) {
    case AuthMode::none:
      if (method) {
        log("conn " + std::to_string(c.id) + " (" + c.client_id + "): authentication method not supported here");
        return refuse(c, 0x05, kRcBadAuthMethod);
      }
      break;
    case AuthMode::custom:
      // The custom scheme is for MQTT 3.1 and 3.1.1; a type-15 packet is AUTH to an MQTT 5 client.
      scheme = v5 ? Scheme::v5 : Scheme::custom;
      break;
    case AuthMode::v5:
      if (!v5) {
        log("conn " + std::to_string(c.id) + " (" + c.client_id + "): MQTT 5 enhanced auth required");
        return refuse(c, 0x05, kRcNotAuthorized);
      }
      scheme = Scheme::v5;
      break;
    case AuthMode::any: scheme = v5 ? Scheme::v5 : Scheme::custom; break;
  }
  if (scheme == Scheme::v5) {
    // An MQTT 5 client that asks for no method, or another, on a listener that requires authentication.
    if (!method || method->text != kAuthMethod) {
      log("conn " + std::to_string(c.id) + " (" + c.client_id + "): authentication method must be " +
          std::string(kAuthMethod));
      return refuse(c, 0x05, kRcBadAuthMethod);
    }
  }
  c.scheme = scheme;
  if (scheme == Scheme::none) return complete_connect(c, now, false);
  if (refuse_if_locked_out(c, now, "CONNECT")) return;

  c.challenge = config_.challenges(c.client_id);
  c.deadline = now + config_.auth_timeout.count();
  if (scheme == Scheme::custom) {
    Authenticate a;
    a.code = c.listener.auth_code;
    a.protocol_name = "MQTT";
    a.level = kLevel311;
    a.clean = true;
    a.keep_alive = 0;
    a.client_id = c.client_id;
    a.password = Bytes::of(c.challenge);
    c.state = State::wait_custom_auth;
    send(c, a);
    log("conn " + std::to_string(c.id) + " (" + c.client_id + "): challenge sent (authenticate code " +
        std::to_string(a.code) + ")");
  } else {
    c.state = State::wait_v5_auth;
    send_auth(c, kRcContinue, c.challenge);
    log("conn " + std::to_string(c.id) + " (" + c.client_id + "): AUTH challenge sent");
  }
}

// AUTH with our method and, when given, Authentication Data (the challenge).
void Core::send_auth(Conn& c, std::uint8_t reason, std::optional<std::string_view> data) {
  PropertyBuilder b;
  b.add_string(PropertyId::authentication_method, kAuthMethod);
  if (data) b.add_binary(PropertyId::authentication_data, Bytes::of(*data));
  Auth a;
  a.reason_code = reason;
  a.properties = b.properties();
  send(c, a);
}

// Brute-force limit: while the client id or the source address is locked out, refuses the attempt (CONNACK 5;
// v5 0x9F Connection rate exceeded) without a challenge or without evaluating the response. True if refused.
bool Core::refuse_if_locked_out(Conn& c, TimeMs now, const char* what) {
  std::optional<TimeMs> until = failed_clients_.locked_until(c.client_id, now);
  // Failures with this client id from elsewhere do not lock it out of an address it authenticated from.
  if (until && !c.source.empty() && trusted_.contains(c.client_id, c.source)) until.reset();
  std::string key = "client id " + c.client_id;
  if (!until && !c.source.empty()) {
    until = failed_sources_.locked_until(c.source, now);
    key = "address " + c.source;
  }
  if (!until) return false;
  log("conn " + std::to_string(c.id) + " (" + c.client_id + "): " + what + " refused: " + key +
      " locked out for another " + seconds_text(*until - now) + " after failed authentications");
  refuse(c, 0x05, kRcConnectionRateExceeded);
  return true;
}

// Counts a failed authentication against the client id and the source address; logs when a key reaches its
// threshold (the limiting starts).
void Core::count_failure(const Conn& c, TimeMs now) {
  auto note = [&](const FailureTable& t, const char* kind, const std::string& key, FailureTable::Failure f) {
    if (t.threshold() == 0 || f.failures != t.threshold()) return;
    const AuthLimitConfig& l = config_.auth_limit;
    log("auth limit: " + std::string(kind) + " " + key + ": " + std::to_string(f.failures) +
        " failed authentications within " + seconds_text(l.window.count()) + ", further attempts refused for " +
        seconds_text(f.lockout_ms) + " (doubling with each failure, up to " + seconds_text(l.max_lockout.count()) +
        ")");
  };
  if (!c.source.empty()) trusted_.remove(c.client_id, c.source);  // a failure ends the exemption
  note(failed_clients_, "client id", c.client_id, failed_clients_.fail(c.client_id, now));
  if (!c.source.empty()) note(failed_sources_, "address", c.source, failed_sources_.fail(c.source, now));
}

// The response to the connect challenge (custom or v5): CONNACK 0 when it verifies, else a refusal (CONNACK 5,
// v5 0x87) that counts against the brute-force limit. If the client id or address was locked out meanwhile
// (by another connection), the response is refused without being evaluated.
void Core::finish_auth(Conn& c, std::string_view response, TimeMs now, bool v5) {
  const char* what = v5 ? "AUTH response" : "response";
  if (refuse_if_locked_out(c, now, what)) return;
  const std::string who = "conn " + std::to_string(c.id) + " (" + c.client_id + "): " + what;
  Verification v = config_.secrets.verify(c.client_id, c.challenge, response);
  if (v == Verification::verified) {
    log(who + " verified");
    // A success clears the client id's failures, unless they lock it out (then it came in through its
    // trusted address, and the failures from elsewhere stand).
    if (!failed_clients_.locked_until(c.client_id, now)) failed_clients_.forget(c.client_id);
    if (!c.source.empty()) trusted_.add(c.client_id, c.source);
    return complete_connect(c, now, v5);
  }
  log(who + " refused (" + verification_name(v) + ")");
  count_failure(c, now);
  refuse(c, 0x05, kRcNotAuthorized);
}

void Core::refuse(Conn& c, std::uint8_t code_3x, std::uint8_t code_v5) {
  Connack ack;
  ack.code = c.level == kLevel5 ? code_v5 : code_3x;
  send(c, ack);
  c.will.reset();
  close(c, false);
}

void Core::on_custom_response(Conn& c, const Authenticate& p, TimeMs now) {
  const std::string who = "conn " + std::to_string(c.id) + " (" + c.client_id + "): response refused: ";
  if (config_.response_client_id_must_match && p.client_id != c.client_id) {
    log(who + "its client id '" + std::string(p.client_id) + "' is not the CONNECT's (client_id_mismatch)");
    return refuse(c, 0x05, kRcNotAuthorized);
  }
  if (config_.response_code_must_match && p.code != c.listener.auth_code) {
    log(who + "authenticate code " + std::to_string(p.code) + ", the challenge's was " +
        std::to_string(c.listener.auth_code) + " (code_mismatch)");
    return refuse(c, 0x05, kRcNotAuthorized);
  }
  finish_auth(c, p.password ? p.password->as_chars() : std::string_view{}, now, false);
}

void Core::on_auth(Conn& c, const Auth& p, TimeMs now) {
  auto method = p.properties.find(PropertyId::authentication_method);
  if (!method || method->text != kAuthMethod) return refuse(c, 0x05, kRcBadAuthMethod);
  if (p.reason_code != kRcContinue) return refuse(c, 0x05, kRcProtocolError);
  finish_auth(c, auth_data(p), now, true);
}

// MQTT 5 re-authentication (§4.12.1) of a connected client: AUTH 0x19 (same method) -> AUTH 0x18 with a fresh
// challenge -> AUTH 0x18 with the response -> AUTH 0x00, or DISCONNECT 0x87 and close. PUBLISH and the rest
// go on meanwhile (handled as usual); the response is due within auth_timeout (see tick()). Not subject to the
// brute-force limit: the connection proved its identity once already, and an attacker's failures with the same
// client id must not cut the real device off at its next re-authentication.
void Core::on_reauth(Conn& c, const Auth& p, TimeMs now) {
  // [MQTT-4.12.0-7]: a client that did not authenticate with a method must not send AUTH.
  if (c.scheme != Scheme::v5)
    return protocol_error(c, kRcProtocolError, "AUTH from a client that did not use enhanced authentication");
  // [MQTT-4.12.1-1]: the same Authentication Method as in CONNECT.
  auto method = p.properties.find(PropertyId::authentication_method);
  if (!method || method->text != kAuthMethod)
    return protocol_error(c, kRcProtocolError, "re-authentication with another authentication method");
  const std::string who = "conn " + std::to_string(c.id) + " (" + c.client_id + "): ";
  if (!c.reauth) {
    if (p.reason_code != kRcReauthenticate)
      return protocol_error(c, kRcProtocolError, "AUTH other than Re-authenticate outside a re-authentication");
    c.challenge = config_.challenges(c.client_id);
    c.reauth = true;
    c.reauth_deadline = now + config_.auth_timeout.count();
    send_auth(c, kRcContinue, c.challenge);
    log(who + "re-authentication: AUTH challenge sent");
    return;
  }
  if (p.reason_code != kRcContinue)
    return protocol_error(c, kRcProtocolError, "AUTH other than Continue during a re-authentication");
  Verification v = config_.secrets.verify(c.client_id, c.challenge, auth_data(p));
  if (v != Verification::verified) {
    log(who + "re-authentication refused (" + verification_name(v) + ")");
    // [MQTT-4.12.1-2]: DISCONNECT with a reason, then close; not a normal disconnection, so the will goes out.
    return close(c, true, kRcNotAuthorized);
  }
  c.reauth = false;
  c.reauth_deadline = 0;
  send_auth(c, kRcSuccess, std::nullopt);
  log(who + "re-authenticated");
}

void Core::complete_connect(Conn& c, TimeMs now, bool with_auth_method) {
  const bool v5 = c.level == kLevel5;
  // Session takeover: the older connection goes (its will is published, its session stays for us).
  auto sit = sessions_.find(c.client_id);
  if (sit != sessions_.end() && sit->second.conn != 0) {
    if (Conn* old = find(sit->second.conn)) {
      log("conn " + std::to_string(old->id) + " (" + c.client_id + "): taken over by conn " + std::to_string(c.id));
      sit->second.expiry = kNever;  // keep the session through the old connection's close
      close(*old, true, kRcSessionTakenOver);
    }
    sit = sessions_.find(c.client_id);
    if (sit != sessions_.end()) sit->second.conn = 0;
  }
  bool present = false;
  if (sit != sessions_.end()) {
    if (c.clean) {
      if (sit->second.pending_will) publish_will(*sit->second.pending_will, now);
      sessions_.erase(sit);
    } else {
      present = true;
      sit->second.pending_will.reset();  // a new connection before the will delay: no will
    }
  }
  Session& s = sessions_[c.client_id];
  s.client_id = c.client_id;
  s.conn = c.id;
  s.level = c.level;
  s.expiry = c.session_expiry;
  s.expires_at = 0;
  c.state = State::connected;
  c.deadline = 0;
  c.last_rx = now;

  Connack ack;
  ack.session_present = present;
  ack.code = 0;
  PropertyBuilder b;
  if (v5) {
    b.add_int(PropertyId::receive_maximum, config_.receive_maximum);
    b.add_int(PropertyId::maximum_packet_size, config_.max_packet_size);
    if (config_.topic_alias_maximum) b.add_int(PropertyId::topic_alias_maximum, config_.topic_alias_maximum);
    if (c.assigned_id) b.add_string(PropertyId::assigned_client_identifier, c.client_id);
    if (c.keep_alive_imposed) b.add_int(PropertyId::server_keep_alive, c.keep_alive);
    if (with_auth_method) b.add_string(PropertyId::authentication_method, kAuthMethod);
    ack.properties = b.properties();
  }
  send(c, ack);
  log("conn " + std::to_string(c.id) + " (" + c.client_id + "): connected, MQTT level " + std::to_string(c.level) +
      (present ? ", session present" : ""));

  // Retry what was in flight, then whatever waited.
  for (auto& [id, d] : s.inflight) {
    if (d.released) {
      Pubrel rel;
      rel.packet_id = id;
      send(c, rel);
    } else {
      send_publish(c, s, d, id, true, now);
    }
    d.sent_at = now;
  }
  pump(s, now);
}

void Core::on_publish(Conn& c, const Publish& p, TimeMs now) {
  auto sit = sessions_.find(c.client_id);
  if (sit == sessions_.end()) return;
  std::string topic(p.topic);
  auto m = std::make_shared<Message>();
  if (c.level == kLevel5) {
    PropertyBuilder b;
    for (const Property& pr : p.properties) {
      if (pr.id == PropertyId::topic_alias) {
        if (pr.number == 0 || pr.number > config_.topic_alias_maximum)
          return protocol_error(c, kRcTopicAliasInvalid, "topic alias out of range");
        auto alias = static_cast<std::uint16_t>(pr.number);
        if (topic.empty()) {
          auto it = c.in_aliases.find(alias);
          if (it == c.in_aliases.end()) return protocol_error(c, kRcProtocolError, "unknown topic alias");
          topic = it->second;
        } else {
          c.in_aliases[alias] = topic;
        }
      } else if (pr.id == PropertyId::message_expiry_interval) {
        m->expires_at = add_seconds(now, pr.number);
      } else if (pr.id != PropertyId::subscription_identifier) {
        copy_property(b, pr);
      }
    }
    m->props = to_vector(b.properties().raw());
  }
  if (topic.empty()) return protocol_error(c, kRcProtocolError, "empty topic");
  Session& s = sit->second;
  if (p.qos == 2 && !s.incoming_qos2.count(p.packet_id) &&
      s.incoming_qos2.size() >= (c.level == kLevel5 ? config_.receive_maximum : std::size_t{65535}))
    return protocol_error(c, kRcReceiveMaxExceeded, "receive maximum exceeded");

  bool duplicate = p.qos == 2 && s.incoming_qos2.count(p.packet_id) != 0;
  if (p.qos == 1) {
    Puback ack;
    ack.packet_id = p.packet_id;
    send(c, ack);
  } else if (p.qos == 2) {
    s.incoming_qos2.insert(p.packet_id);
    Pubrec rec;
    rec.packet_id = p.packet_id;
    send(c, rec);
  }
  if (duplicate) return;

  m->topic = std::move(topic);
  m->payload = to_vector(p.payload);
  m->qos = p.qos;
  m->retain = p.retain;
  m->origin = c.client_id;
  if (p.retain) {
    if (m->payload.empty()) {
      retained_.erase(m->topic);
    } else if (retained_.count(m->topic) || retained_.size() < config_.max_retained) {
      retained_[m->topic] = m;
    } else {
      log("retained store full: not keeping " + m->topic);
    }
  }
  route(m, now);
}

bool Core::acl_denies(std::string_view filter) const {
  for (const auto& d : config_.deny_subscribe) {
    if (d == filter) return true;
    if (filter.find_first_of("+#") == std::string_view::npos && valid_topic_filter(d, kLevel311) &&
        topic_matches(d, filter))
      return true;
  }
  return false;
}

void Core::on_subscribe(Conn& c, const Subscribe& p, TimeMs now) {
  auto sit = sessions_.find(c.client_id);
  if (sit == sessions_.end()) return;
  Session& s = sit->second;
  const bool v5 = c.level == kLevel5;
  std::uint32_t sub_id = v5 ? prop_int(p.properties, PropertyId::subscription_identifier, 0) : 0;
  std::vector<std::uint8_t> codes(p.subscriptions.size(), 0);
  struct RetainedSend {
    std::string filter;
    std::uint8_t qos;
    bool rap;
  };
  std::vector<RetainedSend> retained_sends;
  for (std::size_t i = 0; i < p.subscriptions.size(); ++i) {
    const Subscription& sub = p.subscriptions[i];
    if (acl_denies(sub.filter)) {
      codes[i] = v5 ? config_.deny_reason_v5 : 0x80;
      log("conn " + std::to_string(c.id) + " (" + c.client_id + "): subscription to " + std::string(sub.filter) +
          " refused by the ACL");
      continue;
    }
    std::uint8_t qos = std::min<std::uint8_t>(sub.qos(), 2);
    Sub entry;
    entry.options = sub.options;
    entry.id = sub_id;
    std::string_view f = sub.filter;
    if (v5 && is_shared_filter(f, kLevel5)) {
      if (sub.no_local()) return protocol_error(c, kRcProtocolError, "no local on a shared subscription");
      auto rest = f.substr(7);  // after "$share/"
      auto slash = rest.find('/');
      entry.group = std::string(rest.substr(0, slash));
      entry.filter = std::string(rest.substr(slash + 1));
    } else {
      entry.filter = std::string(f);
    }
    std::string key(f);
    bool existed = s.subs.count(key) != 0;
    bool shared = !entry.group.empty();
    s.subs[key] = std::move(entry);
    codes[i] = qos;
    std::uint8_t rh = v5 ? sub.retain_handling() : 0;
    if (!shared && (rh == 0 || (rh == 1 && !existed)))
      retained_sends.push_back({std::string(f), qos, v5 && sub.retain_as_published()});
  }
  Suback ack;
  ack.packet_id = p.packet_id;
  ack.codes = Bytes(codes);
  send(c, ack);
  for (const auto& rs : retained_sends) {
    for (const auto& [topic, msg] : retained_) {
      if (!topic_matches(rs.filter, topic)) continue;
      if (msg->expires_at && *msg->expires_at <= now) continue;
      Delivery d;
      d.msg = msg;
      d.qos = std::min(msg->qos, rs.qos);
      d.retain = true;
      if (sub_id) d.sub_ids.push_back(sub_id);
      deliver(s, std::move(d), now);
    }
  }
}

void Core::on_unsubscribe(Conn& c, const Unsubscribe& p) {
  auto sit = sessions_.find(c.client_id);
  if (sit == sessions_.end()) return;
  std::vector<std::uint8_t> codes(p.filters.size(), 0);
  for (std::size_t i = 0; i < p.filters.size(); ++i)
    if (sit->second.subs.erase(std::string(p.filters[i])) == 0) codes[i] = 0x11;
  Unsuback ack;
  ack.packet_id = p.packet_id;
  if (c.level == kLevel5) ack.codes = Bytes(codes);
  send(c, ack);
}

void Core::route(const MessagePtr& msg, TimeMs now) {
  struct Candidate {
    Session* s;
    std::uint8_t qos;
    bool retain;
    std::uint32_t id;
  };
  std::map<std::string, std::vector<Candidate>> groups;  // shared groups: "group/filter" -> members
  for (auto& [cid, s] : sessions_) {
    bool matched = false;
    Delivery d;
    for (const auto& [key, sub] : s.subs) {
      if (!topic_matches(sub.filter, msg->topic)) continue;
      std::uint8_t qos = std::min<std::uint8_t>(msg->qos, sub.options & 3u);
      bool rap = s.level == kLevel5 && (sub.options & 0x08u) != 0;
      if (!sub.group.empty()) {
        groups[sub.group + "/" + sub.filter].push_back({&s, qos, rap && msg->retain, sub.id});
        continue;
      }
      if ((sub.options & 0x04u) != 0 && s.level == kLevel5 && cid == msg->origin) continue;  // no local
      if (!matched || qos > d.qos) d.qos = qos;
      d.retain = d.retain || (rap && msg->retain);
      if (sub.id) d.sub_ids.push_back(sub.id);
      matched = true;
    }
    if (matched) {
      d.msg = msg;
      deliver(s, std::move(d), now);
    }
  }
  for (auto& [name, members] : groups) {
    // Prefer connected members, round robin.
    std::size_t& pos = share_rr_[name];
    std::size_t n = members.size();
    std::size_t pick = pos % n;
    for (std::size_t k = 0; k < n; ++k) {
      std::size_t i = (pos + k) % n;
      if (members[i].s->conn != 0) {
        pick = i;
        break;
      }
    }
    pos = pick + 1;
    Delivery d;
    d.msg = msg;
    d.qos = members[pick].qos;
    d.retain = members[pick].retain;
    if (members[pick].id) d.sub_ids.push_back(members[pick].id);
    deliver(*members[pick].s, std::move(d), now);
  }
}

void Core::deliver(Session& s, Delivery d, TimeMs now) {
  if (s.conn == 0 && d.qos == 0 && s.queue.size() >= config_.max_queued_messages) return;
  if (s.queue.size() >= config_.max_queued_messages) {
    log("session " + s.client_id + ": queue full, message on " + d.msg->topic + " dropped");
    return;
  }
  s.queue.push_back(std::move(d));
  pump(s, now);
}

std::uint16_t Core::next_packet_id(Session& s) {
  for (int i = 0; i < 65536; ++i) {
    s.last_id = static_cast<std::uint16_t>(s.last_id == 65535 ? 1 : s.last_id + 1);
    if (!s.inflight.count(s.last_id)) return s.last_id;
  }
  return 0;
}

void Core::pump(Session& s, TimeMs now) {
  if (s.conn == 0) return;
  Conn* c = find(s.conn);
  if (!c || c->state != State::connected) return;
  std::size_t limit = c->level == kLevel5 ? c->client_receive_max : config_.max_inflight;
  if (limit == 0) limit = 1;
  while (!s.queue.empty()) {
    Delivery& d = s.queue.front();
    if (d.msg->expires_at && *d.msg->expires_at <= now) {
      s.queue.pop_front();
      continue;
    }
    if (d.qos == 0) {
      send_publish(*c, s, d, 0, false, now);
      s.queue.pop_front();
      continue;
    }
    if (s.inflight.size() >= limit) break;
    std::uint16_t id = next_packet_id(s);
    if (id == 0) break;
    d.sent_at = now;
    if (send_publish(*c, s, d, id, false, now)) s.inflight.emplace(id, std::move(d));
    s.queue.pop_front();
  }
}

bool Core::send_publish(Conn& c, Session& s, const Delivery& d, std::uint16_t id, bool dup, TimeMs now) {
  (void)s;
  const Message& m = *d.msg;
  Publish p;
  p.dup = dup;
  p.qos = d.qos;
  p.retain = d.retain;
  p.topic = m.topic;
  p.packet_id = id;
  p.payload = Bytes(m.payload);
  PropertyBuilder b;
  if (c.level == kLevel5) {
    for (const Property& pr : Properties(Bytes(m.props))) copy_property(b, pr);
    if (m.expires_at) {
      TimeMs left = *m.expires_at - now;
      if (left <= 0 && !dup) return false;
      b.add_int(PropertyId::message_expiry_interval, static_cast<std::uint32_t>(std::max<TimeMs>(left, 999) / 1000));
    }
    for (std::uint32_t sid : d.sub_ids) b.add_int(PropertyId::subscription_identifier, sid);
    if (c.client_alias_max > 0) {
      auto it = c.out_aliases.find(m.topic);
      if (it != c.out_aliases.end()) {
        b.add_int(PropertyId::topic_alias, it->second);
        p.topic = {};
      } else if (c.out_aliases.size() < c.client_alias_max) {
        auto alias = static_cast<std::uint16_t>(c.out_aliases.size() + 1);
        c.out_aliases.emplace(m.topic, alias);
        b.add_int(PropertyId::topic_alias, alias);
      }
    }
    p.properties = b.properties();
  }
  std::vector<std::uint8_t> bytes;
  if (!encode(p, c.level, bytes)) return false;
  if (c.client_max_packet != 0 && bytes.size() > c.client_max_packet) {
    log("conn " + std::to_string(c.id) + " (" + c.client_id + "): message on " + m.topic +
        " exceeds the client's maximum packet size, dropped");
    return false;
  }
  if (!actions_.empty() && actions_.back().kind == Action::Kind::send && actions_.back().conn == c.id) {
    auto& out = actions_.back().bytes;
    out.insert(out.end(), bytes.begin(), bytes.end());
  } else {
    Action a;
    a.conn = c.id;
    a.bytes = std::move(bytes);
    actions_.push_back(std::move(a));
  }
  return true;
}

void Core::publish_will(const Will& w, TimeMs now) {
  auto m = std::make_shared<Message>(*w.msg);
  // A Message Expiry Interval of the will counts from now.
  if (!m->props.empty()) {
    PropertyBuilder b;
    for (const Property& pr : Properties(Bytes(m->props))) {
      if (pr.id == PropertyId::message_expiry_interval)
        m->expires_at = add_seconds(now, pr.number);
      else
        copy_property(b, pr);
    }
    m->props = to_vector(b.properties().raw());
  }
  log("will published on " + m->topic);
  if (m->retain) {
    if (m->payload.empty())
      retained_.erase(m->topic);
    else if (retained_.count(m->topic) || retained_.size() < config_.max_retained)
      retained_[m->topic] = m;
  }
  route(m, now);
}

void Core::end_session(const std::string& client_id, TimeMs now) {
  auto it = sessions_.find(client_id);
  if (it == sessions_.end()) return;
  std::optional<Will> w = std::move(it->second.pending_will);
  sessions_.erase(it);
  if (w) publish_will(*w, now);
}

void Core::tick(TimeMs now) {
  now_ = now;
  std::vector<ConnId> expired;
  std::vector<ConnId> keepalive;
  std::vector<ConnId> reauth_expired;
  for (auto& [id, c] : conns_) {
    if (c.state != State::connected) {
      if (c.deadline != 0 && now >= c.deadline) expired.push_back(id);
    } else if (c.reauth && now >= c.reauth_deadline) {
      reauth_expired.push_back(id);
    } else if (c.keep_alive != 0 && now - c.last_rx > static_cast<TimeMs>(c.keep_alive) * 1500) {
      keepalive.push_back(id);
    }
  }
  for (ConnId id : expired) {
    if (Conn* c = find(id)) {
      log("conn " + std::to_string(id) + (c->client_id.empty() ? "" : " (" + c->client_id + ")") +
          (c->state == State::wait_connect ? ": no CONNECT in time" : ": no authentication response in time"));
      close(*c, false);
    }
  }
  for (ConnId id : reauth_expired) {
    if (Conn* c = find(id)) {
      // The client did not prove its identity again in time: as a refused re-authentication.
      log("conn " + std::to_string(id) + " (" + c->client_id + "): no re-authentication response in time");
      close(*c, true, kRcNotAuthorized);
    }
  }
  for (ConnId id : keepalive) {
    if (Conn* c = find(id)) {
      log("conn " + std::to_string(id) + " (" + c->client_id + "): keep-alive expired");
      close(*c, true, kRcKeepAliveTimeout);
    }
  }
  // Delayed wills and session expiry.
  std::vector<std::string> ended;
  std::vector<std::string> wills;
  for (auto& [cid, s] : sessions_) {
    if (s.conn != 0) {
      if (config_.retry_interval.count() > 0) {
        Conn* c = find(s.conn);
        if (c && c->state == State::connected) {
          for (auto& [id, d] : s.inflight) {
            if (now - d.sent_at < config_.retry_interval.count()) continue;
            if (d.released) {
              Pubrel rel;
              rel.packet_id = id;
              send(*c, rel);
            } else {
              send_publish(*c, s, d, id, true, now);
            }
            d.sent_at = now;
          }
        }
      }
      continue;
    }
    if (s.pending_will && now >= s.will_at) wills.push_back(cid);
    if (s.expiry != kNever && s.expires_at != 0 && now >= s.expires_at) ended.push_back(cid);
  }
  for (const auto& cid : wills) {
    auto it = sessions_.find(cid);
    if (it == sessions_.end() || !it->second.pending_will) continue;
    Will w = std::move(*it->second.pending_will);
    it->second.pending_will.reset();
    publish_will(w, now);
  }
  for (const auto& cid : ended) {
    log("session " + cid + " expired");
    end_session(cid, now);
  }
}

const char* auth_mode_name(AuthMode m) noexcept {
  switch (m) {
    case AuthMode::none: return "none";
    case AuthMode::custom: return "custom";
    case AuthMode::v5: return "v5";
    case AuthMode::any: return "any";
  }
  return "none";
}

bool parse_auth_mode(std::string_view s, AuthMode& out) noexcept {
  if (s == "none")
    out = AuthMode::none;
  else if (s == "custom")
    out = AuthMode::custom;
  else if (s == "v5")
    out = AuthMode::v5;
  else if (s == "any")
    out = AuthMode::any;
  else
    return false;
  return true;
}

}  // namespace mqttauth::cli::broker
