// Single-packet decoding at MQTT 5.0 (level 5): properties, reason codes and the v5-only forms. Vectors in
// vectors.hpp.
#include <gtest/gtest.h>

#include <initializer_list>

#include "decode_util.hpp"
#include "hex.hpp"
#include "mqttauth/codec.hpp"
#include "vectors.hpp"

using namespace mqttauth;
using namespace mqttauth::test;

namespace {

using PI = PropertyId;

// ---- Property table ---------------------------------------------------------------------------------------

TEST(V5PropertyInfo, NamesTypesOfEveryIdentifier) {
  struct Case {
    std::uint8_t id;
    std::string_view name;
    PropertyType type;
  };
  using T = PropertyType;
  const Case cases[] = {
      {0x01, "Payload Format Indicator", T::byte},
      {0x02, "Message Expiry Interval", T::four_byte_int},
      {0x03, "Content Type", T::utf8},
      {0x08, "Response Topic", T::utf8},
      {0x09, "Correlation Data", T::binary},
      {0x0B, "Subscription Identifier", T::var_int},
      {0x11, "Session Expiry Interval", T::four_byte_int},
      {0x12, "Assigned Client Identifier", T::utf8},
      {0x13, "Server Keep Alive", T::two_byte_int},
      {0x15, "Authentication Method", T::utf8},
      {0x16, "Authentication Data", T::binary},
      {0x17, "Request Problem Information", T::byte},
      {0x18, "Will Delay Interval", T::four_byte_int},
      {0x19, "Request Response Information", T::byte},
      {0x1A, "Response Information", T::utf8},
      {0x1C, "Server Reference", T::utf8},
      {0x1F, "Reason String", T::utf8},
      {0x21, "Receive Maximum", T::two_byte_int},
      {0x22, "Topic Alias Maximum", T::two_byte_int},
      {0x23, "Topic Alias", T::two_byte_int},
      {0x24, "Maximum QoS", T::byte},
      {0x25, "Retain Available", T::byte},
      {0x26, "User Property", T::utf8_pair},
      {0x27, "Maximum Packet Size", T::four_byte_int},
      {0x28, "Wildcard Subscription Available", T::byte},
      {0x29, "Subscription Identifier Available", T::byte},
      {0x2A, "Shared Subscription Available", T::byte},
  };
  int known = 0;
  for (int id = 0; id < 256; ++id)
    if (property_info(static_cast<std::uint8_t>(id)) != nullptr) ++known;
  EXPECT_EQ(known, 27);
  for (const auto& c : cases) {
    const PropertyInfo* info = property_info(c.id);
    ASSERT_NE(info, nullptr) << int{c.id};
    EXPECT_EQ(static_cast<std::uint8_t>(info->id), c.id);
    EXPECT_EQ(info->name, c.name);
    EXPECT_EQ(info->type, c.type) << c.name;
  }
  EXPECT_EQ(property_info(0x00), nullptr);
  EXPECT_EQ(property_info(0x7F), nullptr);
  EXPECT_EQ(property_info(0x04), nullptr);
  EXPECT_TRUE(property_info(0x26)->repeatable);
  EXPECT_TRUE(property_info(0x0B)->repeatable);
  EXPECT_FALSE(property_info(0x11)->repeatable);
  EXPECT_EQ(property_info(0x23)->json_name, "topic_alias");
}

TEST(V5PropertyInfo, Contexts) {
  using C = PropertyContext;
  EXPECT_TRUE(property_allowed(*property_info(0x23), C::publish));
  EXPECT_FALSE(property_allowed(*property_info(0x23), C::connect));
  EXPECT_TRUE(property_allowed(*property_info(0x18), C::will));
  EXPECT_FALSE(property_allowed(*property_info(0x18), C::connect));
  EXPECT_TRUE(property_allowed(*property_info(0x0B), C::subscribe));
  EXPECT_FALSE(property_allowed(*property_info(0x0B), C::suback));
  for (int c = 0; c <= static_cast<int>(C::auth); ++c)
    EXPECT_TRUE(property_allowed(*property_info(0x26), static_cast<C>(c))) << c;
}

// ---- CONNECT ----------------------------------------------------------------------------------------------

TEST(V5Connect, Minimal) {
  std::uint8_t level = 0;
  auto c = must_decode<Connect>(vec("v5/connect_minimal").bytes, at_level(0), &level);
  EXPECT_EQ(level, 5);
  EXPECT_EQ(c.level, 5);
  EXPECT_TRUE(c.clean);
  EXPECT_TRUE(c.properties.empty());
  EXPECT_EQ(c.client_id, "");
  EXPECT_FALSE(c.will.has_value());
}

TEST(V5Connect, PropertiesAndWillProperties) {
  std::uint8_t level = 0;
  auto c = must_decode<Connect>(vec("v5/connect_props").bytes, at_level(0), &level);
  EXPECT_EQ(level, 5);
  EXPECT_EQ(c.protocol_name, "MQTT");
  EXPECT_EQ(c.level, 5);
  EXPECT_TRUE(c.clean);
  EXPECT_EQ(c.keep_alive, 60);
  EXPECT_EQ(c.client_id, "cid5");

  auto p = props_of(c.properties);
  ASSERT_EQ(p.size(), 9u);
  EXPECT_EQ(p[0].id, PI::session_expiry_interval);
  EXPECT_EQ(p[0].number, 120u);
  EXPECT_EQ(info_name(p[0].id), "Session Expiry Interval");
  EXPECT_EQ(p[1].id, PI::receive_maximum);
  EXPECT_EQ(p[1].number, 20u);
  EXPECT_EQ(p[2].id, PI::maximum_packet_size);
  EXPECT_EQ(p[2].number, 4096u);
  EXPECT_EQ(p[3].id, PI::topic_alias_maximum);
  EXPECT_EQ(p[3].number, 10u);
  EXPECT_EQ(p[4].id, PI::request_response_information);
  EXPECT_EQ(p[4].number, 1u);
  EXPECT_EQ(p[5].id, PI::request_problem_information);
  EXPECT_EQ(p[5].number, 0u);
  EXPECT_EQ(p[6].id, PI::user_property);
  EXPECT_EQ(p[6].text, "k");
  EXPECT_EQ(p[6].value, "v");
  EXPECT_EQ(p[7].id, PI::authentication_method);
  EXPECT_EQ(p[7].type, PropertyType::utf8);
  EXPECT_EQ(p[7].text, "PLAIN");
  EXPECT_EQ(p[8].id, PI::authentication_data);
  static const std::uint8_t auth_data[] = {1, 2};
  EXPECT_EQ(p[8].binary, Bytes(auth_data, 2));
  EXPECT_EQ(c.properties.count(), 9u);
  ASSERT_TRUE(c.properties.find(PI::maximum_packet_size).has_value());
  EXPECT_EQ(c.properties.find(PI::maximum_packet_size)->number, 4096u);
  EXPECT_FALSE(c.properties.find(PI::topic_alias).has_value());

  ASSERT_TRUE(c.will.has_value());
  EXPECT_EQ(c.will->qos, 1);
  EXPECT_TRUE(c.will->retain);
  EXPECT_EQ(c.will->topic, "will/t");
  EXPECT_EQ(c.will->payload, bytes_of("bye"));
  auto w = props_of(c.will->properties);
  ASSERT_EQ(w.size(), 7u);
  EXPECT_EQ(w[0].id, PI::will_delay_interval);
  EXPECT_EQ(w[0].number, 5u);
  EXPECT_EQ(info_name(w[0].id), "Will Delay Interval");
  EXPECT_EQ(w[1].id, PI::payload_format_indicator);
  EXPECT_EQ(w[1].number, 1u);
  EXPECT_EQ(w[2].id, PI::message_expiry_interval);
  EXPECT_EQ(w[2].number, 3600u);
  EXPECT_EQ(w[3].id, PI::content_type);
  EXPECT_EQ(w[3].text, "text/plain");
  EXPECT_EQ(w[4].id, PI::response_topic);
  EXPECT_EQ(w[4].text, "reply");
  EXPECT_EQ(w[5].id, PI::correlation_data);
  static const std::uint8_t corr[] = {0xAB, 0xCD};
  EXPECT_EQ(w[5].binary, Bytes(corr, 2));
  EXPECT_EQ(w[6].id, PI::user_property);
  EXPECT_EQ(w[6].text, "a");
  EXPECT_EQ(w[6].value, "b");

  EXPECT_EQ(c.username.value_or(""), "user");
  ASSERT_TRUE(c.password.has_value());
  EXPECT_EQ(*c.password, bytes_of("pass"));
}

TEST(V5Connect, PasswordWithoutUsernameIsAllowed) {
  auto c = must_decode<Connect>("v5/connect_password_only");
  EXPECT_FALSE(c.username.has_value());
  ASSERT_TRUE(c.password.has_value());
  EXPECT_EQ(*c.password, bytes_of("pw"));
  EXPECT_EQ(c.flags(), 0x42);
}

// ---- CONNACK ----------------------------------------------------------------------------------------------

TEST(V5Connack, Properties) {
  auto c = must_decode<Connack>("v5/connack_props");
  EXPECT_TRUE(c.session_present);
  EXPECT_EQ(c.code, 0);
  EXPECT_EQ(reason_code_name(PacketCode::connack, c.code), "Success");
  auto p = props_of(c.properties);
  ASSERT_EQ(p.size(), 17u);
  const PropertyId ids[] = {PI::session_expiry_interval,
                            PI::receive_maximum,
                            PI::maximum_qos,
                            PI::retain_available,
                            PI::maximum_packet_size,
                            PI::assigned_client_identifier,
                            PI::topic_alias_maximum,
                            PI::reason_string,
                            PI::user_property,
                            PI::wildcard_subscription_available,
                            PI::subscription_identifier_available,
                            PI::shared_subscription_available,
                            PI::server_keep_alive,
                            PI::response_information,
                            PI::server_reference,
                            PI::authentication_method,
                            PI::authentication_data};
  for (std::size_t i = 0; i < p.size(); ++i) EXPECT_EQ(p[i].id, ids[i]) << i;
  EXPECT_EQ(p[0].number, 60u);
  EXPECT_EQ(p[1].number, 10u);
  EXPECT_EQ(p[2].number, 1u);
  EXPECT_EQ(p[3].number, 0u);
  EXPECT_EQ(p[4].number, 65536u);
  EXPECT_EQ(p[5].text, "auto");
  EXPECT_EQ(p[6].number, 5u);
  EXPECT_EQ(p[7].text, "ok");
  EXPECT_EQ(p[8].text, "x");
  EXPECT_EQ(p[8].value, "y");
  EXPECT_EQ(p[9].number, 1u);
  EXPECT_EQ(p[10].number, 0u);
  EXPECT_EQ(p[11].number, 1u);
  EXPECT_EQ(p[12].number, 30u);
  EXPECT_EQ(p[13].text, "resp");
  EXPECT_EQ(p[14].text, "srv");
  EXPECT_EQ(p[15].text, "PLAIN");
  ASSERT_EQ(p[16].binary.size(), 1u);
  EXPECT_EQ(p[16].binary[0], 0);
  EXPECT_EQ(info_name(p[2].id), "Maximum QoS");
  EXPECT_EQ(info_name(p[12].id), "Server Keep Alive");
  EXPECT_EQ(info_name(p[14].id), "Server Reference");
}

TEST(V5Connack, Refused) {
  auto c = must_decode<Connack>("v5/connack_refused");
  EXPECT_FALSE(c.session_present);
  EXPECT_EQ(c.code, 0x87);
  EXPECT_EQ(reason_code_name(PacketCode::connack, c.code), "Not authorized");
}

TEST(V5Connack, EveryAllowedReasonCode) {
  // MQTT 5.0 section 3.2.2.2, table 3-1.
  const std::uint8_t codes[] = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                                0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
  for (std::uint8_t code : codes) {
    auto b = hex("20 03  00  00  00   # CONNACK, reason code patched, property length 0");
    b[3] = code;
    auto c = must_decode<Connack>(b, at_level(5));
    EXPECT_EQ(c.code, code);
    EXPECT_FALSE(reason_code_name(PacketCode::connack, code).empty()) << int{code};
  }
  EXPECT_EQ(reason_code_name(PacketCode::connack, 0x84), "Unsupported Protocol Version");
  EXPECT_EQ(reason_code_name(PacketCode::connack, 0x8C), "Bad authentication method");
  EXPECT_EQ(reason_code_name(PacketCode::connack, 0x9F), "Connection rate exceeded");
}

// ---- PUBLISH ----------------------------------------------------------------------------------------------

TEST(V5Publish, Properties) {
  auto p = must_decode<Publish>("v5/publish_props");
  EXPECT_EQ(p.qos, 1);
  EXPECT_EQ(p.packet_id, 7);
  EXPECT_EQ(p.topic, "a/b");
  EXPECT_EQ(p.payload, bytes_of("hi"));
  auto ps = props_of(p.properties);
  ASSERT_EQ(ps.size(), 12u);
  EXPECT_EQ(ps[0].id, PI::payload_format_indicator);
  EXPECT_EQ(ps[0].number, 1u);
  EXPECT_EQ(ps[1].id, PI::message_expiry_interval);
  EXPECT_EQ(ps[1].number, 60u);
  EXPECT_EQ(ps[2].id, PI::topic_alias);
  EXPECT_EQ(ps[2].number, 5u);
  EXPECT_EQ(ps[3].id, PI::response_topic);
  EXPECT_EQ(ps[3].text, "reply");
  EXPECT_EQ(ps[4].id, PI::correlation_data);
  EXPECT_EQ(ps[4].binary.size(), 3u);
  EXPECT_EQ(ps[11].id, PI::content_type);
  EXPECT_EQ(ps[11].text, "json");
  EXPECT_EQ(info_name(ps[11].id), "Content Type");
}

TEST(V5Publish, SeveralSubscriptionIdentifiers) {
  auto p = must_decode<Publish>("v5/publish_props");
  std::vector<std::uint32_t> ids;
  for (const auto& prop : p.properties)
    if (prop.id == PI::subscription_identifier) ids.push_back(prop.number);
  EXPECT_EQ(ids, (std::vector<std::uint32_t>{2, 128, 268435455}));
  EXPECT_EQ(info_name(PI::subscription_identifier), "Subscription Identifier");
  // find() gives the first one.
  EXPECT_EQ(p.properties.find(PI::subscription_identifier)->number, 2u);
}

TEST(V5Publish, UserPropertiesIteratedInOrder) {
  auto p = must_decode<Publish>("v5/publish_props");
  std::vector<std::pair<std::string_view, std::string_view>> user;
  for (auto it = p.properties.begin(); it != p.properties.end(); it++)
    if (it->id == PI::user_property) user.emplace_back(it->text, it->value);
  ASSERT_EQ(user.size(), 3u);
  EXPECT_EQ(user[0], std::make_pair(std::string_view("k1"), std::string_view("v1")));
  EXPECT_EQ(user[1], std::make_pair(std::string_view("k2"), std::string_view("v2")));
  EXPECT_EQ(user[2], std::make_pair(std::string_view("k1"), std::string_view("v3")));
  EXPECT_EQ(info_name(PI::user_property), "User Property");
}

TEST(V5Publish, TopicAliasWithEmptyTopic) {
  auto p = must_decode<Publish>("v5/publish_alias_empty_topic");
  EXPECT_EQ(p.topic, "");
  EXPECT_EQ(p.qos, 0);
  ASSERT_TRUE(p.properties.find(PI::topic_alias).has_value());
  EXPECT_EQ(p.properties.find(PI::topic_alias)->number, 1u);
  EXPECT_EQ(p.payload, bytes_of("x"));
}

TEST(V5Publish, NoPropertiesNoPayload) {
  auto p = must_decode<Publish>("v5/publish_qos0_no_props");
  EXPECT_TRUE(p.properties.empty());
  EXPECT_EQ(p.properties.count(), 0u);
  EXPECT_TRUE(p.payload.empty());
}

TEST(V5Publish, Qos2DupRetain) {
  auto p = must_decode<Publish>("v5/publish_qos2_dup_retain");
  EXPECT_TRUE(p.dup);
  EXPECT_EQ(p.qos, 2);
  EXPECT_TRUE(p.retain);
  EXPECT_EQ(p.packet_id, 9);
  EXPECT_EQ(p.payload, bytes_of("z"));
}

TEST(V5Publish, SameBytesReadDifferentlyAtLevel4) {
  // At level 4 the property-length byte is the start of the payload.
  auto p = must_decode<Publish>(vec("v5/publish_qos0_no_props").bytes, at_level(4));
  EXPECT_EQ(p.topic, "a/b");
  ASSERT_EQ(p.payload.size(), 1u);
  EXPECT_EQ(p.payload[0], 0);
}

// ---- PUBACK / PUBREC / PUBREL / PUBCOMP -------------------------------------------------------------------

TEST(V5Puback, RemainingLength2MeansSuccess) {
  auto a = must_decode<Puback>("v5/puback_len2");
  EXPECT_EQ(a.packet_id, 1);
  EXPECT_EQ(a.reason_code, 0);
  EXPECT_TRUE(a.properties.empty());
}

TEST(V5Puback, RemainingLength3ReasonCodeOnly) {
  auto a = must_decode<Puback>("v5/puback_len3");
  EXPECT_EQ(a.packet_id, 1);
  EXPECT_EQ(a.reason_code, 0x10);
  EXPECT_TRUE(a.properties.empty());
  EXPECT_EQ(reason_code_name(PacketCode::puback, a.reason_code), "No matching subscribers");
}

TEST(V5Puback, WithProperties) {
  auto a = must_decode<Puback>("v5/puback_props");
  EXPECT_EQ(a.reason_code, 0x80);
  EXPECT_EQ(reason_code_name(PacketCode::puback, 0x80), "Unspecified error");
  auto p = props_of(a.properties);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].id, PI::reason_string);
  EXPECT_EQ(p[0].text, "oops");
  EXPECT_EQ(info_name(p[0].id), "Reason String");
  EXPECT_EQ(p[1].id, PI::user_property);
}

