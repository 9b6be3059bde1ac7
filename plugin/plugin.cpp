// The Wireshark 4.0 glue: protocol "MQTT custom authentication" (filter name mqttauth).
//
// It takes the MQTT TCP ports (1883 by default) and, by a heuristic, any TCP conversation that opens with a
// CONNECT. The codec frames the stream (a remaining-length field split across segments included) and
// decides each PDU: the custom authenticate packet is dissected here; every standard packet is handed to
// Wireshark's own MQTT dissector, so mqtt.* fields, filters and colouring stay as they are.
//
// Wireshark's tvb accessors throw with longjmp. No C++ object is alive across a Wireshark call that can throw:
// PDU bytes are copied into packet-scope memory and analysed by the noexcept core (core.hpp), which returns
// plain structs that this file turns into tree items.
#include <wireshark.h>

#include <epan/conversation.h>
#include <epan/dissectors/packet-tcp.h>
#include <epan/expert.h>
#include <epan/packet.h>
#include <epan/prefs.h>
#include <epan/proto_data.h>
#include <epan/stats_tree.h>
#include <epan/tap.h>
#include <wsutil/report_message.h>

#include <cstdio>
#include <new>
#include <vector>

#include "core.hpp"
#include "mqttauth/boundary.hpp"
#include "mqttauth/findings.hpp"

using mqttauth::Direction;
using mqttauth::FindingId;
using mqttauth::plugin::Capture;
using mqttauth::plugin::Conversation;
using mqttauth::plugin::PduKind;
using mqttauth::plugin::PduResult;
using mqttauth::plugin::Stored;

// The plugin ABI, with C linkage ("extern" without braces also gives the const objects external linkage).
extern "C" WS_DLL_PUBLIC_DEF const gchar plugin_version[] = "0.1.0";
extern "C" WS_DLL_PUBLIC_DEF const int plugin_want_major = WIRESHARK_VERSION_MAJOR;
extern "C" WS_DLL_PUBLIC_DEF const int plugin_want_minor = WIRESHARK_VERSION_MINOR;
extern "C" WS_DLL_PUBLIC_DEF void plugin_register(void);

