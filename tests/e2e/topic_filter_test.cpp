// --topic on decode, sessions, stats and check (MQTT filter semantics), on the will-retained scenario: sensor-60
// watches devices/+/status and gets sensor-61's will; sensor-62 subscribes to devices/+/telemetry; sensor-63
// publishes and clears devices/sensor-63/telemetry.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

#include "json.hpp"
#include "run.hpp"

using namespace mqttauth::test;

namespace {

const std::string kCapture = "captures/loopback-will-retained.pcap";

std::set<std::string> field_values(const std::string& out, const std::string& key) {
  std::set<std::string> v;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);) {
    auto j = Json::parse(l);
    if (j.has(key)) v.insert(j[key].is_string() ? j[key].str() : std::to_string(static_cast<long>(j[key].num())));
  }
  return v;
}

}  // namespace

TEST(TopicFilter, DecodeShowsOnlyPacketsThatNameAMatchingTopic) {
  auto r = run({"decode", "--format", "jsonl", "--topic", "devices/+/status", source_path(kCapture)});
  ASSERT_EQ(r.rc, 0) << r.err;
  // The watcher's SUBSCRIBE (its filter devices/+/status is matched as a name) and the will it was sent.
  EXPECT_EQ(field_values(r.out, "frame"), (std::set<std::string>{"8", "24"})) << r.out;
  auto two = run({"decode", "--format", "jsonl", "--topic", "devices/sensor-63/telemetry", "--topic",
                  "devices/sensor-61/status", "--type", "publish", source_path(kCapture)});
  ASSERT_EQ(two.rc, 0) << two.err;
  EXPECT_EQ(field_values(two.out, "topic"),
            (std::set<std::string>{"devices/sensor-63/telemetry", "devices/sensor-61/status"}));
  EXPECT_EQ(run({"decode", "--topic", "a/#/b", source_path(kCapture)}).rc, 2);  // not a filter
}

TEST(TopicFilter, SessionsAndCheckKeepTheConnectionsOfTheTopics) {
  auto s = run({"sessions", "--format", "jsonl", "--topic", "devices/sensor-61/#", source_path(kCapture)});
  ASSERT_EQ(s.rc, 0) << s.err;
  // sensor-61 published there, sensor-60 was sent its will, sensor-62 its retained message; not sensor-63.
  EXPECT_EQ(field_values(s.out, "client_id"), (std::set<std::string>{"sensor-60", "sensor-61", "sensor-62"}));
  auto c = run({"check", "--format", "jsonl", "--topic", "devices/sensor-63/#", source_path(kCapture)});
  ASSERT_EQ(c.rc, 0) << c.err;
  // sensor-63's connection and sensor-62's (sent sensor-63's messages): all their findings, sensor-62's retained
  // message of another topic too; not sensor-60's will.
  EXPECT_EQ(field_values(c.out, "rule"), (std::set<std::string>{"retained_cleared", "retained_delivered"}));
}

TEST(TopicFilter, StatsCountsOnlyTheMatchingPackets) {
  auto all = Json::parse(run({"stats", "--format", "jsonl", "--threads", "1", source_path(kCapture)}).out);
  auto r =
      run({"stats", "--format", "jsonl", "--threads", "1", "--topic", "devices/sensor-63/#", source_path(kCapture)});
  ASSERT_EQ(r.rc, 0) << r.err;
  const Json j = Json::parse(r.out);
  EXPECT_EQ(j["distinct_topics"].num(), 1);
  EXPECT_EQ(j["top_topics"][0]["topic"].str(), "devices/sensor-63/telemetry");
  // Three PUBLISH from sensor-63 and the three the broker sent on to sensor-62.
  EXPECT_EQ(j["packets"]["publish"]["total"].num(), 6);
  EXPECT_LT(j["packets_total"].num(), all["packets_total"].num());
  EXPECT_EQ(j["latency"]["delivery_by_topic"]["all"]["count"].num(), 3);
  EXPECT_EQ(j["top_talkers"].size(), 1u);
}
