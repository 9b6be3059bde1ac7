// The model across connections (fleet.hpp) fed the way the analyzer and the plugin feed it: each connection
// through its own Session, every packet then to one Fleet. Takeovers, loops, storms, retained messages, wills
// and latency, each on the packet that shows it, and none on healthy traffic.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "mqttauth/codec.hpp"
#include "mqttauth/findings.hpp"
#include "mqttauth/fleet.hpp"
#include "mqttauth/session.hpp"

using namespace mqttauth;

namespace {

constexpr std::int64_t kMs = 1'000'000;

class Net {
 public:
  explicit Net(FleetOptions o = {}) : fleet(o) {}
  Fleet fleet;

  // Packet of connection `conn` (client address `peer`) at `ms`; frames are numbered in feed order.
  Observation feed(std::uint64_t conn, const Packet& p, Direction dir, std::int64_t ms, std::uint64_t peer = 1) {
    auto& s = sessions_[conn];
    bytes_.push_back(encode_or_throw(p, level_));
    ++frame;
    const PacketRef ref{frame, ms * kMs};
    auto step = s.decode(bytes_.back(), dir, ref);
    EXPECT_TRUE(step.decoded.ok()) << step.decoded.error().message();
    step.obs.fleet = fleet.observe(conn, peer, *step.decoded, step.obs, ref);
    return step.obs;
  }
  Observation connect(std::uint64_t conn, const char* id, std::int64_t ms, std::uint64_t peer = 1,
                      std::optional<std::pair<std::string, std::string>> will = std::nullopt) {
    Connect c;
    c.level = level_;
    c.client_id = id;
    if (will) {
      text_.push_back(will->first);
      text_.push_back(will->second);
      Will w;
      w.topic = text_[text_.size() - 2];
      w.payload = Bytes::of(text_.back());
      c.will = w;
    }
    return feed(conn, c, Direction::c2s, ms, peer);
  }
  Observation connack(std::uint64_t conn, std::int64_t ms, std::uint8_t code = 0) {
    Connack a;
    a.code = code;
    return feed(conn, a, Direction::s2c, ms);
  }
  Observation publish(std::uint64_t conn, Direction dir, const std::string& topic, const std::string& payload,
                      std::int64_t ms, bool retain = false, std::uint8_t qos = 0, std::uint16_t id = 0) {
    text_.push_back(topic);
    const std::string& t = text_.back();
    text_.push_back(payload);
    Publish p;
    p.topic = t;
    p.payload = Bytes::of(text_.back());
    p.retain = retain;
    p.qos = qos;
    p.packet_id = id;
    return feed(conn, p, dir, ms);
  }
  Observation subscribe(std::uint64_t conn, const std::string& filter, std::int64_t ms) {
    text_.push_back(filter);
    Subscribe s;
    s.packet_id = 1;
    s.subscriptions.push_back(Subscription{text_.back(), 0});
    return feed(conn, s, Direction::c2s, ms);
  }
  FleetConnEnd end(std::uint64_t conn, std::int64_t ms, bool closed = true) {
    ++frame;
    sessions_[conn].close(PacketRef{frame, ms * kMs});
    return fleet.end(conn, PacketRef{frame, ms * kMs}, closed);
  }
  std::uint64_t frame = 0;

