// The report of `mqttauth check`: its findings and expectation results as text, JSON Lines and JUnit XML.
#pragma once

#include <array>
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

// What a check found, by reference to the analysis that found it.
struct CheckReport {
  const std::vector<Finding>& capture;  // findings about the input as a whole
  const std::vector<SessionRow>& rows;  // the connections, in order
  const std::unordered_map<std::uint64_t, std::vector<Finding>>& by_conn;
  const std::vector<ExpectResult>& results;
  Severity fail_level = Severity::error;
  std::string_view fail_on;  // how the user named fail_level
  double seconds = 0;        // the analysis's run time
};

// The verdict: every finding in connection order (capture-wide ones first, most severe first within a
// connection), the count per severity, failed expectations and whether the check fails.
struct CheckVerdict {
  std::vector<const Finding*> findings;
  std::array<std::size_t, 3> counts{};  // by Severity
  std::size_t failed_expectations = 0;
  bool failed = false;
};
CheckVerdict judge(const CheckReport& r);

void write_check_text(std::string& out, const CheckReport& r, const CheckVerdict& v, bool color);
void write_check_jsonl(std::string& out, const CheckReport& r, const CheckVerdict& v);
// A JUnit XML document: one testcase per connection and per expectation (and one for capture-wide findings).
std::string check_junit(const CheckReport& r);

// `s` appended to `out` with XML's five special characters escaped and control characters (but tab and
// newline) as spaces.
void xml_escape(std::string& out, std::string_view s);

}  // namespace mqttauth::cli
