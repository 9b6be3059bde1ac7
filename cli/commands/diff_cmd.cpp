// mqttauth diff A B: compares two captures (or saved transcripts) semantically, session by session and
// direction by direction, ignoring what changes from run to run; prints a unified diff.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "capture_input.hpp"
#include "commands.hpp"
#include "linediff.hpp"
#include "transcript.hpp"

namespace mqttauth::cli {
namespace {

struct DiffOptions {
  std::vector<std::string> inputs;  // A B
  std::vector<std::string> ignore;
  std::string write;  // write the transcript of the inputs here instead of comparing
  CaptureOptions cap;
  std::string color = "auto";
  int context = 2;
};

std::vector<std::string> of_dir(const TranscriptSession& s, const char* dir) {
  std::vector<std::string> v;
  std::string prefix = std::string(dir) + " ";
  for (const auto& l : s.lines)
    if (l.rfind(prefix, 0) == 0) v.push_back(l.substr(prefix.size()));
  return v;
}

std::optional<Transcript> load(const std::string& path, const CaptureOptions& base, std::string& err) {
  if (is_transcript_file(path)) {
    std::ifstream f(path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return transcript_parse(ss.str(), path, err);
  }
  CaptureOptions o = base;
  o.files = {path};
  Transcript t;
  int damaged = 0;
  if (!transcript_from_captures(o, t, damaged)) {
    err = path + ": cannot be read as a capture or a transcript";
    return std::nullopt;
  }
  if (damaged) std::fprintf(stderr, "mqttauth diff: %s is damaged; comparing what could be read\n", path.c_str());
  return t;
}

int run_diff(const DiffOptions& o) {
  std::set<std::string> ignore(o.ignore.begin(), o.ignore.end());
  if (!o.write.empty()) {
    CaptureOptions c = o.cap;
    c.files = o.inputs;
    Transcript t;
    int damaged = 0;
    if (!transcript_from_captures(c, t, damaged)) return kExitUsage;
    transcript_ignore(t, ignore);
    std::ofstream f(o.write, std::ios::binary);
    f << transcript_text(t);
    if (!f) {
      std::fprintf(stderr, "mqttauth diff: cannot write %s\n", o.write.c_str());
      return kExitUsage;
    }
    return damaged ? kExitDamaged : kExitOk;
  }
  if (o.inputs.size() != 2) {
    std::fprintf(stderr, "mqttauth diff: give two captures or transcripts (A B), or --write FILE CAPTURE...\n");
    return kExitUsage;
  }
  std::string err;
  auto a = load(o.inputs[0], o.cap, err);
  if (!a) {
    std::fprintf(stderr, "mqttauth diff: %s\n", err.c_str());
    return kExitUsage;
  }
  auto b = load(o.inputs[1], o.cap, err);
  if (!b) {
    std::fprintf(stderr, "mqttauth diff: %s\n", err.c_str());
    return kExitUsage;
  }
  transcript_ignore(*a, ignore);
  transcript_ignore(*b, ignore);

  // Sessions matched by client id, in order of appearance for repeated ids.
  std::map<std::string, std::vector<const TranscriptSession*>> bs;
  for (const auto& s : b->sessions) bs[s.client_id].push_back(&s);
  std::map<std::string, std::size_t> used;
  Printer p;
  p.color = o.color == "always" || (o.color == "auto" && isatty(STDOUT_FILENO));
  p.head("--- A " + a->source);
  p.head("+++ B " + b->source);
  bool differ = false;
  std::set<const TranscriptSession*> matched;
  for (const auto& sa : a->sessions) {
    auto& list = bs[sa.client_id];
    std::size_t& k = used[sa.client_id];
    std::string name = sa.client_id.empty() ? "(no client id)" : "'" + sa.client_id + "'";
    if (k >= list.size()) {
      differ = true;
      p.head("@@ session " + name + " (A #" + std::to_string(sa.conn) + ") only in A");
      for (const auto& l : sa.lines) p.line(Op::del, l);
      continue;
    }
    const TranscriptSession* sb = list[k++];
    matched.insert(sb);
    for (const char* dir : {"c2s", "s2c", "unknown"}) {
      auto la = of_dir(sa, dir), lb = of_dir(*sb, dir);
      std::string title =
          "session " + name + " (A #" + std::to_string(sa.conn) + ", B #" + std::to_string(sb->conn) + ") " + dir;
      differ = diff_lines(la, lb, title, o.context, p) || differ;
    }
  }
  for (const auto& sb : b->sessions) {
    if (matched.count(&sb)) continue;
    differ = true;
    std::string name = sb.client_id.empty() ? "(no client id)" : "'" + sb.client_id + "'";
    p.head("@@ session " + name + " (B #" + std::to_string(sb.conn) + ") only in B");
    for (const auto& l : sb.lines) p.line(Op::add, l);
  }
  if (differ)
    std::fwrite(p.out.data(), 1, p.out.size(), stdout);
  else
    std::printf("same: %zu sessions\n", a->sessions.size());
  return differ ? kExitFindings : kExitOk;
}

}  // namespace

void setup_diff(CLI::App& app) {
  auto opt = std::make_shared<DiffOptions>();
  auto* sub = app.add_subcommand("diff", "Compare two captures (or saved transcripts) semantically");
  sub->footer(
      "Sessions are matched by client id (then order); packets are compared per direction, ignoring\n"
      "timestamps, ports, TCP sequence numbers, challenge and response values, and packet ids (renumbered in\n"
      "order of appearance). --ignore KEY drops more fields (payload, topic, qos, keep_alive, prop, ...).\n"
      "Golden workflow:\n"
      "  mqttauth diff --write golden.transcript known-good.pcap     # save once, commit it\n"
      "  mqttauth diff golden.transcript todays-run.pcap             # in CI: exit 1 when behaviour changed\n"
      "Exit codes: 0 same, 1 different, 2 unreadable input or wrong usage.");
  sub->add_option("inputs", opt->inputs, "A B: captures or transcripts (with --write: captures)")->required();
  repeatable(sub->add_option("--ignore", opt->ignore, "Also ignore this field (repeatable)"));
  sub->add_option("--write", opt->write, "Write the transcript of the captures to this file instead of comparing");
  sub->add_option("--context", opt->context, "Lines of context around changes")->check(CLI::Range(0, 100));
  repeatable(sub->add_option("--port", opt->cap.ports, "Also treat this TCP port as MQTT (repeatable)")
                 ->check(CLI::Range(1, 65535)));
  sub->add_option("--color", opt->color, "Colours: auto, always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  sub->callback([opt] {
    int rc = run_diff(*opt);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace mqttauth::cli
