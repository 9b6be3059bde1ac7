// The QoS flow audit (flows.hpp) through the session model: complete flows at QoS 1 and 2 in both
// directions, and each finding on the packet that raises it, with the PUBLISH it refers to.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "mqttauth/codec.hpp"
#include "mqttauth/findings.hpp"
#include "mqttauth/session.hpp"

using namespace mqttauth;

namespace {

using ByteVec = std::vector<std::uint8_t>;

// One connection fed packet by packet; frame n at n ms.
class Flows {
 public:
  explicit Flows(std::uint8_t level = kLevel311) : level_(level) {}

  Observation feed(const Packet& p, Direction dir) {
    packets_.push_back(encode_or_throw(p, level_));
    ++frame_;
    auto step = session.decode(packets_.back(), dir, PacketRef{frame_, static_cast<std::int64_t>(frame_) * 1000000});
    EXPECT_TRUE(step.decoded.ok()) << "frame " << frame_ << ": " << step.decoded.error().message();
    return step.obs;
  }
  Observation connect(bool clean = true, std::optional<std::uint16_t> receive_maximum = std::nullopt) {
    Connect c;
    c.level = level_;
    c.client_id = "dev";
    c.clean = clean;
    if (receive_maximum) {
      props_.add_int(PropertyId::receive_maximum, *receive_maximum);
      c.properties = props_.properties();
    }
    auto o = feed(c, Direction::c2s);
    feed(Connack{}, Direction::s2c);
    return o;
  }
  Observation publish(Direction dir, std::uint16_t id, std::uint8_t qos, const std::string& payload, bool dup = false) {
    payloads_.push_back(payload);
    Publish p;
    p.topic = "t/1";
    p.qos = qos;
    p.dup = dup;
    p.packet_id = id;
    p.payload = Bytes::of(payloads_.back());
    return feed(p, dir);
  }
  template <class Ack>
  Observation ack(Direction dir, std::uint16_t id, std::uint8_t reason = 0) {
    Ack a;
    a.packet_id = id;
    a.reason_code = reason;
    return feed(a, dir);
  }
  void close() { session.close(PacketRef{frame_ + 1, static_cast<std::int64_t>(frame_ + 1) * 1000000}); }
  std::uint64_t frame() const { return frame_; }

  Session session;

 private:
  std::uint8_t level_;
  std::uint64_t frame_ = 0;
  std::vector<ByteVec> packets_;
  std::deque<std::string> payloads_;  // views point into them: a deque never moves its elements
  PropertyBuilder props_;
};

constexpr Direction c2s = Direction::c2s, s2c = Direction::s2c;

}  // namespace

TEST(FlowAudit, CompleteFlowsBothWaysHaveNoFinding) {
  Flows f;
  f.connect();
  EXPECT_EQ(f.publish(c2s, 1, 1, "a").flow, 0);
  auto ack = f.ack<Puback>(s2c, 1);
  EXPECT_EQ(ack.flow, 0);
  EXPECT_EQ(ack.flow_related, 3u);  // acknowledges the PUBLISH in frame 3
  f.publish(s2c, 1, 2, "b");        // the same id the other way is another flow
  EXPECT_EQ(f.ack<Pubrec>(c2s, 1).flow_related, 5u);
  EXPECT_EQ(f.ack<Pubrel>(s2c, 1).flow, 0);
  EXPECT_EQ(f.ack<Pubrel>(s2c, 1).flow, 0);  // PUBREL again while awaiting PUBCOMP: a resend
  EXPECT_EQ(f.ack<Pubcomp>(c2s, 1).flow_related, 5u);
  f.close();
  EXPECT_TRUE(f.session.flows().open_flows().empty());
  EXPECT_EQ(f.session.flows().completed(0), 1u);
  EXPECT_EQ(f.session.flows().completed(1), 1u);
}

