#include "core.hpp"

#include <cstdio>
#include <cstring>

#include "mqttauth/verify.hpp"

namespace mqttauth::plugin {

Conversation::Conversation(const Options& o) : opts_(o) {}

namespace {

Span span_of(const std::uint8_t* base, const void* p, std::size_t n) {
  Span s;
  s.off = static_cast<std::uint32_t>(static_cast<const std::uint8_t*>(p) - base);
  s.len = static_cast<std::uint32_t>(n);
  s.present = true;
  return s;
}

// A length-prefixed field: the span starts at its 2-byte length.
Span prefixed(const std::uint8_t* base, const void* p, std::size_t n) {
  Span s = span_of(base, p, n);
  s.off -= 2;
  s.len += 2;
  return s;
}

void set_error(PduResult& r, const Error& e, const char* what) {
  r.has_error = true;
  r.error_kind = static_cast<std::uint8_t>(e.kind);
  r.error_offset = static_cast<std::uint32_t>(e.offset);
  std::snprintf(r.error_text, sizeof r.error_text, "%s: %s", what, e.message().c_str());
}

}  // namespace

PduResult Conversation::analyze(Capture& cap, const std::uint8_t* pdu, std::size_t len, Direction dir,
                                std::uint32_t frame, std::int64_t ts_ns, bool first, const Stored* stored) noexcept {
  PduResult r;
  try {
    DecodeContext ctx = session_.context();
    if (!first && stored) ctx.level = stored->level;
    r.stored.level = ctx.level;
    r.type_code = len ? static_cast<std::uint8_t>(pdu[0] >> 4) : 0;
    if (opts_.code == 1)  // only type 0 is authenticate
      ctx.dialect = r.type_code == 0 ? Dialect::authenticate : r.type_code == 15 ? Dialect::standard : ctx.dialect;
    else if (opts_.code == 2 && r.type_code == 15)  // only type 15 is authenticate
      ctx.dialect = Dialect::authenticate;
    // Would this type be read as authenticate? Then a failure is a malformed authenticate, shown by us.
    const bool attempt = (r.type_code == 0 && opts_.code != 2) ||
                         (r.type_code == 15 && (ctx.dialect == Dialect::authenticate ||
                                                (ctx.dialect == Dialect::auto_detect && ctx.level != kLevel5)));
    if (r.type_code == 0 && opts_.code == 2) {  // type 0 is not the authenticate packet: raw
      r.kind = PduKind::reserved;
      r.custom = true;
      if (!first && stored) r.stored = *stored;
      return r;
    }
    auto d = decode(std::span<const std::uint8_t>(pdu, len), ctx);
    if (!d) {
      r.kind = PduKind::malformed;
      // At an unknown level a type-15 body that is not CONNECT-like was read as AUTH: Wireshark's to show.
      r.custom = attempt && !(r.type_code == 15 && ctx.level == 0 && ctx.dialect == Dialect::auto_detect);
      set_error(r, d.error(), r.type_code == 0 || r.type_code == 15 ? "malformed authenticate" : "malformed packet");
      if (!first && stored) r.stored = *stored;
      return r;
    }
    r.header_len = d->header.size;
    r.violations = d->violations;
    const Packet& p = d->packet;
    r.custom = std::holds_alternative<Authenticate>(p) || std::holds_alternative<Reserved>(p);
    if (const auto* a = std::get_if<Authenticate>(&p)) {
      r.kind = PduKind::authenticate;
      r.code = a->code;
      r.protoname = prefixed(pdu, a->protocol_name.data(), a->protocol_name.size());
      r.level_off = r.protoname.off + r.protoname.len;
      r.flags_off = r.level_off + 1;
      r.keepalive_off = r.flags_off + 1;
      r.level = pdu[r.level_off];
      r.flags = pdu[r.flags_off];
      r.keepalive = a->keep_alive;
      r.clientid = prefixed(pdu, a->client_id.data(), a->client_id.size());
      if (a->will) {
        r.will_topic = prefixed(pdu, a->will->topic.data(), a->will->topic.size());
        r.will_payload = prefixed(pdu, r.will_topic.off + r.will_topic.len + 2 + pdu, a->will->payload.size());
      }
      if (a->username) r.username = prefixed(pdu, a->username->data(), a->username->size());
      if (a->password) {
        // Placed by position (a zero-length view may point anywhere): after username, will or client id.
        std::uint32_t at = r.username.present ? r.username.off + r.username.len
                           : a->will          ? r.will_payload.off + r.will_payload.len
                                              : r.clientid.off + r.clientid.len;
        Span s;
        s.off = at;
        s.len = static_cast<std::uint32_t>(2 + a->password->size());
        s.present = true;
        r.password = s;
      }
    } else if (const auto* res = std::get_if<Reserved>(&p)) {
      r.kind = PduKind::reserved;
      if (res->authenticate_error) set_error(r, *res->authenticate_error, "not an authenticate body");
    } else {
      r.kind = PduKind::standard;
    }

    if (!first) {
      if (stored) r.stored = *stored;
      return r;
    }
    if (const auto* pub = std::get_if<Publish>(&p); pub && pub->qos > 0) {
      r.qos_publish = true;
      r.packet_id = pub->packet_id;
    }
    const PacketRef ref{frame, ts_ns};
    Observation ob = session_.observe(*d, dir, ref);
    r.stored.role = static_cast<std::uint8_t>(ob.role);
    r.stored.anomalies = ob.anomalies;
    r.stored.flow = ob.flow;
    r.stored.flow_related = ob.flow_related ? static_cast<std::uint32_t>(*ob.flow_related) : 0;
    r.stored.keep_alive_related = ob.keep_alive_related ? static_cast<std::uint32_t>(*ob.keep_alive_related) : 0;
    follow(cap, *d, ob, PacketRef{frame, ts_ns}, r);
    r.stored.handshake = ob.handshake ? static_cast<std::int32_t>(*ob.handshake) : -1;
    if (ob.handshake) {
      const Handshake& h = session_.handshakes()[*ob.handshake];
      std::string value;
      if (const auto* a = std::get_if<Authenticate>(&p)) {
        if (a->password) value = std::string(a->password->as_chars());
      } else if (const auto* au = std::get_if<Auth>(&p)) {
        if (auto data = au->properties.find(PropertyId::authentication_data))
          value = std::string(data->binary.as_chars());
      }
      if (ob.role == Role::challenge) {
        r.stored.replay_of = cap.note_challenge(value, frame);
        r.stored.weakness = static_cast<std::uint8_t>(classify_challenge(value, ts_ns));
      } else if (ob.role == Role::response && h.challenge_pkt) {
        r.stored.verification = cap.verify(h.client_id, h.challenge, value);
      }
      if (std::holds_alternative<Connack>(p) && h.connack && h.connack->id == frame) r.stored.ends_handshake = true;
    }
  } catch (...) {
    r.kind = PduKind::malformed;
    r.has_error = true;
    std::snprintf(r.error_text, sizeof r.error_text, "internal error while decoding");
  }
  return r;
}

void Conversation::note_publish(const PduResult& r, Direction dir, Stored* stored) noexcept {
  if (!r.qos_publish || !stored || dir == Direction::unknown) return;
  try {
    constexpr std::size_t kMax = 4096;  // as many as the flow audit follows per side
    if (publishes_.size() >= kMax) return;
    const std::uint32_t side = dir == Direction::c2s ? 0u : 1u;
    publishes_[side << 16 | r.packet_id] = stored;
  } catch (...) {
  }
}

void Conversation::note_stored(const PduResult& r, std::uint32_t frame, Stored* stored) noexcept {
  // PUBLISH (3), PUBREC (5), PUBREL (6), PINGREQ (12): the packets the end of a connection may name.
  if (!stored || (r.type_code != 3 && r.type_code != 5 && r.type_code != 6 && r.type_code != 12)) return;
  try {
    if (recent_order_.size() >= kMaxRecent) {
      recent_.erase(recent_order_.front());
      recent_order_.pop_front();
    }
    // (Several packets in one frame: the first of them is the one `check` names by frame.)
    auto [it, fresh] = recent_.try_emplace(frame, stored);
    if (fresh) recent_order_.push_back(frame);
  } catch (...) {
  }
}

void Conversation::tcp_flags(Capture& cap, bool fin, bool rst, Direction dir, std::uint32_t frame,
                             std::int64_t ts_ns) noexcept {
  if (ended_) return;
  if (fin) fin_[dir == Direction::c2s ? 0 : 1] = true;
  if (!rst && !(fin_[0] && fin_[1])) return;
  ended_ = true;
  try {
    session_.close(PacketRef{frame, ts_ns});
    cap.fleet().end(id_, PacketRef{frame, ts_ns}, true);
    // What was left in flight, on the frames `check` names: the PUBLISH never acknowledged, the last packet of
    // a QoS 2 exchange left half-way, the PINGREQ never answered.
    auto mark = [&](std::uint64_t f, std::uint8_t bit, std::int64_t waited) {
      auto it = recent_.find(static_cast<std::uint32_t>(f));
      if (it == recent_.end()) return;
      it->second->at_end |= bit;
      it->second->waited_ns = waited;
    };
    for (const OpenFlow& o : session_.flows().open_flows())
      mark(o.unacked() ? o.publish_id : o.last_id, o.unacked() ? 1 : 2, o.waited_ns);
    if (auto ping = session_.keep_alive().unanswered_pingreq()) mark(*ping, 4, 0);
    if (auto silent = session_.keep_alive().expired_at_close())
      mark(*silent, 8, session_.keep_alive().client_silence_at_close_ns().value_or(0));
  } catch (...) {
  }
}

// After the session model: the model across connections (as the CLI's analyzer feeds it) and, for an
// acknowledgement, the forward link on its PUBLISH.
void Conversation::follow(Capture& cap, const Decoded& d, const Observation& ob, const PacketRef& ref, PduResult& r) {
  r.stored.ack_latency_ns = ob.ack_latency_ns;
  // The model across connections, as the CLI's analyzer feeds it.
  const FleetStep fs = cap.fleet().observe(id_, peer_, d, ob, ref);
  r.stored.fleet = fs.bits;
  r.stored.fleet_related = fs.related ? static_cast<std::uint32_t>(*fs.related) : 0;
  r.stored.delivered_from = fs.delivered_from ? static_cast<std::uint32_t>(*fs.delivered_from) : 0;
  r.stored.delivery_ns = fs.delivery_ns;
  // An acknowledgement: the forward link on its PUBLISH.
  if (ob.ack_latency_ns >= 0 && ob.dir != Direction::unknown) {
    std::uint16_t id = 0;
    std::visit(
        [&id](const auto& pk) {
          if constexpr (requires { pk.packet_id; }) id = pk.packet_id;
        },
        d.packet);
    const std::uint32_t publisher = ob.dir == Direction::s2c ? 0u : 1u;
    auto it = publishes_.find(publisher << 16 | id);
    if (it != publishes_.end()) {
      if (std::holds_alternative<Pubcomp>(d.packet)) {
        it->second->completed_in = static_cast<std::uint32_t>(ref.id);
        publishes_.erase(it);
      } else {
        if (!it->second->acked_in) it->second->acked_in = static_cast<std::uint32_t>(ref.id);
        if (std::holds_alternative<Puback>(d.packet)) publishes_.erase(it);
      }
    }
  }
}

HandshakeView Conversation::handshake(std::int32_t index) const noexcept {
  HandshakeView v;
  if (index < 0 || static_cast<std::size_t>(index) >= session_.handshakes().size()) return v;
  const Handshake& h = session_.handshakes()[static_cast<std::size_t>(index)];
  v.valid = true;
  v.scheme = static_cast<std::uint8_t>(h.scheme);
  v.outcome = static_cast<std::uint8_t>(h.outcome);
  if (h.connack_code) {
    v.has_code = true;
    v.code = *h.connack_code;
  }
  if (auto l = h.latency_ns()) {
    v.has_latency = true;
    v.latency_ns = *l;
  }
  v.connect_in = h.connect ? static_cast<std::uint32_t>(h.connect->id) : 0;
  v.challenge_in = h.challenge_pkt ? static_cast<std::uint32_t>(h.challenge_pkt->id) : 0;
  v.response_in = h.response_pkt ? static_cast<std::uint32_t>(h.response_pkt->id) : 0;
  v.connack_in = h.connack ? static_cast<std::uint32_t>(h.connack->id) : 0;
  std::snprintf(v.client_id, sizeof v.client_id, "%s", h.client_id.c_str());
  return v;
}

bool Capture::load_secrets(const std::string& path, std::string& error) noexcept {
  try {
    loaded_.reset();
    if (path.empty()) return true;
    auto s = std::make_unique<Secrets>();
    if (!s->load(path, error)) return false;
    loaded_ = std::move(s);
    return true;
  } catch (...) {
    error = "out of memory";
    return false;
  }
}

std::uint32_t Capture::note_challenge(const std::string& challenge, std::uint32_t frame) noexcept {
  try {
    return static_cast<std::uint32_t>(challenges_.note(challenge, frame).value_or(0));
  } catch (...) {
    return 0;
  }
}

Verification Capture::verify(const std::string& client_id, const std::string& challenge,
                             const std::string& response) const noexcept {
  try {
    if (!loaded_) return Verification::not_applicable;
    return loaded_->verify(client_id, challenge, response);
  } catch (...) {
    return Verification::not_applicable;
  }
}

}  // namespace mqttauth::plugin
