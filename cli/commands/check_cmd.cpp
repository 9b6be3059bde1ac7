// mqttauth check: built-in rules on every connection plus user expectations; exit status for CI, JUnit XML.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "capture_input.hpp"
#include "topic_filter.hpp"
#include "check_report.hpp"
#include "commands.hpp"
#include "expect.hpp"
#include "mqttauth/findings.hpp"
#include "mqttauth/topic.hpp"
#include "output.hpp"
#include "sessions.hpp"

namespace mqttauth::cli {
namespace {

// Anomalies reported on their own (challenge_without_response and refused_after_exchange have rows of their
// own below).
constexpr std::uint32_t kViolations = anomaly::unexpected_direction | anomaly::unexpected_state |
                                      anomaly::repeated_response | anomaly::repeated_challenge |
                                      anomaly::second_connect | anomaly::second_connack | anomaly::code_mismatch |
                                      anomaly::client_id_mismatch;

// The expectations, tallied as the connections are listed (nothing kept per connection).
class ExpectTally {
 public:
  explicit ExpectTally(const std::vector<Expectation>& ex) : ex_(ex), per_(ex.size()) {}
  void row(const SessionRow& row, const std::vector<Finding>& findings) {
    ++connections_;
    if (row.latency_ns && *row.latency_ns > worst_) {
      worst_ = *row.latency_ns;
      worst_who_ = "#" + std::to_string(row.conn) + " " + row.client_id;
    }
    for (std::size_t i = 0; i < ex_.size(); ++i) {
      const Expectation& e = ex_[i];
      Per& p = per_[i];
      switch (e.kind) {
        case ExpectKind::every_session_authenticates:
          if (!row.has_handshake) break;
          ++p.seen;
          if (row.outcome != Outcome::accepted) {
            ++p.n;
            if (p.text.size() < 200)
              p.text += (p.text.empty() ? "" : ", ") + std::string("#") + std::to_string(row.conn) + " " +
                        row.client_id + " " + std::string(outcome_name(row.outcome));
          }
          break;
        case ExpectKind::client_outcome:
          if (!row.has_handshake || row.client_id != e.client_id) break;
          ++p.n;
          if (outcome_name(row.outcome) == e.outcome) ++p.seen;
          if (p.text.size() < 200) p.text += (p.text.empty() ? "" : ", ") + std::string(outcome_name(row.outcome));
          break;
        case ExpectKind::no_finding: findings_of(p, e, findings); break;
        default: break;
      }
    }
  }
  void capture(const std::vector<Finding>& findings) {
    for (std::size_t i = 0; i < ex_.size(); ++i)
      if (ex_[i].kind == ExpectKind::no_finding) findings_of(per_[i], ex_[i], findings);
  }
  std::vector<ExpectResult> results(const std::vector<std::uint64_t>& publish_counts,
                                    const std::array<std::uint64_t, 3>& qos, std::uint64_t decode_errors,
                                    const Fleet& fleet) const;

 private:
  struct Per {
    std::size_t n = 0, seen = 0;
    std::string text;
    std::optional<std::pair<std::uint64_t, std::uint64_t>> first;  // (conn, frame) of the earliest finding
  };
  static void findings_of(Per& p, const Expectation& e, const std::vector<Finding>& findings) {
    for (const Finding& f : findings)
      if (f.rule == e.finding) {
        ++p.n;
        if (!p.first || std::pair(f.conn, f.frame) < *p.first) p.first = std::pair(f.conn, f.frame);
      }
  }
  const std::vector<Expectation>& ex_;
  std::vector<Per> per_;
  std::size_t connections_ = 0;
  std::int64_t worst_ = 0;
  std::string worst_who_;
};

class CheckSink final : public AnalyzerSink {
 public:
  CheckSink(const Secrets* secrets, const std::vector<Expectation>& ex, const std::vector<std::string>& topics,
            CheckWriter& writer)
      : secrets_(secrets), ex_(ex), topics_(topics), writer_(writer), tally_(ex) {
    publish_counts.assign(ex_.size(), 0);
  }
  // The findings of the connections still open (or waiting for an earlier one to be listed).
  std::unordered_map<std::uint64_t, std::vector<Finding>> by_conn;
  std::vector<Finding> global;
  std::vector<std::uint64_t> publish_counts;  // per expectation (publishes)
  std::array<std::uint64_t, 3> qos{};
  std::uint64_t decode_errors = 0;

