// End-to-end tests of `mqttauth replay` against the reference broker started as a process.
#include <gtest/gtest.h>

#include <unistd.h>

#include "broker_process.hpp"
#include "run.hpp"

using namespace mqttauth::test;

namespace {

const std::string kSrc = MQTTAUTH_SOURCE_DIR;

// `mqttauth broker` on 127.0.0.1, any free port, in the background.
struct QuietBroker : BrokerProcess {
  explicit QuietBroker(std::vector<std::string> args)
      : BrokerProcess(MQTTAUTH_BIN, with_quiet(std::move(args)), log_path()) {}
  static std::vector<std::string> with_quiet(std::vector<std::string> args) {
    args.push_back("--quiet");
    return args;
  }
  static std::string log_path() {
    static int n = 0;
    return temp_dir() + "/broker-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".log";
  }
};

}  // namespace

TEST(ReplayCli, ReplayedAuthenticationIsRefusedByAFreshChallenge) {
  QuietBroker b({"--auth", "custom", "--secrets", kSrc + "/captures/loopback.secrets"});
  ASSERT_FALSE(b.address.empty());
  auto r = run({"replay", kSrc + "/captures/loopback-success-code0.pcap", "--to", b.address, "--color", "never"});
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("captured accepted, replayed refused"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("-connack return_code=0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("+connack return_code=5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("this replay attack failed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("replayed authentications refused"), std::string::npos) << r.out;
}

TEST(ReplayCli, AnUnauthenticatedSessionGetsTheSameAnswers) {
  QuietBroker b({"--auth", "none"});
  ASSERT_FALSE(b.address.empty());
  // Connection #4 of field-handshakes.pcap: MQTT 3.1 without authentication, QoS 0 and 1, a ping.
  auto r =
      run({"replay", kSrc + "/captures/field-handshakes.pcap", "--conn", "4", "--to", b.address, "--color", "never"});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("same answers"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 connections replayed"), std::string::npos) << r.out;
}

TEST(ReplayCli, NoBrokerExitsTwo) {
  auto r = run({"replay", kSrc + "/captures/field-handshakes.pcap", "--to", "127.0.0.1:1"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("cannot connect"), std::string::npos) << r.err;
}
