// mqttauth decode: decode a byte stream given as hex or as a binary file, one line per packet.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "commands.hpp"
#include "hexinput.hpp"
#include "mqttauth/framer.hpp"
#include "mqttauth/session.hpp"
#include "output.hpp"

namespace mqttauth::cli {
namespace {

struct DecodeOptions {
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

Dialect parse_dialect(const std::string& s) {
  if (s == "authenticate") return Dialect::authenticate;
  if (s == "standard") return Dialect::standard;
  return Dialect::auto_detect;
}

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
  so.limits.max_packet_size = o.max_packet_size;
  Session session(so);
  Framer framer(o.max_packet_size);
  framer.push(*data);

  Out out(stdout);
  std::uint64_t index = 0, errors = 0;
  auto report = [&](const Error& e, const PacketPlace& at, std::string_view ctx) {
    ++errors;
    if (json) error_json_line(out.buf(), e, at, ctx);
    else error_text_line(out.buf(), e, at, ctx, style);
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
          if (json) packet_json_line(out.buf(), *step.decoded, step.obs, at);
          else packet_text_line(out.buf(), *step.decoded, step.obs, at, style);
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

}  // namespace

void setup_decode(CLI::App& app) {
  auto opt = std::make_shared<DecodeOptions>();
  auto* sub = app.add_subcommand("decode", "Decode an MQTT byte stream given as hex or as a binary file");
  auto* hex = sub->add_option("--hex", opt->hex, "The stream as hex digits (spaces, ':' and '#' comments allowed)");
  auto* hexf = sub->add_option("--hex-file", opt->hex_file, "A text file of hex digits (same syntax as --hex)");
  auto* raw = sub->add_option("--raw", opt->raw, "A binary file holding the stream, or - for standard input");
  hex->excludes(hexf, raw);
  hexf->excludes(raw);
  sub->add_option("--level", opt->level,
                  "Protocol level of the stream when it starts after CONNECT: 3, 4, 5 (0: from CONNECT)")
      ->check(CLI::IsMember({0, 3, 4, 5}));
  sub->add_option("--dialect", opt->dialect,
                  "Types 0 and 15: auto (the dialect rules), authenticate (always custom), standard")
      ->check(CLI::IsMember({"auto", "authenticate", "standard"}));
  sub->add_option("--format", opt->format, "Output format: text or jsonl")->check(CLI::IsMember({"text", "jsonl"}));
  sub->add_option("--color", opt->color, "Colours in text output: auto, always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  sub->add_option("--max-packet-size", opt->max_packet_size, "Larger packets are reported and skipped")
      ->check(CLI::Range(2u, Limits{}.max_packet_size));
  sub->add_flag("--no-summary", opt->no_summary, "Text output: no handshake summary lines at the end");
  sub->callback([opt, sub] {
    if (opt->hex.empty() && opt->hex_file.empty() && opt->raw.empty())
      throw CLI::RequiredError("one of --hex, --hex-file, --raw");
    (void)sub;
    int rc = run_decode(*opt);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace mqttauth::cli
