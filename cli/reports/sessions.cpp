#include "sessions.hpp"

namespace mqttauth::cli {

SessionRow make_row(const Connection& c, const Secrets* secrets) {
  SessionRow r;
  r.conn = c.id;
  r.client = c.client.str();
  r.server = c.server.str();
  r.roles_known = c.roles_known;
  r.first_frame = c.first_frame;
  r.last_frame = c.last_frame;
  r.start_ns = c.first_ts;
  r.end_ns = c.last_ts;
  r.c2s = c.c2s;
  r.s2c = c.s2c;
  r.end = c.end;
  r.file = c.file;
  r.closed_by = c.closed_by;
  r.websocket = c.websocket;
  r.ws_deflate = c.ws_deflate;
  r.ws_subprotocol = c.ws_subprotocol;
  r.ws_frames = c.ws_frames;
  r.ws_close_c2s = c.ws_close_c2s;
  r.ws_close_s2c = c.ws_close_s2c;
  r.tls = c.tls;
  r.tls_version = c.tls_version;
  r.tls_suite = c.tls_suite;
  r.tls_reason = c.tls_reason;
  r.fleet = c.fleet;
  if (c.closed_by != Direction::unknown) {
    const DirStats& closer = c.closed_by == Direction::c2s ? c.c2s : c.s2c;
    if (closer.last_packet_ts != 0) r.silence_ns = c.close_ts - closer.last_packet_ts;
  }
  if (c.session) {
    const FlowAudit& f = c.session->flows();
    r.flow_findings = f.flagged() + c.session->keep_alive().flagged();
    r.flows_untracked = f.untracked();
    for (const OpenFlow& o : f.open_flows()) ++(o.unacked() ? r.unacked : r.qos2_open);
  }
  if (c.session && !c.session->handshakes().empty()) {
    const Handshake& h = c.session->handshakes().back();
    r.has_handshake = true;
    r.connect_seen = h.connect.has_value();
    r.client_id = h.client_id;
    r.level = h.level ? h.level : c.session->level();
    r.scheme = h.scheme;
    r.auth_method = h.auth_method;
    r.challenge = h.challenge;
    r.response = h.response;
    r.outcome = h.outcome;
    r.code = h.connack_code;
    r.connack_level = h.connack_level ? h.connack_level : r.level;
    r.latency_ns = h.latency_ns();
    r.anomalies = h.anomalies;
    r.reauths = h.reauths;
    r.reauths_refused = h.reauths_refused;
    if (h.challenge_pkt) r.challenge_frame = h.challenge_pkt->id;
    if (h.response_pkt) r.response_frame = h.response_pkt->id;
    if (h.connack) r.connack_frame = h.connack->id;
    if (h.scheme != AuthScheme::none && h.challenge_pkt)
      r.weakness = classify_challenge(h.challenge, h.challenge_pkt->ts_ns);
    if (secrets && h.scheme != AuthScheme::none && h.challenge_pkt && h.response_pkt)
      r.verification = secrets->verify(h.client_id, h.challenge, h.response);
  } else if (c.session) {
    r.level = c.session->level();
  }
  return r;
}

}  // namespace mqttauth::cli
