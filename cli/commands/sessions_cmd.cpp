// mqttauth sessions: one row per MQTT connection: who, the authentication handshake and its outcome,
// traffic each way, and how the connection ended.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <unordered_set>
#include <utility>
#include <memory>

#include "capture_input.hpp"
#include "topic_filter.hpp"
#include "commands.hpp"
#include "output.hpp"
#include "sessions.hpp"

namespace mqttauth::cli {

namespace {

std::string outcome_text(const SessionRow& r) {
  if (!r.has_handshake) return "unseen";
  std::string s(outcome_name(r.outcome));
  if (r.outcome == Outcome::refused && r.code) s += " (" + std::to_string(*r.code) + ")";
  return s;
}

std::string scheme_text(const SessionRow& r) {
  if (!r.has_handshake) return "-";
  switch (r.scheme) {
    case AuthScheme::custom0: return "custom code 0";
    case AuthScheme::custom15: return "custom code 15";
    case AuthScheme::v5: return "v5 " + (r.auth_method.empty() ? std::string("method") : r.auth_method);
    default: return "none";
  }
}

std::string latency_text(const SessionRow& r) {
  if (!r.latency_ns) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.3f ms", static_cast<double>(*r.latency_ns) / 1e6);
  return b;
}

// Printable form of a challenge or response, shortened for the table.
std::string short_value(const std::string& v, std::size_t max) {
  std::string s;
  append_escaped(s, v);
  if (s.size() > max) s = s.substr(0, max - 3) + "...";
  return s.empty() ? "-" : s;
}

void json_row(std::string& out, const SessionRow& r) {
  JsonWriter w(out);
  w.begin_object();
  w.field_num("conn", r.conn);
  w.field("client", r.client);
  w.field("server", r.server);
  if (r.has_handshake) w.field("client_id", r.client_id);
  if (r.level) w.field_num("protocol_level", r.level);
  if (r.tls) {
    w.field("transport", r.websocket ? "websocket-tls" : "tls");
    w.field("tls_version", tls::version_name(r.tls_version));
    if (const tls::Suite* su = tls::find_suite(r.tls_suite)) w.field("tls_suite", su->name);
    if (!r.tls_reason.empty()) w.field("tls_reason", r.tls_reason);
  }
  if (r.websocket) {
    if (!r.tls) w.field("transport", "websocket");
    w.field("ws_subprotocol", r.ws_subprotocol);
    if (r.ws_deflate) w.field("ws_extensions", "permessage-deflate");
    w.field_num("ws_frames", r.ws_frames);
    if (r.ws_close_c2s) w.field_num("ws_close_client", r.ws_close_c2s);
    if (r.ws_close_s2c) w.field_num("ws_close_server", r.ws_close_s2c);
  }
  w.field("auth", r.has_handshake ? scheme_name(r.scheme) : "unseen");
  if (!r.auth_method.empty()) w.field("auth_method", r.auth_method);
  if (r.has_handshake && r.scheme != AuthScheme::none) {
    w.field_bytes("challenge", Bytes::of(r.challenge));
    w.field_bytes("response", Bytes::of(r.response));
    if (r.weakness != ChallengeWeakness::none) w.field("weak_challenge", weakness_name(r.weakness));
  }
  w.field("outcome", r.has_handshake ? outcome_name(r.outcome) : "unseen");
  if (r.code) w.field_num(r.connack_level == kLevel5 ? "reason_code" : "return_code", *r.code);
  if (r.latency_ns) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", static_cast<double>(*r.latency_ns) / 1e6);
    w.key("latency_ms").raw_value(b);
  }
  if (r.verification != Verification::not_applicable) w.field("verification", verification_name(r.verification));
  if (r.anomalies) {
    w.begin_array("anomalies");
    std::string names = anomaly_names(r.anomalies);
    std::size_t s = 0;
    while (s <= names.size()) {
      auto e = names.find(',', s);
      if (e == std::string::npos) e = names.size();
      w.str(std::string_view(names).substr(s, e - s));
      s = e + 1;
    }
    w.end_array();
  }
  if (r.reauths) w.field_num("reauthentications", r.reauths);
  if (r.reauths_refused) w.field_num("reauthentications_refused", r.reauths_refused);
  if (r.unacked) w.field_num("unacked_publish", r.unacked);
  if (r.qos2_open) w.field_num("incomplete_qos2", r.qos2_open);
  if (r.flow_findings) w.field_num("flow_findings", r.flow_findings);
  if (r.flows_untracked) w.field_num("flows_untracked", r.flows_untracked);
  w.field_num("packets_c2s", r.c2s.packets);
  w.field_num("packets_s2c", r.s2c.packets);
  w.field_num("bytes_c2s", r.c2s.bytes);
  w.field_num("bytes_s2c", r.s2c.bytes);
  w.field_num("gaps", r.c2s.gaps + r.s2c.gaps);
  w.field_num("errors", r.c2s.errors + r.s2c.errors);
  if (std::uint64_t v = r.c2s.violations + r.s2c.violations) w.field_num("violations", v);
  w.field("end", end_reason_name(r.end));
  if (r.closed_by != Direction::unknown) w.field("closed_by", r.closed_by == Direction::c2s ? "client" : "server");
  if (r.silence_ns) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", static_cast<double>(*r.silence_ns) / 1e6);
    w.key("silence_before_close_ms").raw_value(b);
  }
  if (r.fleet.close != FleetConnEnd::Close::open) w.field("close", close_name(r.fleet.close));
  if (r.fleet.will != FleetConnEnd::Will::none) w.field("will", will_name(r.fleet.will));
  if (r.fleet.taken_over_by) w.field_num("taken_over_by", r.fleet.taken_over_by);
  if (r.fleet.took_over) w.field_num("took_over", r.fleet.took_over);
  w.field_num("first_frame", r.first_frame);
  w.field_num("last_frame", r.last_frame);
  std::string ts;
  append_ts(ts, r.start_ns);
  w.key("start_ts").raw_value(ts);
  ts.clear();
  append_ts(ts, r.end_ns);
  w.key("end_ts").raw_value(ts);
  w.field("file", r.file);
  w.end_object();
  out += '\n';
}