 private:
  std::uint8_t level_ = kLevel311;
  std::map<std::uint64_t, Session> sessions_;
  std::deque<std::vector<std::uint8_t>> bytes_;
  std::deque<std::string> text_;
};

TEST(Fleet, TakeoverOnTheAcceptingConnackWithTheOldConnect) {
  Net n;
  n.connect(1, "dev-1", 0);
  const std::uint64_t old_connect = n.frame;
  EXPECT_EQ(n.connack(1, 1).fleet.bits, 0);
  EXPECT_EQ(n.connect(2, "dev-1", 100, 2).fleet.bits, 0);  // not yet: the server may refuse it
  Observation ob = n.connack(2, 101);
  EXPECT_EQ(ob.fleet.bits, fleet::client_takeover);
  EXPECT_EQ(ob.fleet.related, old_connect);
  EXPECT_EQ(ob.fleet.other_conn, 1u);
  EXPECT_EQ(finding(*fleet_finding(ob.fleet.bits)).name, "client_takeover");
  const FleetConnEnd old_end = n.end(1, 102);
  EXPECT_EQ(old_end.taken_over_by, 2u);
  EXPECT_EQ(old_end.close, FleetConnEnd::Close::abnormal);
  EXPECT_EQ(n.end(2, 200).took_over, 1u);
  EXPECT_EQ(n.fleet.counts().takeovers, 1u);
}

TEST(Fleet, TakeoverWhenTheServerClosesTheOldOneBeforeTheConnack) {
  Net n;  // mosquitto's and the reference broker's order: the old connection ends, then the new CONNACK
  n.connect(1, "dev-1", 0);
  n.connack(1, 1);
  n.connect(2, "dev-1", 100, 2);
  EXPECT_EQ(n.end(1, 101).taken_over_by, 2u);
  Observation ob = n.connack(2, 102);
  EXPECT_EQ(ob.fleet.bits, fleet::client_takeover);
  EXPECT_EQ(ob.fleet.other_conn, 1u);
  // One that left with DISCONNECT meanwhile was not taken over.
  n.connect(3, "dev-1", 200, 1);
  n.feed(2, Disconnect{}, Direction::c2s, 201);
  EXPECT_EQ(n.end(2, 202).taken_over_by, 0u);
  EXPECT_EQ(n.connack(3, 203).fleet.bits, 0);
}

TEST(Fleet, RefusedOrEndedConnectionsAreNoTakeover) {
  Net n;
  n.connect(1, "dev-1", 0);
  n.connack(1, 1);
  n.connect(2, "dev-1", 10);
  EXPECT_EQ(n.connack(2, 11, 5).fleet.bits, 0);  // refused
  n.end(1, 20);
  n.connect(3, "dev-1", 30);
  EXPECT_EQ(n.connack(3, 31).fleet.bits, 0);  // the first one had ended
  EXPECT_EQ(n.fleet.counts().takeovers, 0u);
}

TEST(Fleet, TakeoverLoopNeedsTwoAddresses) {
  Net n;
  std::vector<std::uint8_t> bits;
  for (std::uint64_t c = 1; c <= 4; ++c) {
    n.connect(c, "shared", static_cast<std::int64_t>(c) * 1000, c % 2 ? 10 : 20);
    bits.push_back(n.connack(c, static_cast<std::int64_t>(c) * 1000 + 1).fleet.bits);
  }
  EXPECT_EQ(bits[0], 0);
  EXPECT_EQ(bits[1], fleet::client_takeover);
  EXPECT_EQ(bits[2], fleet::client_takeover);
  EXPECT_EQ(bits[3], fleet::client_takeover | fleet::takeover_loop);  // the third takeover in the window
  EXPECT_EQ(n.fleet.counts().takeover_loops, 1u);

  Net same;  // one address: a device reconnecting over its own stale connection, no loop
  for (std::uint64_t c = 1; c <= 5; ++c) {
    same.connect(c, "lonely", static_cast<std::int64_t>(c) * 1000, 10);
    EXPECT_EQ(same.connack(c, static_cast<std::int64_t>(c) * 1000 + 1).fleet.bits & fleet::takeover_loop, 0);
  }
}

TEST(Fleet, ReconnectStormOnceWithTheInterval) {
  Net n;
  std::vector<Observation> obs;
  for (std::uint64_t c = 1; c <= 7; ++c) {
    obs.push_back(n.connect(c, "flappy", static_cast<std::int64_t>(c) * 2000));
    n.connack(c, static_cast<std::int64_t>(c) * 2000 + 1);
    n.end(c, static_cast<std::int64_t>(c) * 2000 + 500);
  }
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(obs[i].fleet.bits, 0) << i;
  EXPECT_EQ(obs[4].fleet.bits, fleet::reconnect_storm);
  EXPECT_EQ(obs[4].fleet.count, 5u);
  EXPECT_EQ(obs[4].fleet.interval_ns, 2000 * kMs);
  EXPECT_EQ(obs[5].fleet.bits, 0);  // the same storm
  // After a quiet window a new storm is a new finding.
  Net slow;
  for (std::uint64_t c = 1; c <= 6; ++c) {
    EXPECT_EQ(slow.connect(c, "steady", static_cast<std::int64_t>(c) * 20000).fleet.bits, 0);  // 3 per minute
    slow.end(c, static_cast<std::int64_t>(c) * 20000 + 10);
  }
}

TEST(Fleet, RetainedDeliveredOnSubscribeAndCleared) {
  Net n;
  n.connect(1, "pub", 0);
  n.connack(1, 1);
  EXPECT_EQ(n.publish(1, Direction::c2s, "state/a", "on", 10, true).fleet.bits, 0);
  const std::uint64_t retained_frame = n.frame;
  n.connect(2, "sub", 5000);
  n.connack(2, 5001);
  n.subscribe(2, "state/#", 5002);
  const std::uint64_t sub_frame = n.frame;
  Observation ob = n.publish(2, Direction::s2c, "state/a", "on", 5003, true);
  EXPECT_EQ(ob.fleet.bits, fleet::retained_delivered);
  EXPECT_EQ(ob.fleet.related, sub_frame);
  EXPECT_EQ(ob.fleet.delivered_from, retained_frame);
  EXPECT_EQ(ob.fleet.retained_age_ns, 4993 * kMs);
  ob = n.publish(1, Direction::c2s, "state/a", "", 6000, true);
  EXPECT_EQ(ob.fleet.bits, fleet::retained_cleared);
  EXPECT_EQ(ob.fleet.related, retained_frame);
  // A live message forwarded to the subscriber (RETAIN 0) is a delivery, not a retained one.
  n.publish(1, Direction::c2s, "state/b", "x", 7000);
  const std::uint64_t live = n.frame;
  ob = n.publish(2, Direction::s2c, "state/b", "x", 7002);
  EXPECT_EQ(ob.fleet.bits, 0);
  EXPECT_EQ(ob.fleet.delivered_from, live);
  EXPECT_EQ(ob.fleet.delivery_ns, 2 * kMs);
}

TEST(Fleet, WillOfAnAbnormalCloseAndWhereItWasPublished) {
  Net n;
  n.connect(1, "sub", 0);
  n.connack(1, 1);
  n.subscribe(1, "wills/+", 2);
  n.connect(2, "dying", 10, 1, std::pair<std::string, std::string>{"wills/dying", "gone"});
  n.connack(2, 11);
  const FleetConnEnd e = n.end(2, 500);
  const std::uint64_t end_frame = n.frame;
  EXPECT_EQ(e.close, FleetConnEnd::Close::abnormal);
  EXPECT_EQ(e.will, FleetConnEnd::Will::fired);
  Observation ob = n.publish(1, Direction::s2c, "wills/dying", "gone", 503);
  EXPECT_EQ(ob.fleet.bits, fleet::will_published);
  EXPECT_EQ(ob.fleet.related, end_frame);
  EXPECT_EQ(ob.fleet.other_conn, 2u);

  // A clean DISCONNECT discards the will; a capture that ends leaves it armed.
  n.connect(3, "polite", 600, 1, std::pair<std::string, std::string>{"wills/polite", "gone"});
  n.connack(3, 601);
  n.feed(3, Disconnect{}, Direction::c2s, 602);
  const FleetConnEnd clean = n.end(3, 603);
  EXPECT_EQ(clean.close, FleetConnEnd::Close::clean);
  EXPECT_EQ(clean.will, FleetConnEnd::Will::discarded);
  EXPECT_EQ(n.publish(1, Direction::s2c, "wills/polite", "gone", 604).fleet.bits, 0);
  n.connect(4, "open", 700, 1, std::pair<std::string, std::string>{"wills/open", "gone"});
  EXPECT_EQ(n.end(4, 800, false).will, FleetConnEnd::Will::armed);
}

TEST(Fleet, AckLatencyPerClientAndTopicExactToTheNanosecond) {
  Net n;
  n.connect(1, "dev-9", 0);
  n.connack(1, 1);
  for (int i = 1; i <= 10; ++i) {
    n.publish(1, Direction::c2s, "t/a", "x" + std::to_string(i), i * 100, false, 1, static_cast<std::uint16_t>(i));
    Puback a;
    a.packet_id = static_cast<std::uint16_t>(i);
    Observation ob = n.feed(1, a, Direction::s2c, i * 100 + i);
    EXPECT_EQ(ob.ack_latency_ns, i * kMs);
  }
  const LatencySamples& s = n.fleet.ack_by_client().keys().at("dev-9");
  EXPECT_EQ(s.count(), 10u);
  EXPECT_EQ(s.percentile(50), 5 * kMs);
  EXPECT_EQ(s.percentile(90), 9 * kMs);
  EXPECT_EQ(s.percentile(99), 10 * kMs);
  EXPECT_EQ(s.max(), 10 * kMs);
  EXPECT_EQ(n.fleet.ack_by_topic().keys().at("t/a").count(), 10u);
}

TEST(Fleet, LatencySamplesMergedFromASmallerReservoirStaySampled) {
  LatencySamples small(128), big(256), whole(256);
  for (int i = 1; i <= 192; ++i) small.add(i);
  for (int i = 1; i <= 100; ++i) whole.add(i);
  EXPECT_FALSE(small.exact());  // 128 of 192 kept
  EXPECT_TRUE(whole.exact());
  big.merge(small);
  EXPECT_EQ(big.count(), 192u);
  EXPECT_EQ(big.kept().size(), 128u);
  EXPECT_FALSE(big.exact());  // within the capacity of 256, but only 128 samples: the percentiles are sampled
  LatencySamples sum(256);
  sum.merge(whole);
  EXPECT_TRUE(sum.exact());
}

TEST(Fleet, LatencySamplesStayBoundedAndMerge) {
  LatencySamples a(64), b(64);
  for (int i = 1; i <= 1000; ++i) a.add(i);
  for (int i = 1001; i <= 2000; ++i) b.add(i);
  EXPECT_FALSE(a.exact());
  EXPECT_EQ(a.min(), 1);
  EXPECT_EQ(a.max(), 1000);
  EXPECT_NEAR(static_cast<double>(a.percentile(50)), 500.0, 150.0);
  a.merge(b);
  EXPECT_EQ(a.count(), 2000u);
  EXPECT_EQ(a.max(), 2000);
  EXPECT_DOUBLE_EQ(a.mean(), 1000.5);
  EXPECT_NEAR(static_cast<double>(a.percentile(50)), 1000.0, 300.0);
}

TEST(Fleet, HealthyTrafficHasNoFindings) {
  Net n;
  std::uint8_t any = 0;
  for (std::uint64_t c = 1; c <= 3; ++c) {
    const std::string id = "dev-" + std::to_string(c);
    any |= n.connect(c, id.c_str(), static_cast<std::int64_t>(c) * 10).fleet.bits;
    any |= n.connack(c, static_cast<std::int64_t>(c) * 10 + 1).fleet.bits;
    any |= n.subscribe(c, "cmd/" + id, static_cast<std::int64_t>(c) * 10 + 2).fleet.bits;
  }
  for (int i = 0; i < 20; ++i)
    any |=
        n.publish(static_cast<std::uint64_t>(1 + i % 3), Direction::c2s, "tele", std::to_string(i), 100 + i).fleet.bits;
  for (std::uint64_t c = 1; c <= 3; ++c) {
    n.feed(c, Disconnect{}, Direction::c2s, 200);
    EXPECT_EQ(n.end(c, 201).close, FleetConnEnd::Close::clean);
  }
  EXPECT_EQ(any, 0);
}

}  // namespace

