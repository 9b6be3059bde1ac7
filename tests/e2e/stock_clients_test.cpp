// Stock clients against `mqttauth broker` in every auth mode: Debian's mosquitto_pub / mosquitto_sub and MQTT.js
// (current, from npm; tests/interop/mqttjs-client.js). On `none` (and, for MQTT.js, which does MQTT 5 enhanced
// authentication, on `v5`) they work; where they cannot authenticate they get a refusal they report, never an
// abort or a hang. An MQTT 5 client on a custom-only listener gets CONNACK 0x8C (bad authentication method),
// never the custom type-15 packet that is an invalid AUTH to it. An MQTT 3.x stock client on a custom-only
// listener is sent the challenge (the broker cannot tell it from a field device) and closes on the unknown
// packet type: an error exit, not a crash and not a hang.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "broker_process.hpp"
#include "json.hpp"
#include "run.hpp"

using namespace mqttauth::test;

namespace {

const char* mqttjs() {
  const char* dir = std::getenv("MQTTAUTH_MQTTJS");
  if (dir == nullptr && std::getenv("MQTTAUTH_REQUIRE_TOOLS") != nullptr)
    ADD_FAILURE() << "MQTTAUTH_MQTTJS is not set (tests/interop/setup-field-stack.sh)";
  return dir;
}

// A broker with one listener in `mode`; client js-1 has the secret "jssecret".
struct ModeBroker {
  std::string secrets = unique_path("stock-secrets");
  std::unique_ptr<BrokerProcess> proc;
  ModeBroker(const std::string& mode, const std::string& code = "0") {
    std::ofstream(secrets) << "js-1 jssecret\n";
    proc = std::make_unique<BrokerProcess>(
        MQTTAUTH_BIN, std::vector<std::string>{"--auth", mode, "--auth-code", code, "--secrets", secrets},
        unique_path("stock-broker") + ".log");
  }
  std::string port() const { return std::to_string(proc->port()); }
};

// mosquitto_sub -C 1 -W 5 at protocol `v`, under `timeout 15` (124: hung); its exit code, and its messages in
// `out`. mosquitto_sub exits with the CONNACK code of a refusal.
RunResult mosquitto_sub(const ModeBroker& b, const std::string& v) {
  auto r = run_shell("timeout 15 mosquitto_sub -h 127.0.0.1 -p " + b.port() + " -V " + v + " -t x -C 1 -W 5");
  r.out += r.err;
  return r;
}

// Neither hung (timeout's 124) nor aborted (SIGABRT: 134).
void expect_clean_exit(const RunResult& r, const std::string& what) {
  EXPECT_NE(r.rc, 124) << what << " hung: " << r.out;
  EXPECT_NE(r.rc, 134) << what << " aborted: " << r.out;
}

}  // namespace

TEST(StockClients, MosquittoClientsOnACustomOnlyListenerAreRefusedCleanly) {
  if (!have_mosquitto_clients()) GTEST_SKIP() << "mosquitto-clients are not installed";
  for (const char* code : {"0", "15"}) {
    ModeBroker b("custom", code);
    ASSERT_FALSE(b.proc->address.empty()) << b.proc->log_text();
    auto v5 = mosquitto_sub(b, "mqttv5");
    EXPECT_NE(v5.out.find("Bad authentication method"), std::string::npos) << code << ": " << v5.out;
    EXPECT_EQ(v5.rc, 0x8C) << v5.out;
    for (const char* v : {"mqttv311", "mqttv31"}) {
      auto r = mosquitto_sub(b, v);
      EXPECT_NE(r.rc, 0) << v << ": " << r.out;
      expect_clean_exit(r, v);
    }
    EXPECT_TRUE(b.proc->alive());
    EXPECT_NE(b.proc->log_text().find("authentication method must be HMAC-SHA256"), std::string::npos)
        << b.proc->log_text();
  }
}

TEST(StockClients, MosquittoClientsOnAV5ListenerAreRefusedWithACode) {
  if (!have_mosquitto_clients()) GTEST_SKIP() << "mosquitto-clients are not installed";
  ModeBroker b("v5");
  ASSERT_FALSE(b.proc->address.empty()) << b.proc->log_text();
  auto v5 = mosquitto_sub(b, "mqttv5");
  EXPECT_NE(v5.out.find("Bad authentication method"), std::string::npos) << v5.out;
  EXPECT_EQ(v5.rc, 0x8C) << v5.out;
  auto v311 = mosquitto_sub(b, "mqttv311");
  EXPECT_NE(v311.out.find("not authorised"), std::string::npos) << v311.out;
  EXPECT_EQ(v311.rc, 5) << v311.out;
}

// MQTT.js at every level against every mode: the outcome it reports, and its CONNACK code when refused.
TEST(StockClients, MqttJsAgainstEveryAuthMode) {
  const char* modules = mqttjs();
  if (modules == nullptr) GTEST_SKIP() << "MQTTAUTH_MQTTJS is not set: MQTT.js is not installed";
  struct Case {
    std::string mode, version, secret, outcome;
    int code;
  };
  const std::vector<Case> cases = {
      {"none", "3", "", "roundtrip", 0},     {"none", "4", "", "roundtrip", 0},
      {"none", "5", "", "roundtrip", 0},     {"v5", "5", "jssecret", "roundtrip", 0},
      {"v5", "5", "wrong", "refused", 0x87}, {"v5", "4", "", "refused", 5},
      {"custom", "5", "", "refused", 0x8C},  {"custom", "5", "jssecret", "roundtrip", 0},
      {"any", "5", "", "refused", 0x8C},     {"any", "5", "jssecret", "roundtrip", 0},
      {"custom", "4", "", "error", -1},  // the challenge: an unknown packet type to it
  };
  for (const auto& c : cases) {
    ModeBroker b(c.mode);
    ASSERT_FALSE(b.proc->address.empty()) << b.proc->log_text();
    std::string cmd = "NODE_PATH=" + shell_quote(modules) + " timeout 15 node " +
                      shell_quote(source_path("tests/interop/mqttjs-client.js")) + " 127.0.0.1:" + b.port() +
                      " js-1 --version " + c.version;
    if (!c.secret.empty()) cmd += " --secret " + c.secret;
    auto r = run_shell(cmd);
    const std::string what =
        c.mode + " v" + c.version + (c.secret.empty() ? "" : " " + c.secret) + ": " + r.out + r.err;
    ASSERT_EQ(r.lines().size(), 1u) << what;
    auto j = Json::parse(r.lines()[0]);
    EXPECT_EQ(j["outcome"].str(), c.outcome) << what;
    if (c.code >= 0) {
      EXPECT_EQ(j["code"].num(), c.code) << what;
    }
    EXPECT_EQ(r.rc, c.outcome == "roundtrip" ? 0 : 1) << what;
    EXPECT_TRUE(b.proc->alive()) << what;
  }
}
