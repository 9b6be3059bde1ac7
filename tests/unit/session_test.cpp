// The per-connection session model: protocol level tracking and the authentication handshake, for the
// field's custom challenge-response (types 0 and 15) and MQTT 5 enhanced authentication.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "hex.hpp"
#include "mqttauth/codec.hpp"
#include "mqttauth/session.hpp"

using namespace mqttauth;
using mqttauth::test::hex;

namespace {

using ByteVec = std::vector<std::uint8_t>;

constexpr std::string_view kClientId = "dev-0001";
constexpr std::string_view kTimestamp = "1700000000123";
constexpr std::string_view kResponse = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
// Capture time close to the challenge's timestamp (1700000000123 ms), in ns.
constexpr std::int64_t kT0 = 1700000000100LL * 1000000LL;

void append_str(ByteVec& b, std::string_view s) {
  b.push_back(static_cast<std::uint8_t>(s.size() >> 8));
  b.push_back(static_cast<std::uint8_t>(s.size() & 0xFFu));
  b.insert(b.end(), s.begin(), s.end());
}

// An authenticate packet as the field sends it: <code << 4> <len> 00 04 'MQTT' 04 42 00 00 <id> <password>.
ByteVec authenticate(std::uint8_t code, std::string_view password, std::string_view client_id = kClientId) {
  ByteVec body = hex("00 04 'MQTT' 04 42 00 00");
  append_str(body, client_id);
  append_str(body, password);
  ByteVec b(2 + body.size());
  b[0] = static_cast<std::uint8_t>(code << 4);
  b[1] = static_cast<std::uint8_t>(body.size());
  std::copy(body.begin(), body.end(), b.begin() + 2);
  return b;
}

ByteVec connect311(std::string_view client_id = kClientId) {
  Connect c;
  c.client_id = client_id;
  c.keep_alive = 60;
  return encode_or_throw(Packet(c), kLevel311);
}

ByteVec connack311(std::uint8_t code) { return ByteVec{0x20, 0x02, 0x00, code}; }

ByteVec publish311() { return hex("30 0d 00 06 'site/1' 'hello'"); }

// One connection's packets fed through Session::decode with frame numbers and timestamps.
class Conversation {
 public:
  explicit Conversation(SessionOptions opts = {}) : session(opts) {}

  // Decodes `bytes` as frame `next id`, at kT0 + id milliseconds.
  Observation feed(const ByteVec& bytes, Direction dir) {
    packets_.push_back(bytes);  // the decoded packet views its bytes; keep them
    const PacketRef ref = ref_of(++id_);
    auto step = session.decode(packets_.back(), dir, ref);
    EXPECT_TRUE(step.decoded.ok()) << "frame " << id_ << ": " << step.decoded.error().message();
    if (step.decoded.ok()) last_name_ = std::string(packet_name(step.decoded->packet));
    return step.obs;
  }
  static PacketRef ref_of(std::uint64_t id) { return PacketRef{id, kT0 + static_cast<std::int64_t>(id) * 1000000LL}; }
  std::uint64_t last_id() const { return id_; }
  const std::string& last_name() const { return last_name_; }
  const Handshake& hs(std::size_t i = 0) const {
    EXPECT_GT(session.handshakes().size(), i);
    return session.handshakes().at(i);
  }

  Session session;

