// The reference broker: its sans-I/O core driven with encoded packets and a fake clock, the config file, and a
// few real sockets on 127.0.0.1 (port 0) speaking bytes built with the codec.
#include <gtest/gtest.h>
#include <poll.h>

#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "broker/broker.hpp"
#include "broker/config.hpp"
#include "broker/core.hpp"
#include "broker/limiter.hpp"
#include "broker_process.hpp"
#include "iotap.hpp"
#include "mqttauth/codec.hpp"
#include "run.hpp"
#include "mqttauth/verify.hpp"

namespace mqttauth::clitest {

using namespace mqttauth::cli::broker;
using Buf = std::vector<std::uint8_t>;

namespace {

constexpr const char* kChallenge = "00112233445566778899aabbccddeeff";

// Drives a Core: connections are numbered by the test; what the core sends is decoded per connection.
class Harness {
 public:
  BrokerConfig cfg;
  TimeMs now = 1000;
  std::unique_ptr<Core> core;
  std::map<ConnId, std::deque<Buf>> raw;  // stable storage for decoded views
  std::map<ConnId, std::vector<Packet>> got;
  std::map<ConnId, std::uint8_t> level;
  std::set<ConnId> closed;
  // The core's challenges; `last_challenge` is the latest one made.
  std::function<std::string()> next_challenge = [] { return std::string(kChallenge); };
  std::string last_challenge;

  Harness() {
    cfg.secrets.add("dev1", "s3cret");
    cfg.secrets.add("dev5", "five");
  }
  void start() {
    cfg.challenges = [this](std::string_view) { return last_challenge = next_challenge(); };
    core = std::make_unique<Core>(cfg);
  }
  void open(ConnId id, const ListenerConfig& l = {}, std::string source = {}) {
    if (!core) start();
    core->open(id, l, now, std::move(source));
    collect();
  }
  void send(ConnId id, const Packet& p) {
    std::uint8_t lv = level.count(id) ? level[id] : kLevel311;
    if (auto* c = std::get_if<Connect>(&p)) level[id] = lv = c->level;
    Buf b = encode_or_throw(p, lv);
    core->receive(id, b, now);
    collect();
  }
  void bytes(ConnId id, const Buf& b) {
    core->receive(id, b, now);
    collect();
  }
  void tick(TimeMs advance) {
    now += advance;
    core->tick(now);
    collect();
  }
  void drop(ConnId id) {
    core->closed(id, now);
    collect();
  }
  void collect() {
    for (auto& a : core->take_actions()) {
      if (a.kind == Action::Kind::close) {
        closed.insert(a.conn);
        continue;
      }
      auto& store = raw[a.conn];
      store.push_back(std::move(a.bytes));
      const Buf& b = store.back();
      std::size_t off = 0;
      DecodeContext ctx;
      ctx.level = level.count(a.conn) ? level[a.conn] : kLevel311;
      while (off < b.size()) {
        auto d = decode(std::span<const std::uint8_t>(b).subspan(off), ctx);
        ASSERT_TRUE(d.ok()) << d.error().message();
        got[a.conn].push_back(d->packet);
        off += d->header.packet_size();
      }
    }
  }
  std::vector<Packet> take(ConnId id) {
    auto v = std::move(got[id]);
    got[id].clear();
    return v;
  }
  // CONNECT and expect CONNACK 0.
  void connect(ConnId id, std::string_view client_id, std::uint8_t lv = kLevel311, bool clean = true,
               std::uint16_t keep_alive = 0) {
    open(id);
    Connect c;
    c.level = lv;
    c.protocol_name = lv == kLevel31 ? "MQIsdp" : "MQTT";
    c.client_id = client_id;
    c.clean = clean;
    c.keep_alive = keep_alive;
    send(id, c);
    auto ps = take(id);
    ASSERT_GE(ps.size(), 1u);
    ASSERT_TRUE(std::holds_alternative<Connack>(ps[0]));
    ASSERT_EQ(std::get<Connack>(ps[0]).code, 0);
    // Packets that followed the CONNACK (redelivery) stay for the test.
    for (std::size_t i = 1; i < ps.size(); ++i) got[id].push_back(ps[i]);
  }
  void subscribe(ConnId id, std::string_view filter, std::uint8_t options, std::uint8_t expect = 0xFF) {
    Subscribe s;
    s.packet_id = 7;
    s.subscriptions.push_back({filter, options});
    send(id, s);
    auto ps = take(id);
    ASSERT_GE(ps.size(), 1u);
    ASSERT_TRUE(std::holds_alternative<Suback>(ps[0]));
    ASSERT_EQ(std::get<Suback>(ps[0]).codes.size(), 1u);
    EXPECT_EQ(std::get<Suback>(ps[0]).codes[0], expect == 0xFF ? (options & 3) : expect);
    // Retained messages that followed the SUBACK stay for the test.
    for (std::size_t i = 1; i < ps.size(); ++i) got[id].push_back(ps[i]);
  }
  void publish(ConnId id, std::string_view topic, std::string_view payload, std::uint8_t qos = 0, bool retain = false,
               std::uint16_t pid = 1) {
    Publish p;
    p.topic = topic;
    p.payload = Bytes::of(payload);
    p.qos = qos;
    p.retain = retain;
    p.packet_id = qos ? pid : 0;
    send(id, p);
  }
};

template <class T>
std::vector<T> only(const std::vector<Packet>& ps) {
  std::vector<T> out;
  for (const auto& p : ps)
    if (auto* x = std::get_if<T>(&p)) out.push_back(*x);
  return out;
}

}  // namespace

TEST(BrokerCore, ConnectWithoutAuth) {
  Harness h;
  h.connect(1, "a");
  h.connect(2, "b", kLevel31);
  h.connect(3, "c", kLevel5);
  EXPECT_EQ(h.core->connection_count(), 3u);
  EXPECT_TRUE(h.core->is_connected("c"));
}

TEST(BrokerCore, EmptyClientId) {
  Harness h;
  h.open(1);
  Connect c;
  c.client_id = "";
  c.clean = false;
  h.send(1, c);
  auto ps = h.take(1);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(std::get<Connack>(ps[0]).code, 2);  // identifier rejected
  EXPECT_TRUE(h.closed.count(1));

  h.open(2);
  c.level = kLevel5;
  c.clean = true;
  h.send(2, c);
  ps = h.take(2);
  ASSERT_EQ(ps.size(), 1u);
  const auto& ack = std::get<Connack>(ps[0]);
  EXPECT_EQ(ack.code, 0);
  auto assigned = ack.properties.find(PropertyId::assigned_client_identifier);
  ASSERT_TRUE(assigned);
  EXPECT_FALSE(assigned->text.empty());
}

TEST(BrokerCore, WildcardsAndDollarTopics) {
  Harness h;
  h.connect(1, "sub");
  h.connect(2, "pub");
  h.subscribe(1, "a/+/c", 0);
  h.subscribe(1, "x/#", 0);
  h.subscribe(1, "#", 0);
  h.publish(2, "a/b/c", "1");   // a/+/c and #: one delivery
  h.publish(2, "x", "2");       // x/# matches the parent, and #
  h.publish(2, "$SYS/x", "3");  // not matched by #
  auto pubs = only<Publish>(h.take(1));
  ASSERT_EQ(pubs.size(), 2u);
  EXPECT_EQ(pubs[0].topic, "a/b/c");
  EXPECT_EQ(pubs[1].topic, "x");
  h.subscribe(1, "$SYS/#", 0);
  h.publish(2, "$SYS/x", "4");
  EXPECT_EQ(only<Publish>(h.take(1)).size(), 1u);
}

TEST(BrokerCore, RetainedStoreAndDelete) {
  Harness h;
  h.connect(1, "pub");
  h.publish(1, "r/1", "one", 0, true);
  h.publish(1, "r/2", "two", 1, true, 5);
  EXPECT_EQ(h.core->retained_count(), 2u);
  h.connect(2, "sub");
  h.subscribe(2, "r/#", 1);
  auto pubs = only<Publish>(h.take(2));
  ASSERT_EQ(pubs.size(), 2u);
  EXPECT_TRUE(pubs[0].retain);
  EXPECT_TRUE(pubs[1].retain);
  // Live delivery has retain 0 in 3.1.1.
  h.publish(1, "r/1", "again", 0, true);
  pubs = only<Publish>(h.take(2));
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_FALSE(pubs[0].retain);
  // An empty retained payload deletes.
  h.publish(1, "r/1", "", 0, true);
  h.publish(1, "r/2", "", 0, true);
  EXPECT_EQ(h.core->retained_count(), 0u);
}

TEST(BrokerCore, Qos1FlowAndRedeliveryOnReconnect) {
  Harness h;
  h.connect(1, "sub", kLevel311, false);
  h.subscribe(1, "t", 1);
  h.connect(2, "pub");
  h.publish(2, "t", "m", 1, false, 9);
  auto acks = only<Puback>(h.take(2));
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].packet_id, 9);
  auto pubs = only<Publish>(h.take(1));
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].qos, 1);
  EXPECT_FALSE(pubs[0].dup);
  std::uint16_t id = pubs[0].packet_id;
  // Not acknowledged: the connection drops, the session stays, the message comes again with DUP.
  h.drop(1);
  EXPECT_EQ(h.core->pending_messages("sub"), 1u);
  h.connect(3, "sub", kLevel311, false);
  pubs = only<Publish>(h.take(3));
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_TRUE(pubs[0].dup);
  EXPECT_EQ(pubs[0].packet_id, id);
  Puback ack;
  ack.packet_id = id;
  h.send(3, ack);
  EXPECT_EQ(h.core->pending_messages("sub"), 0u);
}

