// `mqttauth stats` latency and volume figures checked against what the capture's own timestamps say: the
// decode of the same capture (its per-packet timestamps, to the microsecond) is paired by hand here, PUBLISH to
// PUBACK / PUBREC / PUBCOMP, and the percentiles computed independently.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "json.hpp"
#include "run.hpp"

using namespace mqttauth::test;

namespace {

std::vector<Json> jsonl(const std::string& out) {
  std::vector<Json> v;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);) v.push_back(Json::parse(l));
  return v;
}

std::int64_t us(double seconds_or_ms, double scale) { return std::llround(seconds_or_ms * scale); }

std::int64_t nearest_rank(std::vector<std::int64_t> v, double p) {
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

}  // namespace

TEST(StatsLatency, AckLatencyPerClientAgreesWithTheTimestampsToTheMicrosecond) {
  const std::string cap = temp_dir() + "/latency.pcap";
  const std::string cmd = shell_quote(MQTTAUTH_SYNTH_BIN) + " -o " + shell_quote(cap) +
                          " --seed 31 --clients 6 --levels 4,5 --auth-ratio 0.5 --publishes 10,40 >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);

  auto d = run({"decode", cap, "--format", "jsonl"});
  ASSERT_EQ(d.rc, 0) << d.err;
  // By hand: (conn, packet id) -> the PUBLISH's time; each server PUBACK / PUBREC / PUBCOMP gives a sample.
  std::map<double, std::string> client_of;  // conn -> client id
  std::map<std::pair<double, double>, std::int64_t> in_flight;
  std::map<std::string, std::vector<std::int64_t>> samples;
  std::vector<std::int64_t> all;
  for (const Json& p : jsonl(d.out)) {
    if (!p.has("type")) continue;
    const std::string type = p["type"].str(), dir = p["dir"].str();
    const double conn = p["conn"].num();
    const std::int64_t t = us(p["ts"].num(), 1e6);
    if (type == "connect") client_of[conn] = p["client_id"].str();
    if (type == "publish" && dir == "c2s" && p.has("packet_id")) in_flight[{conn, p["packet_id"].num()}] = t;
    if ((type == "puback" || type == "pubrec" || type == "pubcomp") && dir == "s2c") {
      auto it = in_flight.find({conn, p["packet_id"].num()});
      if (it == in_flight.end()) continue;
      samples[client_of[conn]].push_back(t - it->second);
      all.push_back(t - it->second);
      if (type != "pubrec") in_flight.erase(it);
    }
  }
  ASSERT_GT(all.size(), 20u);

  auto s = run({"stats", cap, "--format", "jsonl", "--threads", "1", "--top", "100"});
  ASSERT_EQ(s.rc, 0) << s.err;
  const Json j = Json::parse(s.out);
  const Json& ack = j["latency"]["ack_by_client"];
  auto check = [&](const Json& got, const std::vector<std::int64_t>& want, const std::string& who) {
    ASSERT_LE(want.size(), 128u) << who << ": more samples than are kept exactly";
    EXPECT_EQ(static_cast<std::size_t>(got["count"].num()), want.size()) << who;
    EXPECT_EQ(us(got["p50_ms"].num(), 1e3), nearest_rank(want, 50)) << who;
    EXPECT_EQ(us(got["p90_ms"].num(), 1e3), nearest_rank(want, 90)) << who;
    EXPECT_EQ(us(got["p99_ms"].num(), 1e3), nearest_rank(want, 99)) << who;
    EXPECT_EQ(us(got["max_ms"].num(), 1e3), *std::max_element(want.begin(), want.end())) << who;
  };
  EXPECT_EQ(static_cast<std::size_t>(ack["all"]["count"].num()), all.size());
  EXPECT_EQ(us(ack["all"]["max_ms"].num(), 1e3), *std::max_element(all.begin(), all.end()));
  ASSERT_EQ(ack["top"].size(), samples.size());
  for (std::size_t i = 0; i < ack["top"].size(); ++i) {
    const Json& row = ack["top"][i];
    check(row, samples[row["client_id"].str()], row["client_id"].str());
  }
  // Per-topic volumes add up to the PUBLISH count.
  double publishes = 0;
  for (std::size_t i = 0; i < j["top_topics"].size(); ++i) publishes += j["top_topics"][i]["publishes"].num();
  EXPECT_EQ(publishes, j["packets"]["publish"]["total"].num());
}

// Publisher-to-subscriber delivery on the will-retained scenario (frames 1 ms apart): sensor-63's two messages
// and its clearing reach sensor-62 one, two and two frames later (frames 48->49, 50->52, 51->53).
TEST(StatsLatency, DeliveryThroughTheBrokerAndTheFleetCounts) {
  auto s = run({"stats", source_path("captures/loopback-will-retained.pcap"), "--format", "jsonl", "--threads", "1"});
  ASSERT_EQ(s.rc, 0) << s.err;
  const Json j = Json::parse(s.out);
  const Json& del = j["latency"]["delivery_by_topic"];
  EXPECT_EQ(del["all"]["count"].num(), 3);
  EXPECT_EQ(del["all"]["max_ms"].num(), 2.0);
  EXPECT_EQ(del["all"]["p50_ms"].num(), 2.0);  // nearest rank of {1, 2, 2}
  EXPECT_EQ(del["top"][0]["topic"].str(), "devices/sensor-63/telemetry");
  const Json& f = j["fleet"];
  EXPECT_EQ(f["wills_fired"].num(), 1);
  EXPECT_EQ(f["wills_published"].num(), 1);
  EXPECT_EQ(f["retained_delivered"].num(), 1);
  EXPECT_EQ(f["retained_cleared"].num(), 1);
  EXPECT_EQ(f["takeovers"].num(), 0);
  auto t = run({"stats", source_path("captures/loopback-takeover.pcap"), "--format", "jsonl", "--threads", "1"});
  const Json k = Json::parse(t.out);
  EXPECT_EQ(k["fleet"]["takeovers"].num(), 3);
  EXPECT_EQ(k["fleet"]["takeover_loops"].num(), 1);
  EXPECT_EQ(k["fleet"]["reconnect_storms"].num(), 1);
  // Top talkers: sensor-52 published once per session, six sessions.
  EXPECT_EQ(k["top_talkers"][0]["client_id"].str(), "sensor-52");
  EXPECT_EQ(k["top_talkers"][0]["publishes"].num(), 6);
}