TEST(FlowAudit, UnacknowledgedAndHalfWayFlowsAtTheEnd) {
  Flows f;
  f.connect();
  f.publish(c2s, 7, 1, "never acked");  // frame 3
  f.publish(s2c, 8, 2, "pubrec only");  // frame 4
  f.ack<Pubrec>(c2s, 8);                // frame 5
  f.publish(c2s, 9, 2, "pubrel only");  // frame 6
  f.ack<Pubrec>(s2c, 9);
  f.ack<Pubrel>(c2s, 9);  // frame 8
  f.close();              // at frame 9 = 9 ms
  const auto& open = f.session.flows().open_flows();
  ASSERT_EQ(open.size(), 3u);
  EXPECT_EQ(open[0].dir, c2s);
  EXPECT_EQ(open[0].packet_id, 7);
  EXPECT_TRUE(open[0].unacked());
  EXPECT_EQ(open[0].publish_id, 3u);
  EXPECT_EQ(open[0].waited_ns, 6'000'000);
  EXPECT_EQ(open[1].stage, OpenFlow::Stage::awaiting_pubrel);
  EXPECT_EQ(open[1].dir, s2c);
  EXPECT_EQ(open[1].last_id, 5u);
  EXPECT_EQ(open[2].stage, OpenFlow::Stage::awaiting_pubcomp);
  EXPECT_EQ(open[2].last_id, 8u);
}

TEST(FlowAudit, ReusedIdentifierAndResendWithoutDup) {
  Flows f;
  f.connect();
  f.publish(c2s, 3, 1, "first");                           // frame 3
  EXPECT_EQ(f.publish(c2s, 3, 1, "first", true).flow, 0);  // a resend with DUP
  auto no_dup = f.publish(c2s, 3, 1, "first");             // frame 5
  EXPECT_EQ(no_dup.flow, flow::resend_without_dup);
  EXPECT_EQ(no_dup.flow_related, 3u);
  auto reuse = f.publish(c2s, 3, 1, "another message");  // frame 6
  EXPECT_EQ(reuse.flow, flow::packet_id_in_use);
  EXPECT_EQ(reuse.flow_related, 3u);
  EXPECT_EQ(f.ack<Puback>(s2c, 3).flow_related, 6u);  // the newer message's flow
  EXPECT_EQ(*flow_finding(flow::resend_without_dup), FindingId::resend_without_dup);
  EXPECT_EQ(finding(FindingId::packet_id_in_use).name, "packet_id_in_use");
}

// A DUP resend crossing the receiver's PUBREC on the wire, and the PUBREC it gets again: one flow, no finding.
TEST(FlowAudit, Qos2ResendCrossingItsPubrec) {
  Flows f;
  f.connect();
  f.publish(c2s, 5, 2, "m");                           // frame 3
  f.ack<Pubrec>(s2c, 5);                               // frame 4
  EXPECT_EQ(f.publish(c2s, 5, 2, "m", true).flow, 0);  // the sender's retry, sent before it saw frame 4
  auto again = f.ack<Pubrec>(s2c, 5);                  // the receiver answers the DUP with PUBREC again
  EXPECT_EQ(again.flow, 0);
  EXPECT_EQ(again.flow_related, 3u);
  f.ack<Pubrel>(c2s, 5);
  EXPECT_EQ(f.ack<Pubrec>(s2c, 5).flow, 0);  // late, the flow awaits PUBCOMP
  EXPECT_EQ(f.ack<Pubcomp>(s2c, 5).flow, 0);
  f.close();
  EXPECT_TRUE(f.session.flows().open_flows().empty());
  EXPECT_EQ(f.session.flows().completed(0), 1u);
}

TEST(FlowAudit, UnknownIdentifierOnlyWhenTheCleanConnectionWasSeen) {
  {
    Flows f;
    f.connect(true);
    EXPECT_EQ(f.ack<Puback>(s2c, 40).flow, flow::unknown_packet_id);
    EXPECT_EQ(f.ack<Pubrec>(c2s, 41).flow, flow::unknown_packet_id);
    f.publish(c2s, 42, 1, "qos 1");
    EXPECT_EQ(f.ack<Pubrec>(s2c, 42).flow, flow::unknown_packet_id);  // a QoS 2 answer to a QoS 1 PUBLISH
    EXPECT_EQ(f.ack<Pubrel>(c2s, 43).flow, flow::unknown_packet_id);
    EXPECT_EQ(f.ack<Pubcomp>(s2c, 43).flow, 0);  // answers that PUBREL: not reported twice
  }
  {
    Flows f;  // a persistent session: the PUBREL and PUBACK of flows begun before this connection
    f.connect(false);
    EXPECT_EQ(f.ack<Pubrel>(c2s, 5).flow, 0);
    EXPECT_EQ(f.ack<Pubcomp>(s2c, 5).flow, 0);
    EXPECT_EQ(f.ack<Puback>(c2s, 6).flow, 0);
  }
  {
    Flows f;  // the capture starts after CONNECT
    EXPECT_EQ(f.ack<Puback>(s2c, 1).flow, 0);
  }
}