void csv_row(std::string& out, const SessionRow& r) {
  auto field = [&](std::string_view v) {
    csv_field(out, v);
    out += ',';
  };
  field(std::to_string(r.conn));
  field(r.client);
  field(r.server);
  field(r.client_id);
  field(r.level ? std::to_string(r.level) : "");
  field(r.has_handshake ? scheme_name(r.scheme) : "unseen");
  field(r.auth_method);
  field(r.challenge);
  field(r.response);
  field(r.has_handshake ? outcome_name(r.outcome) : "unseen");
  field(r.code ? std::to_string(*r.code) : "");
  field(r.latency_ns ? std::to_string(static_cast<double>(*r.latency_ns) / 1e6) : "");
  field(verification_name(r.verification));
  field(r.weakness != ChallengeWeakness::none ? weakness_name(r.weakness) : "");
  field(anomaly_names(r.anomalies));
  field(std::to_string(r.c2s.packets));
  field(std::to_string(r.s2c.packets));
  field(std::to_string(r.c2s.bytes));
  field(std::to_string(r.s2c.bytes));
  field(std::to_string(r.c2s.gaps + r.s2c.gaps));
  field(std::to_string(r.c2s.errors + r.s2c.errors));
  out += end_reason_name(r.end);
  out += '\n';
}

// "client after 1.000 s", "server after 0.002 s", "-".
std::string closed_by_text(const SessionRow& r) {
  if (r.closed_by == Direction::unknown) return "-";
  std::string s = r.closed_by == Direction::c2s ? "client" : "server";
  if (r.silence_ns) {
    char b[48];
    std::snprintf(b, sizeof b, " after %.3f s", static_cast<double>(*r.silence_ns) / 1e9);
    s += b;
  }
  return s;
}

const std::vector<std::string> kTableHeader = {
    "CONN",    "CLIENT",  "SERVER", "CLIENT ID",    "LVL",           "AUTH", "CHALLENGE", "RESPONSE",
    "OUTCOME", "LATENCY", "VERIFY", "PKTS C2S/S2C", "BYTES C2S/S2C", "END",  "CLOSED BY", "NOTES"};