namespace {

#define MQTTAUTH_DEFAULT_PORTS "1883"

int proto_mqttauth = -1;
int hf_code = -1, hf_role = -1, hf_protoname = -1, hf_level = -1, hf_flags = -1, hf_flag_username = -1,
    hf_flag_password = -1, hf_flag_will_retain = -1, hf_flag_will_qos = -1, hf_flag_will = -1, hf_flag_clean = -1,
    hf_flag_reserved = -1, hf_keepalive = -1, hf_clientid = -1, hf_username = -1, hf_password = -1, hf_will_topic = -1,
    hf_will_payload = -1, hf_outcome = -1, hf_hs_code = -1, hf_latency = -1, hf_connect_in = -1, hf_challenge_in = -1,
    hf_response_in = -1, hf_connack_in = -1, hf_verification = -1, hf_weakness = -1, hf_replay_of = -1,
    hf_flow_publish = -1, hf_keep_alive_related = -1, hf_reserved_body = -1, hf_handshake = -1, hf_violation = -1,
    hf_ack_in = -1, hf_complete_in = -1, hf_at_end = -1, hf_ack_latency = -1, hf_fleet_related = -1,
    hf_published_in = -1, hf_delivery = -1;
// Wireshark's TCP fields the postdissector reads (the end of a connection for the model across connections).
int hf_tcp_fin = -1, hf_tcp_rst = -1;
gint ett_mqttauth = -1, ett_flags = -1, ett_handshake = -1;
// One expert info per finding of the vocabulary (mqttauth/findings.hpp), named "mqttauth.<name>" as `check`
// names it, with its severity and sentence.
constexpr std::size_t kFindings = static_cast<std::size_t>(FindingId::damaged_capture) + 1;
expert_field ei_findings[kFindings];
expert_field* ei(FindingId id) { return &ei_findings[static_cast<std::size_t>(id)]; }

dissector_handle_t mqttauth_handle = nullptr, mqtt_handle = nullptr;
int mqttauth_tap = -1;

// Preferences.
gint pref_code = 0;  // 0 auto, 1 code 0, 2 code 15
gboolean pref_heuristic = TRUE;
const char* pref_secrets = "";

const enum_val_t code_vals[] = {
    {"auto", "Auto (the dialect rules)", 0}, {"0", "Type 0", 1}, {"15", "Type 15", 2}, {nullptr, nullptr, 0}};

const value_string role_vals[] = {{0, "Unknown"}, {1, "Challenge"}, {2, "Response"}, {0, nullptr}};
const value_string outcome_vals[] = {{0, "Pending"},    {1, "Accepted"},  {2, "Refused"},
                                     {3, "Incomplete"}, {4, "Abandoned"}, {0, nullptr}};
const value_string verification_vals[] = {
    {0, "Not checked"}, {1, "Verified"}, {2, "Mismatch"}, {3, "No secret for this client"}, {0, nullptr}};
const value_string weakness_vals[] = {
    {0, "None"}, {1, "Millisecond timestamp"}, {2, "Second timestamp"}, {3, "Decimal counter"}, {4, "Too short"},
    {0, nullptr}};

// File-wide state, cleared when a capture is closed.
Capture* g_capture = nullptr;

// MQTT over WebSocket: each direction's bytes not yet a whole MQTT packet (Wireshark's WebSocket dissector
// hands over one WebSocket message at a time, and MQTT.js, for one, sends every packet in several).
struct WsBuffers {
  std::vector<std::uint8_t> pending[2];  // [0] c2s, [1] s2c
};

struct ConvData {
  Conversation* conv;
  address server;
  guint32 server_port;
  WsBuffers* ws;
};

void free_conv(ConvData* cd) {
  delete cd->conv;
  cd->conv = nullptr;
  delete cd->ws;
  cd->ws = nullptr;
}

gboolean conv_cb(wmem_allocator_t*, wmem_cb_event_t, void* user) {
  free_conv(static_cast<ConvData*>(user));
  return FALSE;
}

mqttauth::plugin::Options core_options() {
  mqttauth::plugin::Options o;
  o.code = static_cast<std::uint8_t>(pref_code);
  return o;
}

ConvData* get_conv(packet_info* pinfo, bool server_is_dst) {
  conversation_t* conv = find_or_create_conversation(pinfo);
  auto* cd = static_cast<ConvData*>(conversation_get_proto_data(conv, proto_mqttauth));
  if (cd) return cd;
  Conversation* c = new (std::nothrow) Conversation(core_options());
  if (!c) return nullptr;
  cd = wmem_new0(wmem_file_scope(), ConvData);
  cd->conv = c;
  if (server_is_dst) {
    copy_address_wmem(wmem_file_scope(), &cd->server, &pinfo->dst);
    cd->server_port = pinfo->destport;
  } else {
    copy_address_wmem(wmem_file_scope(), &cd->server, &pinfo->src);
    cd->server_port = pinfo->srcport;
  }
  // Its identity in the model across connections: the conversation's index, and its client's address.
  const address& client = server_is_dst ? pinfo->src : pinfo->dst;
  std::uint64_t peer = 0xcbf29ce484222325ull;
  for (int i = 0; i < client.len; ++i) peer = (peer ^ static_cast<const guint8*>(client.data)[i]) * 0x100000001b3ull;
  c->identify(conv->conv_index + 1, peer);
  wmem_register_callback(wmem_file_scope(), conv_cb, cd);
  conversation_add_proto_data(conv, proto_mqttauth, cd);
  return cd;
}

Direction direction_of(const ConvData* cd, const packet_info* pinfo) {
  if (pinfo->srcport == cd->server_port && addresses_equal(&pinfo->src, &cd->server)) return Direction::s2c;
  return Direction::c2s;
}

struct TapInfo {
  guint8 role;             // 1 challenge, 2 response (authenticate packets)
  gboolean handshake_end;  // a CONNACK that ends a handshake
  guint8 outcome;
  gboolean has_latency;
  double latency_ms;
  const char* client_id;
  gboolean has_ack, has_delivery;  // PUBLISH to its acknowledgement; a client's PUBLISH to its delivery
  double ack_ms, delivery_ms;
};

std::int64_t ts_of(const packet_info* pinfo) {
  return static_cast<std::int64_t>(pinfo->abs_ts.secs) * 1000000000 + pinfo->abs_ts.nsecs;
}

// Handshake subtree, on authenticate packets and on the CONNACK that ends a handshake.
void add_handshake(proto_tree* tree, tvbuff_t* tvb, packet_info* pinfo, const ConvData* cd, const Stored& st,
                   bool is_connack) {
  auto hv = cd->conv->handshake(st.handshake);
  if (!hv.valid) return;
  // A field, not the protocol item: the display filter "mqttauth" stays true for authenticate packets only.
  proto_item* hi = proto_tree_add_item(tree, hf_handshake, tvb, 0, 0, ENC_NA);
  proto_item_set_text(hi, "MQTT custom authentication handshake");
  proto_item_set_generated(hi);
  proto_tree* ht = proto_item_add_subtree(hi, ett_handshake);
  guint8 outcome = hv.outcome;
  // After the first pass every packet has been seen: a handshake still pending never completed.
  if (outcome == 0 && PINFO_FD_VISITED(pinfo)) outcome = 3;
  proto_item* ti = proto_tree_add_uint(ht, hf_outcome, tvb, 0, 0, outcome);
  proto_item_set_generated(ti);
  proto_item_append_text(hi, ": %s", val_to_str_const(outcome, outcome_vals, "?"));
  if (hv.has_code) {
    ti = proto_tree_add_uint(ht, hf_hs_code, tvb, 0, 0, hv.code);
    proto_item_set_generated(ti);
  }
  if (hv.has_latency) {
    nstime_t ns;
    ns.secs = static_cast<time_t>(hv.latency_ns / 1000000000);
    ns.nsecs = static_cast<int>(hv.latency_ns % 1000000000);
    ti = proto_tree_add_time(ht, hf_latency, tvb, 0, 0, &ns);
    proto_item_set_generated(ti);
  }
  auto link = [&](int hf, std::uint32_t frame) {
    if (frame && frame != pinfo->num) {
      proto_item* li = proto_tree_add_uint(ht, hf, tvb, 0, 0, frame);
      proto_item_set_generated(li);
    }
  };
  link(hf_connect_in, hv.connect_in);
  link(hf_challenge_in, hv.challenge_in);
  link(hf_response_in, hv.response_in);
  link(hf_connack_in, hv.connack_in);
  if (is_connack) {
    if (st.anomalies & mqttauth::anomaly::refused_after_exchange)
      expert_add_info_format(pinfo, hi, ei(FindingId::refused_after_exchange), "%s (CONNACK code %u)",
                             mqttauth::finding(FindingId::refused_after_exchange).sentence.data(), hv.code);
  }
  if ((st.anomalies & mqttauth::anomaly::challenge_without_response) ||
      (st.role == 1 && PINFO_FD_VISITED(pinfo) && hv.response_in == 0))
    expert_add_info(pinfo, hi, ei(FindingId::challenge_without_response));
}

// The rules a packet breaks: an item on the offending byte, with the expert info of the violation's kind.
void add_violations(proto_tree* tree, tvbuff_t* tvb, packet_info* pinfo, const PduResult& r, proto_item* fallback) {
  const guint len = tvb_reported_length(tvb);
  for (const mqttauth::Violation& v : r.violations) {
    const gint at = v.offset < len ? static_cast<gint>(v.offset) : 0;
    proto_item* vi = proto_tree_add_item(tree, hf_violation, tvb, at, len ? 1 : 0, ENC_NA);
    proto_item_set_text(vi, "Violation: %s [%s]: %s", std::string(mqttauth::error_kind_name(v.kind)).c_str(), v.rule,
                        v.detail);
    proto_item_set_generated(vi);
    std::string extra = r.kind == PduKind::reserved && r.has_error ? std::string(" (") + r.error_text + ")" : "";
    expert_add_info_format(pinfo, vi ? vi : fallback, ei(mqttauth::violation_finding(v.kind)), "%s [%s]: %s%s",
                           mqttauth::finding(mqttauth::violation_finding(v.kind)).sentence.data(), v.rule, v.detail,
                           extra.c_str());
  }
}

// One expert info per set bit of `bits` (finding_of names each), saying which frame it refers to.
void add_bit_findings(packet_info* pinfo, proto_item* item, std::uint8_t bits,
                      std::optional<FindingId> (*finding_of)(std::uint8_t) noexcept, std::uint32_t related,
                      const char* related_what) {
  for (std::uint8_t bit = 1; bit != 0; bit = static_cast<std::uint8_t>(bit << 1))
    if (bits & bit)
      if (auto f = finding_of(bit)) {
        const auto& info = mqttauth::finding(*f);
        if (related)
          expert_add_info_format(pinfo, item, ei(*f), "%s [%s] (%s %u)", info.sentence.data(), info.clause.data(),
                                 related_what, related);
        else
          expert_add_info_format(pinfo, item, ei(*f), "%s [%s]", info.sentence.data(), info.clause.data());
      }
}

// The QoS flow audit: a link to the PUBLISH this packet acknowledges (or repeats, or reuses the id of), and the
// flow's findings as expert infos on it; the keep-alive audit's findings on a link to the frame they refer to.
void add_flow(proto_tree* tree, tvbuff_t* tvb, packet_info* pinfo, const Stored& st) {
  constexpr std::uint8_t kKeepAlive = mqttauth::flow::keep_alive_late | mqttauth::flow::keep_alive_expired;
  const auto qos = static_cast<std::uint8_t>(st.flow & ~(kKeepAlive | mqttauth::flow::pingreq_unanswered));
  if (st.flow_related != 0 || qos != 0) {
    proto_item* fi = proto_tree_add_uint(tree, hf_flow_publish, tvb, 0, 0, st.flow_related);
    proto_item_set_generated(fi);
    add_bit_findings(pinfo, fi, qos, mqttauth::flow_finding, st.flow_related, "the PUBLISH in frame");
  }
  if ((st.flow & (kKeepAlive | mqttauth::flow::pingreq_unanswered)) == 0) return;
  proto_item* ki = proto_tree_add_uint(tree, hf_keep_alive_related, tvb, 0, 0, st.keep_alive_related);
  proto_item_set_generated(ki);
  add_bit_findings(pinfo, ki, static_cast<std::uint8_t>(st.flow & kKeepAlive), mqttauth::flow_finding,
                   st.keep_alive_related, "the client's previous packet in frame");
  add_bit_findings(pinfo, ki, static_cast<std::uint8_t>(st.flow & mqttauth::flow::pingreq_unanswered),
                   mqttauth::flow_finding, st.keep_alive_related, "the PINGREQ in frame");
}

// The model across connections: forward links of a PUBLISH to its acknowledgements, the latency of an
// acknowledgement, the client PUBLISH a server PUBLISH delivers, and the findings (takeovers, storms, retained
// messages, wills) as expert infos, on the same frames as `check`.
void add_fleet(proto_tree* tree, tvbuff_t* tvb, packet_info* pinfo, const Stored& st) {
  if (st.acked_in) proto_item_set_generated(proto_tree_add_uint(tree, hf_ack_in, tvb, 0, 0, st.acked_in));
  if (st.completed_in) proto_item_set_generated(proto_tree_add_uint(tree, hf_complete_in, tvb, 0, 0, st.completed_in));
  if (st.ack_latency_ns >= 0)
    proto_item_set_generated(
        proto_tree_add_double(tree, hf_ack_latency, tvb, 0, 0, static_cast<double>(st.ack_latency_ns) / 1e6));
  if (st.delivered_from) {
    proto_item_set_generated(proto_tree_add_uint(tree, hf_published_in, tvb, 0, 0, st.delivered_from));
    if (st.delivery_ns >= 0)
      proto_item_set_generated(
          proto_tree_add_double(tree, hf_delivery, tvb, 0, 0, static_cast<double>(st.delivery_ns) / 1e6));
  }
  if (st.fleet == 0) return;
  proto_item* fi = proto_tree_add_uint(tree, hf_fleet_related, tvb, 0, 0, st.fleet_related);
  proto_item_set_generated(fi);
  add_bit_findings(pinfo, fi, st.fleet, mqttauth::fleet_finding, st.fleet_related, "frame");
}

// What the connection's end left on this packet (a second pass: the end comes after it).
void add_at_end(packet_info* pinfo, proto_tree* tree, tvbuff_t* tvb, const Stored& st) {
  if (st.at_end == 0) return;
  proto_item* item = proto_tree_add_uint(tree, hf_at_end, tvb, 0, 0, st.at_end);
  proto_item_set_generated(item);
  if (st.at_end & 1)
    expert_add_info_format(pinfo, item, ei(FindingId::unacked_publish), "%s [4.3] (%.3f ms before the end)",
                           mqttauth::finding(FindingId::unacked_publish).sentence.data(),
                           static_cast<double>(st.waited_ns) / 1e6);
  if (st.at_end & 2) expert_add_info(pinfo, item, ei(FindingId::incomplete_qos2));
  if (st.at_end & 4) expert_add_info(pinfo, item, ei(FindingId::pingreq_unanswered));
  if (st.at_end & 8)
    expert_add_info_format(pinfo, item, ei(FindingId::keep_alive_expired),
                           "The client was silent from here for %.3f s until the connection closed, over 1.5 x its "
                           "keep-alive: the server should have closed it [MQTT-3.1.2-24]",
                           static_cast<double>(st.waited_ns) / 1e9);
}

void dissect_custom(tvbuff_t* tvb, packet_info* pinfo, proto_tree* tree, const ConvData* cd, const PduResult& r) {
  const Stored& st = r.stored;
  col_set_str(pinfo->cinfo, COL_PROTOCOL, "MQTT");
  col_clear(pinfo->cinfo, COL_INFO);  // as Wireshark's MQTT dissector does; the fence keeps earlier PDUs' text
  proto_item* ti = proto_tree_add_item(tree, proto_mqttauth, tvb, 0, -1, ENC_NA);
  proto_tree* t = proto_item_add_subtree(ti, ett_mqttauth);
  if (r.kind == PduKind::reserved) {
    col_append_sep_fstr(pinfo->cinfo, COL_INFO, ", ", "Reserved (type %u)", r.type_code);
    proto_item_append_text(ti, ", Reserved packet type %u", r.type_code);
    proto_tree_add_uint(t, hf_code, tvb, 0, 1, r.type_code);
    proto_tree_add_item(t, hf_reserved_body, tvb, 0, -1, ENC_NA);
    add_violations(t, tvb, pinfo, r, ti);
    return;
  }
  if (r.kind == PduKind::malformed) {
    col_append_sep_fstr(pinfo->cinfo, COL_INFO, ", ", "Authenticate (malformed)");
    proto_item_append_text(ti, ", Authenticate (malformed)");
    proto_tree_add_uint(t, hf_code, tvb, 0, 1, r.type_code);
    expert_add_info_format(pinfo, ti, ei(FindingId::decode_error), "%s", r.error_text);
    return;
  }
  const char* role = val_to_str_const(st.role, role_vals, "Unknown");
  const guint8* client_id = r.clientid.len > 2
                                ? tvb_get_string_enc(pinfo->pool, tvb, static_cast<gint>(r.clientid.off + 2),
                                                     static_cast<gint>(r.clientid.len - 2), ENC_UTF_8)
                                : reinterpret_cast<const guint8*>("");
  col_append_sep_fstr(pinfo->cinfo, COL_INFO, ", ", "Authenticate (%s) %s",
                      st.role ? g_ascii_strdown(role, -1) : "unknown role", client_id);
  proto_item_append_text(ti, ", Authenticate (%s), code %u", role, r.code);
  proto_tree_add_uint(t, hf_code, tvb, 0, 1, r.code);
  proto_item* ri = proto_tree_add_uint(t, hf_role, tvb, 0, 0, st.role);
  proto_item_set_generated(ri);
  auto str = [&](int hf, const mqttauth::plugin::Span& s) -> proto_item* {
    if (!s.present) return nullptr;
    // FT_UINT_STRING: the length given is that of the 2-byte count in front of the text.
    return proto_tree_add_item(t, hf, tvb, static_cast<gint>(s.off), 2, ENC_UTF_8 | ENC_BIG_ENDIAN);
  };
  str(hf_protoname, r.protoname);
  proto_tree_add_item(t, hf_level, tvb, static_cast<gint>(r.level_off), 1, ENC_BIG_ENDIAN);
  static int* const flag_fields[] = {&hf_flag_username, &hf_flag_password, &hf_flag_will_retain, &hf_flag_will_qos,
                                     &hf_flag_will,     &hf_flag_clean,    &hf_flag_reserved,    nullptr};
  proto_tree_add_bitmask(t, tvb, static_cast<guint>(r.flags_off), hf_flags, ett_flags, flag_fields, ENC_BIG_ENDIAN);
  proto_tree_add_item(t, hf_keepalive, tvb, static_cast<gint>(r.keepalive_off), 2, ENC_BIG_ENDIAN);
  str(hf_clientid, r.clientid);
  str(hf_will_topic, r.will_topic);
  if (r.will_payload.present)
    proto_tree_add_item(t, hf_will_payload, tvb, static_cast<gint>(r.will_payload.off + 2),
                        static_cast<gint>(r.will_payload.len - 2), ENC_NA);
  str(hf_username, r.username);
  proto_item* pi = str(hf_password, r.password);

  // The session model's anomalies, each under its own name.
  for (std::uint32_t bit = 1; bit != 0; bit <<= 1)
    if ((st.anomalies & bit) && bit != mqttauth::anomaly::challenge_without_response &&
        bit != mqttauth::anomaly::refused_after_exchange)
      if (auto f = mqttauth::anomaly_finding(bit)) expert_add_info(pinfo, ri, ei(*f));
  add_violations(t, tvb, pinfo, r, ti);
  if (st.role == 1) {
    if (st.weakness) {
      proto_item* wi = proto_tree_add_uint(t, hf_weakness, tvb, 0, 0, st.weakness);
      proto_item_set_generated(wi);
      expert_add_info_format(pinfo, pi ? pi : ti, ei(FindingId::predictable_challenge), "Predictable challenge: %s",
                             val_to_str_const(st.weakness, weakness_vals, "?"));
    }
    if (st.replay_of) {
      proto_item* rp = proto_tree_add_uint(t, hf_replay_of, tvb, 0, 0, st.replay_of);
      proto_item_set_generated(rp);
      expert_add_info_format(pinfo, pi ? pi : ti, ei(FindingId::challenge_reused),
                             "The same challenge was sent in frame %u: a recorded response can be replayed",
                             st.replay_of);
    }
  }
  if (st.role == 2 && st.verification != mqttauth::Verification::not_applicable) {
    proto_item* vi = proto_tree_add_uint(t, hf_verification, tvb, 0, 0, static_cast<guint32>(st.verification));
    proto_item_set_generated(vi);
    if (st.verification == mqttauth::Verification::mismatch)
      expert_add_info(pinfo, pi ? pi : vi, ei(FindingId::response_mismatch));
  }
  add_handshake(t, tvb, pinfo, cd, st, false);

  auto* tap = wmem_new0(pinfo->pool, TapInfo);
  tap->role = st.role;
  tap->client_id = reinterpret_cast<const char*>(client_id);
  tap_queue_packet(mqttauth_tap, pinfo, tap);
}

void dissect_pdu(tvbuff_t* pdu_tvb, const guint8* bytes, guint len, packet_info* pinfo, proto_tree* tree, ConvData* cd,
                 Direction dir) {
  const bool first = !PINFO_FD_VISITED(pinfo);
  // PDUs of one frame are numbered in dissection order, the same on every pass.
  auto n = GPOINTER_TO_UINT(p_get_proto_data(pinfo->pool, pinfo, proto_mqttauth, 0));
  p_add_proto_data(pinfo->pool, pinfo, proto_mqttauth, 0, GUINT_TO_POINTER(n + 1));
  const auto key = static_cast<guint32>(1 + n);
  const Stored* stored =
      first ? nullptr : static_cast<const Stored*>(p_get_proto_data(wmem_file_scope(), pinfo, proto_mqttauth, key));
  PduResult r = cd->conv->analyze(*g_capture, bytes, len, dir, pinfo->num, ts_of(pinfo), first, stored);
  if (first) {
    auto* s = wmem_new(wmem_file_scope(), Stored);
    *s = r.stored;
    p_add_proto_data(wmem_file_scope(), pinfo, proto_mqttauth, key, s);
    cd->conv->note_publish(r, dir, s);        // its acknowledgements, dissected later, fill in its forward links
    cd->conv->note_stored(r, pinfo->num, s);  // the connection's end may name it
  }
  // (On a second pass analyze() returned the kept copy, with the forward links and end marks filled in since.)
  if (r.custom) {
    dissect_custom(pdu_tvb, pinfo, tree, cd, r);
  } else {
    call_dissector(mqtt_handle, pdu_tvb, pinfo, tree);
    add_violations(tree, pdu_tvb, pinfo, r, nullptr);
    add_flow(tree, pdu_tvb, pinfo, r.stored);
    add_fleet(tree, pdu_tvb, pinfo, r.stored);
    add_at_end(pinfo, tree, pdu_tvb, r.stored);
    if (r.stored.ack_latency_ns >= 0 || r.stored.delivery_ns >= 0) {
      auto* tap = wmem_new0(pinfo->pool, TapInfo);
      tap->has_ack = r.stored.ack_latency_ns >= 0;
      tap->ack_ms = static_cast<double>(r.stored.ack_latency_ns) / 1e6;
      tap->has_delivery = r.stored.delivery_ns >= 0;
      tap->delivery_ms = static_cast<double>(r.stored.delivery_ns) / 1e6;
      tap_queue_packet(mqttauth_tap, pinfo, tap);
    }
    if (r.stored.ends_handshake) {
      auto hv = cd->conv->handshake(r.stored.handshake);
      if (hv.valid && hv.scheme != 0) {
        add_handshake(tree, pdu_tvb, pinfo, cd, r.stored, true);
        auto* tap = wmem_new0(pinfo->pool, TapInfo);
        tap->handshake_end = TRUE;
        tap->outcome = hv.outcome;
        tap->has_latency = hv.has_latency;
        tap->latency_ms = static_cast<double>(hv.latency_ns) / 1e6;
        tap->client_id = wmem_strdup(pinfo->pool, hv.client_id);
        tap_queue_packet(mqttauth_tap, pinfo, tap);
      }
    }
  }
  // The MQTT dissector clears the Info column on each call: keep what this PDU wrote.
  col_set_fence(pinfo->cinfo, COL_INFO);
}

int dissect_stream(tvbuff_t* tvb, packet_info* pinfo, proto_tree* tree, ConvData* cd) {
  const Direction dir = direction_of(cd, pinfo);
  guint offset = 0;
  const guint reported = tvb_reported_length(tvb);
  while (offset < reported) {
    const guint captured = static_cast<guint>(tvb_captured_length_remaining(tvb, static_cast<gint>(offset)));
    guint8 hdr[5];
    const guint hn = MIN(captured, 5u);
    tvb_memcpy(tvb, hdr, static_cast<gint>(offset), hn);
    auto fh = mqttauth::parse_fixed_header(std::span<const std::uint8_t>(hdr, hn));
    if (!fh) {
      if (fh.error().kind == mqttauth::ErrorKind::need_more && hn == captured && reported - offset == captured) {
        if (pinfo->can_desegment) {  // the length field continues in the next segment
          pinfo->desegment_offset = static_cast<int>(offset);
          pinfo->desegment_len = DESEGMENT_ONE_MORE_SEGMENT;
          return static_cast<int>(reported);
        }
      }
      proto_item* ti = proto_tree_add_item(tree, proto_mqttauth, tvb, static_cast<gint>(offset), -1, ENC_NA);
      expert_add_info_format(pinfo, ti, ei(FindingId::decode_error), "Cannot frame the MQTT stream at offset %u: %s",
                             offset, fh.error().detail);
      return static_cast<int>(reported);
    }
    const guint size = static_cast<guint>(fh->packet_size());
    if (size > reported - offset) {
      if (pinfo->can_desegment) {
        pinfo->desegment_offset = static_cast<int>(offset);
        pinfo->desegment_len = size - (reported - offset);
        return static_cast<int>(reported);
      }
      proto_tree_add_item(tree, proto_mqttauth, tvb, static_cast<gint>(offset), -1, ENC_NA);
      col_append_sep_str(pinfo->cinfo, COL_INFO, ", ", "Continuation");
      return static_cast<int>(reported);
    }
    if (size > captured) {
      proto_item* ti = proto_tree_add_item(tree, proto_mqttauth, tvb, static_cast<gint>(offset), -1, ENC_NA);
      expert_add_info(pinfo, ti, ei(FindingId::snaplen));
      return static_cast<int>(reported);
    }
    tvbuff_t* pdu_tvb = tvb_new_subset_length(tvb, static_cast<gint>(offset), static_cast<gint>(size));
    // Every packet goes through the session model (the handshake, the QoS flows, the keep-alive): copied and
    // analysed; the standard ones are then dissected by Wireshark's MQTT, the custom ones by the plugin.
    auto* bytes = static_cast<const guint8*>(tvb_memdup(pinfo->pool, tvb, static_cast<gint>(offset), size));
    dissect_pdu(pdu_tvb, bytes, size, pinfo, tree, cd, dir);
    offset += size;
  }
  return static_cast<int>(offset);
}

// The whole MQTT packets one WebSocket message completed (first pass: found; later passes: kept).
struct WsPdus {
  guint len;
  guint8* data;  // whole MQTT packets back to back
};
constexpr guint32 kWsCalls = 0x40000000u, kWsBase = 0x40000001u;

// The MQTT packets that `bytes` (one WebSocket message of `dir`) completes, appended after what was pending.
WsPdus* ws_collect(ConvData* cd, Direction dir, const guint8* bytes, guint len) noexcept {
  auto* out = wmem_new0(wmem_file_scope(), WsPdus);
  try {
    if (!cd->ws) cd->ws = new WsBuffers();
    auto& buf = cd->ws->pending[dir == Direction::c2s ? 0 : 1];
    buf.insert(buf.end(), bytes, bytes + len);
    std::size_t whole = 0;
    while (whole < buf.size()) {
      auto fh = mqttauth::parse_fixed_header(std::span<const std::uint8_t>(buf).subspan(whole));
      if (!fh) {
        if (fh.error().kind != mqttauth::ErrorKind::need_more) whole = buf.size();  // not MQTT: passed on as is
        break;
      }
      if (fh->packet_size() > buf.size() - whole) break;
      whole += fh->packet_size();
    }
    if (whole > 0) {
      out->len = static_cast<guint>(whole);
      out->data = static_cast<guint8*>(wmem_memdup(wmem_file_scope(), buf.data(), whole));
      buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(whole));
    }
  } catch (...) {
  }
  return out;
}

