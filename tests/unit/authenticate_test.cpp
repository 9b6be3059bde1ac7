// The field's custom challenge-response packet ("authenticate": packet type 0 or 15 with a CONNECT body)
// and the dialect rules that decide between authenticate, the standard MQTT 5 AUTH and a reserved packet.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "decode_util.hpp"
#include "hex.hpp"
#include "mqttauth/codec.hpp"

using namespace mqttauth;
using mqttauth::test::describe_violations;
using mqttauth::test::fails_with;
using mqttauth::test::hex;

namespace {

constexpr std::string_view kClientId = "dev-0001";
constexpr std::string_view kTimestamp = "1700000000123";  // 13-digit millisecond timestamp
constexpr std::string_view kResponse = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

// The challenge exactly as the field sends it: 0x00 or 0xF0, then
// 00 04 'MQTT' 04 42 00 00 <client id> <13-digit timestamp as password>.
// Returned from static storage: decoded packets view their input, so it must outlive them.
const std::vector<std::uint8_t>& field_challenge(std::uint8_t header_byte) {
  static std::map<std::uint8_t, std::vector<std::uint8_t>> cache;
  auto& b = cache[header_byte];
  if (!b.empty()) return b;
  b = hex(R"(
    23                            # remaining length 35
    00 04 'MQTT'                  # protocol name
    04                            # level 4 (3.1.1)
    42                            # flags: password + clean session, no username
    00 00                         # keep alive 0
    00 08 'dev-0001'              # client identifier
    00 0d '1700000000123'         # password: the millisecond timestamp
  )");
  b.insert(b.begin(), header_byte);
  return b;
}

void append_str(std::vector<std::uint8_t>& b, std::string_view s) {
  b.push_back(static_cast<std::uint8_t>(s.size() >> 8));
  b.push_back(static_cast<std::uint8_t>(s.size() & 0xFFu));
  b.insert(b.end(), s.begin(), s.end());
}

// Builds <header byte> <remaining length (one byte)> <body> for short bodies.
std::vector<std::uint8_t> packet(std::uint8_t header_byte, const std::vector<std::uint8_t>& body) {
  EXPECT_LT(body.size(), 128u);
  std::vector<std::uint8_t> b{header_byte, static_cast<std::uint8_t>(body.size())};
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

// A level-4 authenticate body: client id, optional username, password.
std::vector<std::uint8_t> auth_body(std::uint8_t flags, std::string_view client_id, std::string_view password) {
  std::vector<std::uint8_t> b = hex("00 04 'MQTT' 04");
  b.push_back(flags);
  b.push_back(0x00);
  b.push_back(0x00);
  append_str(b, client_id);
  append_str(b, password);
  return b;
}

DecodeContext ctx(std::uint8_t level, Dialect d = Dialect::auto_detect) {
  DecodeContext c;
  c.level = level;
  c.dialect = d;
  return c;
}

// The authenticate packet of a decode result; a failure (and an empty packet) when it is something else.
const Authenticate& as_authenticate(const Expected<Decoded>& r) {
  static const Authenticate none{};
  if (!r.ok()) {
    ADD_FAILURE() << "decode failed: " << r.error().message();
    return none;
  }
  if (!std::holds_alternative<Authenticate>(r->packet)) {
    ADD_FAILURE() << "decoded as " << packet_name(r->packet);
    return none;
  }
  return std::get<Authenticate>(r->packet);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// The field's packet, decoded field by field.

class FieldChallenge : public ::testing::TestWithParam<std::uint8_t> {};

TEST_P(FieldChallenge, DecodesFieldByField) {
  const std::uint8_t code = GetParam();
  auto bytes = field_challenge(static_cast<std::uint8_t>(code << 4));
  ASSERT_EQ(bytes.size(), 37u);
  for (std::uint8_t level : {std::uint8_t{0}, kLevel31, kLevel311}) {
    SCOPED_TRACE(testing::Message() << "context level " << int{level});
    auto r = decode(bytes, ctx(level));
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->header.byte, code << 4);
    EXPECT_EQ(r->header.code(), code);
    EXPECT_EQ(r->header.flags(), 0);
    EXPECT_EQ(r->header.remaining_length, 35u);
    EXPECT_EQ(r->header.size, 2u);
    EXPECT_EQ(r->header.packet_size(), bytes.size());
    EXPECT_EQ(packet_name(r->packet), "authenticate");
    EXPECT_EQ(packet_code(r->packet), code);
    const Authenticate& a = as_authenticate(r);
    EXPECT_EQ(a.code, code);
    EXPECT_EQ(a.protocol_name, "MQTT");
    EXPECT_EQ(a.level, kLevel311);
    EXPECT_FALSE(a.bridge);
    EXPECT_TRUE(a.clean);
    EXPECT_EQ(a.keep_alive, 0);
    EXPECT_TRUE(a.properties.empty());
    EXPECT_EQ(a.client_id, kClientId);
    EXPECT_FALSE(a.will.has_value());
    EXPECT_FALSE(a.username.has_value());
    ASSERT_TRUE(a.password.has_value());
    EXPECT_EQ(a.password->as_chars(), kTimestamp);
    EXPECT_EQ(a.password->size(), 13u);
    EXPECT_EQ(a.flags(), 0x42);
    // Views point into the input.
    EXPECT_EQ(static_cast<const void*>(a.client_id.data()), static_cast<const void*>(bytes.data() + 14));
  }
}

TEST_P(FieldChallenge, IsConnectLikeBody) {
  auto bytes = field_challenge(static_cast<std::uint8_t>(GetParam() << 4));
  EXPECT_TRUE(is_connect_like(std::span<const std::uint8_t>(bytes).subspan(2)));
  EXPECT_FALSE(is_connect_like(std::span<const std::uint8_t>(bytes).subspan(2, 20)));
  EXPECT_FALSE(is_connect_like({}));
}

TEST_P(FieldChallenge, EncodesBackToTheSameBytes) {
  const std::uint8_t code = GetParam();
  Authenticate a;
  a.code = code;
  a.protocol_name = "MQTT";
  a.level = kLevel311;
  a.clean = true;
  a.keep_alive = 0;
  a.client_id = kClientId;
  a.password = Bytes::of(kTimestamp);
  auto out = encode_or_throw(Packet(a), kLevel311);
  EXPECT_EQ(out, field_challenge(static_cast<std::uint8_t>(code << 4)));
  EXPECT_EQ(out[0], code == 0 ? 0x00 : 0xF0);

  auto back = decode(out, ctx(kLevel311));
  EXPECT_EQ(as_authenticate(back), a);
}

INSTANTIATE_TEST_SUITE_P(Codes, FieldChallenge, ::testing::Values(std::uint8_t{0}, std::uint8_t{15}),
                         [](const auto& p) { return "code" + std::to_string(p.param); });

TEST(Authenticate, ResponseWithSha256HexPassword) {
  for (std::uint8_t code : {std::uint8_t{0}, std::uint8_t{15}}) {
    auto body = auth_body(0x42, kClientId, kResponse);
    ASSERT_EQ(body.size(), 86u);
    auto bytes = packet(static_cast<std::uint8_t>(code << 4), body);
    auto r = decode(bytes, ctx(kLevel311));
    const Authenticate& a = as_authenticate(r);
    EXPECT_EQ(a.code, code);
    EXPECT_EQ(a.client_id, kClientId);
    EXPECT_FALSE(a.username);
    ASSERT_TRUE(a.password);
    EXPECT_EQ(a.password->size(), 64u);
    EXPECT_EQ(a.password->as_chars(), kResponse);
  }
}

TEST(Authenticate, WithUsernameAndPassword) {
  auto bytes = hex(R"(
    00 2a
    00 04 'MQTT' 04
    c2                       # username + password + clean
    00 3c                    # keep alive 60
    00 08 'dev-0001'
    00 05 'user1'
    00 0d '1700000000123'
  )");
  ASSERT_EQ(bytes.size(), 2u + 0x2au);
  auto r = decode(bytes);
  const Authenticate& a = as_authenticate(r);
  EXPECT_EQ(a.keep_alive, 60);
  EXPECT_EQ(a.client_id, kClientId);
  ASSERT_TRUE(a.username);
  EXPECT_EQ(*a.username, "user1");
  ASSERT_TRUE(a.password);
  EXPECT_EQ(a.password->as_chars(), kTimestamp);
  EXPECT_EQ(a.flags(), 0xC2);
  EXPECT_EQ(encode_or_throw(r->packet, kLevel311), bytes);
}

TEST(Authenticate, WithWill) {
  auto bytes = hex(R"(
    f0 3d
    00 04 'MQTT' 04
    6e                       # password + will retain + will QoS 1 + will + clean
    00 00
    00 08 'dev-0001'
    00 0f 'devices/dev/lwt'  # will topic
    00 07 'offline'          # will payload
    00 0d '1700000000123'
  )");
  ASSERT_EQ(bytes.size(), 2u + 0x3du);
  auto r = decode(bytes, ctx(kLevel311));
  const Authenticate& a = as_authenticate(r);
  EXPECT_EQ(a.code, 15);
  ASSERT_TRUE(a.will);
  EXPECT_EQ(a.will->qos, 1);
  EXPECT_TRUE(a.will->retain);
  EXPECT_EQ(a.will->topic, "devices/dev/lwt");
  EXPECT_EQ(a.will->payload.as_chars(), "offline");
  EXPECT_FALSE(a.username);
  ASSERT_TRUE(a.password);
  EXPECT_EQ(a.password->as_chars(), kTimestamp);
  EXPECT_EQ(a.flags(), 0x6E);
  EXPECT_EQ(encode_or_throw(r->packet, kLevel311), bytes);
}

TEST(Authenticate, Mqtt31ProtocolName) {
  auto bytes = hex("00 19  00 06 'MQIsdp' 03 42 00 0a  00 02 'd1'  00 07 '1234567'");
  auto r = decode(bytes);
  const Authenticate& a = as_authenticate(r);
  EXPECT_EQ(a.protocol_name, "MQIsdp");
  EXPECT_EQ(a.level, kLevel31);
  EXPECT_EQ(a.keep_alive, 10);
}

TEST(Authenticate, PasswordWithoutUsernameIsAllowedOnlyInAuthenticate) {
  // 3.1.1 forbids the password flag without the username flag in CONNECT; the field's packet relies on it.
  auto challenge = field_challenge(0x00);
  auto connect = challenge;
  connect[0] = 0x10;
  EXPECT_TRUE(fails_with(connect, ErrorKind::bad_connect_flags, 9, ctx(kLevel311)));
  auto a = decode(challenge, ctx(kLevel311));
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->violations.empty()) << describe_violations(*a);
}

TEST(Authenticate, NeedMoreWhenTruncatedInTheStream) {
  auto bytes = field_challenge(0xF0);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto r = decode(std::span<const std::uint8_t>(bytes).first(n));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.error().kind, ErrorKind::need_more) << n;
  }
}