// The cells of a row of the text table.
std::vector<std::string> table_cells(const SessionRow& r) {
  std::string notes;
  if (r.weakness != ChallengeWeakness::none) notes += "weak_challenge=" + std::string(weakness_name(r.weakness));
  if (r.tls) notes += (notes.empty() ? "" : " ") + std::string(r.tls_version == tls::kTls13 ? "tls1.3" : "tls1.2");
  if (r.anomalies) notes += (notes.empty() ? "" : " ") + anomaly_names(r.anomalies);
  if (r.reauths) notes += (notes.empty() ? "" : " ") + std::string("reauth=") + std::to_string(r.reauths);
  if (r.reauths_refused)
    notes += (notes.empty() ? "" : " ") + std::string("reauth_refused=") + std::to_string(r.reauths_refused);
  if (r.unacked) notes += (notes.empty() ? "" : " ") + std::string("unacked=") + std::to_string(r.unacked);
  if (r.qos2_open) notes += (notes.empty() ? "" : " ") + std::string("qos2_open=") + std::to_string(r.qos2_open);
  if (r.flow_findings)
    notes += (notes.empty() ? "" : " ") + std::string("flow_findings=") + std::to_string(r.flow_findings);
  if (r.flows_untracked)
    notes += (notes.empty() ? "" : " ") + std::string("flows_untracked=") + std::to_string(r.flows_untracked);
  if (r.fleet.close == FleetConnEnd::Close::abnormal)
    notes += (notes.empty() ? "" : " ") + std::string("abnormal_close");
  if (r.fleet.will != FleetConnEnd::Will::none)
    notes += (notes.empty() ? "" : " ") + std::string("will=") + std::string(will_name(r.fleet.will));
  if (r.fleet.taken_over_by)
    notes += (notes.empty() ? "" : " ") + std::string("taken_over_by=#") + std::to_string(r.fleet.taken_over_by);
  if (r.fleet.took_over)
    notes += (notes.empty() ? "" : " ") + std::string("took_over=#") + std::to_string(r.fleet.took_over);
  std::uint64_t gaps = r.c2s.gaps + r.s2c.gaps, errors = r.c2s.errors + r.s2c.errors;
  if (gaps) notes += (notes.empty() ? "" : " ") + std::string("gaps=") + std::to_string(gaps);
  if (errors) notes += (notes.empty() ? "" : " ") + std::string("errors=") + std::to_string(errors);
  if (std::uint64_t v = r.c2s.violations + r.s2c.violations)
    notes += (notes.empty() ? "" : " ") + std::string("violations=") + std::to_string(v);
  return {"#" + std::to_string(r.conn),
          r.client,
          r.server,
          r.has_handshake ? short_value(r.client_id, 24) : "-",
          r.level ? std::to_string(r.level) : "-",
          scheme_text(r),
          r.scheme == AuthScheme::none ? "-" : short_value(r.challenge, 16),
          r.scheme == AuthScheme::none ? "-" : short_value(r.response, 16),
          outcome_text(r),
          latency_text(r),
          r.verification == Verification::not_applicable ? "-" : verification_name(r.verification),
          std::to_string(r.c2s.packets) + "/" + std::to_string(r.s2c.packets),
          std::to_string(r.c2s.bytes) + "/" + std::to_string(r.s2c.bytes),
          end_reason_name(r.end),
          closed_by_text(r),
          notes.empty() ? "" : notes};
}