TEST(BrokerCore, OfflineQueueing) {
  Harness h;
  h.connect(1, "sub", kLevel311, false);
  h.subscribe(1, "t", 2);
  Disconnect d;
  h.send(1, d);
  EXPECT_TRUE(h.closed.count(1));
  h.connect(2, "pub");
  h.publish(2, "t", "q0", 0);
  h.publish(2, "t", "q1", 1, false, 1);
  h.publish(2, "t", "q2", 2, false, 2);
  EXPECT_EQ(h.core->pending_messages("sub"), 3u);
  h.open(3);
  Connect c;
  c.client_id = "sub";
  c.clean = false;
  h.send(3, c);
  auto ps = h.take(3);
  ASSERT_EQ(ps.size(), 4u);
  EXPECT_TRUE(std::get<Connack>(ps[0]).session_present);
  EXPECT_EQ(only<Publish>(ps).size(), 3u);
}

TEST(BrokerCore, Qos2BothDirections) {
  Harness h;
  h.connect(1, "sub");
  h.subscribe(1, "t", 2);
  h.connect(2, "pub");
  h.publish(2, "t", "m", 2, false, 4);
  auto recs = only<Pubrec>(h.take(2));
  ASSERT_EQ(recs.size(), 1u);
  // A duplicate before PUBREL is acknowledged but not delivered again.
  h.publish(2, "t", "m", 2, false, 4);
  EXPECT_EQ(only<Pubrec>(h.take(2)).size(), 1u);
  Pubrel rel;
  rel.packet_id = 4;
  h.send(2, rel);
  EXPECT_EQ(only<Pubcomp>(h.take(2)).size(), 1u);

  auto pubs = only<Publish>(h.take(1));
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].qos, 2);
  Pubrec rec;
  rec.packet_id = pubs[0].packet_id;
  h.send(1, rec);
  auto rels = only<Pubrel>(h.take(1));
  ASSERT_EQ(rels.size(), 1u);
  EXPECT_EQ(rels[0].packet_id, pubs[0].packet_id);
  EXPECT_EQ(h.core->pending_messages("sub"), 1u);
  Pubcomp comp;
  comp.packet_id = pubs[0].packet_id;
  h.send(1, comp);
  EXPECT_EQ(h.core->pending_messages("sub"), 0u);
}

TEST(BrokerCore, WillOnAbnormalCloseOnly) {
  Harness h;
  h.connect(1, "watcher");
  h.subscribe(1, "will/#", 1);
  for (int abnormal = 0; abnormal < 2; ++abnormal) {
    ConnId id = 10 + static_cast<ConnId>(abnormal);
    h.open(id);
    Connect c;
    c.client_id = "dev";
    c.will = mqttauth::Will{1, false, {}, "will/dev", Bytes::of("gone")};
    h.send(id, c);
    h.take(id);
    if (abnormal) {
      h.drop(id);
    } else {
      h.send(id, Disconnect{});
    }
    auto pubs = only<Publish>(h.take(1));
    ASSERT_EQ(pubs.size(), static_cast<std::size_t>(abnormal));
    if (abnormal) {
      EXPECT_EQ(pubs[0].payload.as_chars(), "gone");
    }
  }
}

TEST(BrokerCore, V5WillDelay) {
  Harness h;
  h.connect(1, "watcher", kLevel5);
  h.subscribe(1, "will", 0);
  h.open(2);
  PropertyBuilder wp, cp;
  wp.add_int(PropertyId::will_delay_interval, 3);
  cp.add_int(PropertyId::session_expiry_interval, 10);
  Connect c;
  c.level = kLevel5;
  c.client_id = "dev";
  c.properties = cp.properties();
  c.will = mqttauth::Will{0, false, wp.properties(), "will", Bytes::of("late")};
  h.send(2, c);
  h.take(2);
  h.drop(2);
  EXPECT_TRUE(only<Publish>(h.take(1)).empty());
  h.tick(2000);
  EXPECT_TRUE(only<Publish>(h.take(1)).empty());
  h.tick(1100);
  EXPECT_EQ(only<Publish>(h.take(1)).size(), 1u);
}

TEST(BrokerCore, SessionTakeover) {
  Harness h;
  h.connect(1, "same", kLevel5, false);
  h.subscribe(1, "t", 1);
  h.open(2);
  Connect c;
  c.level = kLevel5;
  c.client_id = "same";
  c.clean = false;
  h.send(2, c);
  EXPECT_TRUE(h.closed.count(1));
  auto old = only<Disconnect>(h.take(1));
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0].reason_code, 0x8E);
  auto ps = h.take(2);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_TRUE(std::get<Connack>(ps[0]).session_present);
  EXPECT_TRUE(h.core->is_connected("same"));
}

TEST(BrokerCore, KeepAliveExpiry) {
  Harness h;
  h.connect(1, "watcher");
  h.subscribe(1, "will", 0);
  h.open(2);
  Connect c;
  c.client_id = "sleepy";
  c.keep_alive = 2;
  c.will = mqttauth::Will{0, false, {}, "will", Bytes::of("timeout")};
  h.send(2, c);
  h.take(2);
  h.tick(2900);  // within 1.5 x 2 s
  EXPECT_FALSE(h.closed.count(2));
  h.send(2, Pingreq{});
  EXPECT_EQ(only<Pingresp>(h.take(2)).size(), 1u);
  h.tick(2900);
  EXPECT_FALSE(h.closed.count(2));
  h.tick(200);
  EXPECT_TRUE(h.closed.count(2));
  EXPECT_EQ(only<Publish>(h.take(1)).size(), 1u);
}

TEST(BrokerCore, ConnectTimeout) {
  Harness h;
  h.cfg.connect_timeout = std::chrono::milliseconds(500);
  h.open(1);
  h.tick(400);
  EXPECT_FALSE(h.closed.count(1));
  h.tick(200);
  EXPECT_TRUE(h.closed.count(1));
  EXPECT_EQ(h.core->connection_count(), 0u);
}

class CustomAuth : public ::testing::TestWithParam<std::uint8_t> {};

TEST_P(CustomAuth, RightAndWrongResponse) {
  const std::uint8_t code = GetParam();
  for (int right = 0; right < 2; ++right) {
    Harness h;
    ListenerConfig l;
    l.auth = AuthMode::custom;
    l.auth_code = code;
    h.open(1, l);
    Connect c;
    c.client_id = "dev1";
    h.send(1, c);
    auto ps = h.take(1);
    ASSERT_EQ(ps.size(), 1u);
    ASSERT_TRUE(std::holds_alternative<Authenticate>(ps[0]));
    const auto& ch = std::get<Authenticate>(ps[0]);
    EXPECT_EQ(ch.code, code);
    EXPECT_EQ(ch.flags(), 0x42);
    EXPECT_EQ(ch.level, kLevel311);
    EXPECT_EQ(ch.keep_alive, 0);
    EXPECT_FALSE(ch.username);
    ASSERT_TRUE(ch.password);
    EXPECT_EQ(ch.password->as_chars(), kChallenge);
    EXPECT_EQ(h.raw[1].back()[0], code == 0 ? 0x00 : 0xF0);

    std::string response = right ? hmac_sha256_hex("s3cret", kChallenge) : std::string(64, '0');
    Authenticate r;
    r.code = code;
    r.client_id = "dev1";
    r.password = Bytes::of(response);
    h.send(1, r);
    ps = h.take(1);
    ASSERT_EQ(ps.size(), 1u);
    EXPECT_EQ(std::get<Connack>(ps[0]).code, right ? 0 : 5);
    EXPECT_EQ(h.closed.count(1), right ? 0u : 1u);
  }
}
INSTANTIATE_TEST_SUITE_P(Codes, CustomAuth, ::testing::Values(std::uint8_t{0}, std::uint8_t{15}));

TEST(BrokerCore, CustomAuthTimeoutAndUnknownClient) {
  Harness h;
  h.cfg.auth_timeout = std::chrono::milliseconds(300);
  ListenerConfig l;
  l.auth = AuthMode::custom;
  h.open(1, l);
  Connect c;
  c.client_id = "dev1";
  h.send(1, c);
  h.tick(200);
  EXPECT_FALSE(h.closed.count(1));
  h.tick(200);
  EXPECT_TRUE(h.closed.count(1));

  // No secret for the client: refused even with some response.
  h.open(2, l);
  c.client_id = "stranger";
  h.send(2, c);
  h.take(2);
  Authenticate r;
  r.client_id = "stranger";
  const std::string guess = hmac_sha256_hex("", kChallenge);  // the packet views it: keep it alive
  r.password = Bytes::of(guess);
  h.send(2, r);
  auto ps = h.take(2);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(std::get<Connack>(ps[0]).code, 5);
}

TEST(BrokerCore, CustomAuthRefusesOtherPacketsFirst) {
  Harness h;
  ListenerConfig l;
  l.auth = AuthMode::custom;
  h.open(1, l);
  Connect c;
  c.client_id = "dev1";
  h.send(1, c);
  h.take(1);
  h.publish(1, "t", "sneaky");
  EXPECT_TRUE(h.closed.count(1));
  EXPECT_FALSE(h.core->has_session("dev1"));
}

namespace {
// Sends AUTH `reason` with Authentication Method `method` (none when empty) and, when given, Authentication Data.
void send_auth(Harness& h, ConnId id, std::uint8_t reason, std::string_view method,
               std::optional<std::string_view> data = std::nullopt) {
  PropertyBuilder ap;  // the packet views its properties: keep the builder alive until sent
  if (!method.empty()) ap.add_string(PropertyId::authentication_method, method);
  if (data) ap.add_binary(PropertyId::authentication_data, Bytes::of(*data));
  Auth a;
  a.reason_code = reason;
  a.properties = ap.properties();
  h.send(id, a);
}

// The AUTH packet `p` has `reason`, our method and, when `data` is given, that Authentication Data.
void expect_auth(const Packet& p, std::uint8_t reason, std::optional<std::string_view> data = std::nullopt) {
  ASSERT_TRUE(std::holds_alternative<Auth>(p)) << packet_name(p);
  const auto& a = std::get<Auth>(p);
  EXPECT_EQ(a.reason_code, reason);
  auto m = a.properties.find(PropertyId::authentication_method);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text, kAuthMethod);
  if (data) {
    auto d = a.properties.find(PropertyId::authentication_data);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->binary.as_chars(), *data);
  }
}

