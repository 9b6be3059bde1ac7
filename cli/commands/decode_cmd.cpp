// mqttauth decode: decode a byte stream given as hex or as a binary file, one line per packet.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "commands.hpp"
#include "capture_input.hpp"
#include "topic_filter.hpp"
#include "hexinput.hpp"
#include "mqttauth/framer.hpp"
#include "mqttauth/session.hpp"
#include "output.hpp"

namespace mqttauth::cli {
namespace {

struct DecodeOptions {
  CaptureOptions cap;
  std::vector<std::string> types;
  std::vector<std::string> client_ids;
  std::vector<std::uint64_t> conns;
  std::string hex;
  std::string hex_file;
  std::string raw;
  int level = 0;
  std::string dialect = "auto";
  std::string format = "text";
  std::string color = "auto";
  std::uint32_t max_packet_size = Limits{}.max_packet_size;
  bool no_summary = false;
};

void handshake_summary_text(std::string& out, const Handshake& h, std::size_t n, bool color) {
  out += color ? "\x1b[1m-- handshake " : "-- handshake ";
  out += std::to_string(n);
  out += ": scheme=";
  out += scheme_name(h.scheme);
  out += " client_id=\"";
  append_escaped(out, h.client_id);
  out += "\" outcome=";
  out += outcome_name(h.outcome);
  if (h.connack_code) out += " code=" + std::to_string(*h.connack_code);
  if (h.scheme != AuthScheme::none) {
    out += " challenge=\"";
    append_escaped(out, h.challenge);
    out += "\" response=\"";
    append_escaped(out, h.response);
    out += '"';
    auto weak = classify_challenge(h.challenge);
    if (weak != ChallengeWeakness::none && !h.challenge.empty()) {
      out += " weak_challenge=";
      out += weakness_name(weak);
    }
  }
  if (h.anomalies) {
    out += " anomalies=";
    out += anomaly_names(h.anomalies);
  }
  if (color) out += "\x1b[0m";
  out += '\n';
}

int run_decode(const DecodeOptions& o) {
  std::string err;
  std::optional<std::vector<std::uint8_t>> data;
  std::string source;
  if (!o.hex.empty()) {
    data = parse_hex(o.hex, err);
    source = "--hex";
  } else if (!o.hex_file.empty()) {
    auto text = read_all(o.hex_file, err);
    if (text) data = parse_hex(std::string_view(reinterpret_cast<const char*>(text->data()), text->size()), err);
    source = o.hex_file;
  } else {
    data = read_all(o.raw, err);
    source = o.raw == "-" ? "stdin" : o.raw;
  }
  if (!data) {
    std::fprintf(stderr, "mqttauth decode: %s%s%s\n", source.c_str(), source.empty() ? "" : ": ", err.c_str());
    return kExitUsage;
  }

  const bool json = o.format == "jsonl";
  TextStyle style;
  style.color = o.color == "always" || (o.color == "auto" && !json && isatty(STDOUT_FILENO));

  SessionOptions so;
  so.level = static_cast<std::uint8_t>(o.level);
  so.dialect = parse_dialect(o.dialect);
  so.strict = o.cap.strict;
  so.limits.max_packet_size = o.max_packet_size;
  Session session(so);
  Framer framer(o.max_packet_size);
  framer.push(*data);

  Out out(stdout);
  std::uint64_t index = 0, errors = 0;
  auto report = [&](const Error& e, const PacketPlace& at, std::string_view ctx) {
    ++errors;
    if (json)
      error_json_line(out.buf(), e, at, ctx);
    else
      error_text_line(out.buf(), e, at, ctx, style);
  };
  bool stop = false;
  while (!stop) {
    FrameEvent ev = framer.next();
    switch (ev.kind) {
      case FrameEvent::Kind::need_more: stop = true; break;
      case FrameEvent::Kind::frame: {
        PacketPlace at{++index, ev.frame.offset};
        auto step = session.decode(ev.frame.bytes, Direction::unknown, PacketRef{index, 0});
        if (step.decoded) {
          if (json)
            packet_json_line(out.buf(), *step.decoded, step.obs, at);
          else
            packet_text_line(out.buf(), *step.decoded, step.obs, at, style);
        } else {
          report(step.decoded.error(), at, source);
        }
        break;
      }
      case FrameEvent::Kind::oversized: {
        PacketPlace at{++index, ev.frame.offset};
        report(Error{ErrorKind::packet_too_large, 1, "packet larger than --max-packet-size; skipped"}, at, source);
        break;
      }
      case FrameEvent::Kind::error: {
        PacketPlace at{++index, ev.frame.offset};
        at.offset = ev.error.offset - 1;
        report(Error{ev.error.kind, 1, ev.error.detail}, at, source);
        stop = true;  // without a length the stream cannot be followed
        break;
      }
    }
    out.maybe_flush();
  }
  if (framer.buffered() > 0 && !framer.failed()) {
    PacketPlace at{++index, framer.offset() - framer.buffered()};
    report(Error{ErrorKind::need_more, framer.buffered(), "the stream ends inside a packet"}, at, source);
  } else if (framer.skipping() > 0) {
    PacketPlace at{index, framer.offset()};
    report(Error{ErrorKind::need_more, 0, "the stream ends inside an oversized packet"}, at, source);
  }
  session.finish();
  if (!json && !o.no_summary) {
    std::size_t n = 0;
    for (const auto& h : session.handshakes()) handshake_summary_text(out.buf(), h, ++n, style.color);
  }
  out.flush();
  return errors ? kExitFindings : kExitOk;
}

// Capture files: one line per MQTT packet of every connection.
class DecodeSink final : public AnalyzerSink {
 public:
  DecodeSink(const DecodeOptions& o, Out& out, bool several_files, bool header = true)
      : o_(o), out_(out), several_(several_files), topics_(o.cap.topics) {
    json_ = o.format == "jsonl";
    csv_ = o.format == "csv";
    style_.color = o.color == "always" || (o.color == "auto" && !json_ && !csv_ && isatty(STDOUT_FILENO));
    if (csv_ && header) csv_header(out_.buf());
  }
  std::uint64_t errors = 0, packets = 0;