TEST(V5Puback, RemainingLength4EmptyProperties) {
  auto a = must_decode<Puback>("v5/puback_len4_empty_props");
  EXPECT_EQ(a.reason_code, 0);
  EXPECT_TRUE(a.properties.empty());
}

TEST(V5Puback, EveryAllowedReasonCode) {
  for (std::uint8_t code : std::initializer_list<std::uint8_t>{0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}) {
    auto b = hex("40 03  00 01  00");
    b[4] = code;
    EXPECT_EQ(must_decode<Puback>(b, at_level(5)).reason_code, code);
    b[0] = 0x50;  // PUBREC allows the same set
    EXPECT_EQ(must_decode<Pubrec>(b, at_level(5)).reason_code, code);
    EXPECT_FALSE(reason_code_name(PacketCode::puback, code).empty()) << int{code};
  }
}

TEST(V5PubResponses, PubrecPubrelPubcomp) {
  auto rec = must_decode<Pubrec>("v5/pubrec");
  EXPECT_EQ(rec.packet_id, 2);
  EXPECT_EQ(rec.reason_code, 0x97);
  EXPECT_EQ(reason_code_name(PacketCode::pubrec, 0x97), "Quota exceeded");
  auto rel = must_decode<Pubrel>("v5/pubrel");
  EXPECT_EQ(rel.packet_id, 3);
  EXPECT_EQ(rel.reason_code, 0x92);
  EXPECT_EQ(reason_code_name(PacketCode::pubrel, 0x92), "Packet Identifier not found");
  auto comp = must_decode<Pubcomp>("v5/pubcomp");
  EXPECT_EQ(comp.packet_id, 4);
  EXPECT_EQ(comp.reason_code, 0);
  auto comp2 = must_decode<Pubcomp>("v5/pubcomp_reason_string");
  EXPECT_EQ(comp2.reason_code, 0x92);
  EXPECT_EQ(comp2.properties.find(PI::reason_string)->text, "nf");
}

