// Encoder tests: encode(decode(x)) == x byte for byte for every canonical vector, and decode(encode(p)) == p
// for packets built in code (with PropertyBuilder for the v5 properties).
#include <gtest/gtest.h>

#include <string>

#include "decode_util.hpp"
#include "hex.hpp"
#include "mqttauth/codec.hpp"
#include "vectors.hpp"

using namespace mqttauth;
using namespace mqttauth::test;

namespace {

using PI = PropertyId;

std::string hexdump(std::span<const std::uint8_t> b) {
  static const char* digits = "0123456789ABCDEF";
  std::string s;
  for (auto x : b) {
    s += digits[x >> 4];
    s += digits[x & 15];
    s += ' ';
  }
  return s;
}

// ---- Vectors ----------------------------------------------------------------------------------------------

TEST(RoundTripVectors, EncodeOfDecodeIsTheSameBytes) {
  int canonical = 0;
  for (const auto& v : valid_vectors()) {
    auto d = decode(v.bytes, ctx_for(v));
    ASSERT_TRUE(d.ok()) << v.name << ": " << describe(d);
    auto out = encode_or_throw(d->packet, d->level);
    if (v.canonical) {
      ++canonical;
      EXPECT_EQ(out, v.bytes) << v.name << "\n  encoded:  " << hexdump(out) << "\n  expected: " << hexdump(v.bytes);
    } else {
      EXPECT_NE(out, v.bytes) << v.name << " is marked non-canonical but re-encodes to the same bytes";
    }
    // Either way the encoding decodes to the same packet.
    auto again = decode(out, ctx_for(v));
    ASSERT_TRUE(again.ok()) << v.name << ": " << describe(again);
    EXPECT_TRUE(again->packet == d->packet) << v.name;
    EXPECT_EQ(again->level, d->level) << v.name;
  }
  EXPECT_GT(canonical, 60);
}

TEST(RoundTripVectors, ShorterFormsOfNonCanonicalVectors) {
  EXPECT_EQ(encode_or_throw(must_decode<Puback>("v5/puback_len4_empty_props"), 5), hex("40 02 00 01"));
  EXPECT_EQ(encode_or_throw(must_decode<Disconnect>("v5/disconnect_len1_success"), 5), hex("E0 00"));
}

TEST(RoundTripVectors, EncodeReturnsSizeAndAppends) {
  const auto& v = vec("v4/publish_long");
  auto d = decode(v.bytes, ctx_for(v));
  ASSERT_TRUE(d.ok());
  std::vector<std::uint8_t> out = {0xAA, 0xBB};
  auto n = encode(d->packet, 4, out);
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(*n, v.bytes.size());
  ASSERT_EQ(out.size(), v.bytes.size() + 2);
  EXPECT_EQ(out[0], 0xAA);
  EXPECT_EQ(out[1], 0xBB);
  EXPECT_TRUE(std::equal(v.bytes.begin(), v.bytes.end(), out.begin() + 2));
}

// ---- PropertyBuilder --------------------------------------------------------------------------------------

TEST(RoundTripProperties, BuilderWritesTheSpecEncoding) {
  PropertyBuilder b;
  b.add_int(PI::payload_format_indicator, 1)
      .add_int(PI::message_expiry_interval, 60)
      .add_int(PI::topic_alias, 5)
      .add_string(PI::response_topic, "reply")
      .add_binary(PI::correlation_data, Bytes::of("\x01\x02\x03"))
      .add_int(PI::subscription_identifier, 2)
      .add_int(PI::subscription_identifier, 128)
      .add_int(PI::subscription_identifier, 268435455)
      .add_user_property("k1", "v1")
      .add_user_property("k2", "v2")
      .add_user_property("k1", "v3")
      .add_string(PI::content_type, "json");
  // The same block as in the hand-written vector v5/publish_props.
  auto p = must_decode<Publish>("v5/publish_props");
  EXPECT_TRUE(b.properties() == p.properties);
  EXPECT_EQ(hexdump(b.properties().raw().span()), hexdump(p.properties.raw().span()));
}

TEST(RoundTripProperties, IntegerWidthsFollowThePropertyType) {
  PropertyBuilder b;
  b.add_int(PI::maximum_qos, 1);                       // byte
  b.add_int(PI::receive_maximum, 0x1234);              // two-byte integer
  b.add_int(PI::session_expiry_interval, 0xFFFFFFFF);  // four-byte integer
  b.add_int(PI::subscription_identifier, 16384);       // variable byte integer, three bytes
  EXPECT_EQ(std::vector<std::uint8_t>(b.properties().raw().begin(), b.properties().raw().end()),
            hex("24 01  21 12 34  11 FF FF FF FF  0B 80 80 01"));
  auto props = props_of(b.properties());
  ASSERT_EQ(props.size(), 4u);
  EXPECT_EQ(props[0].number, 1u);
  EXPECT_EQ(props[1].number, 0x1234u);
  EXPECT_EQ(props[2].number, 0xFFFFFFFFu);
  EXPECT_EQ(props[3].number, 16384u);
}

// ---- Built packets ----------------------------------------------------------------------------------------

// encode at `level`, check the bytes decode back (at that level and, for CONNECT, at level 0) to `p`.
void expect_round_trip(const Packet& p, std::uint8_t level, const char* what) {
  std::vector<std::uint8_t> out;
  auto n = encode(p, level, out);
  ASSERT_TRUE(n.ok()) << what << ": " << n.error().message();
  EXPECT_EQ(*n, out.size()) << what;
  auto d = decode(out, at_level(level));
  ASSERT_TRUE(d.ok()) << what << ": " << describe(d) << "\n  bytes: " << hexdump(out);
  EXPECT_EQ(d->header.packet_size(), out.size()) << what;
  EXPECT_EQ(packet_code(d->packet), packet_code(p)) << what;
  EXPECT_TRUE(d->packet == p) << what << "\n  bytes: " << hexdump(out);
  // Encoding the decoded packet gives the same bytes again.
  EXPECT_EQ(encode_or_throw(d->packet, d->level), out) << what;
}

TEST(RoundTripBuilt, Connect311) {
  Connect c;
  c.level = 4;
  c.clean = false;
  c.keep_alive = 0xFFFF;
  c.client_id = "client-1";
  c.will = Will{2, true, {}, "status/offline", Bytes::of("gone")};
  c.username = "alice";
  static const std::uint8_t pw[] = {0x00, 0xFF, 0x10};
  c.password = Bytes(pw, 3);
  expect_round_trip(c, 4, "3.1.1 CONNECT");
  EXPECT_EQ(c.flags(), 0x80 | 0x40 | 0x20 | 0x10 | 0x04);
  c.bridge = true;
  c.will.reset();
  c.password.reset();
  expect_round_trip(c, 4, "3.1.1 bridge CONNECT");
  EXPECT_EQ(encode_or_throw(c, 4)[8], 0x84);
}

TEST(RoundTripBuilt, Connect31) {
  Connect c;
  c.protocol_name = "MQIsdp";
  c.level = 3;
  c.keep_alive = 10;
  c.client_id = "c31";
  c.username = "u";
  expect_round_trip(c, 3, "3.1 CONNECT");
  EXPECT_EQ(encode_or_throw(c, 3), hex("10 14  00 06 'MQIsdp' 03 82 00 0A  00 03 'c31'  00 01 'u'"));
}

TEST(RoundTripBuilt, Connect5WithProperties) {
  PropertyBuilder props;
  props.add_int(PI::session_expiry_interval, 3600)
      .add_int(PI::receive_maximum, 100)
      .add_int(PI::maximum_packet_size, 1 << 20)
      .add_int(PI::topic_alias_maximum, 0)
      .add_int(PI::request_problem_information, 1)
      .add_string(PI::authentication_method, "SCRAM-SHA-256")
      .add_binary(PI::authentication_data, Bytes::of("client-first"))
      .add_user_property("app", "test");
  PropertyBuilder will_props;
  will_props.add_int(PI::will_delay_interval, 30)
      .add_int(PI::payload_format_indicator, 1)
      .add_string(PI::content_type, "text/plain")
      .add_string(PI::response_topic, "r/t")
      .add_binary(PI::correlation_data, Bytes::of("cd"));
  Connect c;
  c.level = 5;
  c.keep_alive = 120;
  c.properties = props.properties();
  c.client_id = "";
  c.will = Will{1, false, will_props.properties(), "w/t", Bytes::of("payload")};
  c.password = Bytes::of("token-without-user");
  expect_round_trip(c, 5, "5.0 CONNECT");
  // A CONNECT carries its level: the connection level passed to encode does not matter.
  EXPECT_EQ(encode_or_throw(c, 4), encode_or_throw(c, 5));
}

TEST(RoundTripBuilt, Connack) {
  for (std::uint8_t rc = 0; rc <= 5; ++rc) {
    Connack c;
    c.code = rc;
    expect_round_trip(c, 4, "3.1.1 CONNACK");
  }
  Connack sp;
  sp.session_present = true;
  expect_round_trip(sp, 4, "3.1.1 CONNACK session present");
  EXPECT_EQ(encode_or_throw(sp, 4), hex("20 02 01 00"));

  PropertyBuilder props;
  props.add_string(PI::assigned_client_identifier, "auto-1")
      .add_int(PI::server_keep_alive, 60)
      .add_int(PI::maximum_qos, 0)
      .add_int(PI::retain_available, 1)
      .add_int(PI::wildcard_subscription_available, 0)
      .add_int(PI::subscription_identifier_available, 1)
      .add_int(PI::shared_subscription_available, 0)
      .add_string(PI::response_information, "resp/")
      .add_string(PI::server_reference, "other:1883")
      .add_string(PI::reason_string, "welcome");
  Connack c5;
  c5.session_present = true;
  c5.properties = props.properties();
  expect_round_trip(c5, 5, "5.0 CONNACK");
  Connack refused;
  refused.code = 0x9C;
  expect_round_trip(refused, 5, "5.0 CONNACK refused");
  EXPECT_EQ(encode_or_throw(refused, 5), hex("20 03 00 9C 00"));
}

TEST(RoundTripBuilt, Publish) {
  static const std::uint8_t bin[] = {0x00, 0xFF, 0x80, 0x7F};
  for (std::uint8_t level : {std::uint8_t{3}, std::uint8_t{4}, std::uint8_t{5}}) {
    for (std::uint8_t qos = 0; qos <= 2; ++qos) {
      for (bool retain : {false, true}) {
        Publish p;
        p.qos = qos;
        p.dup = qos > 0 && retain;
        p.retain = retain;
        p.topic = "sensors/\xC3\xA9t\xC3\xA9/temp";
        p.packet_id = qos ? static_cast<std::uint16_t>(1000 + qos) : 0;
        p.payload = Bytes(bin, sizeof bin);
        expect_round_trip(p, level, "PUBLISH");
        p.payload = Bytes();
        expect_round_trip(p, level, "PUBLISH, empty payload");
      }
    }
  }
  PropertyBuilder props;
  props.add_int(PI::topic_alias, 7).add_int(PI::subscription_identifier, 1).add_int(PI::subscription_identifier, 99);
  Publish alias;
  alias.topic = "";
  alias.properties = props.properties();
  alias.payload = Bytes::of("aliased");
  expect_round_trip(alias, 5, "5.0 PUBLISH with topic alias and empty topic");
}

TEST(RoundTripBuilt, PublishRemainingLengthBoundaries) {
  // Remaining lengths 127 / 128 / 16383 / 16384 / 2097151 / 2097152: fixed headers of 2, 3, 3, 4, 4, 5 bytes.
  struct Case {
    std::size_t remaining;
    std::size_t header;
  };
  const Case cases[] = {{127, 2}, {128, 3}, {16383, 3}, {16384, 4}, {2097151, 4}, {2097152, 5}};
  for (const auto& c : cases) {
    std::vector<std::uint8_t> payload(c.remaining - 5, 0x5A);  // topic "a/b" takes 5 bytes
    Publish p;
    p.topic = "a/b";
    p.payload = Bytes(payload);
    auto out = encode_or_throw(p, 4);
    EXPECT_EQ(out.size(), c.header + c.remaining) << c.remaining;
    auto h = parse_fixed_header(out, false);  // strict: minimally encoded
    ASSERT_TRUE(h.ok()) << c.remaining;
    EXPECT_EQ(h->size, c.header);
    EXPECT_EQ(h->remaining_length, c.remaining);
    auto d = decode(out, at_level(4));
    ASSERT_TRUE(d.ok()) << describe(d);
    EXPECT_EQ(std::get<Publish>(d->packet).payload.size(), payload.size());
  }
}

TEST(RoundTripBuilt, PubResponses) {
  for (std::uint8_t level : {std::uint8_t{4}, std::uint8_t{5}}) {
    expect_round_trip(Puback{{1, 0, {}}}, level, "PUBACK");
    expect_round_trip(Pubrec{{2, 0, {}}}, level, "PUBREC");
    expect_round_trip(Pubrel{{3, 0, {}}}, level, "PUBREL");
    expect_round_trip(Pubcomp{{0xFFFF, 0, {}}}, level, "PUBCOMP");
  }
  EXPECT_EQ(encode_or_throw(Pubrel{{3, 0, {}}}, 4), hex("62 02 00 03"));
  // v5: reason code only; reason code 0 with properties.
  expect_round_trip(Puback{{1, 0x10, {}}}, 5, "PUBACK no matching subscribers");
  EXPECT_EQ(encode_or_throw(Puback{{1, 0x10, {}}}, 5), hex("40 03 00 01 10"));
  PropertyBuilder props;
  props.add_string(PI::reason_string, "why").add_user_property("a", "b");
  expect_round_trip(Pubrec{{9, 0, props.properties()}}, 5, "PUBREC with properties");
  expect_round_trip(Pubrel{{9, 0x92, props.properties()}}, 5, "PUBREL with properties");
  expect_round_trip(Pubcomp{{9, 0x92, {}}}, 5, "PUBCOMP 0x92");
  // Level 4 drops what 3.1.1 cannot carry.
  EXPECT_EQ(encode_or_throw(Puback{{1, 0x10, props.properties()}}, 4), hex("40 02 00 01"));
}

TEST(RoundTripBuilt, SubscribeAndSuback) {
  Subscribe s;
  s.packet_id = 42;
  s.subscriptions = {{"a/b", 0}, {"c/+/d", 1}, {"#", 2}};
  expect_round_trip(s, 4, "3.1.1 SUBSCRIBE");
  expect_round_trip(s, 3, "3.1 SUBSCRIBE");
  PropertyBuilder props;
  props.add_int(PI::subscription_identifier, 300).add_user_property("k", "v");
  Subscribe s5;
  s5.packet_id = 43;
  s5.properties = props.properties();
  s5.subscriptions = {{"a/b", 0x04 | 0x01}, {"x/#", 0x08 | 0x20 | 0x02}, {"$share/g/t", 0x10 | 0x01}};
  expect_round_trip(s5, 5, "5.0 SUBSCRIBE");

  static const std::uint8_t codes4[] = {0x00, 0x80, 0x02};
  expect_round_trip(Suback{42, {}, Bytes(codes4, 3)}, 4, "3.1.1 SUBACK");
  static const std::uint8_t codes5[] = {0x01, 0x9E, 0xA2};
  PropertyBuilder sp;
  sp.add_string(PI::reason_string, "partly");
  expect_round_trip(Suback{43, sp.properties(), Bytes(codes5, 3)}, 5, "5.0 SUBACK");
}

TEST(RoundTripBuilt, UnsubscribeAndUnsuback) {
  Unsubscribe u;
  u.packet_id = 7;
  u.filters = {"a/b", "c/#", "+"};
  expect_round_trip(u, 4, "3.1.1 UNSUBSCRIBE");
  PropertyBuilder props;
  props.add_user_property("k", "v");
  u.properties = props.properties();
  u.filters.push_back("$share/g/a");
  expect_round_trip(u, 5, "5.0 UNSUBSCRIBE");

  expect_round_trip(Unsuback{7, {}, {}}, 4, "3.1.1 UNSUBACK");
  static const std::uint8_t codes[] = {0x00, 0x11, 0x87};
  expect_round_trip(Unsuback{7, {}, Bytes(codes, 3)}, 5, "5.0 UNSUBACK");
  // 3.1.1 UNSUBACK has no codes: they are not written.
  EXPECT_EQ(encode_or_throw(Unsuback{7, {}, Bytes(codes, 3)}, 4), hex("B0 02 00 07"));
}

TEST(RoundTripBuilt, PingDisconnectAuth) {
  for (std::uint8_t level : {std::uint8_t{3}, std::uint8_t{4}, std::uint8_t{5}}) {
    expect_round_trip(Pingreq{}, level, "PINGREQ");
    expect_round_trip(Pingresp{}, level, "PINGRESP");
    expect_round_trip(Disconnect{}, level, "DISCONNECT");
  }
  EXPECT_EQ(encode_or_throw(Pingreq{}, 4), hex("C0 00"));
  EXPECT_EQ(encode_or_throw(Pingresp{}, 4), hex("D0 00"));
  EXPECT_EQ(encode_or_throw(Disconnect{}, 5), hex("E0 00"));
  expect_round_trip(Disconnect{0x04, {}}, 5, "DISCONNECT with will");
  EXPECT_EQ(encode_or_throw(Disconnect{0x04, {}}, 5), hex("E0 01 04"));
  EXPECT_EQ(encode_or_throw(Disconnect{0x04, {}}, 4), hex("E0 00"));
  PropertyBuilder dp;
  dp.add_int(PI::session_expiry_interval, 0).add_string(PI::server_reference, "s2");
  expect_round_trip(Disconnect{0x00, dp.properties()}, 5, "DISCONNECT 0 with properties");
  expect_round_trip(Disconnect{0x8B, dp.properties()}, 5, "DISCONNECT server shutting down");

  expect_round_trip(Auth{}, 5, "AUTH success, no properties");
  EXPECT_EQ(encode_or_throw(Auth{}, 5), hex("F0 00"));
  PropertyBuilder ap;
  ap.add_string(PI::authentication_method, "SCRAM-SHA-1")
      .add_binary(PI::authentication_data, Bytes::of("server-first"));
  expect_round_trip(Auth{0x18, ap.properties()}, 5, "AUTH continue");
  expect_round_trip(Auth{0x19, ap.properties()}, 5, "AUTH re-authenticate");
  expect_round_trip(Auth{0x00, ap.properties()}, 5, "AUTH success with properties");
}

// ---- Encoder limits ---------------------------------------------------------------------------------------

TEST(RoundTripLimits, StringsLongerThan65535AreRefused) {
  std::string topic(65536, 't');
  Publish p;
  p.topic = topic;
  std::vector<std::uint8_t> out = {0x01};
  auto r = encode(p, 4, out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::encode_too_long);
  EXPECT_EQ(out, std::vector<std::uint8_t>{0x01}) << "a failed encode leaves the output as it was";
  EXPECT_THROW(encode_or_throw(p, 4), std::length_error);
  // 65535 is the largest length a two-byte prefix carries.
  topic.resize(65535);
  p.topic = topic;
  expect_round_trip(p, 4, "PUBLISH with a 65535-byte topic");

  Connect c;
  std::string id(70000, 'c');
  c.client_id = id;
  EXPECT_THROW(encode_or_throw(c, 4), std::length_error);
  Subscribe s;
  s.packet_id = 1;
  s.subscriptions = {{id, 0}};
  EXPECT_THROW(encode_or_throw(s, 4), std::length_error);
}

}  // namespace
