// Many tiny connections (closed, left open, SYN only): every command finishes, the connection table stays
// within --max-connections (the least recently active connections end early, reported), and sessions
// streams its rows in connection order.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "json.hpp"
#include "run.hpp"

using namespace mqttauth::test;

namespace {

// 30,000 connections: a third each closed, left open and SYN only (made once per test binary run).
const std::string& flood() {
  static const std::string path = [] {
    std::string p = temp_dir() + "/flood-mixed.pcap";
    std::string cmd = shell_quote(MQTTAUTH_CONN_FLOOD_BIN) + " -o " + shell_quote(p) +
                      " --connections 30000 --mode mixed >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0 ? p : std::string();
  }();
  return path;
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

}  // namespace

TEST(Flood, StatsCountsEveryConnectionAndReportsEvictions) {
  ASSERT_FALSE(flood().empty());
  for (const char* threads : {"1", "2"}) {
    auto r = run({"stats", "--format", "jsonl", "--max-connections", "4000", "--threads", threads, flood()});
    ASSERT_EQ(r.rc, 0) << r.err;
    auto j = Json::parse(r.out);
    EXPECT_EQ(j["mqtt_connections"].num(), 20000) << threads;  // SYN-only connections never become MQTT
    EXPECT_EQ(j["tcp_connections"].num(), 30000) << threads;
    EXPECT_EQ(j["packets"]["connect"]["total"].num(), 20000) << threads;
    EXPECT_GT(j["evicted_connections"].num(), 0) << threads;
    EXPECT_NE(r.err.find("ended early"), std::string::npos) << r.err;
    EXPECT_EQ(count(r.err, "ended early"), 1u) << r.err;  // once, not once per thread
  }
  // Within the default limit nothing is evicted and nothing is said.
  auto r = run({"stats", "--format", "jsonl", flood()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out)["evicted_connections"].num(), 0);
  EXPECT_EQ(r.err, "");
}

TEST(Flood, SessionsStreamRowsInConnectionOrder) {
  ASSERT_FALSE(flood().empty());
  for (const char* format : {"jsonl", "csv"}) {
    auto r = run({"sessions", "--format", format, "--max-connections", "4000", flood()});
    ASSERT_EQ(r.rc, 0) << r.err;
    auto lines = r.lines();
    const std::size_t header = std::string(format) == "csv" ? 1 : 0;
    ASSERT_EQ(lines.size(), 20000u + header) << format;
    std::uint64_t last = 0;
    for (std::size_t i = header; i < lines.size(); ++i) {
      std::uint64_t conn = std::string(format) == "csv"
                               ? std::stoull(lines[i])
                               : static_cast<std::uint64_t>(Json::parse(lines[i])["conn"].num());
      ASSERT_GT(conn, last) << format << " line " << i;
      last = conn;
    }
    EXPECT_GT(count(r.out, "evicted"), 0u) << format;
    EXPECT_EQ(count(r.out, "flood-29998"), 1u) << format;  // the last closed one is there
  }
}

TEST(Flood, DecodeAndCheckFinish) {
  ASSERT_FALSE(flood().empty());
  auto d = run({"decode", "--format", "jsonl", "--max-connections", "4000", flood()});
  ASSERT_EQ(d.rc, 0) << d.err;
  EXPECT_EQ(count(d.out, "\"type\":\"connect\""), 20000u);
  auto c = run({"check", "--max-connections", "4000", flood()});
  EXPECT_NE(c.rc, 2) << c.err;
  EXPECT_NE(c.out.find("20000"), std::string::npos) << c.out.substr(0, 2000);
}