// ---- SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK ----------------------------------------------------------

TEST(V5Subscribe, OptionsAndProperties) {
  auto s = must_decode<Subscribe>("v5/subscribe");
  EXPECT_EQ(s.packet_id, 5);
  auto p = props_of(s.properties);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].id, PI::subscription_identifier);
  EXPECT_EQ(p[0].number, 10u);
  EXPECT_EQ(p[1].id, PI::user_property);
  EXPECT_EQ(p[1].text, "u");
  EXPECT_EQ(p[1].value, "v");
  ASSERT_EQ(s.subscriptions.size(), 6u);
  const auto& x = s.subscriptions;
  EXPECT_EQ(x[0].filter, "a/b");
  EXPECT_EQ(x[0].options, 0x00);
  EXPECT_EQ(x[1].filter, "c/d");
  EXPECT_EQ(x[1].qos(), 1);
  EXPECT_TRUE(x[1].no_local());
  EXPECT_FALSE(x[1].retain_as_published());
  EXPECT_EQ(x[1].retain_handling(), 0);
  EXPECT_EQ(x[2].filter, "#");
  EXPECT_EQ(x[2].qos(), 2);
  EXPECT_FALSE(x[2].no_local());
  EXPECT_TRUE(x[2].retain_as_published());
  EXPECT_EQ(x[3].filter, "e/+");
  EXPECT_EQ(x[3].qos(), 0);
  EXPECT_EQ(x[3].retain_handling(), 1);
  EXPECT_EQ(x[4].filter, "f/g");
  EXPECT_EQ(x[4].qos(), 1);
  EXPECT_TRUE(x[4].retain_as_published());
  EXPECT_FALSE(x[4].no_local());
  EXPECT_EQ(x[4].retain_handling(), 2);
  EXPECT_EQ(x[5].filter, "$share/grp/x/#");
  EXPECT_EQ(x[5].qos(), 1);
  EXPECT_FALSE(x[5].no_local());
}