TEST(FlowAudit, ReceiveMaximumOfMqtt5) {
  Flows f(kLevel5);
  f.connect(true, 2);  // the client accepts 2 unacknowledged QoS 1/2 PUBLISH from the server
  EXPECT_EQ(f.publish(s2c, 1, 1, "a").flow, 0);
  EXPECT_EQ(f.publish(s2c, 2, 2, "b").flow, 0);
  EXPECT_EQ(f.publish(s2c, 3, 1, "c").flow, flow::receive_maximum_exceeded);
  f.ack<Puback>(c2s, 1);
  EXPECT_EQ(f.publish(s2c, 4, 1, "d").flow, flow::receive_maximum_exceeded);  // 2, 3, 4 in flight
  EXPECT_EQ(f.publish(c2s, 1, 1, "client side: the server's default 65535").flow, 0);
}

TEST(FlowAudit, Mqtt5PubrecWithAnErrorEndsTheFlow) {
  Flows f(kLevel5);
  f.connect();
  f.publish(c2s, 1, 2, "refused");
  f.ack<Pubrec>(s2c, 1, 0x87);
  f.close();
  EXPECT_TRUE(f.session.flows().open_flows().empty());
}

// ------------------------------------------------------------------------------------------ keep-alive

namespace {
// A connection with keep-alive `ka` seconds; packets at the given times (ms).
class KeepAlive {
 public:
  explicit KeepAlive(std::uint16_t ka) {
    Connect c;
    c.client_id = "dev";
    c.keep_alive = ka;
    feed(c, Direction::c2s, 0);
    feed(Connack{}, Direction::s2c, 1);
  }
  Observation feed(const Packet& p, Direction dir, std::int64_t ms) {
    packets_.push_back(encode_or_throw(p, kLevel311));
    ++frame_;
    return session.decode(packets_.back(), dir, PacketRef{frame_, ms * 1'000'000}).obs;
  }
  Session session;
  std::uint64_t frame_ = 0;

 private:
  std::vector<ByteVec> packets_;
};
}  // namespace