  void on_packet(const Connection& c, Direction dir, const Decoded& d, const Observation& ob,
                 const PacketMeta& m) override {
    if (!topics_.empty() && topics_.matches(d.packet)) touched_.insert(c.id);
    for (std::uint8_t bit = 1; bit != 0 && ob.flow != 0; bit = static_cast<std::uint8_t>(bit << 1))
      if (ob.flow & bit) add(c, *flow_finding(bit), m, flow_message(d, dir, ob));
    for (std::uint8_t bit = 1; bit != 0 && ob.fleet.bits != 0; bit = static_cast<std::uint8_t>(bit << 1))
      if (ob.fleet.bits & bit) add(c, *fleet_finding(bit), m, fleet_message(d, bit, ob.fleet));
    for (const Violation& v : d.violations)
      add(c, violation_finding(v.kind), m,
          std::string(packet_name(d.packet)) + " (stream offset " + std::to_string(m.offset) + ", " +
              std::string(direction_name(dir)) + "): " + v.message(),
          v.rule);
    const auto* p = std::get_if<Publish>(&d.packet);
    if (!p) return;
    ++qos[p->qos & 3u];
    for (std::size_t i = 0; i < ex_.size(); ++i)
      if (ex_[i].kind == ExpectKind::publishes && topic_matches(ex_[i].filter, p->topic)) ++publish_counts[i];
  }
  void on_error(const Connection& c, Direction dir, const Error& e, const PacketMeta& m) override {
    ++decode_errors;
    add(c, FindingId::decode_error, m,
        e.message() + " (stream offset " + std::to_string(m.offset) + ", " + std::string(direction_name(dir)) + ")");
  }
  void on_gap(const Connection& c, Direction dir, std::uint64_t, std::uint64_t bytes, const PacketMeta& m,
              GapReason why) override {
    add(c, FindingId::gap, m,
        std::to_string(bytes) + " bytes missing from the capture (" + gap_reason_name(why) + ", " +
            std::string(direction_name(dir)) + ")");
  }
  void on_websocket_violation(const Connection& c, Direction dir, const char* rule, const char* detail,
                              const PacketMeta& m) override {
    add(c, FindingId::websocket_violation, m,
        std::string(detail) + " [" + rule + "] (WebSocket frame at TCP stream offset " + std::to_string(m.offset) +
            ", " + std::string(direction_name(dir)) + ")");
  }
  void on_tls(const Connection& c) override {
    PacketMeta m{c.first_frame, c.first_ts, 0, &c.file};
    add(c, FindingId::tls, m, "TLS on an MQTT port, not decrypted (" + c.tls_reason + "): not checked");
  }
  void on_resync(const Connection& c, Direction dir, std::uint64_t offset, std::uint64_t skipped,
                 const PacketMeta& m) override {
    add(c, FindingId::resync, m,
        std::to_string(skipped) + " bytes passed over to the next packet boundary at stream offset " +
            std::to_string(offset) + " (" + std::string(direction_name(dir)) + ")");
  }
  void on_connection_end(const Connection& c) override {
    if (!topics_.empty() && touched_.erase(c.id) == 0) {  // --topic: not a connection of those topics
      by_conn.erase(c.id);
      release(an_ ? an_->oldest_open_id() : 0, false);
      return;
    }
    SessionRow r = make_row(c, secrets_);
    auto& f = by_conn[c.id];
    for (auto& x : f) x.client_id = r.client_id;
    auto add_row = [&](FindingId id, std::uint64_t frame, std::string msg) {
      const FindingInfo& fi = finding(id);
      f.push_back(Finding{fi.severity, std::string(fi.name), std::string(fi.clause), r.conn, r.client_id, frame, r.file,
                          std::move(msg)});
    };
    const std::string who = "client '" + r.client_id + "'";
    if (!r.has_handshake) {
      add_row(FindingId::handshake_not_seen, r.first_frame, "the capture starts after the handshake");
    } else {
      switch (r.outcome) {
        case Outcome::refused:
          add_row(FindingId::handshake_refused, r.connack_frame.value_or(r.last_frame),
                  who + " refused with code " + std::to_string(r.code ? *r.code : 0));
          break;
        case Outcome::incomplete:
          add_row(FindingId::handshake_incomplete, r.last_frame, who + ": the capture ends during the handshake");
          break;
        case Outcome::abandoned:
          add_row(FindingId::handshake_abandoned, r.last_frame,
                  who + ": the connection closed during the handshake (" + end_reason_name(r.end) + ")");
          break;
        default: break;
      }
      for (std::uint32_t bit = 1; bit != 0 && bit <= kViolations; bit <<= 1)
        if (r.anomalies & kViolations & bit)
          add_row(*anomaly_finding(bit), r.response_frame.value_or(r.last_frame),
                  who + ": " + std::string(finding(*anomaly_finding(bit)).sentence));
      if (r.anomalies & anomaly::challenge_without_response)
        add_row(FindingId::challenge_without_response, r.challenge_frame.value_or(r.first_frame),
                who + " never answered the challenge");
      if (r.reauths_refused)
        add_row(FindingId::reauthentication_refused, r.last_frame,
                who + ": the server refused " + std::to_string(r.reauths_refused) +
                    " MQTT 5 re-authentication(s) and disconnected");
      if (r.verification == Verification::mismatch)
        add_row(FindingId::response_mismatch, r.response_frame.value_or(r.first_frame),
                who + ": the response is not HMAC-SHA256(secret, challenge)");
      else if (r.verification == Verification::no_secret)
        add_row(FindingId::no_secret, r.response_frame.value_or(r.first_frame),
                who + " has no line in the secrets file");
      if (r.scheme != AuthScheme::none && !r.challenge.empty()) {
        if (auto first = challenges_.note(r.challenge, r.conn))
          add_row(FindingId::challenge_reused, r.challenge_frame.value_or(r.first_frame),
                  who + " got the same challenge as connection #" + std::to_string(*first) +
                      ": a recorded response can be replayed");
      }
      if (r.weakness != ChallengeWeakness::none)
        add_row(FindingId::predictable_challenge, r.challenge_frame.value_or(r.first_frame),
                "the challenge to " + who + " is predictable (" + std::string(weakness_name(r.weakness)) + ")");
    }
    if (c.session)
      for (const OpenFlow& o : c.session->flows().open_flows()) {
        const bool unacked = o.unacked();
        add_row(unacked ? FindingId::unacked_publish : FindingId::incomplete_qos2, unacked ? o.publish_id : o.last_id,
                open_flow_message(o, r.client_id));
      }
    if (c.session)
      if (auto silent = c.session->keep_alive().expired_at_close()) {
        const KeepAliveAudit& ka = c.session->keep_alive();
        char text[160];
        std::snprintf(text, sizeof text,
                      ": silent for %.3f s from this packet until the connection closed (by the %s), over 1.5 x its "
                      "keep-alive of %u s: the server should have closed it",
                      static_cast<double>(ka.client_silence_at_close_ns().value_or(0)) / 1e9,
                      r.closed_by == Direction::s2c ? "server" : "client", static_cast<unsigned>(ka.keep_alive()));
        add_row(FindingId::keep_alive_expired, *silent, who + text);
      }
    if (c.session)
      if (auto ping = c.session->keep_alive().unanswered_pingreq())
        add_row(FindingId::pingreq_unanswered, *ping,
                who + ": the PINGREQ got no PINGRESP before the connection ended (" + end_reason_name(r.end) + ")");
    const std::uint64_t id = c.id;
    auto node = by_conn.extract(id);
    waiting_.emplace(id, Waiting{std::move(r), std::move(node.mapped())});
    release(an_ ? an_->oldest_open_id() : 0, false);
  }
  // Lists the connections that ended and wait for no earlier one still open (oldest_open = 0: all). Beyond
  // kMaxWaiting the oldest are listed anyway (out of order behind a long-lived connection, so that memory
  // stays bounded).
  void release(std::uint64_t oldest_open, bool all) {
    while (!waiting_.empty() &&
           (all || oldest_open == 0 || waiting_.begin()->first < oldest_open || waiting_.size() > kMaxWaiting)) {
      auto node = waiting_.extract(waiting_.begin());
      Waiting& w = node.mapped();
      tally_.row(w.row, w.findings);
      writer_.connection(w.row, w.findings);
      out_->maybe_flush();
    }
  }
  void stream(const Analyzer* an, Out* out) {
    an_ = an;
    out_ = out;
  }
  ExpectTally& tally() { return tally_; }