TEST(V5Suback, EveryReasonCode) {
  auto s = must_decode<Suback>("v5/suback");
  EXPECT_EQ(s.packet_id, 5);
  EXPECT_EQ(s.properties.find(PI::reason_string)->text, "ok");
  static const std::uint8_t codes[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
  EXPECT_EQ(s.codes, Bytes(codes, sizeof codes));
  for (std::uint8_t c : codes) EXPECT_FALSE(reason_code_name(PacketCode::suback, c).empty()) << int{c};
  EXPECT_EQ(reason_code_name(PacketCode::suback, 0x00), "Granted QoS 0");
  EXPECT_EQ(reason_code_name(PacketCode::suback, 0x02), "Granted QoS 2");
  EXPECT_EQ(reason_code_name(PacketCode::suback, 0x9E), "Shared Subscriptions not supported");
  EXPECT_EQ(reason_code_name(PacketCode::suback, 0xA2), "Wildcard Subscriptions not supported");
}

TEST(V5Unsubscribe, Filters) {
  auto u = must_decode<Unsubscribe>("v5/unsubscribe");
  EXPECT_EQ(u.packet_id, 6);
  EXPECT_TRUE(u.properties.empty());
  ASSERT_EQ(u.filters.size(), 2u);
  EXPECT_EQ(u.filters[0], "a/b");
  EXPECT_EQ(u.filters[1], "$share/grp/x/#");
  auto u2 = must_decode<Unsubscribe>("v5/unsubscribe_user_prop");
  EXPECT_EQ(u2.packet_id, 7);
  auto p = props_of(u2.properties);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].text, "k");
  EXPECT_EQ(p[0].value, "v");
  ASSERT_EQ(u2.filters.size(), 1u);
  EXPECT_EQ(u2.filters[0], "a/+");
}

