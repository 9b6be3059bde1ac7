// Whether tshark can be run, for the tests that need it (plugin tests, tshark differential checks).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>

namespace mqttauth::test {

// True when tshark is on PATH. When it is not and MQTTAUTH_REQUIRE_TSHARK is set (scripts/test-all.sh sets
// it), the calling test fails instead of skipping: CI must not pass without exercising tshark.
inline bool have_tshark() {
  if (std::system("command -v tshark >/dev/null 2>&1") == 0) return true;
  if (std::getenv("MQTTAUTH_REQUIRE_TSHARK") != nullptr) {
    ADD_FAILURE() << "tshark is not on PATH but MQTTAUTH_REQUIRE_TSHARK is set";
  }
  return false;
}

}  // namespace mqttauth::test
