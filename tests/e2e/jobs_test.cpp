// -j N: the files are independent captures analysed in parallel; the output comes in file order (decode,
// sessions) or as the sum of the files' counts (stats), the same for any N.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "json.hpp"
#include "run.hpp"

using namespace mqttauth::test;

namespace {

// Three small synthetic captures (different seeds), made once per test binary run.
const std::vector<std::string>& captures() {
  static const std::vector<std::string> paths = [] {
    std::vector<std::string> v;
    for (int seed = 1; seed <= 3; ++seed) {
      std::string p = temp_dir() + "/jobs-" + std::to_string(seed) + ".pcap";
      std::string cmd = shell_quote(MQTTAUTH_SYNTH_BIN) + " -o " + shell_quote(p) + " --seed " + std::to_string(seed) +
                        " --clients 3 --publishes 2,5 >/dev/null 2>&1";
      if (std::system(cmd.c_str()) != 0) return std::vector<std::string>();
      v.push_back(p);
    }
    return v;
  }();
  return paths;
}

std::vector<std::string> args(std::vector<std::string> a, const std::vector<std::string>& files) {
  a.insert(a.end(), files.begin(), files.end());
  return a;
}

// Drops the "file" field that decode adds when several files are given.
std::string without_file(const std::string& out) {
  std::string r;
  std::size_t s = 0;
  while (true) {
    auto f = out.find("\"file\":\"", s);
    if (f == std::string::npos) break;
    auto e = out.find("\",", f + 8);
    r += out.substr(s, f - s);
    s = e + 2;
  }
  return r + out.substr(s);
}

}  // namespace

TEST(Jobs, DecodeOutputIsEachFileInTurn) {
  const auto& files = captures();
  ASSERT_EQ(files.size(), 3u);
  std::string expected;
  for (const auto& f : files) {
    auto one = run({"decode", "--format", "jsonl", f});
    ASSERT_EQ(one.rc, 0) << one.err;
    expected += one.out;
  }
  for (const char* j : {"1", "2", "3", "8"}) {
    auto r = run(args({"decode", "--format", "jsonl", "-j", j}, files));
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_TRUE(without_file(r.out) == expected) << "-j " << j;
    EXPECT_NE(r.out.find("\"file\":"), std::string::npos);
  }
}

TEST(Jobs, DecodeCsvHasOneHeader) {
  auto r = run(args({"decode", "--format", "csv", "-j", "2"}, captures()));
  ASSERT_EQ(r.rc, 0) << r.err;
  std::size_t headers = 0;
  for (const auto& l : r.lines()) headers += l.rfind("frame,", 0) == 0;
  EXPECT_EQ(headers, 1u);
}

TEST(Jobs, StatsAreTheSumOfTheFiles) {
  const auto& files = captures();
  ASSERT_EQ(files.size(), 3u);
  std::uint64_t packets = 0, connections = 0;
  for (const auto& f : files) {
    auto one = run({"stats", "--format", "jsonl", f});
    ASSERT_EQ(one.rc, 0) << one.err;
    auto j = Json::parse(one.out);
    packets += static_cast<std::uint64_t>(j["packets_total"].num());
    connections += static_cast<std::uint64_t>(j["mqtt_connections"].num());
  }
  auto r = run(args({"stats", "--format", "jsonl", "-j", "2"}, files));
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = Json::parse(r.out);
  EXPECT_EQ(static_cast<std::uint64_t>(j["packets_total"].num()), packets);
  EXPECT_EQ(static_cast<std::uint64_t>(j["mqtt_connections"].num()), connections);
}

TEST(Jobs, StatsAddEveryCounterEvictionsIncluded) {
  // With room for one open connection, each file's analysis evicts some: -j must add those up too (it once
  // reported 0).
  const auto& files = captures();
  ASSERT_EQ(files.size(), 3u);
  std::uint64_t evicted = 0, frames = 0, segments = 0;
  for (const auto& f : files) {
    auto one = run({"stats", "--format", "jsonl", "--max-connections", "1", "--threads", "1", f});
    ASSERT_EQ(one.rc, 0) << one.err;
    auto j = Json::parse(one.out);
    evicted += static_cast<std::uint64_t>(j["evicted_connections"].num());
    frames += static_cast<std::uint64_t>(j["frames"].num());
    segments += static_cast<std::uint64_t>(j["tcp_segments"].num());
  }
  ASSERT_GT(evicted, 0u);
  auto r = run(args({"stats", "--format", "jsonl", "--max-connections", "1", "-j", "2"}, files));
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = Json::parse(r.out);
  EXPECT_EQ(static_cast<std::uint64_t>(j["evicted_connections"].num()), evicted);
  EXPECT_EQ(static_cast<std::uint64_t>(j["frames"].num()), frames);
  EXPECT_EQ(static_cast<std::uint64_t>(j["tcp_segments"].num()), segments);
}

TEST(Jobs, SessionsInFileOrder) {
  const auto& files = captures();
  std::string expected;
  for (const auto& f : files) expected += run({"sessions", "--format", "jsonl", f}).out;
  auto r = run(args({"sessions", "--format", "jsonl", "-j", "3"}, files));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(r.out == expected);
}