// ---------------------------------------------------------------------------------------------------
// Dialect rules for type 0.

TEST(DialectType0, NonConnectBodyIsReservedWithRawBody) {
  auto bytes = hex("00 05  01 02 03 04 05");
  for (std::uint8_t level : {std::uint8_t{0}, kLevel311, kLevel5}) {
    auto r = decode(bytes, ctx(level));
    ASSERT_TRUE(r.ok()) << r.error().message();
    ASSERT_TRUE(std::holds_alternative<Reserved>(r->packet)) << packet_name(r->packet);
    const auto& res = std::get<Reserved>(r->packet);
    EXPECT_EQ(res.code, 0);
    EXPECT_EQ(res.flags, 0);
    EXPECT_EQ(res.body, Bytes(hex("01 02 03 04 05")));
    EXPECT_EQ(res.body.data(), bytes.data() + 2);
    EXPECT_FALSE(res.authenticate_error);
    EXPECT_EQ(packet_name(r->packet), "reserved");
    EXPECT_EQ(packet_code(r->packet), 0);
    EXPECT_EQ(encode_or_throw(r->packet, kLevel311), bytes);
  }
}

TEST(DialectType0, EmptyBodyIsReserved) {
  auto bytes = hex("00 00");
  auto r = decode(bytes);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(std::holds_alternative<Reserved>(r->packet));
  EXPECT_TRUE(std::get<Reserved>(r->packet).body.empty());
  EXPECT_FALSE(std::get<Reserved>(r->packet).authenticate_error);
}