 private:
  std::vector<ByteVec> packets_;
  std::uint64_t id_ = 0;
  std::string last_name_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------------
// The custom challenge-response.

class CustomHandshake : public ::testing::TestWithParam<std::uint8_t> {
 protected:
  std::uint8_t code() const { return GetParam(); }
  AuthScheme scheme() const { return code() == 0 ? AuthScheme::custom0 : AuthScheme::custom15; }
};

TEST_P(CustomHandshake, Accepted) {
  Conversation c;
  auto o1 = c.feed(connect311(), Direction::c2s);
  EXPECT_EQ(c.session.level(), kLevel311);
  auto o2 = c.feed(authenticate(code(), kTimestamp), Direction::s2c);
  EXPECT_EQ(c.last_name(), "authenticate");
  auto o3 = c.feed(authenticate(code(), kResponse), Direction::c2s);
  EXPECT_EQ(c.last_name(), "authenticate");
  auto o4 = c.feed(connack311(0), Direction::s2c);
  EXPECT_EQ(c.last_name(), "connack");

  EXPECT_EQ(o1.role, Role::none);
  EXPECT_EQ(o2.role, Role::challenge);
  EXPECT_EQ(o3.role, Role::response);
  EXPECT_EQ(o4.role, Role::none);
  for (const auto* o : {&o1, &o2, &o3, &o4}) {
    EXPECT_EQ(o->anomalies, 0u);
    EXPECT_EQ(o->handshake, std::optional<std::size_t>(0));
  }
  EXPECT_EQ(o1.dir, Direction::c2s);
  EXPECT_EQ(o2.dir, Direction::s2c);

  ASSERT_EQ(c.session.handshakes().size(), 1u);
  const Handshake& h = c.hs();
  EXPECT_EQ(h.scheme, scheme());
  EXPECT_EQ(scheme_name(h.scheme), code() == 0 ? "custom0" : "custom15");
  EXPECT_EQ(h.outcome, Outcome::accepted);
  EXPECT_EQ(outcome_name(h.outcome), "accepted");
  EXPECT_EQ(h.level, kLevel311);
  EXPECT_EQ(h.connack_code, std::optional<std::uint8_t>(0));
  EXPECT_EQ(h.client_id, kClientId);
  EXPECT_TRUE(h.auth_method.empty());
  EXPECT_EQ(h.challenge, kTimestamp);
  EXPECT_EQ(h.response, kResponse);
  EXPECT_EQ(h.connect, Conversation::ref_of(1));
  EXPECT_EQ(h.challenge_pkt, Conversation::ref_of(2));
  EXPECT_EQ(h.response_pkt, Conversation::ref_of(3));
  EXPECT_EQ(h.connack, Conversation::ref_of(4));
  EXPECT_FALSE(h.closed);
  EXPECT_EQ(h.challenges, 1u);
  EXPECT_EQ(h.responses, 1u);
  EXPECT_EQ(h.anomalies, 0u);
  EXPECT_EQ(h.latency_ns(), std::optional<std::int64_t>(3000000));
  EXPECT_EQ(classify_challenge(h.challenge, h.challenge_pkt->ts_ns), ChallengeWeakness::timestamp_ms);
  EXPECT_EQ(classify_challenge(h.response), ChallengeWeakness::none);

  // Later traffic belongs to the same handshake and changes nothing.
  auto o5 = c.feed(publish311(), Direction::c2s);
  EXPECT_EQ(o5.handshake, std::optional<std::size_t>(0));
  EXPECT_EQ(o5.role, Role::none);
  c.session.close(Conversation::ref_of(99));
  c.session.finish();
  EXPECT_EQ(c.hs().outcome, Outcome::accepted);
  EXPECT_FALSE(c.hs().closed);
}

TEST_P(CustomHandshake, Refused) {
  Conversation c;
  c.feed(connect311(), Direction::c2s);
  c.feed(authenticate(code(), kTimestamp), Direction::s2c);
  c.feed(authenticate(code(), std::string(64, '0')), Direction::c2s);
  auto o = c.feed(connack311(5), Direction::s2c);
  EXPECT_EQ(o.anomalies, anomaly::refused_after_exchange);
  const Handshake& h = c.hs();
  EXPECT_EQ(h.outcome, Outcome::refused);
  EXPECT_EQ(h.connack_code, std::optional<std::uint8_t>(5));
  EXPECT_EQ(h.anomalies, anomaly::refused_after_exchange);
  EXPECT_EQ(anomaly_names(h.anomalies), "refused_after_exchange");
  EXPECT_EQ(h.latency_ns(), std::optional<std::int64_t>(3000000));
}

TEST_P(CustomHandshake, ChallengeWithoutResponse) {
  Conversation c;
  c.feed(connect311(), Direction::c2s);
  c.feed(authenticate(code(), kTimestamp), Direction::s2c);
  auto o = c.feed(connack311(5), Direction::s2c);
  EXPECT_TRUE(o.anomalies & anomaly::challenge_without_response);
  const Handshake& h = c.hs();
  EXPECT_EQ(h.outcome, Outcome::refused);
  EXPECT_TRUE(h.anomalies & anomaly::challenge_without_response);
  EXPECT_FALSE(h.anomalies & anomaly::refused_after_exchange);  // there was no exchange
  EXPECT_EQ(h.challenges, 1u);
  EXPECT_EQ(h.responses, 0u);
  EXPECT_FALSE(h.response_pkt);
  EXPECT_TRUE(h.response.empty());
}

TEST_P(CustomHandshake, ChallengeThenClose) {
  Conversation c;
  c.feed(connect311(), Direction::c2s);
  c.feed(authenticate(code(), kTimestamp), Direction::s2c);
  c.session.close(Conversation::ref_of(3));
  const Handshake& h = c.hs();
  EXPECT_EQ(h.outcome, Outcome::abandoned);
  EXPECT_EQ(h.closed, Conversation::ref_of(3));
  EXPECT_FALSE(h.connack);
  EXPECT_FALSE(h.latency_ns());
  c.session.finish();  // the outcome is final
  EXPECT_EQ(c.hs().outcome, Outcome::abandoned);
}

TEST_P(CustomHandshake, FinishMidHandshake) {
  Conversation c;
  c.feed(connect311(), Direction::c2s);
  c.feed(authenticate(code(), kTimestamp), Direction::s2c);
  c.feed(authenticate(code(), kResponse), Direction::c2s);
  c.session.finish();
  const Handshake& h = c.hs();
  EXPECT_EQ(h.outcome, Outcome::incomplete);
  EXPECT_FALSE(h.closed);
  EXPECT_FALSE(h.anomalies & anomaly::challenge_without_response);
  EXPECT_EQ(h.response, kResponse);
}

TEST_P(CustomHandshake, FinishAfterConnectOnly) {
  Conversation c;
  c.feed(connect311(), Direction::c2s);
  c.session.finish();
  EXPECT_EQ(c.hs().outcome, Outcome::incomplete);
  EXPECT_EQ(c.hs().scheme, AuthScheme::none);
}

TEST_P(CustomHandshake, UnknownDirectionIsInferred) {
  Conversation c;
  auto o1 = c.feed(connect311(), Direction::unknown);
  auto o2 = c.feed(authenticate(code(), kTimestamp), Direction::unknown);
  auto o3 = c.feed(authenticate(code(), kResponse), Direction::unknown);
  auto o4 = c.feed(connack311(0), Direction::unknown);
  EXPECT_EQ(o1.dir, Direction::c2s);
  EXPECT_EQ(o2.dir, Direction::s2c);
  EXPECT_EQ(o3.dir, Direction::c2s);
  EXPECT_EQ(o4.dir, Direction::s2c);
  EXPECT_EQ(direction_name(o2.dir), "s2c");
  EXPECT_EQ(o2.role, Role::challenge);
  EXPECT_EQ(o3.role, Role::response);
  EXPECT_EQ(role_name(o3.role), "response");
  EXPECT_EQ(c.hs().outcome, Outcome::accepted);
  EXPECT_EQ(c.hs().challenge, kTimestamp);
  EXPECT_EQ(c.hs().response, kResponse);
  EXPECT_EQ(c.hs().anomalies, 0u);
  // Packets whose sender the type tells; a PUBLISH could be either.
  EXPECT_EQ(c.feed(hex("c0 00"), Direction::unknown).dir, Direction::c2s);
  EXPECT_EQ(c.feed(hex("d0 00"), Direction::unknown).dir, Direction::s2c);
  EXPECT_EQ(c.feed(publish311(), Direction::unknown).dir, Direction::unknown);
}

TEST_P(CustomHandshake, RepeatedResponse) {
  Conversation c;
  c.feed(connect311(), Direction::c2s);
  c.feed(authenticate(code(), kTimestamp), Direction::s2c);
  c.feed(authenticate(code(), kResponse), Direction::c2s);
  auto o = c.feed(authenticate(code(), "second"), Direction::c2s);
  EXPECT_EQ(o.role, Role::response);
  EXPECT_EQ(o.anomalies, anomaly::repeated_response);
  c.feed(connack311(0), Direction::s2c);
  const Handshake& h = c.hs();
  EXPECT_EQ(h.responses, 2u);
  EXPECT_EQ(h.response, kResponse);  // the first one
  EXPECT_EQ(h.response_pkt, Conversation::ref_of(3));
  EXPECT_TRUE(h.anomalies & anomaly::repeated_response);
  EXPECT_EQ(h.outcome, Outcome::accepted);
}

// The response names another client than the CONNECT did (the field's broker refuses it).
TEST_P(CustomHandshake, ResponseWithAnotherClientId) {
  Conversation c;
  c.feed(connect311(), Direction::c2s);
  EXPECT_EQ(c.feed(authenticate(code(), kTimestamp), Direction::s2c).anomalies, 0u);
  auto o = c.feed(authenticate(code(), kResponse, "dev-0002"), Direction::c2s);
  EXPECT_EQ(o.role, Role::response);
  EXPECT_EQ(o.anomalies, anomaly::client_id_mismatch);
  c.feed(connack311(5), Direction::s2c);
  const Handshake& h = c.hs();
  EXPECT_EQ(h.client_id, kClientId);
  EXPECT_TRUE(h.anomalies & anomaly::client_id_mismatch);
  EXPECT_EQ(anomaly_names(anomaly::client_id_mismatch), "client_id_mismatch");
}

// A CONNECT without a client id: the challenge names the one the server assigned, and the response must too.
TEST_P(CustomHandshake, EmptyConnectClientIdTakesTheChallenges) {
  Conversation c;
  c.feed(connect311(""), Direction::c2s);
  c.feed(authenticate(code(), kTimestamp, "assigned-1"), Direction::s2c);
  EXPECT_EQ(c.feed(authenticate(code(), kResponse, "assigned-1"), Direction::c2s).anomalies, 0u);
}

TEST_P(CustomHandshake, RepeatedChallenge) {
  Conversation c;
  c.feed(connect311(), Direction::c2s);
  c.feed(authenticate(code(), kTimestamp), Direction::s2c);
  auto o = c.feed(authenticate(code(), "1700000000999"), Direction::s2c);
  EXPECT_EQ(o.anomalies, anomaly::repeated_challenge);
  EXPECT_EQ(c.hs().challenges, 2u);
  EXPECT_EQ(c.hs().challenge, kTimestamp);
}

TEST_P(CustomHandshake, AuthenticateAfterConnack) {
  Conversation c;
  c.feed(connect311(), Direction::c2s);
  c.feed(authenticate(code(), kTimestamp), Direction::s2c);
  c.feed(authenticate(code(), kResponse), Direction::c2s);
  c.feed(connack311(0), Direction::s2c);
  auto o = c.feed(authenticate(code(), "1700000005000"), Direction::s2c);
  EXPECT_EQ(o.role, Role::challenge);
  EXPECT_EQ(o.anomalies, anomaly::unexpected_state);
  EXPECT_EQ(o.handshake, std::optional<std::size_t>(0));
  auto o2 = c.feed(authenticate(code(), kResponse), Direction::c2s);
  EXPECT_EQ(o2.anomalies, anomaly::unexpected_state);
  const Handshake& h = c.hs();
  EXPECT_EQ(h.outcome, Outcome::accepted);  // unchanged
  EXPECT_TRUE(h.anomalies & anomaly::unexpected_state);
  EXPECT_EQ(h.challenge, kTimestamp);
  EXPECT_EQ(anomaly_names(h.anomalies), "unexpected_state");
}

TEST_P(CustomHandshake, ResponseBeforeChallenge) {
  Conversation c;
  c.feed(connect311(), Direction::c2s);
  auto o = c.feed(authenticate(code(), kResponse), Direction::c2s);
  EXPECT_EQ(o.role, Role::response);
  EXPECT_EQ(o.anomalies, anomaly::unexpected_state);
}

TEST_P(CustomHandshake, CaptureStartsAtTheChallenge) {
  Conversation c;
  auto o1 = c.feed(authenticate(code(), kTimestamp), Direction::s2c);
  EXPECT_EQ(o1.role, Role::challenge);
  EXPECT_EQ(o1.anomalies, 0u);
  ASSERT_EQ(c.session.handshakes().size(), 1u);
  EXPECT_EQ(o1.handshake, std::optional<std::size_t>(0));
  auto o2 = c.feed(authenticate(code(), kResponse), Direction::c2s);
  EXPECT_EQ(o2.role, Role::response);
  EXPECT_EQ(o2.anomalies, 0u);
  c.feed(connack311(0), Direction::s2c);
  const Handshake& h = c.hs();
  EXPECT_EQ(h.scheme, scheme());
  EXPECT_EQ(h.outcome, Outcome::accepted);
  EXPECT_FALSE(h.connect);
  EXPECT_EQ(h.level, 0u);             // no CONNECT seen
  EXPECT_EQ(h.client_id, kClientId);  // from the authenticate packet
  EXPECT_EQ(h.challenge, kTimestamp);
  EXPECT_EQ(h.response, kResponse);
  EXPECT_EQ(h.latency_ns(), std::optional<std::int64_t>(2000000));  // from the challenge
}

TEST_P(CustomHandshake, CaptureStartsAtTheChallengeUnknownDirection) {
  Conversation c;
  auto o1 = c.feed(authenticate(code(), kTimestamp), Direction::unknown);
  auto o2 = c.feed(authenticate(code(), kResponse), Direction::unknown);
  auto o3 = c.feed(connack311(0), Direction::unknown);
  EXPECT_EQ(o1.dir, Direction::s2c);
  EXPECT_EQ(o2.dir, Direction::c2s);
  EXPECT_EQ(o3.dir, Direction::s2c);
  EXPECT_EQ(c.hs().outcome, Outcome::accepted);
}

TEST_P(CustomHandshake, CaptureStartsAtTheResponse) {
  Conversation c;
  auto o1 = c.feed(authenticate(code(), kResponse), Direction::c2s);
  EXPECT_EQ(o1.role, Role::response);
  EXPECT_EQ(o1.anomalies, 0u);
  ASSERT_EQ(c.session.handshakes().size(), 1u);
  auto o2 = c.feed(connack311(0), Direction::s2c);
  EXPECT_EQ(o2.anomalies, 0u);
  const Handshake& h = c.hs();
  EXPECT_EQ(h.outcome, Outcome::accepted);
  EXPECT_EQ(h.challenges, 0u);
  EXPECT_EQ(h.responses, 1u);
  EXPECT_TRUE(h.challenge.empty());
  EXPECT_EQ(h.response, kResponse);
  EXPECT_EQ(h.response_pkt, Conversation::ref_of(1));
  // "CONNECT (or the first handshake packet seen) to CONNACK": here the response.
  EXPECT_EQ(h.latency_ns(), std::optional<std::int64_t>(1000000));
}

TEST_P(CustomHandshake, CaptureStartsAtAPublish) {
  Conversation c;
  auto o1 = c.feed(publish311(), Direction::c2s);
  EXPECT_EQ(o1.role, Role::none);
  EXPECT_FALSE(o1.handshake);
  EXPECT_TRUE(c.session.handshakes().empty());
  auto o2 = c.feed(hex("40 02 00 07"), Direction::s2c);
  EXPECT_FALSE(o2.handshake);
  c.session.finish();
  c.session.close(Conversation::ref_of(9));
  EXPECT_TRUE(c.session.handshakes().empty());
  // A reconnect later on is a normal handshake.
  c.feed(connect311(), Direction::c2s);
  c.feed(authenticate(code(), kTimestamp), Direction::s2c);
  c.feed(authenticate(code(), kResponse), Direction::c2s);
  c.feed(connack311(0), Direction::s2c);
  ASSERT_EQ(c.session.handshakes().size(), 1u);
  EXPECT_EQ(c.hs().outcome, Outcome::accepted);
  EXPECT_EQ(c.hs().scheme, scheme());
}

TEST_P(CustomHandshake, SecondConnectAbandonsThePendingHandshake) {
  Conversation c;
  c.feed(connect311(), Direction::c2s);
  c.feed(authenticate(code(), kTimestamp), Direction::s2c);
  auto o = c.feed(connect311("dev-0002"), Direction::c2s);
  EXPECT_EQ(o.anomalies, anomaly::second_connect);
  EXPECT_EQ(o.handshake, std::optional<std::size_t>(1));
  ASSERT_EQ(c.session.handshakes().size(), 2u);
  EXPECT_EQ(c.hs(0).outcome, Outcome::abandoned);
  EXPECT_EQ(c.hs(0).closed, Conversation::ref_of(3));
  EXPECT_EQ(c.hs(1).client_id, "dev-0002");
  EXPECT_TRUE(c.hs(1).anomalies & anomaly::second_connect);
  EXPECT_EQ(c.hs(1).outcome, Outcome::pending);
}

INSTANTIATE_TEST_SUITE_P(Codes, CustomHandshake, ::testing::Values(std::uint8_t{0}, std::uint8_t{15}),
                         [](const auto& p) { return "code" + std::to_string(p.param); });

TEST(Session, NoAuthentication) {
  Conversation c;
  c.feed(connect311(), Direction::c2s);
  auto o = c.feed(connack311(0), Direction::s2c);
  EXPECT_EQ(o.anomalies, 0u);
  const Handshake& h = c.hs();
  EXPECT_EQ(h.scheme, AuthScheme::none);
  EXPECT_EQ(scheme_name(h.scheme), "none");
  EXPECT_EQ(h.outcome, Outcome::accepted);
  EXPECT_EQ(h.challenges, 0u);
  EXPECT_EQ(h.responses, 0u);
  EXPECT_TRUE(h.challenge.empty());
  EXPECT_EQ(h.latency_ns(), std::optional<std::int64_t>(1000000));
}

TEST(Session, SecondConnack) {
  Conversation c;
  c.feed(connect311(), Direction::c2s);
  c.feed(connack311(0), Direction::s2c);
  auto o = c.feed(connack311(0), Direction::s2c);
  EXPECT_EQ(o.anomalies, anomaly::second_connack);
  EXPECT_EQ(c.hs().connack, Conversation::ref_of(2));
}

TEST(Session, MalformedPacketIsNotObserved) {
  Session s;
  auto bad = hex("20 01 00");  // CONNACK without its return code
  auto step = s.decode(bad, Direction::s2c, PacketRef{1, 0});
  EXPECT_FALSE(step.decoded.ok());
  EXPECT_EQ(step.obs.dir, Direction::s2c);
  EXPECT_FALSE(step.obs.handshake);
  EXPECT_TRUE(s.handshakes().empty());
}

TEST(Session, ForcedDialectAppliesToDecoding) {
  SessionOptions opts;
  opts.dialect = Dialect::authenticate;
  opts.level = kLevel5;
  Conversation c(opts);
  EXPECT_EQ(c.session.context().dialect, Dialect::authenticate);
  EXPECT_EQ(c.session.context().level, kLevel5);
  c.feed(authenticate(15, kTimestamp), Direction::s2c);  // type 15 at level 5, read as authenticate
  EXPECT_EQ(c.last_name(), "authenticate");
  EXPECT_EQ(c.hs().scheme, AuthScheme::custom15);
  EXPECT_EQ(c.hs().level, kLevel5);
}

// ---------------------------------------------------------------------------------------------------
// Protocol level tracking and MQTT 5 enhanced authentication.

namespace {
ByteVec connect5(const Properties& props) {
  Connect c;
  c.level = kLevel5;
  c.client_id = kClientId;
  c.keep_alive = 30;
  c.properties = props;
  return encode_or_throw(Packet(c), kLevel5);
}
ByteVec auth5(std::uint8_t reason, std::string_view data) {
  PropertyBuilder pb;
  pb.add_string(PropertyId::authentication_method, "HMAC-SHA256");
  pb.add_binary(PropertyId::authentication_data, Bytes::of(data));
  Auth a;
  a.reason_code = reason;
  a.properties = pb.properties();
  return encode_or_throw(Packet(a), kLevel5);
}
}  // namespace

TEST(SessionLevel, Level5ConnectSwitchesTheContext) {
  Conversation c;
  EXPECT_EQ(c.session.context().level, 0);
  c.feed(connect5({}), Direction::c2s);
  EXPECT_EQ(c.session.level(), kLevel5);
  EXPECT_EQ(c.session.context().level, kLevel5);
  EXPECT_EQ(c.hs().level, kLevel5);

  // A v5 CONNACK with properties (receive maximum 20, assigned client identifier).
  PropertyBuilder pb;
  pb.add_int(PropertyId::receive_maximum, 20);
  pb.add_string(PropertyId::assigned_client_identifier, "auto-1");
  Connack ack;
  ack.properties = pb.properties();
  auto ack_bytes = encode_or_throw(Packet(ack), kLevel5);
  auto r = decode(ack_bytes, c.session.context());
  ASSERT_TRUE(r.ok()) << r.error().message();
  const auto& got = std::get<Connack>(r->packet);
  EXPECT_EQ(got.properties.find(PropertyId::receive_maximum)->number, 20u);
  EXPECT_EQ(got.properties.find(PropertyId::assigned_client_identifier)->text, "auto-1");
  // At level 4 the same bytes break a rule (bytes after the return code).
  DecodeContext v4;
  v4.level = kLevel311;
  auto r4 = decode(ack_bytes, v4);
  ASSERT_TRUE(r4.ok());
  ASSERT_FALSE(r4->violations.empty());
  EXPECT_EQ(r4->violations[0].kind, ErrorKind::trailing_bytes);

  // Type 15 is AUTH in this connection.
  auto auth = auth5(0x18, "nonce");
  auto a = decode(auth, c.session.context());
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_TRUE(std::holds_alternative<Auth>(a->packet));

  c.feed(ack_bytes, Direction::s2c);
  EXPECT_EQ(c.hs().outcome, Outcome::accepted);
  EXPECT_EQ(c.hs().scheme, AuthScheme::none);
}

TEST(SessionLevel, Level4ConnectMakesType15Authenticate) {
  Conversation c;
  c.feed(connect311(), Direction::c2s);
  auto bytes = authenticate(15, kTimestamp);
  auto r = decode(bytes, c.session.context());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(std::holds_alternative<Authenticate>(r->packet));
}

TEST(SessionLevel, AdoptsLevel5WhenOnlyLevel5Decodes) {
  Conversation c;
  EXPECT_EQ(c.session.level(), 0);
  // Level 4 decodes this PUBLISH too (properties read as payload): no change.
  c.feed(publish311(), Direction::c2s);
  EXPECT_EQ(c.session.level(), 0);
  // CONNACK with a property length: 3 bytes of body are malformed at level 4.
  c.feed(hex("20 03 00 00 00"), Direction::s2c);
  EXPECT_EQ(c.last_name(), "connack");
  EXPECT_EQ(c.session.level(), kLevel5);
  EXPECT_EQ(c.session.context().level, kLevel5);
  // From now on type 15 is AUTH and v5 packets decode.
  c.feed(auth5(0x19, "re"), Direction::c2s);
  EXPECT_EQ(c.last_name(), "auth");
  c.feed(hex("40 03 00 07 10"), Direction::s2c);  // PUBACK with reason 0x10 (no matching subscribers)
  EXPECT_EQ(c.last_name(), "puback");
}

TEST(SessionLevel, UnknownLevelType15ByBody) {
  Conversation c;
  c.feed(auth5(0x18, "nonce"), Direction::s2c);
  EXPECT_EQ(c.last_name(), "auth");
  EXPECT_EQ(c.session.level(), kLevel5);
  EXPECT_EQ(c.hs().scheme, AuthScheme::v5);

  Conversation d;
  d.feed(authenticate(15, kTimestamp), Direction::s2c);
  EXPECT_EQ(d.last_name(), "authenticate");
  EXPECT_EQ(d.session.level(), 0);
  EXPECT_EQ(d.hs().scheme, AuthScheme::custom15);
}

TEST(SessionLevel, KnownLevelFromOptions) {
  SessionOptions opts;
  opts.level = kLevel311;
  Conversation c(opts);
  EXPECT_EQ(c.session.context().level, kLevel311);
  c.feed(authenticate(15, kTimestamp), Direction::s2c);
  EXPECT_EQ(c.last_name(), "authenticate");
  EXPECT_EQ(c.hs().level, kLevel311);
}

TEST(SessionV5, EnhancedAuthentication) {
  PropertyBuilder pb;
  pb.add_string(PropertyId::authentication_method, "HMAC-SHA256");
  pb.add_binary(PropertyId::authentication_data, Bytes::of("client-nonce"));
  Conversation c;
  auto o1 = c.feed(connect5(pb.properties()), Direction::c2s);
  auto o2 = c.feed(auth5(0x18, "server-challenge"), Direction::s2c);
  EXPECT_EQ(c.last_name(), "auth");
  auto o3 = c.feed(auth5(0x18, "client-response"), Direction::c2s);
  auto o4 = c.feed(hex("20 03 00 00 00"), Direction::s2c);
  EXPECT_EQ(o1.role, Role::none);
  EXPECT_EQ(o2.role, Role::challenge);
  EXPECT_EQ(o3.role, Role::response);
  EXPECT_EQ(o4.role, Role::none);
  for (const auto* o : {&o1, &o2, &o3, &o4}) EXPECT_EQ(o->anomalies, 0u);

  const Handshake& h = c.hs();
  EXPECT_EQ(h.scheme, AuthScheme::v5);
  EXPECT_EQ(scheme_name(h.scheme), "v5");
  EXPECT_EQ(h.auth_method, "HMAC-SHA256");
  EXPECT_EQ(h.level, kLevel5);
  EXPECT_EQ(h.challenge, "server-challenge");
  EXPECT_EQ(h.response, "client-response");
  EXPECT_EQ(h.outcome, Outcome::accepted);
  EXPECT_EQ(h.connect, Conversation::ref_of(1));
  EXPECT_EQ(h.challenge_pkt, Conversation::ref_of(2));
  EXPECT_EQ(h.response_pkt, Conversation::ref_of(3));
  EXPECT_EQ(h.connack, Conversation::ref_of(4));
  EXPECT_EQ(h.latency_ns(), std::optional<std::int64_t>(3000000));
  EXPECT_EQ(h.client_id, kClientId);

  // Re-authentication after CONNACK is not part of the connect handshake.
  auto o5 = c.feed(auth5(0x19, "again"), Direction::c2s);
  EXPECT_EQ(o5.role, Role::none);
  EXPECT_EQ(c.hs().responses, 1u);
}

TEST(SessionV5, EnhancedAuthenticationUnknownDirection) {
  PropertyBuilder pb;
  pb.add_string(PropertyId::authentication_method, "HMAC-SHA256");
  Conversation c;
  EXPECT_EQ(c.feed(connect5(pb.properties()), Direction::unknown).dir, Direction::c2s);
  EXPECT_EQ(c.feed(auth5(0x18, "s"), Direction::unknown).dir, Direction::s2c);
  EXPECT_EQ(c.feed(auth5(0x18, "c"), Direction::unknown).dir, Direction::c2s);
  EXPECT_EQ(c.feed(hex("20 03 00 00 00"), Direction::unknown).dir, Direction::s2c);
  EXPECT_EQ(c.hs().challenge, "s");
  EXPECT_EQ(c.hs().response, "c");
}

namespace {
// CONNECT with Authentication Method HMAC-SHA256, AUTH 0x18 `challenge` (s2c), AUTH 0x18 `response` (c2s).
void v5_exchange(Conversation& c, std::string_view challenge, std::string_view response) {
  PropertyBuilder pb;
  pb.add_string(PropertyId::authentication_method, "HMAC-SHA256");
  c.feed(connect5(pb.properties()), Direction::c2s);
  c.feed(auth5(0x18, challenge), Direction::s2c);
  c.feed(auth5(0x18, response), Direction::c2s);
}
}  // namespace

TEST(SessionV5, RefusedWithReasonCode) {
  Conversation c;
  v5_exchange(c, "s", "c");
  c.feed(hex("20 03 00 87 00"), Direction::s2c);  // 0x87 not authorized
  EXPECT_EQ(c.hs().outcome, Outcome::refused);
  EXPECT_EQ(c.hs().connack_code, std::optional<std::uint8_t>(0x87));
  EXPECT_TRUE(c.hs().anomalies & anomaly::refused_after_exchange);
}

// MQTT 5 re-authentication after CONNACK, as the reference broker and device do it: a successful one with
// PUBLISH in between, then a refused one (DISCONNECT 0x87). Not part of the connect handshake, no anomaly.
TEST(SessionV5, ReauthenticationAfterConnackIsNotAnAnomaly) {
  Conversation c;
  v5_exchange(c, "challenge-1", "response-1");
  c.feed(hex("20 03 00 00 00"), Direction::s2c);
  std::vector<Observation> obs;
  obs.push_back(c.feed(auth5(0x19, ""), Direction::unknown));  // Re-authenticate: the client's
  obs.push_back(c.feed(hex("30 0e 00 06 'site/1' 00 'hello'"), Direction::c2s));
  obs.push_back(c.feed(auth5(0x18, "challenge-2"), Direction::s2c));
  obs.push_back(c.feed(auth5(0x18, "response-2"), Direction::c2s));
  obs.push_back(c.feed(hex("f0 00"), Direction::unknown));  // Success: the server's
  obs.push_back(c.feed(auth5(0x19, ""), Direction::c2s));
  obs.push_back(c.feed(auth5(0x18, "challenge-3"), Direction::s2c));
  obs.push_back(c.feed(auth5(0x18, "wrong"), Direction::c2s));
  obs.push_back(c.feed(hex("e0 02 87 00"), Direction::s2c));  // DISCONNECT 0x87 not authorized
  c.session.close(Conversation::ref_of(c.last_id() + 1));
  for (const auto& o : obs) {
    EXPECT_EQ(o.anomalies, 0u);
    EXPECT_EQ(o.role, Role::none);
    EXPECT_EQ(o.handshake, std::optional<std::size_t>(0));
  }
  EXPECT_EQ(obs[0].dir, Direction::c2s);
  EXPECT_EQ(obs[4].dir, Direction::s2c);
  ASSERT_EQ(c.session.handshakes().size(), 1u);
  const Handshake& h = c.hs();
  EXPECT_EQ(h.outcome, Outcome::accepted);
  EXPECT_EQ(h.anomalies, 0u);
  EXPECT_EQ(h.challenge, "challenge-1");
  EXPECT_EQ(h.response, "response-1");
  EXPECT_EQ(h.challenges, 1u);
  EXPECT_EQ(h.responses, 1u);
  EXPECT_EQ(h.reauths, 1u);          // the first one ended with AUTH 0x00
  EXPECT_EQ(h.reauths_refused, 1u);  // the second with the server's DISCONNECT 0x87
}

// The client's own DISCONNECT during a re-authentication abandons it: not a refusal.
TEST(SessionV5, ClientDisconnectDuringReauthenticationIsNotARefusal) {
  Conversation c;
  v5_exchange(c, "challenge-1", "response-1");
  c.feed(hex("20 03 00 00 00"), Direction::s2c);
  c.feed(auth5(0x19, ""), Direction::c2s);
  c.feed(auth5(0x18, "challenge-2"), Direction::s2c);
  c.feed(hex("e0 02 00 00"), Direction::c2s);
  EXPECT_EQ(c.hs().reauths, 0u);
  EXPECT_EQ(c.hs().reauths_refused, 0u);
  // A DISCONNECT from the server with no re-authentication in progress is not one either.
  Conversation d;
  v5_exchange(d, "challenge-1", "response-1");
  d.feed(hex("20 03 00 00 00"), Direction::s2c);
  d.feed(hex("e0 02 87 00"), Direction::s2c);
  EXPECT_EQ(d.hs().reauths_refused, 0u);
}

// A capture that starts after CONNACK: the first re-authentication seen is the connection's authentication,
// accepted at AUTH 0x00; later ones are ignored as above. Before, AUTH 0x19 was read as a response and
// AUTH 0x00 as a challenge never answered (challenge_without_response, abandoned).
TEST(SessionV5, CaptureStartsAtAReauthentication) {
  Conversation c;
  auto o1 = c.feed(auth5(0x19, ""), Direction::unknown);
  c.feed(hex("30 0e 00 06 'site/1' 00 'hello'"), Direction::c2s);
  auto o3 = c.feed(auth5(0x18, "challenge-2"), Direction::s2c);
  auto o4 = c.feed(auth5(0x18, "response-2"), Direction::c2s);
  auto o5 = c.feed(hex("f0 00"), Direction::unknown);
  auto o6 = c.feed(auth5(0x19, ""), Direction::c2s);
  auto o7 = c.feed(auth5(0x18, "challenge-3"), Direction::s2c);
  c.session.close(Conversation::ref_of(c.last_id() + 1));
  EXPECT_EQ(o1.dir, Direction::c2s);
  EXPECT_EQ(o1.role, Role::none);
  EXPECT_EQ(o3.role, Role::challenge);
  EXPECT_EQ(o4.role, Role::response);
  EXPECT_EQ(o5.dir, Direction::s2c);
  EXPECT_EQ(o5.role, Role::none);
  EXPECT_EQ(o6.role, Role::none);
  EXPECT_EQ(o7.role, Role::none);
  for (const auto* o : {&o1, &o3, &o4, &o5, &o6, &o7}) EXPECT_EQ(o->anomalies, 0u);
  ASSERT_EQ(c.session.handshakes().size(), 1u);
  const Handshake& h = c.hs();
  EXPECT_EQ(h.scheme, AuthScheme::v5);
  EXPECT_EQ(h.auth_method, "HMAC-SHA256");
  EXPECT_EQ(h.challenge, "challenge-2");
  EXPECT_EQ(h.response, "response-2");
  EXPECT_EQ(h.outcome, Outcome::accepted);
  EXPECT_EQ(h.anomalies, 0u);
  EXPECT_FALSE(h.connect);
  EXPECT_FALSE(h.connack);
}

TEST(SessionV5, CaptureStartsInsideAReauthentication) {
  Conversation c;
  c.feed(auth5(0x18, "challenge-2"), Direction::s2c);
  c.feed(auth5(0x18, "response-2"), Direction::c2s);
  auto o = c.feed(hex("f0 00"), Direction::s2c);
  c.session.finish();
  EXPECT_EQ(o.anomalies, 0u);
  EXPECT_EQ(c.hs().outcome, Outcome::accepted);
  EXPECT_EQ(c.hs().anomalies, 0u);
  EXPECT_EQ(c.hs().challenge, "challenge-2");
}

// AUTH 0x19 or 0x00 inside the connect handshake (before CONNACK) is a protocol violation.
TEST(SessionV5, ReauthenticationPacketsDuringTheConnectHandshake) {
  for (const ByteVec& odd : {auth5(0x19, ""), hex("f0 00")}) {
    Conversation c;
    v5_exchange(c, "challenge-1", "response-1");
    auto o = c.feed(odd, Direction::unknown);
    EXPECT_EQ(o.anomalies, anomaly::unexpected_state);
    EXPECT_EQ(o.role, Role::none);
    c.feed(hex("20 03 00 00 00"), Direction::s2c);
    EXPECT_EQ(c.hs().outcome, Outcome::accepted);
    EXPECT_EQ(c.hs().responses, 1u);
  }
}

TEST(SessionV5, MethodWithoutAuthPackets) {
  PropertyBuilder pb;
  pb.add_string(PropertyId::authentication_method, "SCRAM-SHA-1");
  Conversation c;
  c.feed(connect5(pb.properties()), Direction::c2s);
  c.feed(hex("20 03 00 00 00"), Direction::s2c);
  EXPECT_EQ(c.hs().scheme, AuthScheme::v5);
  EXPECT_EQ(c.hs().auth_method, "SCRAM-SHA-1");
  EXPECT_EQ(c.hs().outcome, Outcome::accepted);
}

// ---------------------------------------------------------------------------------------------------
// Challenge classification and names.

TEST(ClassifyChallenge, Kinds) {
  EXPECT_EQ(classify_challenge("1700000000123"), ChallengeWeakness::timestamp_ms);
  EXPECT_EQ(classify_challenge("1700000000123", kT0), ChallengeWeakness::timestamp_ms);
  EXPECT_EQ(classify_challenge("1700000000"), ChallengeWeakness::timestamp_s);
  EXPECT_EQ(classify_challenge("1700000000", kT0), ChallengeWeakness::timestamp_s);
  EXPECT_EQ(classify_challenge("42"), ChallengeWeakness::counter);
  EXPECT_EQ(classify_challenge("123456789"), ChallengeWeakness::counter);
  EXPECT_EQ(classify_challenge(kResponse), ChallengeWeakness::none);
  EXPECT_EQ(classify_challenge("a1b2c3"), ChallengeWeakness::too_short);
  EXPECT_EQ(classify_challenge(""), ChallengeWeakness::too_short);
  EXPECT_EQ(weakness_name(ChallengeWeakness::timestamp_ms), "timestamp_ms");
  EXPECT_EQ(weakness_name(ChallengeWeakness::none), "none");
}

TEST(ClassifyChallenge, TimestampMustBeNearTheCaptureTime) {
  // More than a day away from the capture: 13 digits, but not this capture's clock.
  const std::int64_t two_days_ns = 2LL * 86400LL * 1000000000LL;
  EXPECT_EQ(classify_challenge("1700000000123", kT0 + two_days_ns), ChallengeWeakness::none);
  EXPECT_EQ(classify_challenge("1700000000", kT0 - two_days_ns), ChallengeWeakness::none);
  EXPECT_EQ(classify_challenge("1700000000123", kT0 + two_days_ns / 4), ChallengeWeakness::timestamp_ms);
}

TEST(SessionNames, AllNames) {
  EXPECT_EQ(direction_name(Direction::c2s), "c2s");
  EXPECT_EQ(direction_name(Direction::unknown), "unknown");
  EXPECT_EQ(role_name(Role::none), "");
  EXPECT_EQ(role_name(Role::challenge), "challenge");
  EXPECT_EQ(outcome_name(Outcome::pending), "pending");
  EXPECT_EQ(outcome_name(Outcome::incomplete), "incomplete");
  EXPECT_EQ(outcome_name(Outcome::abandoned), "abandoned");
  EXPECT_EQ(outcome_name(Outcome::refused), "refused");
  EXPECT_EQ(anomaly_names(0), "");
  EXPECT_EQ(anomaly_names(anomaly::unexpected_state | anomaly::repeated_response),
            "unexpected_state,repeated_response");
  EXPECT_EQ(anomaly_names(0xFFu),
            "unexpected_direction,unexpected_state,challenge_without_response,refused_after_exchange,"
            "repeated_response,repeated_challenge,second_connect,second_connack");
}