// MQTT over WebSocket (the "mqtt" / "mqttv3.1" subprotocols of Wireshark's WebSocket dissector): each message
// is added to its direction's stream, and the MQTT packets it completes are dissected here as over TCP (the
// custom authenticate packet, the findings, the session model), in a data source of their own.
int dissect_ws(tvbuff_t* tvb, packet_info* pinfo, proto_tree* tree, void*) {
  const guint len = tvb_captured_length(tvb);
  auto* bytes = static_cast<const guint8*>(tvb_memdup(pinfo->pool, tvb, 0, static_cast<gint>(len)));
  const guint calls = GPOINTER_TO_UINT(p_get_proto_data(pinfo->pool, pinfo, proto_mqttauth, kWsCalls));
  p_add_proto_data(pinfo->pool, pinfo, proto_mqttauth, kWsCalls, GUINT_TO_POINTER(calls + 1));
  // The client is who sends the CONNECT; mid-stream, the side on the lower port is taken for the server.
  auto connect = mqttauth::looks_like_connect(std::span<const std::uint8_t>(bytes, len));
  const bool server_is_dst = (connect && *connect) || pinfo->destport < pinfo->srcport;
  ConvData* cd = get_conv(pinfo, server_is_dst);
  if (!cd) return 0;
  const Direction dir = direction_of(cd, pinfo);
  WsPdus* w = nullptr;
  if (!PINFO_FD_VISITED(pinfo)) {
    w = ws_collect(cd, dir, bytes, len);
    p_add_proto_data(wmem_file_scope(), pinfo, proto_mqttauth, kWsBase + calls, w);
  } else {
    w = static_cast<WsPdus*>(p_get_proto_data(wmem_file_scope(), pinfo, proto_mqttauth, kWsBase + calls));
  }
  col_set_str(pinfo->cinfo, COL_PROTOCOL, "MQTT/WS");
  if (!w || w->len == 0) {
    proto_item* ti = proto_tree_add_item(tree, proto_mqttauth, tvb, 0, -1, ENC_NA);
    proto_item_append_text(ti, " (part of an MQTT packet, continued in a later WebSocket message)");
    col_append_sep_str(pinfo->cinfo, COL_INFO, ", ", "MQTT packet continued");
    col_set_fence(pinfo->cinfo, COL_INFO);
    return static_cast<int>(len);
  }
  tvbuff_t* all = tvb_new_child_real_data(tvb, w->data, w->len, static_cast<gint>(w->len));
  add_new_data_source(pinfo, all, "MQTT over WebSocket");
  guint off = 0;
  while (off < w->len) {
    auto fh = mqttauth::parse_fixed_header(std::span<const std::uint8_t>(w->data + off, w->len - off));
    const guint size = fh ? static_cast<guint>(fh->packet_size()) : w->len - off;
    tvbuff_t* pdu_tvb = tvb_new_subset_length(all, static_cast<gint>(off), static_cast<gint>(size));
    dissect_pdu(pdu_tvb, w->data + off, size, pinfo, tree, cd, dir);
    off += size;
  }
  col_set_str(pinfo->cinfo, COL_PROTOCOL, "MQTT/WS");
  col_append_str(pinfo->cinfo, COL_INFO, " ");  // before what the WebSocket dissector adds
  return static_cast<int>(len);
}