TEST(DialectType0, TruncatedAuthenticateBodyIsReservedWithError) {
  // The protocol name is right but the client identifier's length points past the end.
  auto bytes = hex("00 0c  00 04 'MQTT' 04 42 00 00  00 08");
  auto r = decode(bytes);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_TRUE(std::holds_alternative<Reserved>(r->packet));
  const auto& res = std::get<Reserved>(r->packet);
  EXPECT_EQ(res.body.size(), 12u);
  ASSERT_TRUE(res.authenticate_error);
  EXPECT_EQ(res.authenticate_error->kind, ErrorKind::field_overrun);
  EXPECT_EQ(res.authenticate_error->offset, 14u);  // where the 8 bytes of the client id should start
}

TEST(DialectType0, TruncatedPasswordIsReservedWithError) {
  // The field's challenge with its password cut to 5 of 13 digits (remaining length shortened to match).
  auto bytes = hex("00 1b  00 04 'MQTT' 04 42 00 00  00 08 'dev-0001'  00 0d '17000'");
  auto r = decode(bytes);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_TRUE(std::holds_alternative<Reserved>(r->packet));
  const auto& res = std::get<Reserved>(r->packet);
  ASSERT_TRUE(res.authenticate_error);
  EXPECT_EQ(res.authenticate_error->kind, ErrorKind::field_overrun);
  EXPECT_EQ(res.authenticate_error->offset, 24u);
}