// What the model keeps follows what is open: the clients of a long capture whose connections ended more than
// the storm window ago are forgotten (and a storm still needs its connections within that window).
TEST(Fleet, ClientsWithNothingOpenAreForgottenAfterTheWindow) {
  Net n;
  std::uint64_t conn = 0;
  // 20,000 devices, one connection each, 10 ms apart (200 s in all): at most the last 60 s of them kept.
  for (int i = 0; i < 20000; ++i) {
    const std::string id = "dev-" + std::to_string(i);
    ++conn;
    n.connect(conn, id.c_str(), i * 10);
    n.connack(conn, i * 10 + 1);
    n.end(conn, i * 10 + 5);
  }
  EXPECT_LE(n.fleet.clients_followed(), 2 * 6001u + 4096u);
  EXPECT_GE(n.fleet.clients_followed(), 6000u);  // the last minute's are still known
  EXPECT_EQ(n.fleet.counts().bounds_hit, 0u);
  // One still connected is never forgotten: a second connection of it is a takeover.
  Net k;
  k.connect(1, "keeper", 0);
  k.connack(1, 1);
  for (int i = 0; i < 12000; ++i) {
    const std::string id = "other-" + std::to_string(i);
    const auto c = static_cast<std::uint64_t>(i) + 2;
    k.connect(c, id.c_str(), 100 + i * 10);
    k.connack(c, 100 + i * 10 + 1);
    k.end(c, 100 + i * 10 + 5);
  }
  k.connect(50000, "keeper", 200000, 2);
  EXPECT_EQ(k.connack(50000, 200001).fleet.bits, fleet::client_takeover);
}