// Opens `id` on a listener with `mode` and sends an MQTT 5 CONNECT as dev5 with Authentication Method `method`.
void connect_dev5(Harness& h, ConnId id, AuthMode mode, std::string_view method = kAuthMethod) {
  ListenerConfig l;
  l.auth = mode;
  h.open(id, l);
  PropertyBuilder cp;
  cp.add_string(PropertyId::authentication_method, method);
  Connect c;
  c.level = kLevel5;
  c.client_id = "dev5";
  c.properties = cp.properties();
  h.send(id, c);
}

void v5_auth(Harness& h, ConnId id, std::string_view method, std::string_view response, std::uint8_t expect) {
  connect_dev5(h, id, AuthMode::v5, method);
  auto ps = h.take(id);
  ASSERT_EQ(ps.size(), 1u);
  if (method != kAuthMethod) {
    EXPECT_EQ(std::get<Connack>(ps[0]).code, expect);
    return;
  }
  expect_auth(ps[0], 0x18, h.last_challenge);
  send_auth(h, id, 0x18, kAuthMethod, response);
  ps = h.take(id);
  ASSERT_EQ(ps.size(), 1u);
  const auto& ack = std::get<Connack>(ps[0]);
  EXPECT_EQ(ack.code, expect);
  if (expect == 0) {
    auto m = ack.properties.find(PropertyId::authentication_method);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->text, kAuthMethod);
  }
}
}  // namespace

TEST(BrokerCore, V5EnhancedAuth) {
  Harness h;
  v5_auth(h, 1, kAuthMethod, hmac_sha256_hex("five", kChallenge), 0);
  EXPECT_TRUE(h.core->is_connected("dev5"));
  Harness h2;
  v5_auth(h2, 1, kAuthMethod, "wrong", 0x87);
  EXPECT_TRUE(h2.closed.count(1));
  Harness h3;
  v5_auth(h3, 1, "SCRAM-SHA-1", "", 0x8C);
  EXPECT_TRUE(h3.closed.count(1));
}

namespace {
// Challenges "challenge-1", "challenge-2", ... so that each exchange has its own.
std::function<std::string()> numbered_challenges() {
  return [n = 0]() mutable { return "challenge-" + std::to_string(++n); };
}

// dev5 connected with v5 enhanced auth on the first numbered challenge.
void v5_connected(Harness& h, ConnId id) {
  h.next_challenge = numbered_challenges();
  v5_auth(h, id, kAuthMethod, hmac_sha256_hex("five", "challenge-1"), 0);
}

// The one packet the core sent is DISCONNECT `reason`, and the connection is closed.
void expect_disconnected(Harness& h, ConnId id, std::uint8_t reason) {
  auto ps = h.take(id);
  ASSERT_EQ(ps.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<Disconnect>(ps[0])) << packet_name(ps[0]);
  EXPECT_EQ(std::get<Disconnect>(ps[0]).reason_code, reason);
  EXPECT_TRUE(h.closed.count(id));
}
}  // namespace

TEST(BrokerCore, V5ReauthenticationSucceedsWhileTrafficGoesOn) {
  Harness h;
  v5_connected(h, 1);
  h.subscribe(1, "t", 0);
  for (int round = 2; round <= 3; ++round) {
    const std::string challenge = "challenge-" + std::to_string(round);
    send_auth(h, 1, 0x19, kAuthMethod, "ignored client data");
    auto ps = h.take(1);
    ASSERT_EQ(ps.size(), 1u);
    expect_auth(ps[0], 0x18, challenge);  // a fresh challenge
    // Traffic goes on during the re-authentication: a QoS 1 PUBLISH is acknowledged and delivered.
    h.publish(1, "t", "during", 1, false, static_cast<std::uint16_t>(round));
    ps = h.take(1);
    EXPECT_EQ(only<Puback>(ps).size(), 1u);
    EXPECT_EQ(only<Publish>(ps).size(), 1u);
    send_auth(h, 1, 0x18, kAuthMethod, hmac_sha256_hex("five", challenge));
    ps = h.take(1);
    ASSERT_EQ(ps.size(), 1u);
    expect_auth(ps[0], 0x00);
    EXPECT_FALSE(h.closed.count(1));
  }
  // Nothing is pending any more: no timeout later.
  h.tick(h.cfg.auth_timeout.count() + 1000);
  EXPECT_FALSE(h.closed.count(1));
  EXPECT_TRUE(h.core->is_connected("dev5"));
}

TEST(BrokerCore, V5ReauthenticationWrongOrReplayedResponseDisconnects) {
  // A wrong response, and the right response to the connect's challenge (replayed): the challenge is fresh.
  for (const std::string& bad : {std::string("wrong"), hmac_sha256_hex("five", "challenge-1")}) {
    Harness h;
    v5_connected(h, 1);
    send_auth(h, 1, 0x19, kAuthMethod);
    h.take(1);
    send_auth(h, 1, 0x18, kAuthMethod, bad);
    expect_disconnected(h, 1, 0x87);  // Not authorized
    EXPECT_FALSE(h.core->is_connected("dev5"));
  }
}

TEST(BrokerCore, V5ReauthenticationProtocolErrors) {
  struct Case {
    const char* what;
    bool start_first;  // a re-authentication is in progress when `reason` is sent
    std::uint8_t reason;
    std::string_view method;
    std::uint8_t expect = 0x82;  // Protocol error
  };
  const Case cases[] = {
      {"another method", false, 0x19, "SCRAM-SHA-1"},
      // The codec refuses an AUTH without a method when decoding it: closed as malformed.
      {"no method", false, 0x19, "", 0x81},
      {"Continue without a re-authentication", false, 0x18, kAuthMethod},
      {"Re-authenticate during a re-authentication", true, 0x19, kAuthMethod},
      {"Success from the client", true, 0x00, kAuthMethod},
      {"another method during a re-authentication", true, 0x18, "SCRAM-SHA-1"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    Harness h;
    v5_connected(h, 1);
    if (k.start_first) {
      send_auth(h, 1, 0x19, kAuthMethod);
      h.take(1);
    }
    send_auth(h, 1, k.reason, k.method, "x");
    expect_disconnected(h, 1, k.expect);
  }
}

TEST(BrokerCore, AuthWithoutEnhancedAuthIsProtocolError) {
  Harness h;
  h.connect(1, "plain", kLevel5);  // no Authentication Method in CONNECT
  send_auth(h, 1, 0x19, kAuthMethod);
  expect_disconnected(h, 1, 0x82);
}

TEST(BrokerCore, V5ReauthenticationTimeout) {
  Harness h;
  h.cfg.auth_timeout = std::chrono::milliseconds(300);
  v5_connected(h, 1);
  send_auth(h, 1, 0x19, kAuthMethod);
  h.take(1);
  h.tick(200);
  EXPECT_FALSE(h.closed.count(1));
  h.tick(200);
  expect_disconnected(h, 1, 0x87);
}

TEST(BrokerCore, AnyModeChoosesByClient) {
  Harness h;
  ListenerConfig l;
  l.auth = AuthMode::any;
  l.auth_code = 15;
  // 3.1.1: custom.
  h.open(1, l);
  Connect c;
  c.client_id = "dev1";
  h.send(1, c);
  auto ps = h.take(1);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Authenticate>(ps[0]));
  // 5.0 with a method: v5.
  connect_dev5(h, 2, AuthMode::any);
  ps = h.take(2);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Auth>(ps[0]));
}

// The custom scheme is for levels 3 and 4: an MQTT 5 client on a custom or any listener is never sent a
// CONNECT-shaped type-15 packet (to it, an invalid AUTH). Without a method it gets CONNACK 0x8C; with ours it gets
// MQTT 5 enhanced authentication.
TEST(BrokerCore, Level5OnACustomListenerGetsBadAuthenticationMethodOrV5Auth) {
  for (AuthMode mode : {AuthMode::custom, AuthMode::any}) {
    Harness h;
    ListenerConfig l;
    l.auth = mode;
    l.auth_code = 15;
    h.open(1, l);
    Connect c;
    c.level = kLevel5;
    c.client_id = "dev5";
    h.send(1, c);
    auto ps = h.take(1);
    ASSERT_EQ(ps.size(), 1u);
    ASSERT_TRUE(std::holds_alternative<Connack>(ps[0]));
    EXPECT_EQ(std::get<Connack>(ps[0]).code, 0x8C);
    EXPECT_EQ(h.closed.count(1), 1u);
    connect_dev5(h, 2, mode);
    ps = h.take(2);
    ASSERT_EQ(ps.size(), 1u);
    expect_auth(ps[0], 0x18, h.last_challenge);
  }
}

namespace {
// CONNECT as dev1 on a custom code-0 listener, then the right response sent with `code` and `client_id`.
std::uint8_t custom_response_verdict(Harness& h, std::uint8_t code, std::string_view client_id) {
  ListenerConfig l;
  l.auth = AuthMode::custom;
  h.open(1, l);
  Connect c;
  c.client_id = "dev1";
  h.send(1, c);
  h.take(1);
  Authenticate r;
  r.code = code;
  r.client_id = client_id;
  const std::string response = hmac_sha256_hex("s3cret", kChallenge);
  r.password = Bytes::of(response);
  h.send(1, r);
  auto ps = h.take(1);
  EXPECT_EQ(ps.size(), 1u);
  return ps.empty() || !std::holds_alternative<Connack>(ps[0]) ? 0xFF : std::get<Connack>(ps[0]).code;
}
}  // namespace