TEST(KeepAliveAudit, LateExpiredAndUnansweredPings) {
  KeepAlive k(10);
  EXPECT_EQ(k.feed(Pingreq{}, c2s, 10'900).flow, 0);  // 10.9 s after CONNECT: within the second of grace
  EXPECT_EQ(k.feed(Pingresp{}, s2c, 10'901).flow, 0);
  auto late = k.feed(Pingreq{}, c2s, 22'000);  // 11.1 s of silence
  EXPECT_EQ(late.flow, flow::keep_alive_late);
  EXPECT_EQ(late.keep_alive_related, 3u);       // silent since frame 3
  auto again = k.feed(Pingreq{}, c2s, 23'000);  // the previous one was not answered
  EXPECT_EQ(again.flow, flow::pingreq_unanswered);
  EXPECT_EQ(again.keep_alive_related, 5u);
  k.feed(Pingresp{}, s2c, 23'001);
  auto expired = k.feed(Publish{}, s2c, 39'100);  // the server talks 16.1 s after the client's last packet
  EXPECT_EQ(expired.flow, flow::keep_alive_expired);
  EXPECT_EQ(expired.keep_alive_related, 6u);
  EXPECT_FALSE(expired.flow_related);
  EXPECT_EQ(k.feed(Publish{}, s2c, 39'200).flow, 0);  // reported once per silence
  // A late acknowledgement: its QoS flow and its keep-alive finding each refer to their own frame.
  Publish cmd;
  cmd.qos = 1;
  cmd.packet_id = 9;
  k.feed(cmd, s2c, 39'300);  // frame 10
  Puback ack;
  ack.packet_id = 9;
  auto late_ack = k.feed(ack, c2s, 39'400);
  EXPECT_EQ(late_ack.flow, flow::keep_alive_late);
  EXPECT_EQ(late_ack.flow_related, 10u);       // the PUBLISH it acknowledges
  EXPECT_EQ(late_ack.keep_alive_related, 6u);  // the client's previous packet
  EXPECT_EQ(*flow_finding(flow::pingreq_unanswered), FindingId::pingreq_unanswered);
}

TEST(KeepAliveAudit, AtTheEndAndWithoutKeepAlive) {
  {
    KeepAlive k(10);
    k.feed(Pingreq{}, c2s, 5'000);
    k.session.close(PacketRef{4, 7'000'000'000});  // 2 s after the PINGREQ, no PINGRESP
    EXPECT_EQ(k.session.keep_alive().unanswered_pingreq(), 3u);
    EXPECT_EQ(k.session.keep_alive().client_silence_at_close_ns(), 2'000'000'000);
  }
  {
    KeepAlive k(10);
    k.feed(Pingreq{}, c2s, 5'000);
    k.session.close(PacketRef{4, 5'500'000'000});  // closed at once: no time to answer
    EXPECT_FALSE(k.session.keep_alive().unanswered_pingreq());
  }
  {
    KeepAlive k(0);  // keep-alive off: any silence is fine
    EXPECT_EQ(k.feed(Pingreq{}, c2s, 1'000'000).flow, 0);
    k.feed(Pingresp{}, s2c, 1'000'001);
    EXPECT_EQ(k.feed(Pingreq{}, c2s, 2'000'000).flow, 0);
  }
}

// Memory stays bounded: beyond FlowAudit::kMaxFlights in flight on one side, PUBLISH are counted, not followed.
TEST(FlowAudit, BoundedByWhatIsInFlight) {
  Flows f;
  f.connect();
  const std::size_t n = FlowAudit::kMaxFlights + 10;
  for (std::size_t i = 1; i <= n; ++i) f.publish(c2s, static_cast<std::uint16_t>(i), 1, "x");
  EXPECT_EQ(f.session.flows().in_flight(0), FlowAudit::kMaxFlights);
  EXPECT_EQ(f.session.flows().untracked(), 10u);
  f.close();
  EXPECT_EQ(f.session.flows().open_flows().size(), FlowAudit::kMaxFlights);
}

// The flow table under pressure: hundreds of identifiers in flight at once, chosen to collide in the table
// (multiples of 8, 64 and 512 share their slot at every size) and to wrap around its end, acknowledged in a
// shuffled order: every acknowledgement finds its PUBLISH (its frame), nothing is flagged, nothing is left.
TEST(FlowAudit, ManyCollidingFlowsInFlightAllFound) {
  Flows f;
  f.connect();
  std::vector<std::uint16_t> ids;
  for (std::uint16_t k = 1; k <= 300; ++k)
    ids.push_back(static_cast<std::uint16_t>(k * (k % 3 == 0 ? 512 : k % 3 == 1 ? 64 : 8) % 65535 + 1));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::map<std::uint16_t, std::uint64_t> frame_of;
  for (std::uint16_t id : ids) {
    EXPECT_EQ(f.publish(c2s, id, 1, "m" + std::to_string(id)).flow, 0) << id;
    frame_of[id] = f.frame();
  }
  EXPECT_EQ(f.session.flows().in_flight(0), ids.size());
  // A deterministic shuffle.
  std::vector<std::uint16_t> order = ids;
  std::uint64_t x = 88172645463325252ull;
  for (std::size_t i = order.size(); i > 1; --i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::swap(order[i - 1], order[x % i]);
  }
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto o = f.ack<Puback>(s2c, order[i]);
    EXPECT_EQ(o.flow, 0) << order[i];
    ASSERT_TRUE(o.flow_related) << order[i];
    EXPECT_EQ(*o.flow_related, frame_of[order[i]]) << order[i];
    // Half-way, the ones not yet acknowledged are all still found: a resend of each is recognised as one.
    if (i == order.size() / 2) {
      for (std::size_t j = i + 1; j < order.size(); j += 7) {
        EXPECT_EQ(f.publish(c2s, order[j], 1, "m" + std::to_string(order[j]), true).flow, 0) << order[j];
      }
    }
  }
  EXPECT_EQ(f.session.flows().in_flight(0), 0u);
  EXPECT_EQ(f.session.flows().completed(0), ids.size());
  f.close();
  EXPECT_TRUE(f.session.flows().open_flows().empty());
}