  void on_packet(const Connection& c, Direction dir, const Decoded& d, const Observation& obs,
                 const PacketMeta& m) override {
    if (!wanted(c)) return;
    if (!o_.types.empty()) {
      bool hit = false;
      for (const auto& t : o_.types) hit = hit || t == packet_name(d.packet);
      if (!hit) return;
    }
    if (!topics_.empty() && !topics_.matches(d.packet)) return;
    ++packets;
    PacketPlace at = place(c, dir, m);
    if (json_)
      packet_json_line(out_.buf(), d, obs, at);
    else if (csv_)
      packet_csv_line(out_.buf(), d, obs, at);
    else
      packet_text_line(out_.buf(), d, obs, at, style_);
    out_.maybe_flush();
  }
  void on_error(const Connection& c, Direction dir, const Error& e, const PacketMeta& m) override {
    ++errors;
    if (!wanted(c) || filtering()) return;
    report(place(c, dir, m), e, context(m));
  }
  void on_gap(const Connection& c, Direction dir, std::uint64_t, std::uint64_t bytes, const PacketMeta& m,
              GapReason why) override {
    if (!wanted(c) || filtering() || csv_) return;
    PacketPlace at = place(c, dir, m);
    if (json_) {
      event_json_line(out_.buf(), "gap", at,
                      [&](JsonWriter& w) { w.field_num("bytes", bytes).field("reason", gap_reason_name(why)); });
      return;
    }
    std::string msg = "GAP " + std::to_string(bytes) + " bytes missing (" + gap_reason_name(why) + ")";
    note_text_line(out_.buf(), at, direction_name(dir), msg, style_);
  }
  void on_resync(const Connection& c, Direction dir, std::uint64_t, std::uint64_t skipped,
                 const PacketMeta& m) override {
    if (!wanted(c) || filtering() || csv_) return;
    if (json_) {
      event_json_line(out_.buf(), "resync", place(c, dir, m), [&](JsonWriter& w) { w.field_num("skipped", skipped); });
      return;
    }
    note_text_line(out_.buf(), place(c, dir, m), direction_name(dir),
                   "RESYNC after " + std::to_string(skipped) + " bytes skipped", style_);
  }
  void on_websocket_violation(const Connection& c, Direction dir, const char* rule, const char* detail,
                              const PacketMeta& m) override {
    if (!wanted(c) || filtering() || csv_) return;
    PacketPlace at = place(c, dir, m);
    if (json_) {
      event_json_line(out_.buf(), "websocket_violation", at,
                      [&](JsonWriter& w) { w.field("rule", rule).field("message", detail); });
      return;
    }
    note_text_line(out_.buf(), at, direction_name(dir), std::string("WEBSOCKET ") + detail + " [" + rule + "]", style_);
  }
  void on_tls(const Connection& c) override {
    ++tls;
    if (csv_ || filtering()) return;
    if (json_) {
      PacketMeta m{c.first_frame, c.first_ts, 0, &c.file};
      PacketPlace at = place(c, Direction::c2s, m);
      at.dir = {};
      event_json_line(out_.buf(), "tls", at, [&c](JsonWriter& w) {
        w.field("message", "TLS, not decrypted: " + c.tls_reason);
        if (c.tls_version) w.field("tls_version", tls::version_name(c.tls_version));
        if (c.tls_suite) w.field_num("tls_suite", c.tls_suite);
        if (!c.tls_server_name.empty()) w.field("tls_server_name", c.tls_server_name);
        w.field("reason", c.tls_reason);
      });
      return;
    }
    std::string line = "-- connection #" + std::to_string(c.id) + " " + c.client.str() + " > " + c.server.str() +
                       ": TLS, not decrypted: " + c.tls_reason + "\n";
    out_.buf() += line;
  }
  void on_connection_end(const Connection& c) override {
    if (!json_ || !wanted(c) || filtering()) return;
    PacketMeta m{c.last_frame, c.last_ts, 0, &c.file};
    PacketPlace at = place(c, Direction::c2s, m);
    at.dir = {};
    event_json_line(out_.buf(), "connection_end", at, [&](JsonWriter& w) {
      w.field("end", end_reason_name(c.end));
      w.field_num("first_frame", c.first_frame);
      w.field_num("packets_c2s", c.c2s.packets).field_num("packets_s2c", c.s2c.packets);
      w.field_num("errors", c.c2s.errors + c.s2c.errors);
      w.field_num("violations", c.c2s.violations + c.s2c.violations);
      w.field_num("gaps", c.c2s.gaps + c.s2c.gaps);
    });
  }
  std::uint64_t tls = 0;