TEST(BrokerCore, CustomResponseMustRepeatTheClientIdAndTheCode) {
  {
    Harness h;
    EXPECT_EQ(custom_response_verdict(h, 0, "dev1"), 0);
  }
  {
    Harness h;
    EXPECT_EQ(custom_response_verdict(h, 0, "dev2"), 5);
  }
  {
    Harness h;
    EXPECT_EQ(custom_response_verdict(h, 15, "dev1"), 5);
  }
  {
    Harness h;  // the field's looser broker: either code
    h.cfg.response_code_must_match = false;
    EXPECT_EQ(custom_response_verdict(h, 15, "dev1"), 0);
  }
  {
    Harness h;
    h.cfg.response_client_id_must_match = false;
    EXPECT_EQ(custom_response_verdict(h, 0, ""), 0);
  }
}

TEST(BrokerCore, AclRefusesSubscription) {
  Harness h;
  h.cfg.deny_subscribe = {"test/nosubscribe", "secret/#"};
  h.connect(1, "a");
  h.subscribe(1, "test/nosubscribe", 2, 0x80);
  h.subscribe(1, "secret/x", 1, 0x80);
  h.subscribe(1, "test/ok", 1);
  h.connect(2, "b", kLevel5);
  h.subscribe(2, "test/nosubscribe", 1, 0x87);
}

TEST(BrokerCore, MalformedPacketClosesOnlyThatConnection) {
  Harness h;
  h.connect(1, "a", kLevel5);
  h.connect(2, "b");
  h.bytes(1, Buf{0x30, 0x03, 0x00, 0x05, 0x41});  // topic length past the end
  EXPECT_TRUE(h.closed.count(1));
  auto d = only<Disconnect>(h.take(1));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason_code, 0x81);
  EXPECT_FALSE(h.closed.count(2));
  h.bytes(2, Buf{0x00, 0x00});  // type 0 in plain MQTT
  EXPECT_TRUE(h.closed.count(2));
  // Garbage before CONNECT.
  h.open(3);
  h.bytes(3, Buf{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01});
  EXPECT_TRUE(h.closed.count(3));
}

TEST(BrokerCore, OversizedPacket) {
  Harness h;
  h.cfg.max_packet_size = 128;
  h.connect(1, "a", kLevel5);
  std::string big(200, 'x');
  h.publish(1, "t", big);
  EXPECT_TRUE(h.closed.count(1));
  auto d = only<Disconnect>(h.take(1));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason_code, 0x95);
}

TEST(BrokerCore, TopicAliasesFromClient) {
  Harness h;
  h.connect(1, "sub");
  h.subscribe(1, "long/topic", 0);
  h.connect(2, "pub", kLevel5);
  PropertyBuilder a;
  a.add_int(PropertyId::topic_alias, 3);
  Publish p;
  p.topic = "long/topic";
  p.payload = Bytes::of("1");
  p.properties = a.properties();
  h.send(2, p);
  p.topic = "";
  h.send(2, p);
  auto pubs = only<Publish>(h.take(1));
  ASSERT_EQ(pubs.size(), 2u);
  EXPECT_EQ(pubs[1].topic, "long/topic");
  // Above the Topic Alias Maximum the broker sent (10). (Alias 0 is refused by the decoder already: 0x81.)
  PropertyBuilder bad;
  bad.add_int(PropertyId::topic_alias, 11);
  p.properties = bad.properties();
  p.topic = "x";
  h.send(2, p);
  EXPECT_TRUE(h.closed.count(2));
  auto d = only<Disconnect>(h.take(2));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason_code, 0x94);
}

TEST(BrokerCore, ReceiveMaximumEnforced) {
  Harness h;
  h.cfg.receive_maximum = 2;
  h.connect(1, "pub", kLevel5);
  h.publish(1, "t", "1", 2, false, 1);
  h.publish(1, "t", "2", 2, false, 2);
  EXPECT_FALSE(h.closed.count(1));
  h.publish(1, "t", "3", 2, false, 3);
  EXPECT_TRUE(h.closed.count(1));
  auto d = only<Disconnect>(h.take(1));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason_code, 0x93);
}

TEST(BrokerCore, OutgoingFlowControlAndSubscriptionIds) {
  Harness h;
  h.open(1);
  PropertyBuilder cp;
  cp.add_int(PropertyId::receive_maximum, 1);
  Connect c;
  c.level = kLevel5;
  c.client_id = "slow";
  c.properties = cp.properties();
  h.send(1, c);
  h.take(1);
  PropertyBuilder sp;
  sp.add_int(PropertyId::subscription_identifier, 42);
  Subscribe s;
  s.packet_id = 1;
  s.properties = sp.properties();
  s.subscriptions.push_back({"t", 1});
  h.send(1, s);
  h.take(1);
  h.connect(2, "pub");
  h.publish(2, "t", "a", 1, false, 1);
  h.publish(2, "t", "b", 1, false, 2);
  auto pubs = only<Publish>(h.take(1));
  ASSERT_EQ(pubs.size(), 1u);  // one in flight at a time
  auto sid = pubs[0].properties.find(PropertyId::subscription_identifier);
  ASSERT_TRUE(sid);
  EXPECT_EQ(sid->number, 42u);
  Puback ack;
  ack.packet_id = pubs[0].packet_id;
  h.send(1, ack);
  pubs = only<Publish>(h.take(1));
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].payload.as_chars(), "b");
}

TEST(BrokerCore, NoLocalAndRetainAsPublished) {
  Harness h;
  h.connect(1, "me", kLevel5);
  h.subscribe(1, "t", 0x04 | 1);  // no local
  h.publish(1, "t", "mine", 1, false, 3);
  EXPECT_TRUE(only<Publish>(h.take(1)).empty());
  h.connect(2, "other", kLevel5);
  h.subscribe(2, "t", 0x08 | 1);  // retain as published
  h.publish(1, "t", "kept", 0, true);
  auto pubs = only<Publish>(h.take(2));
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_TRUE(pubs[0].retain);
  // Retain handling 2: no retained messages at subscribe time.
  h.connect(3, "third", kLevel5);
  h.subscribe(3, "t", 0x20 | 1);
  EXPECT_TRUE(only<Publish>(h.take(3)).empty());
}

TEST(BrokerCore, SessionExpiry) {
  Harness h;
  h.open(1);
  PropertyBuilder cp;
  cp.add_int(PropertyId::session_expiry_interval, 2);
  Connect c;
  c.level = kLevel5;
  c.client_id = "brief";
  c.clean = false;
  c.properties = cp.properties();
  h.send(1, c);
  h.take(1);
  h.send(1, Disconnect{});
  EXPECT_TRUE(h.core->has_session("brief"));
  h.tick(1500);
  EXPECT_TRUE(h.core->has_session("brief"));
  h.tick(600);
  EXPECT_FALSE(h.core->has_session("brief"));
}

// ---------------------------------------------------------------------------------------------------------
// Brute-force limiting of authentication, with the fake clock.

namespace {

struct Attempt {
  bool challenged = false;   // the broker sent a challenge (and the response was sent)
  std::uint8_t code = 0xFF;  // the CONNACK code; 0xFF: none
};

// A custom handshake (3.1.1, code 0) on connection `id` from `source`: CONNECT as `client_id`, the challenge
// answered with `secret`'s response.
Attempt custom_attempt(Harness& h, ConnId id, std::string_view client_id, std::string_view secret,
                       std::string source = "192.0.2.1") {
  ListenerConfig l;
  l.auth = AuthMode::custom;
  h.open(id, l, std::move(source));
  Connect c;
  c.client_id = client_id;
  h.send(id, c);
  Attempt out;
  auto ps = h.take(id);
  if (ps.size() == 1 && std::holds_alternative<Authenticate>(ps[0])) {
    out.challenged = true;
    const std::string response = hmac_sha256_hex(secret, h.last_challenge);
    Authenticate r;
    r.client_id = client_id;
    r.password = Bytes::of(response);
    h.send(id, r);
    ps = h.take(id);
  }
  if (ps.size() == 1 && std::holds_alternative<Connack>(ps[0])) out.code = std::get<Connack>(ps[0]).code;
  return out;
}

// A harness whose limit is small and quick: `clients` / `addresses` failures, lockout 1 s doubling to 4 s.
Harness limited(std::uint32_t clients, std::uint32_t addresses) {
  Harness h;
  h.cfg.auth_limit.client_failures = clients;
  h.cfg.auth_limit.address_failures = addresses;
  h.cfg.auth_limit.window = std::chrono::milliseconds(60000);
  h.cfg.auth_limit.lockout = std::chrono::milliseconds(1000);
  h.cfg.auth_limit.max_lockout = std::chrono::milliseconds(4000);
  h.next_challenge = numbered_challenges();
  return h;
}

}  // namespace

TEST(BrokerLimit, ClientIdLockedOutAfterKFailuresWithDoublingCappedLockout) {
  Harness h = limited(3, 0);
  std::vector<std::string> lines;
  h.cfg.log = [&](std::string_view l) { lines.emplace_back(l); };
  ConnId id = 1;
  for (int i = 0; i < 3; ++i) {
    Attempt a = custom_attempt(h, id++, "dev1", "guess");
    EXPECT_TRUE(a.challenged);
    EXPECT_EQ(a.code, 5);
  }
  // Limiting starts: one log line.
  auto starts = [&] {
    std::size_t n = 0;
    for (const auto& l : lines) n += l.find("auth limit: client id dev1: 3 failed authentications") == 0;
    return n;
  };
  EXPECT_EQ(starts(), 1u);
  // Locked out for 1 s: refused at CONNECT, no challenge (no guess), even with the right secret.
  Attempt locked = custom_attempt(h, id++, "dev1", "s3cret");
  EXPECT_FALSE(locked.challenged);
  EXPECT_EQ(locked.code, 5);
  EXPECT_TRUE(h.closed.count(id - 1));
  // Then 2 s, 4 s, 4 s (capped) after each further failure.
  for (TimeMs lockout : {1000, 2000, 4000, 4000}) {
    h.now += lockout - 1;
    EXPECT_FALSE(custom_attempt(h, id++, "dev1", "guess").challenged) << lockout;
    h.now += 1;
    Attempt again = custom_attempt(h, id++, "dev1", "guess");
    EXPECT_TRUE(again.challenged) << lockout;
    EXPECT_EQ(again.code, 5);
  }
  EXPECT_EQ(starts(), 1u);  // logged when the limiting starts, not at each further failure
}