TEST(V5Unsuback, EveryReasonCode) {
  auto u = must_decode<Unsuback>("v5/unsuback");
  EXPECT_EQ(u.packet_id, 6);
  static const std::uint8_t codes[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
  EXPECT_EQ(u.codes, Bytes(codes, sizeof codes));
  for (std::uint8_t c : codes) EXPECT_FALSE(reason_code_name(PacketCode::unsuback, c).empty()) << int{c};
  EXPECT_EQ(reason_code_name(PacketCode::unsuback, 0x11), "No subscription existed");
}

// ---- PINGREQ / PINGRESP / DISCONNECT / AUTH ---------------------------------------------------------------

TEST(V5Ping, Both) {
  must_decode<Pingreq>("v5/pingreq");
  must_decode<Pingresp>("v5/pingresp");
}

TEST(V5Disconnect, RemainingLength0) {
  auto d = must_decode<Disconnect>("v5/disconnect_len0");
  EXPECT_EQ(d.reason_code, 0);
  EXPECT_TRUE(d.properties.empty());
  EXPECT_EQ(reason_code_name(PacketCode::disconnect, 0), "Normal disconnection");
}

TEST(V5Disconnect, RemainingLength1) {
  auto d = must_decode<Disconnect>("v5/disconnect_len1");
  EXPECT_EQ(d.reason_code, 0x04);
  EXPECT_TRUE(d.properties.empty());
  EXPECT_EQ(reason_code_name(PacketCode::disconnect, 0x04), "Disconnect with Will Message");
  auto d0 = must_decode<Disconnect>("v5/disconnect_len1_success");
  EXPECT_EQ(d0.reason_code, 0);
}

TEST(V5Disconnect, WithProperties) {
  auto d = must_decode<Disconnect>("v5/disconnect_props");
  EXPECT_EQ(d.reason_code, 0x9C);
  EXPECT_EQ(reason_code_name(PacketCode::disconnect, 0x9C), "Use another server");
  auto p = props_of(d.properties);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].id, PI::server_reference);
  EXPECT_EQ(p[0].text, "host2");
  EXPECT_EQ(p[1].id, PI::reason_string);
  EXPECT_EQ(p[1].text, "bye");
  EXPECT_EQ(p[2].id, PI::session_expiry_interval);
  EXPECT_EQ(p[2].number, 0u);
}

