// The report of `mqttauth check` (check_report.hpp).
#include "check_report.hpp"

#include <algorithm>
#include <cstdio>

#include "output.hpp"

namespace mqttauth::cli {

void xml_escape(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t')
          out += ' ';
        else
          out += c;
    }
  }
}

CheckVerdict judge(const CheckReport& r) {
  CheckVerdict v;
  for (const auto& f : r.capture) v.findings.push_back(&f);
  for (const auto& row : r.rows) {
    auto it = r.by_conn.find(row.conn);
    if (it == r.by_conn.end()) continue;
    const std::size_t first = v.findings.size();
    for (const auto& f : it->second) v.findings.push_back(&f);
    std::stable_sort(v.findings.begin() + static_cast<std::ptrdiff_t>(first), v.findings.end(),
                     [](const Finding* a, const Finding* b) { return a->severity > b->severity; });
  }
  for (const auto* f : v.findings) {
    ++v.counts[static_cast<std::size_t>(f->severity)];
    v.failed = v.failed || f->severity >= r.fail_level;
  }
  for (const auto& e : r.results) v.failed_expectations += e.pass ? 0 : 1;
  v.failed = v.failed || v.failed_expectations > 0;
  return v;
}

void write_check_jsonl(std::string& b, const CheckReport& r, const CheckVerdict& v) {
  for (const auto* f : v.findings) {
    JsonWriter w(b);
    w.begin_object().field("severity", severity_name(f->severity)).field("rule", f->rule);
    if (!f->clause.empty()) w.field("clause", f->clause);
    if (f->conn) w.field_num("conn", f->conn).field("client_id", f->client_id);
    if (f->frame) w.field_num("frame", f->frame);
    if (!f->file.empty()) w.field("file", f->file);
    w.field("message", f->message).end_object();
    b += '\n';
  }
  for (const auto& e : r.results) {
    JsonWriter w(b);
    w.begin_object().field("expectation", e.e->text).field_num("line", static_cast<std::uint64_t>(e.e->line));
    w.field_bool("pass", e.pass).field("detail", e.detail).end_object();
    b += '\n';
  }
  JsonWriter w(b);
  w.begin_object().key("summary").begin_object();
  w.field_num("connections", r.rows.size()).field_num("errors", v.counts[2]).field_num("warnings", v.counts[1]);
  w.field_num("infos", v.counts[0])
      .field_num("expectations", r.results.size())
      .field_num("expectations_failed", v.failed_expectations);
  w.field("fail_on", r.fail_on).field_bool("pass", !v.failed).end_object().end_object();
  b += '\n';
}

void write_check_text(std::string& b, const CheckReport& r, const CheckVerdict& v, bool color) {
  for (const auto* f : v.findings) {
    const char* c = f->severity == Severity::error     ? "\x1b[1;31m"
                    : f->severity == Severity::warning ? "\x1b[33m"
                                                       : "\x1b[2m";
    if (color) b += c;
    char head[16];
    std::snprintf(head, sizeof head, "%-8s", std::string(severity_name(f->severity)).c_str());
    b += head;
    if (color) b += "\x1b[0m";
    if (f->conn) b += "conn #" + std::to_string(f->conn) + " ";
    if (f->frame) b += "frame " + std::to_string(f->frame) + " ";
    b += f->rule + ": " + f->message + "\n";
  }
  for (const auto& e : r.results) {
    if (color) b += e.pass ? "\x1b[32m" : "\x1b[1;31m";
    b += e.pass ? "PASS    " : "FAIL    ";
    if (color) b += "\x1b[0m";
    b += "expect " + e.e->text + ": " + e.detail + "\n";
  }
  char sum[256];
  std::snprintf(sum, sizeof sum,
                "%zu connections; %zu errors, %zu warnings, %zu infos; %zu expectations, %zu failed; --fail-on %.*s: "
                "%s\n",
                r.rows.size(), v.counts[2], v.counts[1], v.counts[0], r.results.size(), v.failed_expectations,
                static_cast<int>(r.fail_on.size()), r.fail_on.data(), v.failed ? "FAIL" : "PASS");
  b += sum;
}

namespace {

// The testcases of a JUnit document, and how many of them failed.
class JUnitCases {
 public:
  void add(const std::string& classname, const std::string& name, const std::vector<const Finding*>& bad,
           const std::string& fail_text, const std::string& out_text) {
    ++tests_;
    x_ += "    <testcase classname=\"";
    xml_escape(x_, classname);
    x_ += "\" name=\"";
    xml_escape(x_, name);
    x_ += "\" time=\"0\">\n";
    if (!bad.empty() || !fail_text.empty()) failure(bad, fail_text);
    if (!out_text.empty()) {
      x_ += "      <system-out>";
      xml_escape(x_, out_text);
      x_ += "</system-out>\n";
    }
    x_ += "    </testcase>\n";
  }
  std::string document(double seconds) const {
    const std::string counts =
        "tests=\"" + std::to_string(tests_) + "\" failures=\"" + std::to_string(failures_) + "\" errors=\"0\"";
    char t[32];
    std::snprintf(t, sizeof t, "%.3f", seconds);
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mqttauth check\" " + counts +
           ">\n  <testsuite name=\"mqttauth check\" " + counts + " skipped=\"0\" time=\"" + t + "\">\n" + x_ +
           "  </testsuite>\n</testsuites>\n";
  }

 private:
  void failure(const std::vector<const Finding*>& bad, const std::string& fail_text) {
    ++failures_;
    std::string msg = fail_text.empty() ? bad.front()->rule + ": " + bad.front()->message : fail_text;
    x_ += "      <failure type=\"";
    xml_escape(x_, bad.empty() ? std::string("expectation") : bad.front()->rule);
    x_ += "\" message=\"";
    xml_escape(x_, msg);
    x_ += "\">";
    for (const auto* f : bad) {
      std::string line = std::string(severity_name(f->severity)) + " " + f->rule + " frame " +
                         std::to_string(f->frame) + ": " + f->message + "\n";
      xml_escape(x_, line);
    }
    if (!fail_text.empty()) xml_escape(x_, fail_text);
    x_ += "</failure>\n";
  }

  std::string x_;
  std::size_t tests_ = 0, failures_ = 0;
};

}  // namespace

std::string check_junit(const CheckReport& r) {
  JUnitCases cases;
  if (!r.capture.empty()) {
    std::vector<const Finding*> bad;
    for (const auto& f : r.capture)
      if (f.severity >= r.fail_level) bad.push_back(&f);
    cases.add("mqttauth.capture", "capture files", bad, "", "");
  }
  for (const auto& row : r.rows) {
    std::vector<const Finding*> bad;
    std::string info;
    auto it = r.by_conn.find(row.conn);
    if (it != r.by_conn.end())
      for (const auto& f : it->second) {
        if (f.severity >= r.fail_level)
          bad.push_back(&f);
        else
          info += std::string(severity_name(f.severity)) + " " + f.rule + ": " + f.message + "\n";
      }
    std::string name = "conn #" + std::to_string(row.conn) + " " +
                       (row.client_id.empty() ? "(no client id)" : row.client_id) + " " + row.client + " > " +
                       row.server;
    std::string summary =
        "outcome " + std::string(row.has_handshake ? outcome_name(row.outcome) : "unseen") + "\n" + info;
    cases.add("mqttauth.connection", name, bad, "", summary);
  }
  for (const auto& e : r.results)
    cases.add("mqttauth.expectation", e.e->text, {}, e.pass ? "" : e.detail, e.pass ? e.detail : "");
  return cases.document(r.seconds);
}

}  // namespace mqttauth::cli
