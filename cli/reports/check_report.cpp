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

CheckWriter::~CheckWriter() {
  if (spool_) std::fclose(spool_);
}

bool CheckWriter::junit(const std::string& path) {
  junit_path_ = path;
  spool_ = std::tmpfile();
  return spool_ != nullptr;
}

void CheckWriter::write(const Finding& f) {
  ++counts_[static_cast<std::size_t>(f.severity)];
  failed_ = failed_ || f.severity >= fail_level_;
  if (format_ == Format::jsonl) {
    JsonWriter w(out_);
    w.begin_object().field("severity", severity_name(f.severity)).field("rule", f.rule);
    if (!f.clause.empty()) w.field("clause", f.clause);
    if (f.conn) w.field_num("conn", f.conn).field("client_id", f.client_id);
    if (f.frame) w.field_num("frame", f.frame);
    if (!f.file.empty()) w.field("file", f.file);
    w.field("message", f.message).end_object();
    out_ += '\n';
    return;
  }
  const char* c = f.severity == Severity::error     ? "\x1b[1;31m"
                  : f.severity == Severity::warning ? "\x1b[33m"
                                                    : "\x1b[2m";
  if (color_) out_ += c;
  char head[16];
  std::snprintf(head, sizeof head, "%-8s", std::string(severity_name(f.severity)).c_str());
  out_ += head;
  if (color_) out_ += "\x1b[0m";
  if (f.conn) out_ += "conn #" + std::to_string(f.conn) + " ";
  if (f.frame) out_ += "frame " + std::to_string(f.frame) + " ";
  out_ += f.rule + ": " + f.message + "\n";
}

void CheckWriter::connection(const SessionRow& row, std::vector<Finding>& findings) {
  ++connections_;
  std::stable_sort(findings.begin(), findings.end(),
                   [](const Finding& a, const Finding& b) { return a.severity > b.severity; });
  for (const auto& f : findings) write(f);
  if (!spool_) return;
  std::vector<const Finding*> bad;
  std::string info;
  for (const auto& f : findings) {
    if (f.severity >= fail_level_)
      bad.push_back(&f);
    else
      info += std::string(severity_name(f.severity)) + " " + f.rule + ": " + f.message + "\n";
  }
  const std::string name = "conn #" + std::to_string(row.conn) + " " +
                           (row.client_id.empty() ? "(no client id)" : row.client_id) + " " + row.client + " > " +
                           row.server;
  const std::string summary =
      "outcome " + std::string(row.has_handshake ? outcome_name(row.outcome) : "unseen") + "\n" + info;
  junit_case("mqttauth.connection", name, bad, "", summary);
}

void CheckWriter::junit_case(const std::string& classname, const std::string& name,
                             const std::vector<const Finding*>& bad, const std::string& fail_text,
                             const std::string& out_text) {
  std::string x;
  ++tests_;
  x += "    <testcase classname=\"";
  xml_escape(x, classname);
  x += "\" name=\"";
  xml_escape(x, name);
  x += "\" time=\"0\">\n";
  if (!bad.empty() || !fail_text.empty()) {
    ++failures_;
    const std::string msg = fail_text.empty() ? bad.front()->rule + ": " + bad.front()->message : fail_text;
    x += "      <failure type=\"";
    xml_escape(x, bad.empty() ? std::string("expectation") : bad.front()->rule);
    x += "\" message=\"";
    xml_escape(x, msg);
    x += "\">";
    for (const auto* f : bad) {
      const std::string line = std::string(severity_name(f->severity)) + " " + f->rule + " frame " +
                               std::to_string(f->frame) + ": " + f->message + "\n";
      xml_escape(x, line);
    }
    if (!fail_text.empty()) xml_escape(x, fail_text);
    x += "</failure>\n";
  }
  if (!out_text.empty()) {
    x += "      <system-out>";
    xml_escape(x, out_text);
    x += "</system-out>\n";
  }
  x += "    </testcase>\n";
  std::fwrite(x.data(), 1, x.size(), spool_);
}

bool CheckWriter::finish(const std::vector<Finding>& capture, const std::vector<ExpectResult>& results, double seconds,
                         bool& junit_ok) {
  junit_ok = true;
  for (const auto& f : capture) write(f);
  std::size_t failed_expectations = 0;
  for (const auto& e : results) failed_expectations += e.pass ? 0 : 1;
  failed_ = failed_ || failed_expectations > 0;
  if (format_ == Format::jsonl) {
    for (const auto& e : results) {
      JsonWriter w(out_);
      w.begin_object().field("expectation", e.e->text).field_num("line", static_cast<std::uint64_t>(e.e->line));
      w.field_bool("pass", e.pass).field("detail", e.detail).end_object();
      out_ += '\n';
    }
    JsonWriter w(out_);
    w.begin_object().key("summary").begin_object();
    w.field_num("connections", connections_).field_num("errors", counts_[2]).field_num("warnings", counts_[1]);
    w.field_num("infos", counts_[0])
        .field_num("expectations", results.size())
        .field_num("expectations_failed", failed_expectations);
    w.field("fail_on", fail_on_).field_bool("pass", !failed_).end_object().end_object();
    out_ += '\n';
  } else {
    for (const auto& e : results) {
      if (color_) out_ += e.pass ? "\x1b[32m" : "\x1b[1;31m";
      out_ += e.pass ? "PASS    " : "FAIL    ";
      if (color_) out_ += "\x1b[0m";
      out_ += "expect " + e.e->text + ": " + e.detail + "\n";
    }
    char sum[256];
    std::snprintf(sum, sizeof sum,
                  "%zu connections; %zu errors, %zu warnings, %zu infos; %zu expectations, %zu failed; --fail-on "
                  "%s: %s\n",
                  connections_, counts_[2], counts_[1], counts_[0], results.size(), failed_expectations,
                  fail_on_.c_str(), failed_ ? "FAIL" : "PASS");
    out_ += sum;
  }
  if (spool_) {
    if (!capture.empty()) {
      std::vector<const Finding*> bad;
      for (const auto& f : capture)
        if (f.severity >= fail_level_) bad.push_back(&f);
      junit_case("mqttauth.capture", "capture files", bad, "", "");
    }
    for (const auto& e : results)
      junit_case("mqttauth.expectation", e.e->text, {}, e.pass ? "" : e.detail, e.pass ? e.detail : "");
    std::FILE* f = std::fopen(junit_path_.c_str(), "wb");
    if (!f) {
      junit_ok = false;
      return failed_;
    }
    const std::string counts =
        "tests=\"" + std::to_string(tests_) + "\" failures=\"" + std::to_string(failures_) + "\" errors=\"0\"";
    char t[32];
    std::snprintf(t, sizeof t, "%.3f", seconds);
    const std::string head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mqttauth check\" " +
                             counts + ">\n  <testsuite name=\"mqttauth check\" " + counts + " skipped=\"0\" time=\"" +
                             t + "\">\n";
    std::fwrite(head.data(), 1, head.size(), f);
    std::rewind(spool_);
    char buf[1 << 16];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, spool_)) > 0;) std::fwrite(buf, 1, n, f);
    const std::string tail = "  </testsuite>\n</testsuites>\n";
    std::fwrite(tail.data(), 1, tail.size(), f);
    junit_ok = std::ferror(f) == 0;
    junit_ok = std::fclose(f) == 0 && junit_ok;
  }
  return failed_;
}

}  // namespace mqttauth::cli
