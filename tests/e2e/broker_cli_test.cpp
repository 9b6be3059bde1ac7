// End-to-end tests of `mqttauth broker`'s settings: the configuration file and the command line are one table.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "run.hpp"

using namespace mqttauth::test;

namespace {

// The keys that docs/broker.conf shows ("key = value" lines, commented out or not).
std::set<std::string> documented_keys() {
  std::ifstream in(source_path("docs/broker.conf"));
  std::set<std::string> keys;
  const std::regex line(R"(^#? ?([a-z][a-z0-9_]*) =)");
  std::smatch m;
  for (std::string l; std::getline(in, l);)
    if (std::regex_search(l, m, line)) keys.insert(m[1]);
  return keys;
}

}  // namespace

TEST(BrokerCli, EveryDocumentedSettingIsAnOption) {
  auto keys = documented_keys();
  ASSERT_GT(keys.size(), 25u);
  auto help = run({"broker", "--help"});
  ASSERT_EQ(help.rc, 0) << help.err;
  for (const auto& k : keys) {
    if (k == "listener" || k == "log") continue;  // --listen and --quiet
    std::string opt = "--" + k;
    for (auto& c : opt)
      if (c == '_') c = '-';
    EXPECT_NE(help.out.find(opt + " "), std::string::npos) << opt << " missing from broker --help";
  }
}

TEST(BrokerCli, FileAndCommandLineJudgeAValueAlike) {
  const std::string conf = testing::TempDir() + "/mqttauth-broker-cli.conf";
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"max_pending", "0"}, {"auth_code", "3"}, {"auth_timeout", "soon"}, {"deny_reason_v5", "0x10"}}) {
    std::ofstream(conf) << key << " = " << value << "\n";
    auto from_file = run({"broker", "--config", conf, "--listen", "127.0.0.1:0"});
    std::string opt = "--" + key;
    for (auto& c : opt)
      if (c == '_') c = '-';
    auto from_cli = run({"broker", opt, value, "--listen", "127.0.0.1:0"});
    const std::string want = "bad value '" + value + "' for " + key;
    EXPECT_EQ(from_file.rc, 2) << key;
    EXPECT_EQ(from_cli.rc, 2) << key;
    EXPECT_NE(from_file.err.find("line 1: " + want), std::string::npos) << from_file.err;
    EXPECT_NE(from_cli.err.find(opt + ": " + want), std::string::npos) << from_cli.err;
  }
}