 private:
  // Packets are selected (--type, --topic): only packets are shown, no gaps, errors or connection events.
  bool filtering() const noexcept { return !o_.types.empty() || !topics_.empty(); }
  bool wanted(const Connection& c) const {
    if (!o_.conns.empty() && std::find(o_.conns.begin(), o_.conns.end(), c.id) == o_.conns.end()) return false;
    if (!o_.client_ids.empty()) {
      const auto& hs = c.session->handshakes();
      if (hs.empty()) return false;
      return std::find(o_.client_ids.begin(), o_.client_ids.end(), hs.back().client_id) != o_.client_ids.end();
    }
    return true;
  }
  PacketPlace place(const Connection& c, Direction dir, const PacketMeta& m) const {
    PacketPlace at;
    at.capture = true;
    at.frame = m.frame;
    at.ts_ns = m.ts_ns;
    at.conn = c.id;
    at.offset = m.offset;
    at.src = dir == Direction::s2c ? &c.server : &c.client;
    at.dst = dir == Direction::s2c ? &c.client : &c.server;
    at.file = m.file;
    at.dir = direction_name(dir);
    at.with_file = several_;
    return at;
  }
  std::string context(const PacketMeta& m) const {
    std::string s = m.file ? *m.file : std::string();
    s += ": frame " + std::to_string(m.frame) + ", stream offset " + std::to_string(m.offset);
    return s;
  }
  void report(const PacketPlace& at, const Error& e, const std::string& ctx) {
    if (json_)
      error_json_line(out_.buf(), e, at, ctx);
    else if (csv_)
      error_csv_line(out_.buf(), e, at, ctx);
    else
      error_text_line(out_.buf(), e, at, ctx, style_);
  }
  const DecodeOptions& o_;
  Out& out_;
  bool several_;
  TopicFilter topics_;
  bool json_ = false, csv_ = false;
  TextStyle style_;
};

void explain_no_mqtt(const std::string& what, const Analyzer::Counters& c, const CaptureOptions& cap);

// -j: each file on its own, up to N at once; the output in file order.
int run_decode_parallel(const DecodeOptions& o) {
  prepare_analysis_heap();  // before the tables are made
  const std::size_t n = o.cap.files.size();
  OrderedOutput ordered(stdout, n);
  std::vector<InputReport> reps(n);
  std::vector<std::uint64_t> errors(n, 0);
  for_each_file(o.cap, [&](std::size_t i, const CaptureOptions& one) {
    std::FILE* f = ordered.open(i);
    if (!f) {
      std::fprintf(stderr, "mqttauth: %s: cannot create a temporary file for its output\n", o.cap.files[i].c_str());
      reps[i].unreadable = 1;
    } else {
      Out out(f);
      DecodeSink sink(o, out, n > 1, i == 0);
      Analyzer an(analyzer_options(one), sink);
      reps[i] = read_captures(one, an);
      errors[i] = sink.errors;
      if (!reps[i].unreadable && sink.packets == 0 && sink.errors == 0)
        explain_no_mqtt(o.cap.files[i], an.counters(), o.cap);
      out.flush();
    }
    ordered.close(i);
  });
  InputReport r;
  std::uint64_t errs = 0;
  for (std::size_t i = 0; i < n; ++i) {
    add_report(r, reps[i]);
    errs += errors[i];
  }
  if (r.unreadable) return kExitUsage;
  if (r.damaged) return kExitDamaged;
  return errs ? kExitFindings : kExitOk;
}

// Says on stderr why a capture gave no MQTT at all: users otherwise see an empty output and nothing else.
void explain_no_mqtt(const std::string& what, const Analyzer::Counters& c, const CaptureOptions& cap) {
  std::string why;
  if (c.frames == 0) {
    why = "the capture holds no frames";
  } else if (c.tcp_segments == 0) {
    why = "no TCP in " + std::to_string(c.frames) + " frames (" + std::to_string(c.not_ip) + " not IP, " +
          std::to_string(c.not_tcp) + " not TCP, " + std::to_string(c.unsupported_link) +
          " of an unsupported link type, " + std::to_string(c.malformed) + " malformed)";
  } else if (c.mqtt_connections == 0 && c.tls_connections > 0) {
    why =
        "only TLS on the MQTT ports (" + std::to_string(c.tls_connections) + " connection(s)): encrypted, not decoded";
  } else if (c.mqtt_connections == 0) {
    std::string ports = "1883";
    for (int p : cap.ports) ports += ", " + std::to_string(p);
    why = std::to_string(c.connections) + " TCP connection(s), none on an MQTT port (" + ports + ")" +
          (cap.no_heuristic ? "" : " and none opened with a CONNECT") + ": try --port";
  } else {
    return;
  }
  std::fprintf(stderr, "mqttauth decode: %s: no MQTT: %s\n", what.c_str(), why.c_str());
}

int run_decode_captures(const DecodeOptions& o) {
  prepare_analysis_heap();  // before the tables are made
  if (o.cap.jobs > 0) return run_decode_parallel(o);
  Out out(stdout);
  DecodeSink sink(o, out, o.cap.files.size() > 1);
  Analyzer an(analyzer_options(o.cap), sink);
  InputReport r = read_captures(o.cap, an);
  out.flush();
  if (!r.unreadable && sink.packets == 0 && sink.errors == 0)
    explain_no_mqtt(o.cap.files.size() == 1 ? o.cap.files[0] : std::to_string(o.cap.files.size()) + " files",
                    an.counters(), o.cap);
  if (r.unreadable) return kExitUsage;
  if (r.damaged) return kExitDamaged;
  return sink.errors ? kExitFindings : kExitOk;
}

}  // namespace

void setup_decode(CLI::App& app) {
  auto opt = std::make_shared<DecodeOptions>();
  auto* sub =
      app.add_subcommand("decode", "Decode MQTT packets from captures, or from a byte stream given as hex or binary");
  sub->footer(
      "Examples:\n"
      "  mqttauth decode capture.pcapng                      every MQTT packet, one line each\n"
      "  mqttauth decode --port 28830 a.pcap b.pcap          several files, in time order; an extra MQTT port\n"
      "  mqttauth decode --type authenticate --format jsonl capture.pcap\n"
      "  mqttauth decode --hex '10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00'\n"
      "  mqttauth decode --raw stream.bin --level 5\n"
      "Exit codes: 0 all decoded (packets that break a rule are shown with their violations), 1 decode errors, 2 usage "
      "or unreadable input, 3 truncated or corrupt capture.");
  sub->add_option("files", opt->cap.files, "Capture files (pcap or pcapng), read in time order; '-': standard input")
      ->check(capture_path_check());
  add_live_options(sub, opt->cap);
  auto* hex = sub->add_option("--hex", opt->hex, "A byte stream as hex digits (spaces, ':' and '#' comments allowed)");
  auto* hexf = sub->add_option("--hex-file", opt->hex_file, "A text file of hex digits (same syntax as --hex)");
  auto* raw = sub->add_option("--raw", opt->raw, "A binary file holding a byte stream, or - for standard input");
  hex->excludes(hexf, raw);
  hexf->excludes(raw);
  repeatable(
      sub->add_option("--port", opt->cap.ports, "Captures: also treat this TCP port as MQTT (repeatable; 1883 always)")
          ->check(CLI::Range(1, 65535)));
  sub->add_flag("--no-heuristic", opt->cap.no_heuristic,
                "Captures: only the MQTT ports, no recognition of connections that open with CONNECT");
  add_jobs_option(sub, opt->cap);
  // One value per occurrence (repeatable), so that capture files may follow.
  add_topic_option(sub, opt->cap, "only packets that name a matching topic (PUBLISH, SUBSCRIBE, UNSUBSCRIBE)");
  repeatable(sub->add_option("--type", opt->types,
                             "Only packets of this type (connect, publish, authenticate, ...; repeatable)"));
  repeatable(sub->add_option("--client-id", opt->client_ids, "Only connections of this client id (repeatable)"));
  repeatable(sub->add_option("--conn", opt->conns, "Only this connection number (repeatable)"));
  sub->add_option("--level", opt->level,
                  "Byte streams: protocol level when the stream starts after CONNECT: 3, 4, 5 (0: from CONNECT)")
      ->check(CLI::IsMember({0, 3, 4, 5}));
  sub->add_option("--dialect", opt->dialect,
                  "Types 0 and 15: auto (the dialect rules), authenticate (always custom), standard")
      ->check(CLI::IsMember({"auto", "authenticate", "standard"}));
  sub->add_option("--format", opt->format, "Output format: text, jsonl or csv (csv: captures)")
      ->check(CLI::IsMember({"text", "jsonl", "csv"}));
  sub->add_option("--color", opt->color, "Colours in text output: auto, always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  sub->add_option("--max-packet-size", opt->max_packet_size, "Larger packets are reported and skipped")
      ->check(CLI::Range(2u, Limits{}.max_packet_size));
  add_max_connections_option(sub, opt->cap);
  add_tls_keylog_option(sub, opt->cap);
  sub->add_flag("--no-summary", opt->no_summary, "Byte streams, text output: no handshake summary lines");
  sub->add_flag("--strict", opt->cap.strict,
                "Conformance: a packet that breaks a rule of the spec is a decode error (exit 1), not a packet "
                "shown with its violations");
  sub->callback([opt] {
    const bool stream = !opt->hex.empty() || !opt->hex_file.empty() || !opt->raw.empty();
    const bool capture = !opt->cap.files.empty() || !opt->cap.interface.empty();
    if (!stream && !capture)
      throw CLI::RequiredError("capture files, -i INTERFACE, or one of --hex, --hex-file, --raw");
    if (stream && capture) throw CLI::ValidationError("captures and --hex/--raw together");
    int rc;
    if (stream) {
      rc = run_decode(*opt);
    } else {
      opt->cap.dialect = opt->dialect;
      if (opt->max_packet_size != Limits{}.max_packet_size) opt->cap.max_packet_size = opt->max_packet_size;
      rc = run_decode_captures(*opt);
    }
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace mqttauth::cli