TEST(V5Disconnect, EveryAllowedReasonCode) {
  const std::uint8_t codes[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                                0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
                                0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
  for (std::uint8_t code : codes) {
    auto b = hex("E0 01  00");
    b[2] = code;
    EXPECT_EQ(must_decode<Disconnect>(b, at_level(5)).reason_code, code);
    EXPECT_FALSE(reason_code_name(PacketCode::disconnect, code).empty()) << int{code};
  }
  EXPECT_EQ(reason_code_name(PacketCode::disconnect, 0x8E), "Session taken over");
}

TEST(V5Auth, RemainingLength0) {
  auto a = must_decode<Auth>("v5/auth_len0");
  EXPECT_EQ(a.reason_code, 0);
  EXPECT_TRUE(a.properties.empty());
  EXPECT_EQ(reason_code_name(PacketCode::auth, 0), "Success");
}

TEST(V5Auth, ContinueWithMethodAndData) {
  auto a = must_decode<Auth>("v5/auth_continue");
  EXPECT_EQ(a.reason_code, 0x18);
  EXPECT_EQ(reason_code_name(PacketCode::auth, 0x18), "Continue authentication");
  auto p = props_of(a.properties);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].id, PI::authentication_method);
  EXPECT_EQ(p[0].text, "SCRAM");
  EXPECT_EQ(info_name(p[0].id), "Authentication Method");
  EXPECT_EQ(p[1].id, PI::authentication_data);
  static const std::uint8_t data[] = {1, 2, 3, 4};
  EXPECT_EQ(p[1].binary, Bytes(data, 4));
  EXPECT_EQ(info_name(p[1].id), "Authentication Data");
}