TEST(Fleet, DeliveriesMatchOnlyTheirOwnRecentPublishAndTheOldestAreForgotten) {
  // 70,000 distinct client messages within the delivery window: more than the kMaxPending the model
  // remembers. A copy sent to a subscriber matches its own PUBLISH (each payload differs) or nothing: the
  // newest always; of the last kMaxPending most (a newer message whose digest shares an index slot hides an
  // older one: about 1 - 1/e kept); of those before them none (the ring forgot them).
  Net n;
  n.connect(1, "pub", 0);
  n.connack(1, 1);
  n.connect(2, "sub", 2);
  n.connack(2, 3);
  constexpr int kMessages = 70000;
  const int first_kept = kMessages - static_cast<int>(Fleet::kMaxPending);
  std::vector<std::uint64_t> frames;
  for (int i = 0; i < kMessages; ++i) {
    n.publish(1, Direction::c2s, "t/x", "m" + std::to_string(i), 10);
    frames.push_back(n.frame);
  }
  std::uint64_t matched = 0, recent = 0;
  for (int i = 0; i < kMessages; i += 7) {
    const Observation ob = n.publish(2, Direction::s2c, "t/x", "m" + std::to_string(i), 20);
    if (ob.fleet.delivered_from) {
      ++matched;
      EXPECT_EQ(*ob.fleet.delivered_from, frames[static_cast<std::size_t>(i)]) << i;
      EXPECT_EQ(ob.fleet.delivery_ns, 10 * kMs) << i;
    }
    if (i < first_kept) {
      EXPECT_FALSE(ob.fleet.delivered_from) << i;
    } else {
      ++recent;
    }
  }
  EXPECT_GT(matched, recent / 2);
  EXPECT_LT(matched, recent * 3 / 4);
  const Observation last = n.publish(2, Direction::s2c, "t/x", "m" + std::to_string(kMessages - 1), 20);
  EXPECT_EQ(last.fleet.delivered_from, frames.back());
  EXPECT_EQ(n.fleet.counts().deliveries, matched + 1);
}
