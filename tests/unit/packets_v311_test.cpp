// Single-packet decoding at MQTT 3.1.1 (level 4) and 3.1 (level 3). The byte vectors live in vectors.hpp
// with one comment per field; each test here asserts every decoded field.
#include <gtest/gtest.h>

#include "decode_util.hpp"
#include "hex.hpp"
#include "mqttauth/codec.hpp"
#include "vectors.hpp"

using namespace mqttauth;
using namespace mqttauth::test;

namespace {

// ---- CONNECT ----------------------------------------------------------------------------------------------

TEST(V311Connect, Minimal) {
  std::uint8_t level = 0;
  const auto& v = vec("v4/connect_minimal");
  auto c = must_decode<Connect>(v.bytes, at_level(0), &level);
  EXPECT_EQ(level, 4);
  EXPECT_EQ(c.protocol_name, "MQTT");
  EXPECT_EQ(c.level, 4);
  EXPECT_FALSE(c.bridge);
  EXPECT_TRUE(c.clean);
  EXPECT_EQ(c.keep_alive, 60);
  EXPECT_TRUE(c.properties.empty());
  EXPECT_EQ(c.client_id, "");
  EXPECT_FALSE(c.will.has_value());
  EXPECT_FALSE(c.username.has_value());
  EXPECT_FALSE(c.password.has_value());
  EXPECT_EQ(c.flags(), 0x02);
}

TEST(V311Connect, WillUsernamePasswordKeepAlive) {
  auto c = must_decode<Connect>("v4/connect_full");
  EXPECT_EQ(c.level, 4);
  EXPECT_TRUE(c.clean);
  EXPECT_EQ(c.keep_alive, 300);
  EXPECT_EQ(c.client_id, "cid-1");
  ASSERT_TRUE(c.will.has_value());
  EXPECT_EQ(c.will->qos, 1);
  EXPECT_TRUE(c.will->retain);
  EXPECT_EQ(c.will->topic, "will/topic");
  EXPECT_EQ(c.will->payload, bytes_of("bye"));
  EXPECT_TRUE(c.will->properties.empty());
  ASSERT_TRUE(c.username.has_value());
  EXPECT_EQ(*c.username, "user");
  ASSERT_TRUE(c.password.has_value());
  EXPECT_EQ(*c.password, bytes_of("secret"));
  EXPECT_EQ(c.flags(), 0xEE);
}

TEST(V311Connect, WillQos2NoCleanSessionEmptyWillMessage) {
  auto c = must_decode<Connect>("v4/connect_will_qos2");
  EXPECT_FALSE(c.clean);
  EXPECT_EQ(c.keep_alive, 0);
  EXPECT_EQ(c.client_id, "c");
  ASSERT_TRUE(c.will.has_value());
  EXPECT_EQ(c.will->qos, 2);
  EXPECT_FALSE(c.will->retain);
  EXPECT_EQ(c.will->topic, "w");
  EXPECT_TRUE(c.will->payload.empty());
  EXPECT_FALSE(c.username.has_value());
  EXPECT_FALSE(c.password.has_value());
}

TEST(V311Connect, BridgeBit) {
  auto c = must_decode<Connect>("v4/connect_bridge");
  EXPECT_EQ(c.level, 4);
  EXPECT_TRUE(c.bridge);
  EXPECT_EQ(c.keep_alive, 10);
  EXPECT_EQ(c.client_id, "bridge");
  ASSERT_TRUE(c.username.has_value());
  EXPECT_EQ(*c.username, "bu");
  EXPECT_FALSE(c.password.has_value());
}

TEST(V311Connect, PasswordIsBinaryData) {
  auto c = must_decode<Connect>("v4/connect_binary_password");
  ASSERT_TRUE(c.password.has_value());
  static const std::uint8_t pw[] = {0xFF, 0x00, 0x80};
  EXPECT_EQ(*c.password, Bytes(pw, 3));
  EXPECT_EQ(*c.username, "u");
  EXPECT_EQ(c.client_id, "");
}

TEST(V311Connect, LevelFromThePacketNotTheContext) {
  // A CONNECT carries its own level; the connection's level does not change how it is read.
  const auto& v = vec("v4/connect_full");
  for (std::uint8_t ctx_level : std::initializer_list<std::uint8_t>{0, 3, 4, 5}) {
    std::uint8_t level = 0;
    auto c = must_decode<Connect>(v.bytes, at_level(ctx_level), &level);
    EXPECT_EQ(c.level, 4) << int{ctx_level};
    EXPECT_EQ(level, 4) << int{ctx_level};
  }
}

TEST(V31Connect, MQIsdp) {
  std::uint8_t level = 0;
  auto c = must_decode<Connect>(vec("v3/connect").bytes, at_level(0), &level);
  EXPECT_EQ(level, 3);
  EXPECT_EQ(c.protocol_name, "MQIsdp");
  EXPECT_EQ(c.level, 3);
  EXPECT_FALSE(c.bridge);
  EXPECT_TRUE(c.clean);
  EXPECT_EQ(c.keep_alive, 60);
  EXPECT_EQ(c.client_id, "cl31");
}

TEST(V31Connect, BridgeUsernamePassword) {
  auto c = must_decode<Connect>("v3/connect_bridge_auth");
  EXPECT_EQ(c.protocol_name, "MQIsdp");
  EXPECT_EQ(c.level, 3);
  EXPECT_TRUE(c.bridge);
  EXPECT_EQ(c.keep_alive, 30);
  EXPECT_EQ(c.client_id, "c3");
  EXPECT_EQ(c.username.value_or(""), "u");
  ASSERT_TRUE(c.password.has_value());
  EXPECT_EQ(*c.password, bytes_of("p"));
}

// ---- CONNACK ----------------------------------------------------------------------------------------------

TEST(V311Connack, EveryReturnCode) {
  for (int rc = 0; rc <= 5; ++rc) {
    auto c = must_decode<Connack>("v4/connack_rc" + std::to_string(rc));
    EXPECT_EQ(c.code, rc);
    EXPECT_FALSE(c.session_present);
    EXPECT_TRUE(c.properties.empty());
    EXPECT_FALSE(connack_return_code_name(c.code).empty()) << rc;
  }
  EXPECT_EQ(connack_return_code_name(0), "Connection Accepted");
  EXPECT_EQ(connack_return_code_name(5), "Connection Refused: not authorized");
  EXPECT_TRUE(connack_return_code_name(6).empty());
}

TEST(V311Connack, SessionPresent) {
  auto c = must_decode<Connack>("v4/connack_session_present");
  EXPECT_TRUE(c.session_present);
  EXPECT_EQ(c.code, 0);
}

TEST(V31Connack, Accepted) {
  auto c = must_decode<Connack>("v3/connack");
  EXPECT_EQ(c.code, 0);
  EXPECT_FALSE(c.session_present);
}

// ---- PUBLISH ----------------------------------------------------------------------------------------------

TEST(V311Publish, Qos0) {
  auto p = must_decode<Publish>("v4/publish_qos0");
  EXPECT_FALSE(p.dup);
  EXPECT_EQ(p.qos, 0);
  EXPECT_FALSE(p.retain);
  EXPECT_EQ(p.topic, "a/b");
  EXPECT_EQ(p.packet_id, 0);
  EXPECT_TRUE(p.properties.empty());
  EXPECT_EQ(p.payload, bytes_of("hello"));
}

TEST(V311Publish, EmptyPayload) {
  auto p = must_decode<Publish>("v4/publish_qos0_empty");
  EXPECT_EQ(p.topic, "a/b");
  EXPECT_TRUE(p.payload.empty());
}

TEST(V311Publish, Retain) {
  auto p = must_decode<Publish>("v4/publish_retain");
  EXPECT_TRUE(p.retain);
  EXPECT_EQ(p.qos, 0);
  EXPECT_FALSE(p.dup);
  EXPECT_EQ(p.payload, bytes_of("x"));
}

TEST(V311Publish, Qos1) {
  auto p = must_decode<Publish>("v4/publish_qos1");
  EXPECT_EQ(p.qos, 1);
  EXPECT_FALSE(p.dup);
  EXPECT_EQ(p.packet_id, 10);
  EXPECT_EQ(p.topic, "a/b");
  EXPECT_EQ(p.payload, bytes_of("hello"));
}

TEST(V311Publish, Qos1DupEmptyPayload) {
  auto p = must_decode<Publish>("v4/publish_qos1_dup");
  EXPECT_TRUE(p.dup);
  EXPECT_EQ(p.qos, 1);
  EXPECT_EQ(p.packet_id, 1);
  EXPECT_TRUE(p.payload.empty());
}

TEST(V311Publish, Qos2DupRetain) {
  auto p = must_decode<Publish>("v4/publish_qos2_dup_retain");
  EXPECT_TRUE(p.dup);
  EXPECT_EQ(p.qos, 2);
  EXPECT_TRUE(p.retain);
  EXPECT_EQ(p.packet_id, 0xFFFF);
  static const std::uint8_t payload[] = {0, 1, 2};
  EXPECT_EQ(p.payload, Bytes(payload, 3));
}

TEST(V311Publish, MultiByteUtf8Topic) {
  auto p = must_decode<Publish>("v4/publish_utf8_topic");
  EXPECT_EQ(p.topic, "caf\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(p.payload, bytes_of("xyz"));
}

TEST(V311Publish, TwoByteRemainingLength) {
  const auto& v = vec("v4/publish_long");
  auto r = decode(v.bytes, at_level(4));
  ASSERT_TRUE(r.ok()) << describe(r);
  EXPECT_EQ(r->header.size, 3);
  EXPECT_EQ(r->header.remaining_length, 205u);
  const auto& p = std::get<Publish>(r->packet);
  ASSERT_EQ(p.payload.size(), 200u);
  for (std::size_t i = 0; i < 200; ++i) EXPECT_EQ(p.payload[i], i);
}

TEST(V311Publish, ExtraBytesAfterThePacketAreNotPartOfIt) {
  auto b = vec("v4/publish_qos0").bytes;
  b.push_back(0xC0);  // the start of the next packet
  b.push_back(0x00);
  auto r = decode(b, at_level(4));
  ASSERT_TRUE(r.ok()) << describe(r);
  EXPECT_EQ(r->header.packet_size(), b.size() - 2);
  EXPECT_EQ(std::get<Publish>(r->packet).payload, bytes_of("hello"));
}

TEST(V31Publish, Qos1) {
  auto p = must_decode<Publish>("v3/publish_qos1");
  EXPECT_EQ(p.qos, 1);
  EXPECT_EQ(p.packet_id, 5);
  EXPECT_EQ(p.topic, "a/b");
  EXPECT_EQ(p.payload, bytes_of("x"));
}

// ---- PUBACK / PUBREC / PUBREL / PUBCOMP -------------------------------------------------------------------

TEST(V311PubResponses, PacketIdentifiers) {
  auto a = must_decode<Puback>("v4/puback");
  EXPECT_EQ(a.packet_id, 1);
  EXPECT_EQ(a.reason_code, 0);
  EXPECT_TRUE(a.properties.empty());
  auto rec = must_decode<Pubrec>("v4/pubrec");
  EXPECT_EQ(rec.packet_id, 2);
  EXPECT_EQ(rec.reason_code, 0);
  auto rel = must_decode<Pubrel>("v4/pubrel");
  EXPECT_EQ(rel.packet_id, 3);
  EXPECT_EQ(rel.reason_code, 0);
  auto comp = must_decode<Pubcomp>("v4/pubcomp");
  EXPECT_EQ(comp.packet_id, 4);
  EXPECT_EQ(comp.reason_code, 0);
}

// ---- SUBSCRIBE / SUBACK -----------------------------------------------------------------------------------

TEST(V311Subscribe, SeveralFilters) {
  auto s = must_decode<Subscribe>("v4/subscribe");
  EXPECT_EQ(s.packet_id, 10);
  EXPECT_TRUE(s.properties.empty());
  ASSERT_EQ(s.subscriptions.size(), 4u);
  EXPECT_EQ(s.subscriptions[0].filter, "a/b");
  EXPECT_EQ(s.subscriptions[0].qos(), 0);
  EXPECT_EQ(s.subscriptions[1].filter, "c/+");
  EXPECT_EQ(s.subscriptions[1].qos(), 1);
  EXPECT_EQ(s.subscriptions[2].filter, "#");
  EXPECT_EQ(s.subscriptions[2].qos(), 2);
  EXPECT_EQ(s.subscriptions[3].filter, "$SYS/#");
  EXPECT_EQ(s.subscriptions[3].qos(), 1);
  for (const auto& sub : s.subscriptions) {
    EXPECT_FALSE(sub.no_local());
    EXPECT_FALSE(sub.retain_as_published());
    EXPECT_EQ(sub.retain_handling(), 0);
  }
}

TEST(V311Subscribe, ShareFilterIsOrdinaryAtLevel4) {
  auto s = must_decode<Subscribe>("v4/subscribe_share_is_plain");
  ASSERT_EQ(s.subscriptions.size(), 1u);
  EXPECT_EQ(s.subscriptions[0].filter, "$share/g/");
}

TEST(V311Suback, ReturnCodesIncludingFailure) {
  auto s = must_decode<Suback>("v4/suback");
  EXPECT_EQ(s.packet_id, 10);
  static const std::uint8_t codes[] = {0x00, 0x01, 0x02, 0x80};
  EXPECT_EQ(s.codes, Bytes(codes, 4));
  EXPECT_EQ(suback_return_code_name(0x80), "Failure");
  EXPECT_EQ(suback_return_code_name(0x02), "Success - Maximum QoS 2");
  EXPECT_TRUE(suback_return_code_name(0x03).empty());
}

TEST(V31Subscribe, AndSuback) {
  auto s = must_decode<Subscribe>("v3/subscribe");
  EXPECT_EQ(s.packet_id, 2);
  ASSERT_EQ(s.subscriptions.size(), 1u);
  EXPECT_EQ(s.subscriptions[0].filter, "a/#");
  EXPECT_EQ(s.subscriptions[0].qos(), 1);
  auto a = must_decode<Suback>("v3/suback");
  EXPECT_EQ(a.packet_id, 2);
  ASSERT_EQ(a.codes.size(), 1u);
  EXPECT_EQ(a.codes[0], 1);
}

// ---- UNSUBSCRIBE / UNSUBACK -------------------------------------------------------------------------------

TEST(V311Unsubscribe, TwoFilters) {
  auto u = must_decode<Unsubscribe>("v4/unsubscribe");
  EXPECT_EQ(u.packet_id, 11);
  ASSERT_EQ(u.filters.size(), 2u);
  EXPECT_EQ(u.filters[0], "a/b");
  EXPECT_EQ(u.filters[1], "c/+");
}

TEST(V311Unsuback, PacketIdentifierOnly) {
  auto u = must_decode<Unsuback>("v4/unsuback");
  EXPECT_EQ(u.packet_id, 11);
  EXPECT_TRUE(u.codes.empty());
  EXPECT_TRUE(u.properties.empty());
}

// ---- PINGREQ / PINGRESP / DISCONNECT ----------------------------------------------------------------------

TEST(V311Empty, PingreqPingrespDisconnect) {
  must_decode<Pingreq>("v4/pingreq");
  must_decode<Pingresp>("v4/pingresp");
  auto d = must_decode<Disconnect>("v4/disconnect");
  EXPECT_EQ(d.reason_code, 0);
  EXPECT_TRUE(d.properties.empty());
}

// ---- Types and names --------------------------------------------------------------------------------------

TEST(V311Names, PacketNamesAndCodes) {
  struct Case {
    const char* vector;
    std::string_view name;
    std::uint8_t code;
  };
  const Case cases[] = {
      {"v4/connect_minimal", "connect", 1}, {"v4/connack_rc0", "connack", 2},
      {"v4/publish_qos0", "publish", 3},    {"v4/puback", "puback", 4},
      {"v4/pubrec", "pubrec", 5},           {"v4/pubrel", "pubrel", 6},
      {"v4/pubcomp", "pubcomp", 7},         {"v4/subscribe", "subscribe", 8},
      {"v4/suback", "suback", 9},           {"v4/unsubscribe", "unsubscribe", 10},
      {"v4/unsuback", "unsuback", 11},      {"v4/pingreq", "pingreq", 12},
      {"v4/pingresp", "pingresp", 13},      {"v4/disconnect", "disconnect", 14},
  };
  for (const auto& c : cases) {
    const auto& v = vec(c.vector);
    auto r = decode(v.bytes, ctx_for(v));
    ASSERT_TRUE(r.ok()) << c.vector << ": " << describe(r);
    EXPECT_EQ(packet_name(r->packet), c.name);
    EXPECT_EQ(packet_code(r->packet), c.code);
    EXPECT_EQ(r->header.code(), c.code);
    EXPECT_EQ(r->level, 4) << c.vector;
  }
}

TEST(V311Level0, NonConnectPacketsReadAs311First) {
  // With no CONNECT seen, packets are tried as 3.1.1 first.
  for (const char* name : {"v4/publish_qos1", "v4/puback", "v4/subscribe", "v4/suback", "v4/unsuback"}) {
    auto r = decode(vec(name).bytes, at_level(0));
    ASSERT_TRUE(r.ok()) << name << ": " << describe(r);
    EXPECT_EQ(r->level, 4) << name;
  }
}

}  // namespace