TEST(V5Auth, Reauthenticate) {
  auto a = must_decode<Auth>("v5/auth_reauth");
  EXPECT_EQ(a.reason_code, 0x19);
  EXPECT_EQ(reason_code_name(PacketCode::auth, 0x19), "Re-authenticate");
  EXPECT_EQ(a.properties.find(PI::reason_string)->text, "ra");
}

// ---- Names, level 0 ---------------------------------------------------------------------------------------

TEST(V5Names, UnknownCodesHaveNoName) {
  EXPECT_TRUE(reason_code_name(PacketCode::connack, 0x01).empty());
  EXPECT_TRUE(reason_code_name(PacketCode::connack, 0xFF).empty());
  EXPECT_TRUE(reason_code_name(PacketCode::puback, 0x7F).empty());
}

TEST(V5Level0, PacketsThatOnlyParseAs5AreReadAs5) {
  for (const char* name : {"v5/puback_props", "v5/suback", "v5/unsuback", "v5/connack_props", "v5/disconnect_props"}) {
    auto r = decode(vec(name).bytes, at_level(0));
    ASSERT_TRUE(r.ok()) << name << ": " << describe(r);
    EXPECT_EQ(r->level, 5) << name;
  }
}

TEST(V5Names, EveryVectorHasTheExpectedTypeCode) {
  for (const auto& v : valid_vectors()) {
    if (v.level != 5) continue;
    auto r = decode(v.bytes, ctx_for(v));
    ASSERT_TRUE(r.ok()) << v.name << ": " << describe(r);
    EXPECT_EQ(packet_code(r->packet), r->header.code()) << v.name;
    EXPECT_EQ(r->level, 5) << v.name;
  }
}

}  // namespace
