// The sample captures of captures/ and their golden decodes: the committed captures are exactly what the
// generator makes, and the CLI prints exactly the committed expected output for them.
#include <gtest/gtest.h>

#include <sstream>

#include "run.hpp"

using namespace mqttauth::test;

namespace {

const std::string kSrc = MQTTAUTH_SOURCE_DIR;

void expect_golden(const std::vector<std::string>& args, const std::string& golden, int rc = 0) {
  auto r = run(args, "", kSrc);
  ASSERT_EQ(r.rc, rc) << r.err;
  std::string want = slurp(kSrc + "/" + golden);
  ASSERT_FALSE(want.empty()) << golden;
  EXPECT_EQ(r.out, want) << "output differs from " << golden << " (regenerate it only when the change is intended)";
}

}  // namespace

TEST(Golden, CommittedCapturesAreTheGeneratorsOutput) {
  std::string dir = temp_dir() + "/captures";
  std::string cmd =
      "mkdir -p " + shell_quote(dir) + " && " + shell_quote(MQTTAUTH_MAKE_CAPTURES_BIN) + " " + shell_quote(dir);
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  for (const char* f :
       {"field-handshakes.pcap", "field-handshakes.secrets", "field-anomalies.pcap", "field-violations.pcap"}) {
    std::string made = slurp(dir + "/" + f), committed = slurp(kSrc + "/captures/" + f);
    EXPECT_FALSE(made.empty()) << f;
    EXPECT_EQ(made, committed) << f << " differs from what tests/tools/make_captures.cpp writes";
  }
}

TEST(Golden, DecodeText) {
  expect_golden({"decode", "captures/field-handshakes.pcap", "--color", "never"},
                "captures/field-handshakes.decode.txt");
}

TEST(Golden, ViolationsDecodeText) {
  expect_golden({"decode", "captures/field-violations.pcap", "--color", "never"},
                "captures/field-violations.decode.txt");
}

TEST(Golden, ViolationsDecodeJsonl) {
  expect_golden({"decode", "captures/field-violations.pcap", "--format", "jsonl"},
                "captures/field-violations.decode.jsonl");
}

TEST(Golden, ViolationsSessions) {
  expect_golden({"sessions", "captures/field-violations.pcap", "--color", "never"},
                "captures/field-violations.sessions.txt");
}

TEST(Golden, DecodeJsonl) {
  expect_golden({"decode", "captures/field-handshakes.pcap", "--format", "jsonl"},
                "captures/field-handshakes.decode.jsonl");
}

TEST(Golden, SessionsText) {
  expect_golden({"sessions", "captures/field-handshakes.pcap", "--secrets", "captures/field-handshakes.secrets",
                 "--color", "never"},
                "captures/field-handshakes.sessions.txt");
}

TEST(Golden, SessionsJsonl) {
  expect_golden({"sessions", "captures/field-handshakes.pcap", "--secrets", "captures/field-handshakes.secrets",
                 "--format", "jsonl"},
                "captures/field-handshakes.sessions.jsonl");
}

// Anomalies: a malformed authenticate body (exit 1, reported with file, frame and offset, the stream goes on),
// a challenge split inside its length field, a 200 KB PUBLISH over many segments, a replayed challenge, a
// response sent twice, on a non-standard port and a Linux cooked v2 capture.
TEST(Golden, AnomaliesDecodeText) {
  expect_golden({"decode", "captures/field-anomalies.pcap", "--color", "never"}, "captures/field-anomalies.decode.txt",
                1);
}

TEST(Golden, AnomaliesDecodeJsonl) {
  expect_golden({"decode", "captures/field-anomalies.pcap", "--format", "jsonl"},
                "captures/field-anomalies.decode.jsonl", 1);
}

TEST(Golden, AnomaliesSessionsText) {
  expect_golden({"sessions", "captures/field-anomalies.pcap", "--color", "never"},
                "captures/field-anomalies.sessions.txt");
}

TEST(Golden, StatsTextWithoutTheTimingLine) {
  auto r = run({"stats", "--threads", "1", "captures/field-handshakes.pcap"}, "", kSrc);
  ASSERT_EQ(r.rc, 0) << r.err;
  std::string out, line;
  std::istringstream in(r.out);
  bool timing = false;
  while (std::getline(in, line)) {
    if (line.rfind("Analysis:", 0) == 0) {
      timing = true;  // seconds and MB/s vary from run to run
      continue;
    }
    out += line + "\n";
  }
  EXPECT_TRUE(timing);
  EXPECT_EQ(out, slurp(kSrc + "/captures/field-handshakes.stats.txt"));
}
