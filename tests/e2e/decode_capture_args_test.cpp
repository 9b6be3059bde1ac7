// `mqttauth decode` on capture files with a repeatable option (--port, --type, --client-id, --conn) written
// before the files, as in the subcommand's own help footer ("mqttauth decode --port 28830 a.pcap b.pcap").
// The captures come from mqttauth_synth.
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "json.hpp"
#include "run.hpp"

using namespace mqttauth::test;

namespace {

// A small capture with custom handshakes; made once per test binary run.
const std::string& capture() {
  static const std::string path = [] {
    std::string p = temp_dir() + "/args.pcap";
    std::string cmd = shell_quote(MQTTAUTH_SYNTH_BIN) + " -o " + shell_quote(p) +
                      " --seed 5 --clients 4 --levels 4 --auth-ratio 1 --publishes 3,6 >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) return std::string();
    return p;
  }();
  return path;
}

std::vector<Json> jsonl(const std::string& out) {
  std::vector<Json> v;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);) v.push_back(Json::parse(l));
  return v;
}

}  // namespace

// The help footer's own example. A repeatable option takes every argument up to the next option, the capture
// file included, since the files positional is not required (--hex is the alternative).
TEST(DecodeCaptureArgs, PortBeforeFilesAsInTheHelpFooter) {
  ASSERT_FALSE(capture().empty());
  auto plain = run({"decode", "--format", "jsonl", capture()});
  ASSERT_EQ(plain.rc, 0) << plain.err;
  auto r = run({"decode", "--format", "jsonl", "--port", "28830", capture()});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.lines().size(), plain.lines().size());
  EXPECT_TRUE(r.out == plain.out) << "the outputs differ";
}

TEST(DecodeCaptureArgs, FiltersBeforeFiles) {
  ASSERT_FALSE(capture().empty());
  struct Case {
    std::vector<std::string> args;
    std::string key, want;
  };
  const Case cases[] = {
      {{"--type", "authenticate"}, "type", "authenticate"},
      {{"--client-id", "sensor-000000"}, "conn", ""},
      {{"--conn", "1"}, "conn", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args[0]);
    std::vector<std::string> args{"decode", "--format", "jsonl"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    args.push_back(capture());
    auto r = run(args);
    EXPECT_EQ(r.rc, 0) << r.err;
    auto lines = jsonl(r.out);
    EXPECT_FALSE(lines.empty());
    for (const auto& j : lines) {
      if (c.key == "type")
        EXPECT_EQ(j["type"].str(), c.want);
      else
        EXPECT_EQ(j["conn"].num(), lines.front()["conn"].num());
    }
  }
}
