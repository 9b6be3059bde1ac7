// End-to-end tests of `mqttauth replay` against the reference broker started as a process.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "run.hpp"

using namespace mqttauth::test;

namespace {

const std::string kSrc = MQTTAUTH_SOURCE_DIR;

// `mqttauth broker` on 127.0.0.1, any free port, in the background.
struct BrokerProcess {
  pid_t pid = -1;
  std::string address;
  explicit BrokerProcess(const std::vector<std::string>& args) {
    std::string log = temp_dir() + "/broker-" + std::to_string(getpid()) + "-" + std::to_string(counter()++) + ".log";
    pid = fork();
    if (pid == 0) {
      std::vector<std::string> a{MQTTAUTH_BIN, "broker", "--listen", "127.0.0.1:0", "--quiet"};
      a.insert(a.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& s : a) argv.push_back(s.data());
      argv.push_back(nullptr);
      freopen(log.c_str(), "w", stderr);
      execv(MQTTAUTH_BIN, argv.data());
      _exit(127);
    }
    for (int i = 0; i < 100 && address.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::string text = slurp(log);
      auto p = text.find("listening on ");
      if (p != std::string::npos) {
        auto e = text.find_first_of(" \n", p + 13);
        if (e != std::string::npos) address = text.substr(p + 13, e - p - 13);
      }
    }
  }
  ~BrokerProcess() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int st = 0;
      waitpid(pid, &st, 0);
    }
  }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

}  // namespace

TEST(ReplayCli, ReplayedAuthenticationIsRefusedByAFreshChallenge) {
  BrokerProcess b({"--auth", "custom", "--secrets", kSrc + "/captures/loopback.secrets"});
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
  BrokerProcess b({"--auth", "none"});
  ASSERT_FALSE(b.address.empty());
  // Connection #4 of field-handshakes.pcap: MQTT 3.1 without authentication, QoS 0 and 1, a ping.
  auto r = run({"replay", kSrc + "/captures/field-handshakes.pcap", "--conn", "4", "--to", b.address, "--color", "never"});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("same answers"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 connections replayed"), std::string::npos) << r.out;
}

TEST(ReplayCli, NoBrokerExitsTwo) {
  auto r = run({"replay", kSrc + "/captures/field-handshakes.pcap", "--to", "127.0.0.1:1"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("cannot connect"), std::string::npos) << r.err;
}