int dissect_mqttauth(tvbuff_t* tvb, packet_info* pinfo, proto_tree* tree, void*) {
  // Port-based: the side on the matched port is the server; Decode As without a match: the receiver of the
  // first data (the device speaks first).
  bool server_is_dst = !(pinfo->match_uint == pinfo->srcport && pinfo->match_uint != pinfo->destport);
  ConvData* cd = get_conv(pinfo, server_is_dst);
  if (!cd) return 0;
  return dissect_stream(tvb, pinfo, tree, cd);
}

// Any TCP port: a conversation whose first data is a CONNECT.
gboolean dissect_heur(tvbuff_t* tvb, packet_info* pinfo, proto_tree* tree, void*) {
  if (!pref_heuristic) return FALSE;
  guint8 b[16];
  const guint n = MIN(static_cast<guint>(tvb_captured_length(tvb)), static_cast<guint>(sizeof b));
  tvb_memcpy(tvb, b, 0, n);
  // The codec's probe, as the CLI recognises MQTT on any port (a CONNECT with its protocol name).
  auto connect = mqttauth::looks_like_connect(std::span<const std::uint8_t>(b, n));
  if (!connect || !*connect) return FALSE;
  conversation_t* conv = find_or_create_conversation(pinfo);
  conversation_set_dissector(conv, mqttauth_handle);
  ConvData* cd = get_conv(pinfo, true);
  if (!cd) return FALSE;
  dissect_stream(tvb, pinfo, tree, cd);
  return TRUE;
}