TEST(BrokerLimit, V5ClientsGetConnectionRateExceeded) {
  Harness h = limited(2, 0);
  for (ConnId id = 1; id <= 2; ++id) v5_auth(h, id, kAuthMethod, "wrong", 0x87);
  connect_dev5(h, 3, AuthMode::v5);
  auto ps = h.take(3);
  ASSERT_EQ(ps.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<Connack>(ps[0]));  // no AUTH challenge
  EXPECT_EQ(std::get<Connack>(ps[0]).code, 0x9F);
}

TEST(BrokerLimit, SuccessResetsTheClientIdsCount) {
  Harness h = limited(3, 0);
  ConnId id = 1;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 2; ++i) EXPECT_EQ(custom_attempt(h, id++, "dev1", "guess").code, 5);
    Attempt ok = custom_attempt(h, id++, "dev1", "s3cret");
    EXPECT_TRUE(ok.challenged);
    EXPECT_EQ(ok.code, 0);
  }
  // Without the success in between, the third failure locks out.
  for (int i = 0; i < 3; ++i) custom_attempt(h, id++, "dev1", "guess");
  EXPECT_FALSE(custom_attempt(h, id++, "dev1", "s3cret").challenged);
}

TEST(BrokerLimit, OtherClientIdsAreUnaffected) {
  Harness h = limited(3, 20);
  h.cfg.secrets.add("good", "g00d");
  ConnId id = 1;
  for (int i = 0; i < 10; ++i) custom_attempt(h, id++, "dev1", "guess", "192.0.2.1");
  EXPECT_FALSE(custom_attempt(h, id++, "dev1", "s3cret", "192.0.2.1").challenged);
  // Another client id, from another address and from the attacker's (under its address threshold).
  for (const char* src : {"198.51.100.7", "192.0.2.1"}) {
    Attempt ok = custom_attempt(h, id++, "good", "g00d", src);
    EXPECT_TRUE(ok.challenged) << src;
    EXPECT_EQ(ok.code, 0) << src;
  }
}

// An attacker failing with a device's client id on purpose locks that client id out everywhere except where the
// device authenticated before: the device keeps getting in from its own address.
TEST(BrokerLimit, LockedClientIdStillAcceptedFromWhereItAuthenticated) {
  Harness h = limited(3, 0);
  ConnId id = 1;
  EXPECT_EQ(custom_attempt(h, id++, "dev1", "s3cret", "192.0.2.1").code, 0);  // the device, before the attack
  for (int i = 0; i < 10; ++i) custom_attempt(h, id++, "dev1", "guess", "203.0.113.9");
  EXPECT_FALSE(custom_attempt(h, id++, "dev1", "guess", "203.0.113.9").challenged);    // the attacker: locked
  EXPECT_FALSE(custom_attempt(h, id++, "dev1", "s3cret", "198.51.100.7").challenged);  // a new address too
  Attempt dev = custom_attempt(h, id++, "dev1", "s3cret", "192.0.2.1");                // the device's address: in
  EXPECT_TRUE(dev.challenged);
  EXPECT_EQ(dev.code, 0);
  // A wrong response from the trusted address is refused and ends the exemption (an attacker behind the
  // device's address gets none): the client id's lockout now applies there too.
  EXPECT_EQ(custom_attempt(h, id++, "dev1", "guess", "192.0.2.1").code, 5);
  EXPECT_FALSE(custom_attempt(h, id++, "dev1", "s3cret", "192.0.2.1").challenged);
}

TEST(TrustedSources, BoundedLeastRecentlySuccessfulForgottenFirst) {
  TrustedSources t(2);
  t.add("a", "192.0.2.1");
  t.add("b", "192.0.2.1");
  t.add("a", "192.0.2.1");  // a is now the most recent
  t.add("c", "192.0.2.2");  // b goes
  EXPECT_TRUE(t.contains("a", "192.0.2.1"));
  EXPECT_FALSE(t.contains("b", "192.0.2.1"));
  EXPECT_TRUE(t.contains("c", "192.0.2.2"));
  EXPECT_FALSE(t.contains("a", "192.0.2.2"));
  EXPECT_EQ(t.size(), 2u);
  const std::string long_id(70000, 'x');
  t.add(long_id, "192.0.2.3");
  EXPECT_TRUE(t.contains(long_id, "192.0.2.3"));
  t.remove(long_id, "192.0.2.3");
  EXPECT_FALSE(t.contains(long_id, "192.0.2.3"));
  EXPECT_EQ(t.size(), 1u);
}

TEST(BrokerLimit, AddressLockedOutAfterFailuresWithManyClientIds) {
  Harness h = limited(0, 3);
  h.cfg.secrets.add("good", "g00d");
  ConnId id = 1;
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(custom_attempt(h, id++, "spray-" + std::to_string(i), "guess", "192.0.2.1").challenged);
  // A fourth client id from that address: refused without a challenge; so is a good device behind it.
  EXPECT_FALSE(custom_attempt(h, id++, "spray-3", "guess", "192.0.2.1").challenged);
  EXPECT_FALSE(custom_attempt(h, id++, "good", "g00d", "192.0.2.1").challenged);
  // From elsewhere: unaffected.
  EXPECT_EQ(custom_attempt(h, id++, "good", "g00d", "198.51.100.7").code, 0);
  EXPECT_TRUE(custom_attempt(h, id++, "spray-4", "guess", "198.51.100.7").challenged);
  EXPECT_EQ(h.core->limited_sources(), 2u);
}

// Parallel connections that all got a challenge before the limit was reached: once it is, the responses still
// pending are refused without being evaluated (here the right one), so parallelism buys no extra guess.
TEST(BrokerLimit, PendingResponsesAreNotEvaluatedOnceLockedOut) {
  Harness h = limited(2, 0);
  ListenerConfig l;
  l.auth = AuthMode::custom;
  std::vector<std::string> challenges;
  for (ConnId id = 1; id <= 3; ++id) {
    h.open(id, l, "192.0.2.1");
    Connect c;
    c.client_id = "dev1";
    h.send(id, c);
    ASSERT_EQ(only<Authenticate>(h.take(id)).size(), 1u);
    challenges.push_back(h.last_challenge);
  }
  for (ConnId id = 1; id <= 3; ++id) {
    const std::string response =
        hmac_sha256_hex(id == 3 ? "s3cret" : "guess", challenges[static_cast<std::size_t>(id - 1)]);
    Authenticate r;
    r.client_id = "dev1";
    r.password = Bytes::of(response);
    h.send(id, r);
    auto acks = only<Connack>(h.take(id));
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].code, 5) << id;
  }
  EXPECT_FALSE(h.core->is_connected("dev1"));
}

// Re-authentication is not limited: an attacker's lockout of the client id does not cut the real device off.
TEST(BrokerLimit, ReauthenticationIsNotLockedOut) {
  Harness h = limited(2, 0);
  v5_connected(h, 1);
  for (ConnId id = 2; id <= 3; ++id) v5_auth(h, id, kAuthMethod, "wrong", 0x87);
  send_auth(h, 1, 0x19, kAuthMethod);
  auto ps = h.take(1);
  ASSERT_EQ(ps.size(), 1u);
  send_auth(h, 1, 0x18, kAuthMethod, hmac_sha256_hex("five", h.last_challenge));
  ps = h.take(1);
  ASSERT_EQ(ps.size(), 1u);
  expect_auth(ps[0], 0x00);
  EXPECT_TRUE(h.core->is_connected("dev5"));
}

TEST(BrokerLimit, TablesAreBounded) {
  Harness h = limited(5, 5);
  h.cfg.auth_limit.max_entries = 8;
  for (ConnId id = 1; id <= 100; ++id)
    custom_attempt(h, id, "id-" + std::to_string(id), "guess", "10.0.0." + std::to_string(id));
  EXPECT_EQ(h.core->limited_client_ids(), 8u);
  EXPECT_EQ(h.core->limited_sources(), 8u);
}

TEST(FailureTable, EvictsTheOldestFailureWhenFull) {
  AuthLimitConfig cfg;
  cfg.max_entries = 2;
  FailureTable t(3, cfg);
  EXPECT_EQ(t.fail("a", 0).failures, 1u);
  EXPECT_EQ(t.fail("b", 1).failures, 1u);
  EXPECT_EQ(t.fail("c", 2).failures, 1u);  // evicts a
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.fail("b", 3).failures, 2u);  // b kept its count, and is now the most recent
  EXPECT_EQ(t.fail("a", 4).failures, 1u);  // a starts again; c (oldest) evicted
  EXPECT_EQ(t.fail("b", 5).failures, 3u);
  EXPECT_EQ(t.fail("c", 6).failures, 1u);
  EXPECT_EQ(t.size(), 2u);
}