TEST(Jobs, UnreadableFileIsUsageError) {
  std::string junk = temp_dir() + "/jobs-junk.pcap";
  std::FILE* f = std::fopen(junk.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("not a capture", f);
  std::fclose(f);
  auto r = run({"stats", "-j", "2", captures().at(0), junk});
  EXPECT_EQ(r.rc, 2);
}

// --threads N splits one input's connections between N threads that each read it all: the counts must be
// exactly those of one thread, on every bundled capture, on synthetic ones with many connections, and on a
// truncated one (whose problem is reported once, not once per thread).
namespace {

// The stats JSON without the timing fields, and without the figures across connections (`fleet`, the
// delivery latency): threads that split the connections each see only their share of those, as documented.
// Nor `merge_state`, the internal state for stats --merge (its rows are in the order of each run's tables).
std::string without_timing(std::string s) {
  for (const char* key : {"\"merge_state\":", "\"delivery_by_topic\":", "\"fleet\":"}) {
    auto k = s.find(key);
    if (k == std::string::npos) continue;
    std::size_t e = s.find('{', k), depth = 0;
    for (; e < s.size(); ++e) {
      if (s[e] == '{') ++depth;
      if (s[e] == '}' && --depth == 0) break;
    }
    s.erase(k, e + 1 - k);
  }
  for (const char* key : {"\"seconds\":", "\"mb_per_second\":"}) {
    auto k = s.find(key);
    if (k == std::string::npos) continue;
    auto e = s.find_first_of(",}", k);
    s.erase(k, e - k + (s[e] == ',' ? 1 : 0));
  }
  return s;
}

}  // namespace

TEST(Threads, StatsAreTheSameForAnyNumberOfThreads) {
  std::vector<std::string> inputs;
  for (const char* c : {"field-handshakes", "field-anomalies", "loopback-mixed", "loopback-many-devices",
                        "loopback-large-payload", "loopback-no-response"})
    inputs.push_back(source_path("captures/" + std::string(c) + ".pcap"));
  const std::string many = temp_dir() + "/threads-many.pcap";
  ASSERT_EQ(std::system((shell_quote(MQTTAUTH_SYNTH_BIN) + " -o " + shell_quote(many) +
                         " --seed 7 --clients 40 --publishes 5,20 --reconnect-ratio 0.3 --v5-auth-ratio 0.3"
                         " --segment-split >/dev/null 2>&1")
                            .c_str()),
            0);
  inputs.push_back(many);
  for (const auto& in : inputs) {
    auto one = run({"stats", "--format", "jsonl", "--threads", "1", in});
    ASSERT_EQ(one.rc, 0) << in << one.err;
    for (const char* t : {"2", "3", "4"}) {
      auto r = run({"stats", "--format", "jsonl", "--threads", t, in});
      ASSERT_EQ(r.rc, 0) << in << r.err;
      EXPECT_EQ(without_timing(r.out), without_timing(one.out)) << in << " --threads " << t;
    }
  }
  // Several files merged in time order (no -j): split the same way.
  auto one = run({"stats", "--format", "jsonl", "--threads", "1", inputs[0], inputs[1], many});
  auto two = run({"stats", "--format", "jsonl", "--threads", "2", inputs[0], inputs[1], many});
  ASSERT_EQ(one.rc, 0) << one.err;
  EXPECT_EQ(without_timing(two.out), without_timing(one.out));
  EXPECT_GT(Json::parse(one.out)["mqtt_connections"].num(), 40);
}

TEST(Threads, TruncatedCaptureIsReportedOnce) {
  const std::string src = source_path("captures/loopback-mixed.pcap");
  const std::string cut = temp_dir() + "/threads-cut.pcap";
  std::string bytes = slurp(src);
  ASSERT_GT(bytes.size(), 3000u);
  {
    std::FILE* f = std::fopen(cut.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(bytes.data(), 1, bytes.size() - 37, f);
    std::fclose(f);
  }
  auto one = run({"stats", "--format", "jsonl", "--threads", "1", cut});
  auto three = run({"stats", "--format", "jsonl", "--threads", "3", cut});
  EXPECT_EQ(one.rc, 3) << one.err;
  EXPECT_EQ(three.rc, 3) << three.err;
  EXPECT_EQ(without_timing(three.out), without_timing(one.out));
  EXPECT_EQ(three.err, one.err);
  EXPECT_NE(one.err.find("truncated capture"), std::string::npos) << one.err;
}

// Every thread opens the input itself: a pipe is read by one thread, or each would get a part of the stream.
TEST(Threads, PipedInputIsReadByOneThread) {
  const std::string src = source_path("captures/loopback-mixed.pcap");
  auto one = run({"stats", "--format", "jsonl", "--threads", "1", src});
  auto piped = run_shell("(cat " + shell_quote(src) + " | " + shell_quote(MQTTAUTH_BIN) +
                         " stats --format jsonl --threads 2 /dev/stdin)");
  EXPECT_EQ(one.rc, 0) << one.err;
  EXPECT_EQ(piped.rc, 0) << piped.err;
  EXPECT_EQ(without_timing(piped.out), without_timing(one.out));
  EXPECT_EQ(piped.err, "");
}