void init_capture() {
  if (!g_capture) g_capture = new (std::nothrow) Capture();
  if (!g_capture) return;
  g_capture->clear();
  std::string err;
  if (!g_capture->load_secrets(pref_secrets ? pref_secrets : "", err))
    report_failure("MQTT custom authentication: %s", err.c_str());
}

void cleanup_capture() {
  if (g_capture) g_capture->clear();
}

// Statistics: handshakes by outcome, by client id, latency.
int st_outcome = -1, st_client = -1, st_latency = -1, st_packets = -1;

void tree_init(stats_tree* st) {
  st_packets = stats_tree_create_node(st, "Authenticate packets", 0, STAT_DT_INT, TRUE);
  st_outcome = stats_tree_create_pivot(st, "Handshakes by outcome", 0);
  st_client = stats_tree_create_pivot(st, "Handshakes by client id", 0);
  st_latency = stats_tree_create_range_node(st, "Handshake latency (ms)", 0, "0-9", "10-49", "50-99", "100-499",
                                            "500-999", "1000-", nullptr);
  stats_tree_create_node(st, "PUBLISH to acknowledgement (ms)", 0, STAT_DT_FLOAT, FALSE);
  stats_tree_create_node(st, "Delivery to another client (ms)", 0, STAT_DT_FLOAT, FALSE);
}