TEST(DialectType0, TrailingBytesAfterPasswordIsReservedWithError) {
  auto bytes = hex("00 25  00 04 'MQTT' 04 42 00 00  00 08 'dev-0001'  00 0d '1700000000123'  ff ff");
  auto r = decode(bytes);
  ASSERT_TRUE(r.ok());
  const auto& res = std::get<Reserved>(r->packet);
  ASSERT_TRUE(res.authenticate_error);
  EXPECT_EQ(res.authenticate_error->kind, ErrorKind::trailing_bytes);
  EXPECT_EQ(res.authenticate_error->offset, 37u);
}

TEST(DialectType0, BadLevelAfterProtocolNameIsReservedWithError) {
  auto bytes = hex("00 0c  00 04 'MQTT' 07 42 00 00 00 00");
  auto r = decode(bytes);
  ASSERT_TRUE(r.ok());
  const auto& res = std::get<Reserved>(r->packet);
  ASSERT_TRUE(res.authenticate_error);
  EXPECT_EQ(res.authenticate_error->kind, ErrorKind::bad_protocol_level);
  EXPECT_EQ(res.authenticate_error->offset, 8u);
}

TEST(DialectType0, OtherProtocolNameIsReservedWithoutError) {
  // Starts with a 2-byte length but not "MQTT": not like an authenticate body.
  auto bytes = hex("00 0a  00 04 'AMQP' 04 42 00 00");
  auto r = decode(bytes);
  ASSERT_TRUE(r.ok());
  const auto& res = std::get<Reserved>(r->packet);
  EXPECT_FALSE(res.authenticate_error);
}

TEST(DialectType0, NonZeroFlagsAreReservedOrErrorWhenForced) {
  auto bytes = field_challenge(0x01);
  auto r = decode(bytes);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_TRUE(std::holds_alternative<Reserved>(r->packet)) << packet_name(r->packet);
  const auto& res = std::get<Reserved>(r->packet);
  EXPECT_EQ(res.code, 0);
  EXPECT_EQ(res.flags, 1);
  ASSERT_TRUE(res.authenticate_error);
  EXPECT_EQ(res.authenticate_error->kind, ErrorKind::reserved_flags);
  EXPECT_EQ(res.authenticate_error->offset, 0u);
  EXPECT_EQ(encode_or_throw(r->packet, kLevel311), bytes);

  // Forced to authenticate: the packet, with the flags as a violation (an error when strict).
  EXPECT_TRUE(fails_with(bytes, ErrorKind::reserved_flags, 0, ctx(0, Dialect::authenticate)));
  auto forced = decode(bytes, ctx(0, Dialect::authenticate));
  ASSERT_TRUE(forced.ok());
  EXPECT_TRUE(std::holds_alternative<Authenticate>(forced->packet));
}