TEST(FailureTable, WindowLockoutAndForget) {
  AuthLimitConfig cfg;
  cfg.window = std::chrono::milliseconds(1000);
  cfg.lockout = std::chrono::milliseconds(300);
  cfg.max_lockout = std::chrono::milliseconds(500);
  FailureTable t(2, cfg);
  EXPECT_EQ(t.fail("k", 0).lockout_ms, 0);
  EXPECT_FALSE(t.locked_until("k", 0));
  EXPECT_EQ(t.fail("k", 100).lockout_ms, 300);
  EXPECT_EQ(t.locked_until("k", 100), std::optional<TimeMs>(400));
  EXPECT_FALSE(t.locked_until("k", 400));
  EXPECT_EQ(t.fail("k", 500).lockout_ms, 500);  // 600, capped
  // The count is forgotten a window after the last failure.
  EXPECT_EQ(t.fail("k", 1499).failures, 4u);
  EXPECT_EQ(t.fail("k", 2499).failures, 1u);
  EXPECT_EQ(t.fail("other", 2500).failures, 1u);
  t.forget("k");
  EXPECT_EQ(t.fail("k", 2501).failures, 1u);
  // Long keys are stored hashed, and still told apart.
  std::string long_a(70000, 'a'), long_b(70000, 'a');
  long_b.back() = 'b';
  t.fail(long_a, 2600);
  t.fail(long_a, 2600);
  EXPECT_TRUE(t.locked_until(long_a, 2600));
  EXPECT_FALSE(t.locked_until(long_b, 2600));
  // Threshold 0: nothing counted.
  FailureTable off(0, cfg);
  for (int i = 0; i < 10; ++i) off.fail("k", i);
  EXPECT_FALSE(off.locked_until("k", 10));
  EXPECT_EQ(off.size(), 0u);
}

TEST(BrokerLimit, SourceKeys) {
  auto ip = [](std::initializer_list<int> bytes, bool v6) {
    cli::IpAddr a;
    std::size_t i = 0;
    for (int b : bytes) a.b[i++] = static_cast<std::uint8_t>(b);
    a.v6 = v6;
    return a;
  };
  EXPECT_EQ(source_key(ip({192, 0, 2, 1}, false)), "192.0.2.1");
  EXPECT_EQ(source_key(ip({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 192, 0, 2, 1}, true)), "192.0.2.1");
  EXPECT_EQ(source_key(ip({0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 9, 9, 9, 9, 9, 9, 9, 9}, true)), "2001:db8:1:2::/64");
}

TEST(BrokerConfigFile, ParsesKeysAndListeners) {
  FileConfig fc;
  std::string err;
  const char* text =
      "# comment\n"
      "listener = 127.0.0.1:0 auth=custom code=15\n"
      "auth = v5\n"
      "listener = [::1]:1884\n"
      "auth_timeout = 2.5   # seconds\n"
      "max_packet_size = 4096\n"
      "deny_subscribe = test/nosubscribe\n"
      "deny_reason_v5 = 0x80\n"
      "secrets = devices.secrets\n"
      "seed_compat = yes\n"
      "auth_fail_limit = 3\n"
      "auth_fail_limit_address = 0\n"
      "auth_fail_window = 120\n"
      "auth_lockout = 0.5\n"
      "auth_lockout_max = 10\n"
      "auth_limit_entries = 500\n"
      "max_pending = 64\n"
      "max_connections_per_address = 8\n"
      "max_handshake_bytes = 4096\n"
      "max_output_total = 1048576\n";
  ASSERT_TRUE(parse_config(text, "/etc/x", fc, err)) << err;
  ASSERT_EQ(fc.listeners.size(), 2u);
  EXPECT_EQ(fc.listeners[0].auth, AuthMode::custom);
  EXPECT_EQ(fc.listeners[0].auth_code, 15);
  EXPECT_EQ(fc.listeners[1].auth, AuthMode::v5);
  EXPECT_EQ(fc.listeners[1].host_port, "[::1]:1884");
  EXPECT_EQ(fc.broker.auth_timeout.count(), 2500);
  EXPECT_EQ(fc.broker.max_packet_size, 4096u);
  EXPECT_EQ(fc.broker.deny_reason_v5, 0x80);
  EXPECT_EQ(fc.secrets_path, "/etc/x/devices.secrets");
  EXPECT_TRUE(fc.broker.seed_compat);
  EXPECT_EQ(fc.broker.auth_limit.client_failures, 3u);
  EXPECT_EQ(fc.broker.auth_limit.address_failures, 0u);
  EXPECT_EQ(fc.broker.auth_limit.window.count(), 120000);
  EXPECT_EQ(fc.broker.auth_limit.lockout.count(), 500);
  EXPECT_EQ(fc.broker.auth_limit.max_lockout.count(), 10000);
  EXPECT_EQ(fc.broker.auth_limit.max_entries, 500u);
  EXPECT_EQ(fc.broker.max_pending, 64u);
  EXPECT_EQ(fc.broker.max_connections_per_address, 8u);
  EXPECT_EQ(fc.broker.max_handshake_bytes, 4096u);
  EXPECT_EQ(fc.broker.max_output_total, 1048576u);

  FileConfig bad;
  EXPECT_FALSE(parse_config("nonsense = 1\n", "", bad, err));
  EXPECT_NE(err.find("line 1"), std::string::npos);
  EXPECT_FALSE(parse_config("listener = 127.0.0.1:1 code=3\n", "", bad, err));
  EXPECT_FALSE(parse_config("max_packet_size = lots\n", "", bad, err));
  EXPECT_FALSE(parse_config("auth_limit_entries = 0\n", "", bad, err));
  EXPECT_FALSE(parse_config("max_pending = 0\n", "", bad, err));  // no connection could ever authenticate
}

// The settings table is the one list of settings: docs/broker.conf shows each, and each applies from the file.
TEST(BrokerConfigFile, EverySettingIsDocumentedAndReadFromTheFile) {
  std::ifstream in(std::string(MQTTAUTH_SOURCE_DIR) + "/docs/broker.conf");
  std::stringstream doc;
  doc << in.rdbuf();
  ASSERT_FALSE(doc.str().empty());
  for (const Setting& st : settings()) {
    const std::string key(st.key);
    const std::string shown = doc.str();
    EXPECT_TRUE(shown.find("\n" + key + " =") != std::string::npos ||
                shown.find("# " + key + " =") != std::string::npos)
        << key << " is not in docs/broker.conf";
    if (key == "secrets" || key == "deny_subscribe" || key.rfind("tls_", 0) == 0)
      continue;  // any text is a path or a topic filter
    FileConfig fc;
    std::string err;
    EXPECT_FALSE(parse_config(key + " = nonsense\n", "", fc, err)) << key << " took a nonsense value";
    EXPECT_NE(err.find("bad value 'nonsense' for " + key), std::string::npos) << err;
  }
}