// One line of the table, cells padded to `width` (row 0 the header).
void table_line(std::string& out, const std::vector<std::string>& row, const std::vector<std::size_t>& width,
                bool header, bool color) {
  std::string line;
  for (std::size_t i = 0; i < row.size(); ++i) {
    std::string cell = row[i];
    const bool last = i + 1 == row.size();
    if (!last && width[i] > row[i].size()) cell.append(width[i] - row[i].size(), ' ');
    if (!last) cell += "  ";
    if (color && !header && i == 8) {  // outcome
      const char* c = row[i].rfind("accepted", 0) == 0  ? "\x1b[32m"
                      : row[i].rfind("refused", 0) == 0 ? "\x1b[31m"
                                                        : "\x1b[33m";
      line += c + cell + "\x1b[0m";
    } else if (color && header) {
      line += "\x1b[1m" + cell + "\x1b[0m";
    } else {
      line += cell;
    }
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  out += line;
  out += '\n';
}

void text_table(std::string& out, const std::vector<SessionRow>& rows, bool color) {
  std::vector<std::vector<std::string>> cells;
  cells.push_back(kTableHeader);
  for (const auto& r : rows) cells.push_back(table_cells(r));
  std::vector<std::size_t> width(cells[0].size(), 0);
  for (const auto& row : cells)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  for (std::size_t n = 0; n < cells.size(); ++n) table_line(out, cells[n], width, n == 0, color);
}

// The widths of the table when rows are written as they come (live input): typical values, a longer cell
// pushes the rest of its line right.
const std::vector<std::size_t> kStreamWidths = {5, 21, 21, 20, 3, 14, 16, 16, 12, 9, 8, 12, 14, 12, 16, 0};

class SessionsSink final : public AnalyzerSink {
 public:
  SessionsSink(const Secrets* secrets, const std::vector<std::string>& topics) : secrets_(secrets), topics_(topics) {}
  std::vector<SessionRow> rows;
  // --topic: the connections that published, were sent or subscribed to a matching topic.
  void on_packet(const Connection& c, Direction, const Decoded& d, const Observation&, const PacketMeta&) override {
    if (!topics_.empty() && topics_.matches(d.packet)) touched_.insert(c.id);
    if (on_handshake_ && std::holds_alternative<Connack>(d.packet) && topics_.empty())
      on_handshake_(make_row(c, secrets_));
  }
  // Live text: each connection's row as its handshake ends (at the CONNACK), before its final row.
  void on_handshake(std::function<void(const SessionRow&)> f) { on_handshake_ = std::move(f); }
  void on_connection_end(const Connection& c) override {
    if (!topics_.empty() && touched_.erase(c.id) == 0) {
      if (write_) write_ready(an_->oldest_open_id());
      return;
    }
    if (!write_) {
      rows.push_back(make_row(c, secrets_));
      return;
    }
    // Streaming: a row waits only for the connections that began before it and are still open.
    waiting_.emplace(c.id, make_row(c, secrets_));
    write_ready(an_->oldest_open_id());
  }
  // Writes the rows that wait on connections that began before them and are still open (oldest_open = 0:
  // all of them; at the end of the input, when the last connections to end were not MQTT).
  // Beyond kMaxWaiting rows the oldest are written anyway (out of order behind a connection open for long, so
  // that memory stays bounded by what is open).
  void write_ready(std::uint64_t oldest_open) {
    while (!waiting_.empty() &&
           (oldest_open == 0 || waiting_.begin()->first < oldest_open || waiting_.size() > kMaxWaiting)) {
      write_(waiting_.begin()->second);
      waiting_.erase(waiting_.begin());
    }
  }
  // Rows are written by `write` in connection order as soon as they can be, instead of kept in `rows`.
  void stream(const Analyzer* an, std::function<void(const SessionRow&)> write) {
    an_ = an;
    write_ = std::move(write);
  }

 private:
  const Secrets* secrets_;
  TopicFilter topics_;
  std::unordered_set<std::uint64_t> touched_;
  const Analyzer* an_ = nullptr;
  std::function<void(const SessionRow&)> write_, on_handshake_;
  static constexpr std::size_t kMaxWaiting = 4096;
  std::map<std::uint64_t, SessionRow> waiting_;
};

struct SessionsOptions {
  CaptureOptions cap;
  std::string format = "text";
  std::string color = "auto";
  std::string secrets;
};

int run_sessions(const SessionsOptions& o) {
  prepare_analysis_heap();  // before the tables are made
  Secrets secrets;
  if (!o.secrets.empty()) {
    std::string err;
    if (!secrets.load(o.secrets, err)) {
      std::fprintf(stderr, "mqttauth sessions: %s\n", err.c_str());
      return kExitUsage;
    }
  }
  const Secrets* sec = o.secrets.empty() ? nullptr : &secrets;
  auto by_conn = [](const auto& a, const auto& b) { return a.conn < b.conn; };
  SessionsSink sink(sec, o.cap.topics);
  InputReport rep;
  Out out(stdout);
  const char* kCsvHeader =
      "conn,client,server,client_id,protocol_level,auth,auth_method,challenge,response,outcome,code,latency_ms,"
      "verification,weak_challenge,anomalies,packets_c2s,packets_s2c,bytes_c2s,bytes_s2c,gaps,errors,end\n";
  const bool color = o.color == "always" || (o.color == "auto" && isatty(STDOUT_FILENO));
  const bool live_text = o.format == "text" && o.cap.live();
  if (o.cap.jobs == 0 && (o.format != "text" || live_text)) {
    // JSON Lines and CSV stream: memory stays bounded by the connections open at once, not the capture. So
    // does the text table of a live input, which cannot be sized to rows still to come: each row is written
    // when its handshake ends (END "open") and again when the connection ends, in columns of typical widths.
    Analyzer an(analyzer_options(o.cap), sink);
    if (o.format == "csv") out.buf() += kCsvHeader;
    bool header = false;  // the live table's, with its first row (nothing on standard output if the input fails)
    auto line = [&](const SessionRow& r) {
      if (o.format == "csv") {
        csv_row(out.buf(), r);
      } else if (o.format == "jsonl") {
        json_row(out.buf(), r);
      } else {
        if (!std::exchange(header, true)) table_line(out.buf(), kTableHeader, kStreamWidths, true, color);
        table_line(out.buf(), table_cells(r), kStreamWidths, false, color);
      }
      out.maybe_flush();
    };
    if (live_text) sink.on_handshake(line);
    sink.stream(&an, line);
    rep = read_captures(o.cap, an);
    sink.write_ready(0);
    out.flush();
    if (rep.unreadable) return kExitUsage;
    if (rep.damaged) return kExitDamaged;
    return kExitOk;
  }
  if (o.cap.jobs == 0) {
    Analyzer an(analyzer_options(o.cap), sink);
    rep = read_captures(o.cap, an);
    std::sort(sink.rows.begin(), sink.rows.end(), by_conn);
  } else {
    // -j: each file on its own, its rows in connection order; the files' rows one after the other.
    const std::size_t n = o.cap.files.size();
    std::vector<std::vector<SessionRow>> rows(n);
    std::vector<InputReport> reps(n);
    for_each_file(o.cap, [&](std::size_t i, const CaptureOptions& one) {
      SessionsSink s(sec, o.cap.topics);
      Analyzer an(analyzer_options(one), s);
      reps[i] = read_captures(one, an);
      std::sort(s.rows.begin(), s.rows.end(), by_conn);
      rows[i] = std::move(s.rows);
    });
    for (std::size_t i = 0; i < n; ++i) {
      add_report(rep, reps[i]);
      for (auto& r : rows[i]) sink.rows.push_back(std::move(r));
    }
  }
  if (o.format == "jsonl") {
    for (const auto& r : sink.rows) json_row(out.buf(), r);
  } else if (o.format == "csv") {
    out.buf() += kCsvHeader;
    for (const auto& r : sink.rows) csv_row(out.buf(), r);
  } else {
    if (sink.rows.empty())
      out.buf() += "no MQTT connections\n";
    else
      text_table(out.buf(), sink.rows, color);
  }
  out.flush();
  if (rep.unreadable) return kExitUsage;
  if (rep.damaged) return kExitDamaged;
  return kExitOk;
}

}  // namespace