TEST(DialectType0, ForcedStandardIsAnError) {
  // Plain MQTT: type 0 is a reserved packet type, whatever its body.
  const auto other = hex("00 03 01 02 03");
  for (std::uint8_t level : {std::uint8_t{0}, kLevel311, kLevel5}) {
    SCOPED_TRACE(int{level});
    for (const auto* bytes : {&field_challenge(0x00), &other}) {
      // Shown raw with the violation; an error when strict.
      EXPECT_TRUE(fails_with(*bytes, ErrorKind::bad_packet_type, 0, ctx(level, Dialect::standard)));
      auto r = decode(*bytes, ctx(level, Dialect::standard));
      ASSERT_TRUE(r.ok());
      EXPECT_TRUE(std::holds_alternative<Reserved>(r->packet)) << packet_name(r->packet);
    }
  }
}

TEST(DialectType0, ForcedAuthenticateRejectsNonConnectBody) {
  auto r = decode(hex("00 03 01 02 03"), ctx(0, Dialect::authenticate));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::field_overrun);

  auto ok = decode(field_challenge(0x00), ctx(kLevel5, Dialect::authenticate));
  EXPECT_EQ(as_authenticate(ok).code, 0);
}

TEST(DialectType0, AuthenticateAtEveryLevel) {
  // Type 0 is never a standard packet, so the level does not matter.
  for (std::uint8_t level : {std::uint8_t{0}, kLevel31, kLevel311, kLevel5}) {
    auto r = decode(field_challenge(0x00), ctx(level));
    EXPECT_EQ(as_authenticate(r).client_id, kClientId);
  }
}

// ---------------------------------------------------------------------------------------------------
// Dialect rules for type 15.

namespace {
// MQTT 5 AUTH, reason 0x18 (continue authentication), method HMAC-SHA256, data "abcd".
const std::vector<std::uint8_t>& v5_auth() {
  static const auto b = hex(R"(
    f0 17
    18                                   # continue authentication
    15                                   # property length 21
    15 00 0b 'HMAC-SHA256'               # authentication method
    16 00 04 'abcd'                      # authentication data
  )");
  return b;
}
}  // namespace

TEST(DialectType15, Level5IsAuth) {
  auto r = decode(v5_auth(), ctx(kLevel5));
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_TRUE(std::holds_alternative<Auth>(r->packet)) << packet_name(r->packet);
  const auto& a = std::get<Auth>(r->packet);
  EXPECT_EQ(a.reason_code, 0x18);
  EXPECT_EQ(a.properties.find(PropertyId::authentication_method)->text, "HMAC-SHA256");
  EXPECT_EQ(a.properties.find(PropertyId::authentication_data)->binary.as_chars(), "abcd");
  EXPECT_EQ(r->level, kLevel5);
  EXPECT_EQ(packet_name(r->packet), "auth");
  EXPECT_EQ(packet_code(r->packet), 15);
}

TEST(DialectType15, Level5WithConnectBodyIsAnAuthError) {
  auto r = decode(field_challenge(0xF0), ctx(kLevel5));
  EXPECT_FALSE(r.ok());
}

TEST(DialectType15, Level4IsAuthenticate) {
  auto r = decode(field_challenge(0xF0), ctx(kLevel311));
  EXPECT_EQ(as_authenticate(r).code, 15);
  EXPECT_EQ(r->level, kLevel311);
  auto r3 = decode(field_challenge(0xF0), ctx(kLevel31));
  EXPECT_EQ(as_authenticate(r3).code, 15);
}

TEST(DialectType15, Level4WithAuthBodyIsAnError) {
  auto r = decode(v5_auth(), ctx(kLevel311));
  EXPECT_FALSE(r.ok());
}

