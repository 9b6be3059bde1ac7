// The scenarios of `mqttauth capture` (cli/capture_cmd.cpp), for the tests parameterised over them.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace mqttauth::test {

inline constexpr const char* kCaptureScenarios[] = {
    "success-code0", "success-code15", "refused-code0", "refused-code15", "seed-compat", "v5-auth",  "v5-reauth",
    "no-response",   "many-devices",   "large-payload", "mixed",          "qos-flows",   "takeover", "will-retained"};

// A scenario's name as a test name: "success-code0" -> "success_code0".
inline std::string scenario_test_name(const ::testing::TestParamInfo<const char*>& p) {
  std::string s = p.param;
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

}  // namespace mqttauth::test