void setup_sessions(CLI::App& app) {
  auto opt = std::make_shared<SessionsOptions>();
  auto* sub = app.add_subcommand("sessions", "One row per MQTT connection: client, handshake, outcome, traffic");
  sub->footer(
      "Examples:\n"
      "  mqttauth sessions capture.pcapng\n"
      "  mqttauth sessions --secrets devices.secrets --format jsonl day1.pcap day2.pcap\n"
      "Secrets file: one '<client-id> <secret>' per line, '#' comments; a response is verified when it equals\n"
      "the lower-case hex HMAC-SHA256(secret, challenge).\n"
      "Exit codes: 0 done, 2 usage or unreadable input, 3 truncated or corrupt capture (the rest was analysed).");
  add_capture_options(sub, opt->cap);
  add_topic_option(sub, opt->cap, "only the connections that published, received or subscribed to a matching topic");
  add_jobs_option(sub, opt->cap);
  sub->add_option("--secrets", opt->secrets, "Verify each response with the secrets in this file")
      ->check(CLI::ExistingFile);
  sub->add_option("--format", opt->format, "Output format: text, jsonl or csv")
      ->check(CLI::IsMember({"text", "jsonl", "csv"}));
  sub->add_option("--color", opt->color, "Colours in text output: auto, always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  sub->callback([opt] {
    int rc = run_sessions(*opt);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace mqttauth::cli