TEST(DialectType15, UnknownLevelDecidesByBody) {
  auto a = decode(field_challenge(0xF0), ctx(0));
  EXPECT_EQ(as_authenticate(a).code, 15);
  EXPECT_EQ(a->level, kLevel311);

  auto b = decode(v5_auth(), ctx(0));
  ASSERT_TRUE(b.ok()) << b.error().message();
  EXPECT_TRUE(std::holds_alternative<Auth>(b->packet));
  EXPECT_EQ(b->level, kLevel5);

  // AUTH with remaining length 0: success, no properties.
  auto empty = hex("f0 00");
  auto c = decode(empty, ctx(0));
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_TRUE(std::holds_alternative<Auth>(c->packet));
  EXPECT_EQ(std::get<Auth>(c->packet).reason_code, 0);
  EXPECT_EQ(c->level, kLevel5);
}

TEST(DialectType15, ForcedAuthenticate) {
  for (std::uint8_t level : {std::uint8_t{0}, kLevel311, kLevel5}) {
    SCOPED_TRACE(int{level});
    auto r = decode(field_challenge(0xF0), ctx(level, Dialect::authenticate));
    EXPECT_EQ(as_authenticate(r).code, 15);
    EXPECT_FALSE(decode(v5_auth(), ctx(level, Dialect::authenticate)).ok());
  }
}

TEST(DialectType15, ForcedStandard) {
  for (std::uint8_t level : {std::uint8_t{0}, kLevel311, kLevel5}) {
    SCOPED_TRACE(int{level});
    auto r = decode(v5_auth(), ctx(level, Dialect::standard));
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_TRUE(std::holds_alternative<Auth>(r->packet));
    EXPECT_FALSE(decode(field_challenge(0xF0), ctx(level, Dialect::standard)).ok());
  }
}

TEST(DialectType15, NonZeroFlags) {
  auto bytes = field_challenge(0xF1);
  for (std::uint8_t level : {std::uint8_t{0}, kLevel311})
    EXPECT_TRUE(fails_with(bytes, ErrorKind::reserved_flags, 0, ctx(level)));
  EXPECT_TRUE(fails_with(bytes, ErrorKind::reserved_flags, 0, ctx(kLevel5, Dialect::authenticate)));
  // A v5 AUTH with flags set breaks the same rule.
  auto v5 = v5_auth();
  v5[0] = 0xF2;
  EXPECT_TRUE(fails_with(v5, ErrorKind::reserved_flags, 0, ctx(kLevel5)));
}

// ---------------------------------------------------------------------------------------------------
// Encoding.

TEST(AuthenticateEncode, RoundTripsEveryShape) {
  Will w;
  w.qos = 2;
  w.topic = "a/b";
  w.payload = Bytes::of("bye");
  for (std::uint8_t code : {std::uint8_t{0}, std::uint8_t{15}}) {
    for (int shape = 0; shape < 4; ++shape) {
      SCOPED_TRACE(testing::Message() << "code " << int{code} << " shape " << shape);
      Authenticate a;
      a.code = code;
      a.client_id = kClientId;
      a.keep_alive = static_cast<std::uint16_t>(shape * 30);
      a.clean = shape != 1;
      if (shape >= 1) a.password = Bytes::of(kResponse);
      if (shape >= 2) a.username = "user";
      if (shape == 3) a.will = w;
      auto out = encode_or_throw(Packet(a), kLevel311);
      EXPECT_EQ(out[0], static_cast<std::uint8_t>(code << 4));
      auto r = decode(out, ctx(kLevel311));
      ASSERT_TRUE(r.ok()) << r.error().message();
      EXPECT_EQ(r->header.packet_size(), out.size());
      EXPECT_EQ(std::get<Authenticate>(r->packet), a);
    }
  }
}

TEST(AuthenticateEncode, AuthenticateWithoutPasswordAtUnknownLevel) {
  // An authenticate with no password still is CONNECT-like: type 0 decodes to authenticate.
  Authenticate a;
  a.code = 0;
  a.client_id = "x";
  auto out = encode_or_throw(Packet(a), kLevel311);
  EXPECT_EQ(out, hex("00 0d 00 04 'MQTT' 04 02 00 00 00 01 'x'"));
  auto r = decode(out);
  EXPECT_EQ(as_authenticate(r), a);
}
