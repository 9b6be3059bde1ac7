// Debian's mosquitto-clients (mosquitto_pub, mosquitto_sub) against `mqttauth broker`: MQTT 3.1, 3.1.1 and 5,
// QoS 0/1/2 end to end, retained messages.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "broker_process.hpp"
#include "run.hpp"

using namespace mqttauth::test;

namespace {

std::string broker_log() {
  static int n = 0;
  return temp_dir() + "/mosquitto-clients-broker-" + std::to_string(getpid()) + "-" + std::to_string(++n) + ".log";
}

}  // namespace

TEST(MosquittoClients, PublishAndSubscribeAtEveryLevelAndQos) {
  if (!have_mosquitto_clients()) GTEST_SKIP() << "mosquitto-clients are not installed";
  BrokerProcess b(MQTTAUTH_BIN, {"--quiet"}, broker_log());
  ASSERT_FALSE(b.address.empty()) << b.log_text();
  const std::string port = std::to_string(b.port());
  for (const char* v : {"mqttv31", "mqttv311", "mqttv5"}) {
    const std::string out = temp_dir() + "/mosquitto-sub-" + v + ".out";
    // The subscriber waits for 3 messages (at most 10 s), in the background; -q 2 so each keeps its QoS.
    const std::string sub = "mosquitto_sub -h 127.0.0.1 -p " + port + " -V " + v + " -q 2 -t 'site/" + v +
                            "/#' -C 3 -W 10 -F '%t %q %p' >" + shell_quote(out) + " 2>&1 & echo $! ";
    const std::string pub = [&] {
      std::string s;
      for (int q = 0; q <= 2; ++q)
        s += "mosquitto_pub -h 127.0.0.1 -p " + port + " -V " + v + " -q " + std::to_string(q) + " -t site/" + v +
             "/q" + std::to_string(q) + " -m 'hello " + std::to_string(q) + "' && ";
      return s + "true";
    }();
    // Subscribe, give it time to be in place, publish, wait for the subscriber.
    const std::string script = "pid=$(" + sub + "); sleep 0.5; " + pub +
                               " && wait_for=100; while kill -0 $pid 2>/dev/null && [ $wait_for -gt 0 ]; do sleep 0.1; "
                               "wait_for=$((wait_for-1)); done";
    ASSERT_EQ(std::system(("sh -c " + shell_quote(script)).c_str()), 0) << v;
    const std::string got = slurp(out);
    for (int q = 0; q <= 2; ++q)
      EXPECT_NE(got.find("site/" + std::string(v) + "/q" + std::to_string(q) + " " + std::to_string(q) + " hello " +
                         std::to_string(q)),
                std::string::npos)
          << v << ": " << got;
  }
  EXPECT_TRUE(b.alive());
}

TEST(MosquittoClients, RetainedMessageReachesALaterSubscriber) {
  if (!have_mosquitto_clients()) GTEST_SKIP() << "mosquitto-clients are not installed";
  BrokerProcess b(MQTTAUTH_BIN, {"--quiet"}, broker_log());
  ASSERT_FALSE(b.address.empty()) << b.log_text();
  const std::string port = std::to_string(b.port());
  ASSERT_EQ(std::system(("mosquitto_pub -h 127.0.0.1 -p " + port + " -q 1 -r -t state/door -m open").c_str()), 0);
  const std::string out = temp_dir() + "/mosquitto-retained.out";
  ASSERT_EQ(std::system(("mosquitto_sub -h 127.0.0.1 -p " + port + " -V mqttv5 -t state/# -C 1 -W 5 -F '%t %r %p' >" +
                         shell_quote(out) + " 2>&1")
                            .c_str()),
            0);
  EXPECT_EQ(slurp(out), "state/door 1 open\n");
}
