// `mqttauth stats --merge`: the JSON Lines outputs of separate runs added up. Ten captures of separate gateways
// (mqttauth_synth --gateway: no client id or connection shared), analysed one by one and merged, give what
// one run over the ten gives: every count, table, distinct count and latency figure the same.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "json.hpp"
#include "run.hpp"

using namespace mqttauth::test;

namespace {

// The figures of a stats JSON line: without the run's timing and the merge state (whose rows' order is the
// tables' own).
std::string figures(const std::string& line) {
  std::string s = line.substr(0, line.find(",\"merge_state\""));
  s = std::regex_replace(s, std::regex(R"("seconds":[0-9.]+,"mb_per_second":[0-9.]+)"), "");
  return s;
}

// The text report without its timing line.
std::string without_timing(const std::string& text) {
  return std::regex_replace(text, std::regex("Analysis: [^\n]*\n"), "");
}

std::vector<std::string> gateway_captures() {
  std::vector<std::string> files;
  const std::string dir = temp_dir();
  for (int g = 1; g <= 10; ++g) {
    const std::string p = dir + "/gw" + std::to_string(g) + ".pcap";
    const std::string cmd = shell_quote(MQTTAUTH_SYNTH_BIN) + " -o " + shell_quote(p) + " --gateway " +
                            std::to_string(g) + " --seed " + std::to_string(100 + g) +
                            " --clients 6 --publishes 5,40 --reconnect-ratio 0.3 --v5-auth-ratio 0.5 "
                            "--keep-alive-faults 0.1 >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) return {};
    files.push_back(p);
  }
  return files;
}

}  // namespace

TEST(StatsMerge, TenPerFileRunsMergedEqualOneRunOverTheTen) {
  const auto files = gateway_captures();
  ASSERT_EQ(files.size(), 10u);
  std::vector<std::string> all = {"stats", "--threads", "1", "--format", "jsonl"};
  all.insert(all.end(), files.begin(), files.end());
  const auto one = run(all);
  ASSERT_EQ(one.rc, 0) << one.err;

  std::vector<std::string> parts;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto r = run({"stats", "--threads", "1", "--format", "jsonl", files[i]});
    ASSERT_EQ(r.rc, 0) << r.err;
    const std::string p = temp_dir() + "/part" + std::to_string(i) + ".json";
    std::ofstream(p) << r.out;
    parts.push_back(p);
  }
  std::vector<std::string> merge = {"stats", "--merge", "--format", "jsonl"};
  merge.insert(merge.end(), parts.begin(), parts.end());
  const auto merged = run(merge);
  ASSERT_EQ(merged.rc, 0) << merged.err;

  // Something to add up: every gateway's connections, handshakes and acknowledgements.
  const Json j = Json::parse(one.out);
  EXPECT_GE(j["mqtt_connections"].num(), 60.0);
  EXPECT_GT(j["latency"]["ack_by_client"]["all"]["count"].num(), 100.0);
  EXPECT_GE(j["distinct_topics"].num(), 60.0);
  EXPECT_EQ(figures(merged.out), figures(one.out));

  // The text report too; and a merge of merges is the same again.
  std::vector<std::string> text = {"stats", "--threads", "1"};
  text.insert(text.end(), files.begin(), files.end());
  std::vector<std::string> merge_text = {"stats", "--merge"};
  merge_text.insert(merge_text.end(), parts.begin(), parts.end());
  const auto one_text = run(text), merged_text = run(merge_text);
  ASSERT_EQ(merged_text.rc, 0) << merged_text.err;
  EXPECT_EQ(without_timing(merged_text.out), without_timing(one_text.out));

  std::vector<std::string> first_half = {"stats", "--merge", "--format", "jsonl"},
                           second_half = {"stats", "--merge", "--format", "jsonl"};
  first_half.insert(first_half.end(), parts.begin(), parts.begin() + 5);
  second_half.insert(second_half.end(), parts.begin() + 5, parts.end());
  const auto a = run(first_half), b = run(second_half);
  const std::string pa = temp_dir() + "/half-a.json", pb = temp_dir() + "/half-b.json";
  std::ofstream(pa) << a.out;
  std::ofstream(pb) << b.out;
  const auto again = run({"stats", "--merge", "--format", "jsonl", pa, pb});
  ASSERT_EQ(again.rc, 0) << again.err;
  EXPECT_EQ(figures(again.out), figures(one.out));
}

TEST(StatsMerge, InputThatIsNotAStatsOutputIsNamed) {
  const auto files = gateway_captures();
  ASSERT_FALSE(files.empty());
  const auto r = run({"stats", "--merge", files[0]});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find(files[0]), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not a JSON object"), std::string::npos) << r.err;
  const std::string bad = temp_dir() + "/cut.json";
  const auto good = run({"stats", "--format", "jsonl", files[0]});
  std::ofstream(bad) << good.out.substr(0, good.out.size() / 2);
  const auto cut = run({"stats", "--merge", bad});
  EXPECT_EQ(cut.rc, 2);
  EXPECT_NE(cut.err.find(bad), std::string::npos) << cut.err;
}
