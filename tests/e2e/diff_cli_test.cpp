// End-to-end tests of `mqttauth diff`.
#include <gtest/gtest.h>

#include <fstream>

#include "run.hpp"

using namespace mqttauth::test;

namespace {

const std::string kSrc = MQTTAUTH_SOURCE_DIR;
const std::string kHandshakes = kSrc + "/captures/field-handshakes.pcap";
const std::string kAnomalies = kSrc + "/captures/field-anomalies.pcap";

std::string replace_once(std::string s, const std::string& from, const std::string& to) {
  auto p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  if (p != std::string::npos) s.replace(p, from.size(), to);
  return s;
}

}  // namespace

TEST(DiffCli, ACaptureIsTheSameAsItself) {
  auto r = run({"diff", kHandshakes, kHandshakes});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "same: 5 sessions\n");
}

TEST(DiffCli, DifferentCapturesDiffer) {
  auto r = run({"diff", "--color", "never", kHandshakes, kAnomalies});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("@@ session 'sensor-01' (A #1) only in A"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("@@ session 'meter-31' (B #1) only in B"), std::string::npos) << r.out;
}

TEST(DiffCli, GoldenTranscriptWorkflowAndOneChangedField) {
  std::string golden = temp_dir() + "/golden.transcript";
  auto w = run({"diff", "--write", golden, kHandshakes});
  ASSERT_EQ(w.rc, 0) << w.err;
  std::string text = slurp(golden);
  ASSERT_EQ(text.rfind("# mqttauth transcript 1\n", 0), 0u);
  // The saved transcript against the capture it came from: the same.
  EXPECT_EQ(run({"diff", golden, kHandshakes}).rc, 0);
  // One field changed: sensor-01 published at QoS 2 instead of 1.
  std::string changed = temp_dir() + "/changed.transcript";
  std::ofstream(changed) << replace_once(text, "topic=\"devices/sensor-01/telemetry\" qos=1",
                                         "topic=\"devices/sensor-01/telemetry\" qos=2");
  auto r = run({"diff", "--color", "never", changed, kHandshakes});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("@@ session 'sensor-01' (A #1, B #1) c2s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("-publish topic=\"devices/sensor-01/telemetry\" qos=2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("+publish topic=\"devices/sensor-01/telemetry\" qos=1"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("sensor-02"), std::string::npos) << "only the changed session is shown: " << r.out;
  // Ignoring the field makes them the same again.
  EXPECT_EQ(run({"diff", "--ignore", "qos", changed, kHandshakes}).rc, 0);
  // A packet removed shows as a removal.
  std::string removed = temp_dir() + "/removed.transcript";
  std::ofstream(removed) << replace_once(text, "  s2c suback id=#1 codes=1\n", "");
  auto d = run({"diff", "--color", "never", kHandshakes, removed});
  EXPECT_EQ(d.rc, 1);
  EXPECT_NE(d.out.find("-suback id=#1 codes=1"), std::string::npos) << d.out;
}

TEST(DiffCli, ChallengeAndResponseValuesAreIgnored) {
  std::string golden = temp_dir() + "/ch.transcript";
  ASSERT_EQ(run({"diff", "--write", golden, kHandshakes}).rc, 0);
  std::string text = slurp(golden);
  EXPECT_EQ(text.find("1764047123008"), std::string::npos) << "no challenge value in a transcript";
  EXPECT_NE(text.find("password=<challenge>"), std::string::npos);
}

TEST(DiffCli, Level311AgainstLevel5Differs) {
  std::string a = temp_dir() + "/l4.pcap", b = temp_dir() + "/l5.pcap";
  auto gen = [](const std::string& out, const char* levels) {
    std::string cmd = shell_quote(MQTTAUTH_SYNTH_BIN) + " -o " + shell_quote(out) +
                      " --seed 7 --clients 2 --publishes 3,3 --no-auth --levels " + levels + " >/dev/null";
    return std::system(cmd.c_str());
  };
  ASSERT_EQ(gen(a, "4"), 0);
  ASSERT_EQ(gen(b, "5"), 0);
  EXPECT_EQ(run({"diff", a, a}).rc, 0);
  auto r = run({"diff", "--color", "never", a, b});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("level=4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("level=5"), std::string::npos) << r.out;
}

TEST(DiffCli, UnreadableInputExitsTwo) {
  std::string junk = temp_dir() + "/junk.bin";
  std::ofstream(junk) << "not a capture";
  EXPECT_EQ(run({"diff", junk, kHandshakes}).rc, 2);
  EXPECT_EQ(run({"diff", kHandshakes}).rc, 2);
}