 private:
  static std::string sender(Direction dir) { return dir == Direction::c2s ? "the client's" : "the server's"; }
  // "PUBLISH id 3 (c2s): repeats the PUBLISH in frame 12"
  static std::string flow_message(const Decoded& d, Direction dir, const Observation& ob) {
    std::string msg(packet_name(d.packet));
    std::visit(
        [&msg](const auto& pk) {
          if constexpr (requires { pk.packet_id; }) msg += " id " + std::to_string(pk.packet_id);
        },
        d.packet);
    msg += " (" + std::string(direction_name(dir)) + ")";
    const std::string related = ob.flow_related ? std::to_string(*ob.flow_related) : "?";
    if (ob.flow & flow::resend_without_dup) msg += ": repeats the PUBLISH in frame " + related + " with DUP 0";
    if (ob.flow & flow::packet_id_in_use) msg += ": the PUBLISH in frame " + related + " still has it in flight";
    if (ob.flow & flow::unknown_packet_id) msg += ": no flow in progress has this id";
    if (ob.flow & flow::receive_maximum_exceeded) msg += ": over the receiver's Receive Maximum";
    const std::string ka = ob.keep_alive_related ? std::to_string(*ob.keep_alive_related) : "?";
    if (ob.flow & flow::keep_alive_late) msg += ": the client's first packet since frame " + ka;
    if (ob.flow & flow::keep_alive_expired)
      msg += ": the client has been silent since frame " + ka + ", over 1.5 x its keep-alive";
    if (ob.flow & flow::pingreq_unanswered) msg += ": the PINGREQ in frame " + ka + " got no PINGRESP";
    return msg;
  }
  static std::string fleet_message(const Decoded& d, std::uint8_t bit, const FleetStep& st) {
    std::string msg(packet_name(d.packet));
    const std::string related = st.related ? std::to_string(*st.related) : "?";
    const std::string other = "connection #" + std::to_string(st.other_conn);
    char every[48];
    std::snprintf(every, sizeof every, "%.3f s", static_cast<double>(st.interval_ns) / 1e9);
    if (const auto* p = std::get_if<Publish>(&d.packet)) {
      msg += " '";
      msg += p->topic;
      msg += "'";
    }
    switch (bit) {
      case fleet::client_takeover:
        msg += ": the client id was connected on " + other + " (CONNECT in frame " + related + "), taken over";
        break;
      case fleet::takeover_loop:
        msg += ": " + std::to_string(st.count) + " takeovers of this client id from two or more addresses, one every " +
               every;
        break;
      case fleet::reconnect_storm:
        msg += ": " + std::to_string(st.count) + " connections of this client id, one every " + every;
        break;
      case fleet::retained_delivered:
        msg +=
            st.related ? ": retained, sent for the SUBSCRIBE in frame " + related : ": retained, sent on subscribing";
        if (st.delivered_from) msg += " (published in frame " + std::to_string(*st.delivered_from) + ")";
        break;
      case fleet::retained_cleared:
        msg += st.related ? ": clears the retained message of frame " + related : ": clears the retained message";
        break;
      case fleet::will_published:
        msg += ": the will of " + other + ", which ended abnormally in frame " + related;
        break;
      default: break;
    }
    return msg;
  }
  static std::string open_flow_message(const OpenFlow& o, const std::string& client_id) {
    static constexpr const char* kStage[] = {"no PUBACK", "no PUBREC", "PUBREC without PUBREL",
                                             "PUBREL without PUBCOMP"};
    char waited[32];
    std::snprintf(waited, sizeof waited, "%.3f", static_cast<double>(o.waited_ns) / 1e6);
    return "client '" + client_id + "': " + sender(o.dir) + " QoS " + std::to_string(o.qos) + " PUBLISH id " +
           std::to_string(o.packet_id) + ": " + kStage[static_cast<int>(o.stage)] + " when the connection ended (" +
           waited + " ms after " + (o.unacked() ? "it" : "its last packet") + ")";
  }
  void add(const Connection& c, FindingId id, const PacketMeta& m, std::string msg, std::string_view clause = {}) {
    const FindingInfo& fi = finding(id);
    by_conn[c.id].push_back(Finding{fi.severity, std::string(fi.name), std::string(clause.empty() ? fi.clause : clause),
                                    c.id, "", m.frame, m.file ? *m.file : c.file, std::move(msg)});
  }
  const Secrets* secrets_;
  const std::vector<Expectation>& ex_;
  TopicFilter topics_;
  std::unordered_set<std::uint64_t> touched_;
  ChallengeRegistry challenges_;
  CheckWriter& writer_;
  ExpectTally tally_;
  const Analyzer* an_ = nullptr;
  Out* out_ = nullptr;
  struct Waiting {
    SessionRow row;
    std::vector<Finding> findings;
  };
  static constexpr std::size_t kMaxWaiting = 4096;
  std::map<std::uint64_t, Waiting> waiting_;
};

std::vector<ExpectResult> ExpectTally::results(const std::vector<std::uint64_t>& publish_counts,
                                               const std::array<std::uint64_t, 3>& qos, std::uint64_t decode_errors,
                                               const Fleet& fleet) const {
  std::vector<ExpectResult> out;
  for (std::size_t i = 0; i < ex_.size(); ++i) {
    const Expectation& e = ex_[i];
    const Per& p = per_[i];
    ExpectResult r{&e, true, ""};
    switch (e.kind) {
      case ExpectKind::every_session_authenticates:
        r.pass = p.n == 0;
        r.detail = std::to_string(p.seen - p.n) + " of " + std::to_string(p.seen) + " handshakes accepted" +
                   (p.text.empty() ? "" : " (" + p.text + ")");
        break;
      case ExpectKind::client_outcome:
        r.pass = p.n > 0 && p.seen == p.n;
        r.detail = p.n == 0 ? "no connection of this client" : std::to_string(p.n) + " connection(s): " + p.text;
        break;
      case ExpectKind::publishes:
        r.pass = compare(publish_counts[i], e.op, e.count);
        r.detail = std::to_string(publish_counts[i]) + " publishes on " + e.filter;
        break;
      case ExpectKind::connections:
        r.pass = compare(connections_, e.op, e.count);
        r.detail = std::to_string(connections_) + " MQTT connections";
        break;
      case ExpectKind::no_qos:
        r.pass = qos[e.qos] == 0;
        r.detail = std::to_string(qos[e.qos]) + " publishes at QoS " + std::to_string(e.qos);
        break;
      case ExpectKind::max_latency: {
        r.pass = worst_ <= e.latency_ns;
        char b[96];
        std::snprintf(b, sizeof b, "slowest handshake %.3f ms", static_cast<double>(worst_) / 1e6);
        r.detail = b + (worst_who_.empty() ? std::string() : " (" + worst_who_ + ")");
        break;
      }
      case ExpectKind::no_decode_errors:
        r.pass = decode_errors == 0;
        r.detail = std::to_string(decode_errors) + " decode errors";
        break;
      case ExpectKind::no_finding:
        r.pass = p.n == 0;
        r.detail = std::to_string(p.n) + " " + e.finding;
        if (p.first)
          r.detail +=
              " (first: conn #" + std::to_string(p.first->first) + " frame " + std::to_string(p.first->second) + ")";
        break;
      case ExpectKind::max_publish_latency:
      case ExpectKind::max_delivery_latency: {
        const bool pub = e.kind == ExpectKind::max_publish_latency;
        const LatencySamples& l = pub ? fleet.ack_by_client().all() : fleet.delivery_by_topic().all();
        const std::int64_t got = e.percentile >= 100 ? l.max() : l.percentile(e.percentile);
        r.pass = got <= e.latency_ns;
        const std::string what = e.percentile >= 100 ? "max" : "p" + std::to_string(static_cast<int>(e.percentile));
        char b[128];
        std::snprintf(b, sizeof b, " %.3f ms over %llu %s", static_cast<double>(got) / 1e6,
                      static_cast<unsigned long long>(l.count()), pub ? "acknowledgements" : "deliveries");
        r.detail = what + b;
        break;
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

struct CheckOptions {
  CaptureOptions cap;
  std::string secrets, expect, junit, format = "text", fail_on = "error", color = "auto";
};

int run_check(const CheckOptions& o) {
  prepare_analysis_heap();  // before the tables are made
  Secrets secrets;
  std::string err;
  if (!o.secrets.empty() && !secrets.load(o.secrets, err)) {
    std::fprintf(stderr, "mqttauth check: %s\n", err.c_str());
    return kExitUsage;
  }
  std::vector<Expectation> ex;
  if (!o.expect.empty()) {
    auto parsed = parse_expectations(o.expect, err);
    if (!parsed) {
      std::fprintf(stderr, "mqttauth check: %s\n", err.c_str());
      return kExitUsage;
    }
    ex = std::move(*parsed);
  }
  const Severity fail_level = o.fail_on == "warning" ? Severity::warning
                              : o.fail_on == "info"  ? Severity::info
                                                     : Severity::error;
  Out out(stdout);
  CheckWriter writer(out.buf(), o.format == "jsonl" ? CheckWriter::Format::jsonl : CheckWriter::Format::text,
                     o.color == "always" || (o.color == "auto" && isatty(STDOUT_FILENO)), fail_level, o.fail_on);
  if (!o.junit.empty() && !writer.junit(o.junit)) {
    std::fprintf(stderr, "mqttauth check: cannot make a temporary file for %s\n", o.junit.c_str());
    return kExitUsage;
  }
  CheckSink sink(o.secrets.empty() ? nullptr : &secrets, ex, o.cap.topics, writer);
  Analyzer an(analyzer_options(o.cap), sink);
  sink.stream(&an, &out);
  InputReport rep = read_captures(o.cap, an);
  sink.release(0, true);
  if (rep.unreadable) return kExitUsage;
  if (rep.damaged)
    sink.global.push_back(Finding{Severity::error, "damaged_capture", "", 0, "", 0, "",
                                  std::to_string(rep.damaged) + " capture file(s) truncated or corrupt (see stderr)"});
  sink.tally().capture(sink.global);
  const auto results = sink.tally().results(sink.publish_counts, sink.qos, sink.decode_errors, an.fleet());
  bool junit_ok = true;
  const bool failed = writer.finish(sink.global, results, rep.seconds, junit_ok);
  out.flush();
  if (!junit_ok) {
    std::fprintf(stderr, "mqttauth check: cannot write %s\n", o.junit.c_str());
    return kExitUsage;
  }
  return failed ? kExitFindings : kExitOk;
}

}  // namespace

void setup_check(CLI::App& app) {
  auto opt = std::make_shared<CheckOptions>();
  auto* sub = app.add_subcommand("check", "Check captures against built-in rules and your expectations (for CI)");
  sub->footer(
      "Rules: decode errors and protocol violations (error); refused, incomplete or abandoned handshakes, a\n"
      "challenge without response, a response that fails --secrets, a challenge used twice, capture gaps\n"
      "(warning); a predictable challenge, a handshake not seen, TLS (info).\n"
      "Expectations file (--expect): see README.md, e.g.\n"
      "  every-session authenticates\n  client sensor-02 refused\n  publishes >= 10 on devices/+/telemetry\n"
      "  no qos 2\n  max-handshake-latency 500ms\n"
      "Examples:\n"
      "  mqttauth check capture.pcap\n"
      "  mqttauth check --fail-on warning --secrets devices.secrets --expect ci.expect --junit report.xml *.pcap\n"
      "Exit codes: 0 nothing at or above the fail level and every expectation met, 1 findings or failed\n"
      "expectations, 2 unreadable input or wrong usage.");
  add_capture_options(sub, opt->cap);
  add_topic_option(sub, opt->cap, "only the connections that published, received or subscribed to a matching topic");
  sub->add_option("--secrets", opt->secrets, "Verify responses with the secrets in this file")
      ->check(CLI::ExistingFile);
  sub->add_option("--expect", opt->expect, "Expectations file")->check(CLI::ExistingFile);
  sub->add_option("--fail-on", opt->fail_on, "Lowest severity that fails: error (default), warning, info")
      ->check(CLI::IsMember({"error", "warning", "info"}));
  sub->add_option("--junit", opt->junit, "Write a JUnit XML report here (one testcase per connection and expectation)");
  sub->add_option("--format", opt->format, "Output format: text or jsonl")->check(CLI::IsMember({"text", "jsonl"}));
  sub->add_option("--color", opt->color, "Colours in text output: auto, always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  sub->callback([opt] {
    int rc = run_check(*opt);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace mqttauth::cli
