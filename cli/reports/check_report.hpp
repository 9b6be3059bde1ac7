// The report of `mqttauth check`: its findings and expectation results as text, JSON Lines and JUnit XML.
#pragma once

#include <array>
#include <cstdio>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "expect.hpp"
#include "mqttauth/findings.hpp"
#include "sessions.hpp"

namespace mqttauth::cli {

// One finding of the vocabulary (mqttauth/findings.hpp) at one place.
struct Finding {
  Severity severity = Severity::info;
  std::string rule;        // the finding's name
  std::string clause;      // the spec clause that decides it, when one does
  std::uint64_t conn = 0;  // 0: the capture as a whole
  std::string client_id;
  std::uint64_t frame = 0;
  std::string file;
  std::string message;
};

// One expectation of the --expect file and whether the capture met it.
struct ExpectResult {
  const Expectation* e = nullptr;
  bool pass = false;
  std::string detail;
};

// The report of a check, written as the connections end (memory bounded by what is open, not by the
// capture): each connection's findings, most severe first, when it is released; then the capture-wide
// findings, the expectations and the summary. JUnit XML is spooled to a temporary file beside its path and
// assembled at the end (its header holds the counts).
class CheckWriter {
 public:
  enum class Format : std::uint8_t { text, jsonl };
  CheckWriter(std::string& out, Format f, bool color, Severity fail_level, std::string_view fail_on)
      : out_(out), format_(f), color_(color), fail_level_(fail_level), fail_on_(fail_on) {}
  ~CheckWriter();
  CheckWriter(const CheckWriter&) = delete;
  CheckWriter& operator=(const CheckWriter&) = delete;
  // Also a JUnit report to `path`; false when its spool cannot be made.
  bool junit(const std::string& path);
  // One connection, in the order they are to be listed.
  void connection(const SessionRow& row, std::vector<Finding>& findings);
  // Findings about the input as a whole, then the expectations and the summary. Returns whether the check
  // fails; false in `junit_ok` when the JUnit file could not be written.
  bool finish(const std::vector<Finding>& capture, const std::vector<ExpectResult>& results, double seconds,
              bool& junit_ok);
  std::size_t connections() const noexcept { return connections_; }

 private:
  void write(const Finding& f);
  void junit_case(const std::string& classname, const std::string& name, const std::vector<const Finding*>& bad,
                  const std::string& fail_text, const std::string& out_text);

  std::string& out_;
  Format format_;
  bool color_;
  Severity fail_level_;
  std::string fail_on_;
  std::array<std::size_t, 3> counts_{};  // by Severity
  bool failed_ = false;
  std::size_t connections_ = 0;
  std::string junit_path_;
  std::FILE* spool_ = nullptr;  // the JUnit testcases so far
  std::size_t tests_ = 0, failures_ = 0;
};

// `s` appended to `out` with XML's five special characters escaped and control characters (but tab and
// newline) as spaces.
void xml_escape(std::string& out, std::string_view s);

}  // namespace mqttauth::cli