tap_packet_status tree_packet(stats_tree* st, packet_info*, epan_dissect_t*, const void* p, tap_flags_t) {
  const auto* info = static_cast<const TapInfo*>(p);
  if (info->role) {
    tick_stat_node(st, "Authenticate packets", 0, TRUE);
    tick_stat_node(st,
                   info->role == 1   ? "challenge"
                   : info->role == 2 ? "response"
                                     : "unknown role",
                   st_packets, FALSE);
  }
  if (info->handshake_end) {
    stats_tree_tick_pivot(st, st_outcome, val_to_str_const(info->outcome, outcome_vals, "?"));
    stats_tree_tick_pivot(st, st_client, info->client_id ? info->client_id : "");
    if (info->has_latency) stats_tree_tick_range(st, "Handshake latency (ms)", 0, static_cast<int>(info->latency_ms));
  }
  if (info->has_ack)
    avg_stat_node_add_value_float(st, "PUBLISH to acknowledgement (ms)", 0, FALSE, static_cast<gfloat>(info->ack_ms));
  if (info->has_delivery)
    avg_stat_node_add_value_float(st, "Delivery to another client (ms)", 0, FALSE,
                                  static_cast<gfloat>(info->delivery_ms));
  return TAP_PACKET_REDRAW;
}

// The fields of the QoS flows' forward links and of the model across connections.
void register_fleet_fields() {
  static hf_register_info hf[] = {
      {&hf_ack_in,
       {"Acknowledged in", "mqttauth.flow.ack_in", FT_FRAMENUM, BASE_NONE, FRAMENUM_TYPE(FT_FRAMENUM_RESPONSE), 0,
        "The PUBACK or PUBREC of this PUBLISH (shown on a second pass)", HFILL}},
      {&hf_complete_in,
       {"PUBCOMP in", "mqttauth.flow.complete_in", FT_FRAMENUM, BASE_NONE, FRAMENUM_TYPE(FT_FRAMENUM_RESPONSE), 0,
        "The PUBCOMP that completes this QoS 2 PUBLISH (shown on a second pass)", HFILL}},
      {&hf_at_end,
       {"Left at the connection's end", "mqttauth.flow.at_end", FT_UINT8, BASE_HEX, nullptr, 0,
        "1: never acknowledged, 2: QoS 2 left half-way, 4: PINGREQ unanswered, 8: the client silent from here past 1.5 "
        "x "
        "its keep-alive until the close (shown on a second pass)",
        HFILL}},
      {&hf_ack_latency,
       {"Time since the PUBLISH (ms)", "mqttauth.flow.latency_ms", FT_DOUBLE, BASE_NONE, nullptr, 0,
        "PUBLISH to this acknowledgement", HFILL}},
      {&hf_fleet_related,
       {"Refers to", "mqttauth.fleet.related", FT_FRAMENUM, BASE_NONE, nullptr, 0,
        "Takeover: the CONNECT of the connection taken over; retained: the SUBSCRIBE; will: the end of the "
        "connection whose will it is; cleared: the retained PUBLISH",
        HFILL}},
      {&hf_published_in,
       {"Published in", "mqttauth.fleet.published_in", FT_FRAMENUM, BASE_NONE, FRAMENUM_TYPE(FT_FRAMENUM_REQUEST), 0,
        "The client PUBLISH this server PUBLISH delivers (same topic and payload, another connection)", HFILL}},
      {&hf_delivery,
       {"Delivery time (ms)", "mqttauth.fleet.delivery_ms", FT_DOUBLE, BASE_NONE, nullptr, 0,
        "From the client's PUBLISH to this delivery", HFILL}},
  };
  proto_register_field_array(proto_mqttauth, hf, G_N_ELEMENTS(hf));
}