TEST(BrokerChallenge, RandomHexAndSeedCompat) {
  std::string a = make_challenge(false), b = make_challenge(false);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  std::string t = make_challenge(true);
  EXPECT_EQ(t.size(), 13u);
  EXPECT_EQ(t.find_first_not_of("0123456789"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------------------
// Real sockets on 127.0.0.1.

namespace {

struct CountingTap : cli::IoTap {
  std::atomic<std::size_t> opens = 0, closes = 0, bytes_in = 0, bytes_out = 0;
  void on_open(std::uint64_t, const cli::Endpoint&, const cli::Endpoint&, std::int64_t) override { ++opens; }
  void on_data(std::uint64_t, bool from_client, std::span<const std::uint8_t> b, std::int64_t) override {
    (from_client ? bytes_in : bytes_out) += b.size();
  }
  void on_close(std::uint64_t, bool, bool, std::int64_t) override { ++closes; }
};

// A broker on its own io thread.
class LiveBroker {
 public:
  explicit LiveBroker(BrokerConfig cfg, ListenerConfig l = {}) : broker_(io_, std::move(cfg)) {
    l.host_port = "127.0.0.1:0";
    std::string err;
    ok = broker_.listen(l, err);
    broker_.set_tap(&tap);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~LiveBroker() {
    asio::post(io_, [this] { broker_.stop(); });
    thread_.join();
  }
  std::uint16_t port() const { return broker_.port(); }
  bool ok = false;
  CountingTap tap;

 private:
  asio::io_context io_;
  Broker broker_;
  std::thread thread_;
};

// A blocking client whose reads give up after 2 s; `from` is the source address (another 127.x.y.z).
class RawClient {
 public:
  explicit RawClient(std::uint16_t port, const char* from = nullptr) : sock_(io_) {
    sock_.open(asio::ip::tcp::v4());
    if (from) sock_.bind(asio::ip::tcp::endpoint(asio::ip::make_address(from), 0));
    sock_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  void send(const Packet& p, std::uint8_t level = kLevel311) {
    Buf b = encode_or_throw(p, level);
    asio::write(sock_, asio::buffer(b));
  }
  void send_raw(const Buf& b) { asio::write(sock_, asio::buffer(b)); }
  // Next packet, or nullopt on close / timeout.
  std::optional<Packet> recv(std::uint8_t level = kLevel311) {
    for (int guard = 0; guard < 1000; ++guard) {
      if (!buf_.empty()) {
        DecodeContext ctx;
        ctx.level = level;
        auto d = decode(buf_, ctx);
        if (d) {
          std::size_t n = d->header.packet_size();
          store_.emplace_back(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(n));
          buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(n));
          auto again = decode(store_.back(), ctx);
          return again->packet;
        }
        if (d.error().kind != ErrorKind::need_more) return std::nullopt;
      }
      std::uint8_t tmp[4096];
      asio::error_code ec;
      if (!readable()) return std::nullopt;
      std::size_t n = sock_.read_some(asio::buffer(tmp), ec);
      if (ec) return std::nullopt;
      buf_.insert(buf_.end(), tmp, tmp + n);
    }
    return std::nullopt;
  }
  // CONNECT (no authentication) answered by CONNACK 0.
  bool connect(std::string_view client_id) {
    Connect con;
    con.client_id = client_id;
    send(con);
    auto ack = recv();
    return ack && std::holds_alternative<Connack>(*ack) && std::get<Connack>(*ack).code == 0;
  }
  // SUBSCRIBE (QoS 0) answered by SUBACK.
  bool subscribe(std::string_view filter) {
    Subscribe s;
    s.packet_id = 1;
    s.subscriptions.push_back({filter, 0});
    send(s);
    auto ack = recv();
    return ack && std::holds_alternative<Suback>(*ack);
  }
  // CONNECT and the custom challenge-response: CONNACK's code, or -1 when the broker closed (or did not
  // answer) before that.
  int custom_handshake(std::string_view client_id, const std::string& secret) {
    Connect con;
    con.client_id = client_id;
    send(con);
    auto ch = recv();
    if (!ch || !std::holds_alternative<Authenticate>(*ch)) return -1;
    const auto& a = std::get<Authenticate>(*ch);
    std::string resp = hmac_sha256_hex(secret, a.password ? a.password->as_chars() : std::string_view{});
    Authenticate r;
    r.code = a.code;
    r.client_id = client_id;
    r.password = Bytes::of(resp);
    send(r);
    auto ack = recv();
    if (!ack || !std::holds_alternative<Connack>(*ack)) return -1;
    return std::get<Connack>(*ack).code;
  }
  // PINGREQ answered: the connection is alive.
  bool ping() {
    send(Pingreq{});
    auto p = recv();
    return p && std::holds_alternative<Pingresp>(*p);
  }
  // True when the broker closed the connection (read gives EOF/reset) within the timeout.
  bool closed_by_peer() {
    std::uint8_t tmp[256];
    for (int i = 0; i < 100; ++i) {
      asio::error_code ec;
      if (!readable()) return false;
      sock_.read_some(asio::buffer(tmp), ec);
      if (ec == asio::error::eof || ec == asio::error::connection_reset) return true;
      if (ec) return false;
    }
    return false;
  }

 private:
  // Something to read (or the close) within 2 s. Asio's blocking reads wait on, whatever SO_RCVTIMEO says.
  bool readable() {
    pollfd p{sock_.native_handle(), POLLIN, 0};
    return poll(&p, 1, 2000) > 0;
  }

  asio::io_context io_;
  asio::ip::tcp::socket sock_;
  Buf buf_;
  std::deque<Buf> store_;
};

// Publishes 4 KiB QoS 0 messages to `topic` from `pub` until the broker closes a connection: up to 64 MiB,
// far more than the socket buffers and the test's queue limits hold.
void flood(LiveBroker& b, RawClient& pub, std::string_view topic) {
  std::string payload(4096, 'x');
  Publish p;
  p.topic = topic;
  p.payload = Bytes::of(payload);
  Buf one = encode_or_throw(p, kLevel311);
  Buf many;
  for (int i = 0; i < 256; ++i) many.insert(many.end(), one.begin(), one.end());
  for (int round = 0; round < 64 && b.tap.closes.load() == 0; ++round) pub.send_raw(many);
  for (int i = 0; i < 200 && b.tap.closes.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

}  // namespace

TEST(BrokerLive, CustomHandshakeOverTcp) {
  BrokerConfig cfg;
  cfg.secrets.add("sensor-01", "k");
  ListenerConfig l;
  l.auth = AuthMode::custom;
  l.auth_code = 15;
  LiveBroker b(cfg, l);
  ASSERT_TRUE(b.ok);
  ASSERT_NE(b.port(), 0);
  for (int right = 1; right >= 0; --right) {
    RawClient c(b.port());
    Connect con;
    con.client_id = "sensor-01";
    c.send(con);
    auto ch = c.recv();
    ASSERT_TRUE(ch);
    ASSERT_TRUE(std::holds_alternative<Authenticate>(*ch));
    std::string challenge(std::get<Authenticate>(*ch).password->as_chars());
    EXPECT_EQ(challenge.size(), 32u);
    Authenticate r;
    r.code = 15;
    r.client_id = "sensor-01";
    std::string resp = right ? hmac_sha256_hex("k", challenge) : "nope";
    r.password = Bytes::of(resp);
    c.send(r);
    auto ack = c.recv();
    ASSERT_TRUE(ack);
    EXPECT_EQ(std::get<Connack>(*ack).code, right ? 0 : 5);
    if (!right) {
      EXPECT_TRUE(c.closed_by_peer());
    }
  }
  EXPECT_GE(b.tap.opens, 2u);
  EXPECT_GT(b.tap.bytes_in, 0u);
  EXPECT_GT(b.tap.bytes_out, 0u);
}

// Over TCP: after 3 wrong responses for sensor-01 its CONNECT is refused without a challenge; another device
// from the same address (127.0.0.1) is unaffected.
TEST(BrokerLive, BruteForceLimitOverTcp) {
  BrokerConfig cfg;
  cfg.secrets.add("sensor-01", "k");
  cfg.secrets.add("sensor-02", "k2");
  cfg.auth_limit.client_failures = 3;
  ListenerConfig l;
  l.auth = AuthMode::custom;
  LiveBroker b(cfg, l);
  ASSERT_TRUE(b.ok);
  // One handshake; `challenged` tells whether a challenge came. The CONNACK code, or -1.
  auto attempt = [&](const char* id, const char* secret, bool& challenged) {
    RawClient c(b.port());
    Connect con;
    con.client_id = id;
    c.send(con);
    auto p = c.recv();
    challenged = p && std::holds_alternative<Authenticate>(*p);
    if (challenged) {
      std::string resp = hmac_sha256_hex(secret, std::get<Authenticate>(*p).password->as_chars());
      Authenticate r;
      r.client_id = id;
      r.password = Bytes::of(resp);
      c.send(r);
      p = c.recv();
    }
    return p && std::holds_alternative<Connack>(*p) ? int{std::get<Connack>(*p).code} : -1;
  };
  bool challenged = false;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(attempt("sensor-01", "guess", challenged), 5);
    EXPECT_TRUE(challenged);
  }
  EXPECT_EQ(attempt("sensor-01", "k", challenged), 5);
  EXPECT_FALSE(challenged);
  EXPECT_EQ(attempt("sensor-02", "k2", challenged), 0);
  EXPECT_TRUE(challenged);
}

TEST(BrokerLive, PublishSubscribeAcrossSockets) {
  LiveBroker b(BrokerConfig{});
  ASSERT_TRUE(b.ok);
  RawClient sub(b.port()), pub(b.port());
  Connect c;
  c.client_id = "sub";
  sub.send(c);
  ASSERT_TRUE(sub.recv());
  c.client_id = "pub";
  pub.send(c);
  ASSERT_TRUE(pub.recv());
  Subscribe s;
  s.packet_id = 1;
  s.subscriptions.push_back({"sensors/+/temp", 1});
  sub.send(s);
  auto sa = sub.recv();
  ASSERT_TRUE(sa && std::holds_alternative<Suback>(*sa));
  Publish p;
  p.topic = "sensors/7/temp";
  p.payload = Bytes::of("21.5");
  p.qos = 1;
  p.packet_id = 3;
  pub.send(p);
  auto pa = pub.recv();
  ASSERT_TRUE(pa && std::holds_alternative<Puback>(*pa));
  auto m = sub.recv();
  ASSERT_TRUE(m && std::holds_alternative<Publish>(*m));
  EXPECT_EQ(std::get<Publish>(*m).payload.as_chars(), "21.5");
}

TEST(BrokerLive, GarbageAndSilenceAreClosed) {
  BrokerConfig cfg;
  cfg.connect_timeout = std::chrono::milliseconds(300);
  LiveBroker b(cfg);
  ASSERT_TRUE(b.ok);
  RawClient garbage(b.port());
  garbage.send_raw(Buf{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F});
  EXPECT_TRUE(garbage.closed_by_peer());
  RawClient silent(b.port());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(silent.closed_by_peer());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  // The broker still serves others.
  RawClient ok(b.port());
  Connect c;
  c.client_id = "fine";
  ok.send(c);
  auto ack = ok.recv();
  ASSERT_TRUE(ack && std::holds_alternative<Connack>(*ack));
}

TEST(BrokerLive, SubscriberThatDoesNotReadIsClosed) {
  BrokerConfig cfg;
  cfg.max_output_queue = 64 * 1024;
  LiveBroker b(cfg);
  ASSERT_TRUE(b.ok);
  RawClient sub(b.port()), pub(b.port());
  ASSERT_TRUE(sub.connect("deaf"));
  ASSERT_TRUE(sub.subscribe("flood"));
  ASSERT_TRUE(pub.connect("loud"));
  flood(b, pub, "flood");
  EXPECT_EQ(b.tap.closes.load(), 1u);  // the deaf subscriber; the publisher stays
  EXPECT_TRUE(pub.ping());
}

TEST(BrokerLive, MaxConnections) {
  BrokerConfig cfg;
  cfg.max_connections = 2;
  LiveBroker b(cfg);
  ASSERT_TRUE(b.ok);
  RawClient a(b.port()), c2(b.port());
  ASSERT_TRUE(a.connect("a"));
  ASSERT_TRUE(c2.connect("c2"));
  // Both established: nothing can make room, the newcomer is refused.
  RawClient third(b.port());
  EXPECT_TRUE(third.closed_by_peer());
  EXPECT_TRUE(a.ping());
  EXPECT_TRUE(c2.ping());
}

// ---------------------------------------------------------------------------------------------------------
// Under attack (tests/tools/broker_attack.cpp measures the same at scale).

namespace {

// Timeouts long enough that a connection closed within a few seconds was closed by a limit, not by a timer.
BrokerConfig slow_timeouts() {
  BrokerConfig cfg;
  cfg.connect_timeout = std::chrono::seconds(30);
  cfg.auth_timeout = std::chrono::seconds(30);
  return cfg;
}

BrokerConfig custom_auth_config() {
  BrokerConfig cfg = slow_timeouts();
  cfg.secrets.add("device", "k");
  return cfg;
}

// Closed by the broker within 5 s (see slow_timeouts).
bool closed_soon(RawClient& c) {
  auto t0 = std::chrono::steady_clock::now();
  return c.closed_by_peer() && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5);
}

ListenerConfig custom_listener() {
  ListenerConfig l;
  l.auth = AuthMode::custom;
  return l;
}

// The handshake of a well-behaved device, timed.
struct Timed {
  int code = -1;
  std::chrono::steady_clock::duration took{};
};
Timed device_handshake(RawClient& c) {
  auto t0 = std::chrono::steady_clock::now();
  Timed t;
  t.code = c.custom_handshake("device", "k");
  t.took = std::chrono::steady_clock::now() - t0;
  return t;
}

// A source address other than 127.0.0.1, or nullptr when this host cannot bind one.
const char* other_loopback(const char* addr) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  asio::error_code ec;
  s.open(asio::ip::tcp::v4(), ec);
  s.bind(asio::ip::tcp::endpoint(asio::ip::make_address(addr), 0), ec);
  return ec ? nullptr : addr;
}

}  // namespace

TEST(BrokerLive, ConnectionsThatNeverAuthenticateCannotLockOutADevice) {
  BrokerConfig cfg = custom_auth_config();
  cfg.max_connections = 8;
  cfg.max_pending = 4;
  LiveBroker b(cfg, custom_listener());
  ASSERT_TRUE(b.ok);
  // Silent connections and connections that never answer the challenge, twice the connection cap.
  std::vector<std::unique_ptr<RawClient>> silent;
  for (int i = 0; i < 16; ++i) {
    silent.push_back(std::make_unique<RawClient>(b.port()));
    if (i % 2) {
      std::string id = "silent-" + std::to_string(i);
      Connect c;
      c.client_id = id;
      silent.back()->send(c);
    }
  }
  // The device gets in (the oldest unauthenticated connection makes room), in far less than the 10 s that
  // the silent ones could otherwise hold their places.
  RawClient device(b.port());
  Timed t = device_handshake(device);
  EXPECT_EQ(t.code, 0);
  EXPECT_LT(t.took, std::chrono::seconds(5));
  EXPECT_TRUE(closed_soon(*silent.front()));
  // Established, it is not the one closed for later newcomers.
  for (int i = 0; i < 16; ++i) silent.push_back(std::make_unique<RawClient>(b.port()));
  EXPECT_TRUE(device.ping());
}

TEST(BrokerLive, ConnectionsPerAddress) {
  const char* two = other_loopback("127.0.0.2");
  const char* three = other_loopback("127.0.0.3");
  if (!two || !three) GTEST_SKIP() << "cannot bind 127.0.0.2 / 127.0.0.3 here";
  BrokerConfig cfg = slow_timeouts();
  cfg.max_connections_per_address = 2;
  LiveBroker b(cfg);
  ASSERT_TRUE(b.ok);
  // Two established from 127.0.0.2: a third from there is refused, one from 127.0.0.1 is not.
  RawClient a(b.port(), two), a2(b.port(), two);
  ASSERT_TRUE(a.connect("a"));
  ASSERT_TRUE(a2.connect("a2"));
  RawClient a3(b.port(), two);
  EXPECT_TRUE(closed_soon(a3));
  RawClient local(b.port());
  EXPECT_TRUE(local.connect("local"));
  // Two silent from 127.0.0.3: a newcomer from there replaces the older.
  RawClient s1(b.port(), three), s2(b.port(), three);
  RawClient s3(b.port(), three);
  EXPECT_TRUE(s3.connect("s3"));
  EXPECT_TRUE(closed_soon(s1));
  EXPECT_TRUE(a.ping());
}

TEST(BrokerLive, HandshakeBytesAreLimited) {
  BrokerConfig cfg = custom_auth_config();
  cfg.max_handshake_bytes = 1024;
  LiveBroker b(cfg, custom_listener());
  ASSERT_TRUE(b.ok);
  // A CONNECT announcing 100,000 bytes (under the 1 MiB packet limit), then 4 KiB of them: closed at once,
  // not kept (with its buffer) until the connect timeout.
  RawClient big(b.port());
  Buf head = {0x10, 0xA0, 0x8D, 0x06};  // remaining length 100000
  big.send_raw(head);
  big.send_raw(Buf(4096, 'x'));
  EXPECT_TRUE(closed_soon(big));
  RawClient device(b.port());
  EXPECT_EQ(device_handshake(device).code, 0);
}

TEST(BrokerLive, OutputBudgetClosesTheLargestQueue) {
  BrokerConfig cfg;
  cfg.max_output_queue = 64u << 20;  // never reached: the budget of all queues is
  cfg.max_output_total = 256u << 10;
  LiveBroker b(cfg);
  ASSERT_TRUE(b.ok);
  // Two subscribers that do not read: one of the flood, one of a single small message.
  RawClient deaf(b.port()), light(b.port()), pub(b.port());
  ASSERT_TRUE(deaf.connect("deaf"));
  ASSERT_TRUE(deaf.subscribe("flood"));
  ASSERT_TRUE(light.connect("light"));
  ASSERT_TRUE(light.subscribe("light"));
  ASSERT_TRUE(pub.connect("loud"));
  Publish small;
  small.topic = "light";
  small.payload = Bytes::of("still here");
  pub.send(small);
  flood(b, pub, "flood");
  EXPECT_EQ(b.tap.closes.load(), 1u);  // the deaf subscriber only
  auto m = light.recv();
  ASSERT_TRUE(m && std::holds_alternative<Publish>(*m));
  EXPECT_EQ(std::get<Publish>(*m).payload.as_chars(), "still here");
  EXPECT_TRUE(light.ping());
  EXPECT_TRUE(pub.ping());
}

TEST(BrokerLive, FloodOfMalformedConnections) {
  BrokerConfig cfg = custom_auth_config();
  cfg.max_connections = 32;
  cfg.max_pending = 16;
  LiveBroker b(cfg, custom_listener());
  ASSERT_TRUE(b.ok);
  Connect con;
  con.client_id = "x";
  Buf connect = encode_or_throw(con, kLevel311);
  Buf level9 = connect;
  level9[8] = 9;
  const std::vector<Buf> bad = {
      {0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F},                                              // remaining length > 4 bytes
      level9,                                                                            // unknown protocol level
      {0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0xFF, 0xFF},  // client id past the end
      {0x30, 0x03, 0x00, 0x01, 'a'},                                                     // PUBLISH first
      {0x12, 0x00},                                                                      // CONNECT with flags
      {0x10, 0xFF, 0xFF, 0xFF, 0x7F},                                                    // 256 MiB announced
      Buf(3000, 0xEE),                                                                   // noise
  };
  std::vector<std::unique_ptr<RawClient>> kept;  // every other one never closes its side
  for (int i = 0; i < 300; ++i) {
    auto c = std::make_unique<RawClient>(b.port());
    try {
      c->send_raw(bad[static_cast<std::size_t>(i) % bad.size()]);
      if (i % 7 == 6) c->send_raw(connect);  // a CONNECT after the noise
    } catch (const std::exception&) {
      // closed for a newcomer before it could send: fine
    }
    if (i % 2) kept.push_back(std::move(c));
  }
  RawClient device(b.port());
  Timed t = device_handshake(device);
  EXPECT_EQ(t.code, 0);
  EXPECT_LT(t.took, std::chrono::seconds(5));
  EXPECT_TRUE(device.ping());
}

TEST(BrokerLive, OutOfFileDescriptorsStillServesADevice) {
  // The real binary with 64 file descriptors, far fewer than --max-connections asks for: 100 silent
  // connections exhaust them. Accepting must neither stop (the device waits in the listen queue) nor spin.
  std::string dir = test::temp_dir();
  std::string secrets = dir + "/fd-limit.secrets";
  {
    std::ofstream f(secrets);
    f << "device k\n";
  }
  test::BrokerProcess broker(
      MQTTAUTH_BIN,
      {"--auth", "custom", "--secrets", secrets, "--max-connections", "1000", "--max-pending", "1000", "--quiet"},
      dir + "/fd-limit.log", 64);
  ASSERT_FALSE(broker.address.empty()) << broker.log_text();
  EXPECT_NE(broker.log_text().find("file descriptors at most"), std::string::npos);  // the warning
  std::vector<std::unique_ptr<RawClient>> silent;
  silent.reserve(100);
  for (int i = 0; i < 100; ++i) silent.push_back(std::make_unique<RawClient>(broker.port()));
  RawClient device(broker.port());
  Timed t = device_handshake(device);
  EXPECT_EQ(t.code, 0);
  EXPECT_LT(t.took, std::chrono::seconds(5));
  // Idle now: no busy loop on EMFILE (user + system CPU time over one second, from /proc).
  auto cpu_ticks = [&] {
    std::ifstream f("/proc/" + std::to_string(broker.pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), {});
    std::istringstream in(stat.substr(stat.rfind(')') + 2));
    std::string field;
    long ticks = 0;
    for (int i = 3; i <= 15 && in >> field; ++i)
      if (i >= 14) ticks += std::stol(field);  // utime, stime
    return ticks;
  };
  long before = cpu_ticks();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_LT(cpu_ticks() - before, sysconf(_SC_CLK_TCK) / 2);
  EXPECT_TRUE(device.ping());
  EXPECT_EQ(broker.stop(), "exit 0");
}

TEST(BrokerLive, ListenErrors) {
  asio::io_context io;
  Broker b(io, BrokerConfig{});
  std::string err;
  EXPECT_FALSE(b.listen("nonsense", err));
  EXPECT_FALSE(err.empty());
  EXPECT_FALSE(b.listen("127.0.0.1:99999", err));
  ASSERT_TRUE(b.listen("127.0.0.1:0", err)) << err;
  EXPECT_EQ(b.listener_count(), 1u);
  EXPECT_EQ(b.bound_address(0), "127.0.0.1:" + std::to_string(b.port(0)));
  EXPECT_EQ(b.port(5), 0);
  b.stop();
  io.run();  // nothing left: returns at once
}

}  // namespace mqttauth::clitest