void proto_register_mqttauth() {
  static hf_register_info hf[] = {
      {&hf_code,
       {"Packet type code", "mqttauth.code", FT_UINT8, BASE_DEC, nullptr, 0, "4-bit packet type: 0 or 15", HFILL}},
      {&hf_role,
       {"Role", "mqttauth.role", FT_UINT8, BASE_DEC, VALS(role_vals), 0, "Challenge (server to device) or response",
        HFILL}},
      {&hf_protoname, {"Protocol name", "mqttauth.protoname", FT_UINT_STRING, BASE_NONE, nullptr, 0, nullptr, HFILL}},
      {&hf_level, {"Protocol level", "mqttauth.level", FT_UINT8, BASE_DEC, nullptr, 0, nullptr, HFILL}},
      {&hf_flags, {"Flags", "mqttauth.flags", FT_UINT8, BASE_HEX, nullptr, 0, nullptr, HFILL}},
      {&hf_flag_username, {"User name", "mqttauth.flags.username", FT_BOOLEAN, 8, nullptr, 0x80, nullptr, HFILL}},
      {&hf_flag_password, {"Password", "mqttauth.flags.password", FT_BOOLEAN, 8, nullptr, 0x40, nullptr, HFILL}},
      {&hf_flag_will_retain,
       {"Will retain", "mqttauth.flags.will_retain", FT_BOOLEAN, 8, nullptr, 0x20, nullptr, HFILL}},
      {&hf_flag_will_qos, {"Will QoS", "mqttauth.flags.will_qos", FT_UINT8, BASE_DEC, nullptr, 0x18, nullptr, HFILL}},
      {&hf_flag_will, {"Will", "mqttauth.flags.will", FT_BOOLEAN, 8, nullptr, 0x04, nullptr, HFILL}},
      {&hf_flag_clean, {"Clean session", "mqttauth.flags.clean", FT_BOOLEAN, 8, nullptr, 0x02, nullptr, HFILL}},
      {&hf_flag_reserved, {"Reserved", "mqttauth.flags.reserved", FT_BOOLEAN, 8, nullptr, 0x01, nullptr, HFILL}},
      {&hf_keepalive, {"Keep alive", "mqttauth.keepalive", FT_UINT16, BASE_DEC, nullptr, 0, nullptr, HFILL}},
      {&hf_clientid, {"Client ID", "mqttauth.clientid", FT_UINT_STRING, BASE_NONE, nullptr, 0, nullptr, HFILL}},
      {&hf_username, {"User name", "mqttauth.username", FT_UINT_STRING, BASE_NONE, nullptr, 0, nullptr, HFILL}},
      {&hf_password,
       {"Password", "mqttauth.password", FT_UINT_STRING, BASE_NONE, nullptr, 0, "The challenge or the response",
        HFILL}},
      {&hf_will_topic, {"Will topic", "mqttauth.will_topic", FT_UINT_STRING, BASE_NONE, nullptr, 0, nullptr, HFILL}},
      {&hf_will_payload, {"Will payload", "mqttauth.will_payload", FT_BYTES, BASE_NONE, nullptr, 0, nullptr, HFILL}},
      {&hf_handshake, {"Handshake", "mqttauth.handshake", FT_NONE, BASE_NONE, nullptr, 0, nullptr, HFILL}},
      {&hf_outcome,
       {"Outcome", "mqttauth.handshake.outcome", FT_UINT8, BASE_DEC, VALS(outcome_vals), 0, nullptr, HFILL}},
      {&hf_hs_code, {"CONNACK code", "mqttauth.handshake.code", FT_UINT8, BASE_DEC, nullptr, 0, nullptr, HFILL}},
      {&hf_latency,
       {"Latency", "mqttauth.handshake.latency", FT_RELATIVE_TIME, BASE_NONE, nullptr, 0, "CONNECT to CONNACK", HFILL}},
      {&hf_connect_in,
       {"CONNECT in", "mqttauth.connect_in", FT_FRAMENUM, BASE_NONE, FRAMENUM_TYPE(FT_FRAMENUM_REQUEST), 0, nullptr,
        HFILL}},
      {&hf_challenge_in,
       {"Challenge in", "mqttauth.challenge_in", FT_FRAMENUM, BASE_NONE, FRAMENUM_TYPE(FT_FRAMENUM_RESPONSE), 0,
        nullptr, HFILL}},
      {&hf_response_in,
       {"Response in", "mqttauth.response_in", FT_FRAMENUM, BASE_NONE, FRAMENUM_TYPE(FT_FRAMENUM_REQUEST), 0, nullptr,
        HFILL}},
      {&hf_connack_in,
       {"CONNACK in", "mqttauth.connack_in", FT_FRAMENUM, BASE_NONE, FRAMENUM_TYPE(FT_FRAMENUM_RESPONSE), 0, nullptr,
        HFILL}},
      {&hf_verification,
       {"Response verification", "mqttauth.verification", FT_UINT8, BASE_DEC, VALS(verification_vals), 0, nullptr,
        HFILL}},
      {&hf_weakness,
       {"Predictable challenge", "mqttauth.weak_challenge", FT_UINT8, BASE_DEC, VALS(weakness_vals), 0, nullptr,
        HFILL}},
      {&hf_replay_of,
       {"Same challenge as in", "mqttauth.replay_of", FT_FRAMENUM, BASE_NONE, nullptr, 0, nullptr, HFILL}},
      {&hf_flow_publish,
       {"PUBLISH in", "mqttauth.flow.publish_in", FT_FRAMENUM, BASE_NONE, FRAMENUM_TYPE(FT_FRAMENUM_REQUEST), 0,
        "The PUBLISH whose QoS flow this packet belongs to", HFILL}},
      {&hf_keep_alive_related,
       {"Keep-alive: refers to", "mqttauth.flow.keep_alive_related", FT_FRAMENUM, BASE_NONE, nullptr, 0,
        "The client's previous packet (a late packet, a server that should have closed) or the PINGREQ left "
        "unanswered",
        HFILL}},
      {&hf_reserved_body,
       {"Reserved packet body", "mqttauth.reserved_body", FT_BYTES, BASE_NONE, nullptr, 0, nullptr, HFILL}},
      {&hf_violation,
       {"Violation", "mqttauth.violation", FT_NONE, BASE_NONE, nullptr, 0,
        "A rule of the MQTT specification that the packet breaks (it is decoded in full)", HFILL}},
  };
  static gint* ett[] = {&ett_mqttauth, &ett_flags, &ett_handshake};
  // The expert infos of the findings vocabulary: names and texts live as long as the program.
  static ei_register_info ei_info[kFindings];
  for (const mqttauth::FindingInfo& f : mqttauth::all_findings()) {
    const auto i = static_cast<std::size_t>(f.id);
    ei_findings[i] = EI_INIT;
    int group = PI_PROTOCOL;
    switch (f.id) {
      case FindingId::decode_error:
      case FindingId::snaplen:
      case FindingId::damaged_capture: group = PI_MALFORMED; break;
      case FindingId::challenge_reused:
      case FindingId::predictable_challenge:
      case FindingId::response_mismatch:
      case FindingId::no_secret: group = PI_SECURITY; break;
      case FindingId::handshake_refused:
      case FindingId::refused_after_exchange:
      case FindingId::reauthentication_refused: group = PI_RESPONSE_CODE; break;
      case FindingId::challenge_without_response:
      case FindingId::gap:
      case FindingId::resync:
      case FindingId::handshake_incomplete:
      case FindingId::handshake_abandoned: group = PI_SEQUENCE; break;
      default: break;
    }
    const int severity = f.severity == mqttauth::Severity::error     ? PI_ERROR
                         : f.severity == mqttauth::Severity::warning ? PI_WARN
                                                                     : PI_NOTE;
    ei_info[i] = ei_register_info{&ei_findings[i],
                                  {g_strdup_printf("mqttauth.%.*s", static_cast<int>(f.name.size()), f.name.data()),
                                   group, severity, g_strndup(f.sentence.data(), f.sentence.size()), EXPFILL}};
  }
  proto_mqttauth = proto_register_protocol("MQTT custom authentication", "MQTTAUTH", "mqttauth");
  proto_register_field_array(proto_mqttauth, hf, G_N_ELEMENTS(hf));
  register_fleet_fields();
  proto_register_subtree_array(ett, G_N_ELEMENTS(ett));
  expert_module_t* em = expert_register_protocol(proto_mqttauth);
  expert_register_field_array(em, ei_info, kFindings);
  mqttauth_handle = register_dissector("mqttauth", dissect_mqttauth, proto_mqttauth);
  module_t* m = prefs_register_protocol(proto_mqttauth, init_capture);
  prefs_register_enum_preference(m, "code", "Authenticate packet type",
                                 "Which reserved packet type carries the custom authenticate packet", &pref_code,
                                 code_vals, FALSE);
  prefs_register_bool_preference(m, "heuristic", "Recognise MQTT on any TCP port",
                                 "Claim TCP conversations whose first data is an MQTT CONNECT", &pref_heuristic);
  prefs_register_filename_preference(m, "secrets", "Secrets file",
                                     "One '<client-id> <secret>' per line ('#' comments): responses are checked "
                                     "against hex HMAC-SHA256(secret, challenge)",
                                     &pref_secrets, FALSE);
  mqttauth_tap = register_tap("mqttauth");
  register_init_routine(init_capture);
  register_cleanup_routine(cleanup_capture);
}

// Every frame, first pass: a FIN or RST of a conversation the plugin follows ends it in the model across
// connections (its will fires, its client id is free) as the CLI's analyzer ends it.
int dissect_post(tvbuff_t*, packet_info* pinfo, proto_tree* tree, void*) {
  if (PINFO_FD_VISITED(pinfo) || !tree || !g_capture || hf_tcp_fin < 0) return 0;
  auto flag = [&](int hf) {
    GPtrArray* a = proto_get_finfo_ptr_array(tree, hf);
    if (!a) return false;
    for (guint i = 0; i < a->len; ++i)
      if (fvalue_get_uinteger64(&static_cast<field_info*>(g_ptr_array_index(a, i))->value) != 0) return true;
    return false;
  };
  const bool fin = flag(hf_tcp_fin), rst = flag(hf_tcp_rst);
  if (!fin && !rst) return 0;
  conversation_t* conv = find_conversation_pinfo(pinfo, 0);
  auto* cd = conv ? static_cast<ConvData*>(conversation_get_proto_data(conv, proto_mqttauth)) : nullptr;
  if (!cd || !cd->conv) return 0;
  cd->conv->tcp_flags(*g_capture, fin, rst, direction_of(cd, pinfo), pinfo->num, ts_of(pinfo));
  return 0;
}

void proto_reg_handoff_mqttauth() {
  hf_tcp_fin = proto_registrar_get_id_byname("tcp.flags.fin");
  hf_tcp_rst = proto_registrar_get_id_byname("tcp.flags.reset");
  if (hf_tcp_fin >= 0 && hf_tcp_rst >= 0) {
    dissector_handle_t post = create_dissector_handle(dissect_post, proto_mqttauth);
    register_postdissector(post);
    GArray* wanted = g_array_new(FALSE, FALSE, static_cast<guint>(sizeof(int)));
    g_array_append_val(wanted, hf_tcp_fin);
    g_array_append_val(wanted, hf_tcp_rst);
    set_postdissector_wanted_hfids(post, wanted);
  }
  mqtt_handle = find_dissector_add_dependency("mqtt", proto_mqttauth);
  // Take the MQTT ports from Wireshark's MQTT dissector (it gets every standard PDU back from us).
  dissector_delete_uint("tcp.port", 1883, mqtt_handle);
  dissector_add_uint_range_with_preference("tcp.port", MQTTAUTH_DEFAULT_PORTS, mqttauth_handle);
  heur_dissector_add("tcp", dissect_heur, "MQTT on any port (opens with CONNECT)", "mqttauth_tcp", proto_mqttauth,
                     HEURISTIC_ENABLE);
  // MQTT over TLS as Wireshark's TLS dissector decrypts it (a key log: tls.keylog_file): 8883 taken from the
  // MQTT dissector as 1883 is; other ports with "Decode As" tls.port (-d tls.port==P,mqttauth).
  dissector_delete_uint("tls.port", 8883, mqtt_handle);
  dissector_add_uint_with_preference("tls.port", 8883, mqttauth_handle);
  // MQTT over WebSocket: the subprotocols MQTT §6 names, as Wireshark's WebSocket dissector reports them.
  dissector_handle_t ws_handle = create_dissector_handle(dissect_ws, proto_mqttauth);
  dissector_add_string("ws.protocol", "mqtt", ws_handle);
  dissector_add_string("ws.protocol", "mqttv3.1", ws_handle);
  stats_tree_register_plugin("mqttauth", "mqttauth", "MQTT custom authentication", 0, tree_packet, tree_init, nullptr);
}

}  // namespace

extern "C" void plugin_register(void) {
  static proto_plugin plug;
  plug.register_protoinfo = proto_register_mqttauth;
  plug.register_handoff = proto_reg_handoff_mqttauth;
  proto_register_plugin(&plug);
}
