// One test per validation rule of the decoder: each asserts the exact ErrorKind and the byte offset (counted
// from the first byte of the fixed header) for a hand-written malformed packet. References are to MQTT
// 3.1.1 (OASIS 2014) and 5.0 (OASIS 2019) normative statements.
#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>

#include "decode_util.hpp"
#include "hex.hpp"
#include "mqttauth/codec.hpp"
#include "mqttauth/topic.hpp"
#include "mqttauth/utf8.hpp"
#include "vectors.hpp"

using namespace mqttauth;
using namespace mqttauth::test;

namespace {

using EK = ErrorKind;
const DecodeContext v4 = at_level(4);
const DecodeContext v5 = at_level(5);

// A packet with this first byte and body; the remaining length is computed (bodies here are < 128 bytes,
// so the fixed header is 2 bytes and body offset k is packet offset k + 2).
std::vector<std::uint8_t> packet(std::uint8_t first, const std::vector<std::uint8_t>& body) {
  std::vector<std::uint8_t> b{first};
  std::uint32_t n = static_cast<std::uint32_t>(body.size());
  do {
    auto byte = static_cast<std::uint8_t>(n & 0x7Fu);
    n >>= 7;
    if (n) byte |= 0x80u;
    b.push_back(byte);
  } while (n);
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

std::vector<std::uint8_t> str(std::string_view s) {
  std::vector<std::uint8_t> b(2 + s.size());
  b[0] = static_cast<std::uint8_t>(s.size() >> 8);
  b[1] = static_cast<std::uint8_t>(s.size());
  std::copy(s.begin(), s.end(), b.begin() + 2);
  return b;
}

// SUBSCRIBE id 1 with one filter; at level 5 with an empty property block. The filter starts at offset 4
// (level 4) or 5 (level 5); its options byte follows it.
std::vector<std::uint8_t> subscribe_with(std::string_view filter, std::uint8_t options, bool v5_form) {
  std::vector<std::uint8_t> body{0x00, 0x01};
  if (v5_form) body.push_back(0x00);
  auto f = str(filter);
  body.insert(body.end(), f.begin(), f.end());
  body.push_back(options);
  return packet(0x82, body);
}

std::vector<std::uint8_t> unsubscribe_with(std::string_view filter, bool v5_form) {
  std::vector<std::uint8_t> body{0x00, 0x01};
  if (v5_form) body.push_back(0x00);
  auto f = str(filter);
  body.insert(body.end(), f.begin(), f.end());
  return packet(0xA2, body);
}

// ---- Fixed header -----------------------------------------------------------------------------------------

// [MQTT-2.2.2-1] / 5.0 [MQTT-2.1.3-1]: flags marked "reserved" must have the listed values.
TEST(MalformedFixedHeader, ReservedFlags) {
  struct Case {
    const char* bytes;
    const DecodeContext* ctx;
  };
  const Case cases[] = {
      {"80 08  00 01  00 03 'a/b' 00   # SUBSCRIBE with flags 0b0000 (must be 0b0010)", &v4},
      {"80 09  00 01 00  00 03 'a/b' 00  # the same at level 5", &v5},
      {"60 02  00 01                  # PUBREL with flags 0b0000", &v4},
      {"21 02  00 00                  # CONNACK with flags 0b0001", &v4},
      {"12 0C  00 04 'MQTT' 04 02 00 3C 00 00   # CONNECT with flags 0b0010", &v4},
      {"41 02  00 01                  # PUBACK with flags 0b0001", &v4},
      {"58 02  00 01                  # PUBREC with flags 0b1000", &v4},
      {"72 02  00 01                  # PUBCOMP with flags 0b0010", &v4},
      {"92 03  00 01 00               # SUBACK with flags 0b0010", &v4},
      {"A0 07  00 01  00 03 'a/b'     # UNSUBSCRIBE with flags 0b0000", &v4},
      {"A3 07  00 01  00 03 'a/b'     # UNSUBSCRIBE with flags 0b0011", &v4},
      {"B2 02  00 01                  # UNSUBACK with flags 0b0010", &v4},
      {"C1 00                         # PINGREQ with flags 0b0001", &v4},
      {"D4 00                         # PINGRESP with flags 0b0100", &v4},
      {"E8 00                         # DISCONNECT with flags 0b1000", &v4},
      {"E1 00                         # DISCONNECT with flags 0b0001", &v5},
      {"F1 00                         # AUTH with flags 0b0001", &v5},
  };
  for (const auto& c : cases) EXPECT_TRUE(fails_with(hex(c.bytes), EK::reserved_flags, 0, *c.ctx)) << c.bytes;
}

// [MQTT-3.3.1-4]: a PUBLISH packet MUST NOT have both QoS bits set to 1.
TEST(MalformedFixedHeader, PublishQos3) {
  EXPECT_TRUE(fails_with(hex("36 07  00 03 'a/b'  00 01   # PUBLISH qos 3"), EK::bad_qos, 0, v4));
  EXPECT_TRUE(fails_with(hex("37 08  00 03 'a/b'  00 01 00   # PUBLISH qos 3 retain"), EK::bad_qos, 0, v5));
}

// [MQTT-3.3.1-2]: the DUP flag MUST be 0 for all QoS 0 messages.
TEST(MalformedFixedHeader, DupOnQos0) {
  EXPECT_TRUE(fails_with(hex("38 05  00 03 'a/b'   # PUBLISH dup, qos 0"), EK::bad_qos, 0, v4));
  EXPECT_TRUE(fails_with(hex("39 06  00 03 'a/b' 00   # PUBLISH dup, qos 0, retain"), EK::bad_qos, 0, v5));
}

// 3.1.1 section 2.2.3: the remaining length is at most four bytes.
TEST(MalformedFixedHeader, RemainingLengthFiveBytes) {
  EXPECT_TRUE(fails_with(hex("30 FF FF FF FF 7F"), EK::bad_remaining_length, 1, v4));
  EXPECT_TRUE(fails_with(hex("30 80 80 80 80 01"), EK::bad_remaining_length, 1, v5));
  EXPECT_TRUE(fails_with(hex("C0 80 80 80 80"), EK::bad_remaining_length, 1, at_level(0)));
  // Four continuation bytes and nothing after: not yet known to be bad.
  EXPECT_TRUE(fails_with(hex("30 80 80 80"), EK::need_more, 5, v4));
}

// 5.0 section 1.5.5: "The encoded value MUST use the minimum number of bytes necessary" [MQTT-1.5.5-1].
// 3.1.1 has no such rule, so level 4 accepts the same bytes.
TEST(MalformedFixedHeader, NonMinimalRemainingLength) {
  auto ping = hex("C0 80 00       # PINGREQ, remaining length 0 written in two bytes");
  EXPECT_TRUE(fails_with(ping, EK::bad_remaining_length, 1, v5));
  auto r4 = decode(ping, v4);
  ASSERT_TRUE(r4.ok()) << describe(r4);
  EXPECT_EQ(r4->header.packet_size(), 3u);
  EXPECT_TRUE(std::holds_alternative<Pingreq>(r4->packet));

  auto pub =
      hex("30 86 00       # PUBLISH, remaining length 6 in two bytes\n"
          "00 03 'a/b'    # topic name\n"
          "00             # v5: no properties; v4: a one-byte payload\n");
  EXPECT_TRUE(fails_with(pub, EK::bad_remaining_length, 1, v5));
  auto p4 = must_decode<Publish>(pub, v4);
  EXPECT_EQ(p4.topic, "a/b");

  auto four = hex("C0 80 80 80 00   # PINGREQ, remaining length 0 in four bytes");
  EXPECT_TRUE(fails_with(four, EK::bad_remaining_length, 1, v5));
  EXPECT_TRUE(decode(four, v4).ok());

  DecodeContext lenient = v5;
  lenient.lenient_vbi = true;
  EXPECT_TRUE(decode(ping, lenient).ok());
  EXPECT_TRUE(decode(four, lenient).ok());
}

// Variable byte integers inside a v5 packet follow the same rules.
TEST(MalformedFixedHeader, NonMinimalVariableIntInsidePacket) {
  auto sub_id =
      hex("30 09          # PUBLISH qos 0\n"
          "00 03 'a/b'    # topic name\n"
          "03             # property length 3\n"
          "0B 81 00       # subscription identifier 1, not minimally encoded\n");
  EXPECT_TRUE(fails_with(sub_id, EK::bad_variable_int, 9, v5));
  DecodeContext lenient = v5;
  lenient.lenient_vbi = true;
  auto p = must_decode<Publish>(sub_id, lenient);
  EXPECT_EQ(p.properties.find(PropertyId::subscription_identifier)->number, 1u);

  auto prop_len = hex("40 05  00 01  00  80 00   # PUBACK, property length 0 in two bytes");
  EXPECT_TRUE(fails_with(prop_len, EK::bad_variable_int, 5, v5));

  auto five =
      hex("30 0C          # PUBLISH qos 0\n"
          "00 03 'a/b'    # topic name\n"
          "06             # property length 6\n"
          "0B FF FF FF FF 01 # subscription identifier in five bytes\n");
  EXPECT_TRUE(fails_with(five, EK::bad_variable_int, 9, v5));
}

// ---- UTF-8 ------------------------------------------------------------------------------------------------

// [MQTT-1.5.3-1]: ill-formed UTF-8 (RFC 3629), including surrogates, is malformed; [MQTT-1.5.3-2]: so is
// U+0000. The offset is that of the string's two-byte length prefix.
TEST(MalformedUtf8, TopicName) {
  const char* cases[] = {
      "30 04  00 02 C0 AF         # overlong 2-byte form of '/'",
      "30 05  00 03 E0 80 AF      # overlong 3-byte form of '/'",
      "30 06  00 04 F0 80 80 AF   # overlong 4-byte form of '/'",
      "30 05  00 03 ED A0 80      # U+D800, a surrogate",
      "30 05  00 03 ED BF BF      # U+DFFF, a surrogate",
      "30 03  00 01 00            # U+0000",
      "30 05  00 03 'a' 00 'b'    # U+0000 inside",
      "30 03  00 01 80            # lone continuation byte",
      "30 03  00 01 C3            # truncated 2-byte sequence",
      "30 04  00 02 E2 82         # truncated 3-byte sequence",
      "30 04  00 02 C3 'a'        # lead byte followed by ASCII",
      "30 06  00 04 F4 90 80 80   # U+110000, above the Unicode range",
      "30 03  00 01 F5            # F5 never appears in UTF-8",
      "30 03  00 01 FF            # FF never appears in UTF-8",
  };
  for (const char* c : cases) {
    EXPECT_TRUE(fails_with(hex(c), EK::invalid_utf8, 2, v4)) << c;
    // The same topic is invalid at level 5 (the property length after it is never reached).
    auto b = hex(c);
    b.push_back(0x00);
    b[1] = static_cast<std::uint8_t>(b[1] + 1);
    EXPECT_TRUE(fails_with(b, EK::invalid_utf8, 2, v5)) << c;
  }
}

// The PUBLISH decoder checks a topic's UTF-8 and wildcards in one pass (check_topic_name): the same verdicts as
// the two checks apart, on strings of the bytes that matter (ASCII, NUL, '+', '#', '/', lead and continuation
// bytes, bytes never in UTF-8) at every length around the 8-byte steps.
TEST(MalformedUtf8, TopicNameCheckInOnePassAgreesWithTheTwoChecks) {
  const std::uint8_t alphabet[] = {'a',  'Z',  '/',  '$',  '+',  '#',  0x00, 0x7F, 0x80, 0xBF, 0xC2, 0xC3,
                                   0xA9, 0xE2, 0x82, 0xAC, 0xED, 0xA0, 0xF0, 0x9F, 0xF4, 0x90, 0xF5, 0xFF};
  std::uint32_t lcg = 99;
  auto next = [&] { return (lcg = lcg * 1664525u + 1013904223u) >> 8; };
  int non_ascii = 0, wild = 0, bad = 0;
  for (int k = 0; k < 200000; ++k) {
    const std::size_t n = next() % 70;  // (0-7 bytes one by one, 8-15 by words, 16 and more by vectors)
    std::string s(n, 'x');
    // Mostly plain topics with one or two odd bytes, so that each odd byte is met at every position.
    const int odd = static_cast<int>(next() % 4);
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + next() % 26);
    for (int j = 0; j < odd && n > 0; ++j) s[next() % n] = static_cast<char>(alphabet[next() % sizeof alphabet]);
    const auto* b = reinterpret_cast<const std::uint8_t*>(s.data());
    const TopicNameCheck c = check_topic_name(b, n);
    const bool utf8 = valid_mqtt_utf8(b, n), no_wild = n == 0 || valid_topic_name(s);
    ASSERT_EQ(c.utf8, utf8) << testing::PrintToString(s);
    ASSERT_EQ(c.no_wildcard, no_wild) << testing::PrintToString(s);
    non_ascii += std::any_of(s.begin(), s.end(), [](char ch) { return (ch & 0x80) != 0; });
    wild += !no_wild;
    bad += !utf8;
  }
  EXPECT_GT(non_ascii, 10000);
  EXPECT_GT(wild, 10000);
  EXPECT_GT(bad, 10000);
  // A tolerant decode lists both violations of a topic that breaks both rules, UTF-8 first.
  const auto bytes = hex("30 05  00 03 'a+' C3");  // (the packet's views point into it)
  auto d = decode(bytes, v4);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->violations.size(), 2u);
  EXPECT_EQ(d->violations[0].kind, EK::invalid_utf8);
  EXPECT_EQ(d->violations[1].kind, EK::bad_topic_name);
  EXPECT_EQ(std::get<Publish>(d->packet).topic, std::string_view("a+\xC3", 3));
}

TEST(MalformedUtf8, ClientIdentifier) {
  auto surrogate =
      hex("10 0F          # CONNECT, remaining length 15\n"
          "00 04 'MQTT' 04 02 00 00 # name, level, flags, keep alive\n"
          "00 03 ED A0 80 # client identifier: U+D800 (surrogate)\n");
  EXPECT_TRUE(fails_with(surrogate, EK::invalid_utf8, 12, v4));
  // A NUL among the first eight bytes (the ASCII fast path of the validator).
  auto nul =
      hex("10 18          # CONNECT, remaining length 24\n"
          "00 04 'MQTT' 04 02 00 00 # name, level, flags, keep alive\n"
          "00 0C 'abc' 00 'efghijkl' # client identifier with U+0000\n");
  EXPECT_TRUE(fails_with(nul, EK::invalid_utf8, 12, v4));
  // ... and after them.
  auto nul2 = hex("10 18  00 04 'MQTT' 04 02 00 00  00 0C 'abcdefghijk' 00");
  EXPECT_TRUE(fails_with(nul2, EK::invalid_utf8, 12, v4));
}

TEST(MalformedUtf8, OtherStrings) {
  // Protocol name: ill-formed when strict; tolerant, it is simply not MQTT (nothing else can be read).
  auto name = hex("10 0C  00 04 'MQT' FF  04 02 00 3C  00 00");
  DecodeContext strict = v4;
  strict.strict = true;
  EXPECT_EQ(decode(name, strict).error().kind, EK::invalid_utf8);
  EXPECT_TRUE(structural_error(name, EK::bad_protocol_name, 2, v4) || !decode(name, v4).ok());
  EXPECT_EQ(decode(name, v4).error().kind, EK::bad_protocol_name);
  // User name (client id "" at 12, user name at 14).
  EXPECT_TRUE(fails_with(hex("10 0F  00 04 'MQTT' 04 82 00 00  00 00  00 01 C0"), EK::invalid_utf8, 14, v4));
  // Will topic (client id at 12, will topic at 14).
  EXPECT_TRUE(fails_with(hex("10 11  00 04 'MQTT' 04 06 00 00  00 00  00 01 80  00 00"), EK::invalid_utf8, 14, v4));
  // Topic filter in SUBSCRIBE and UNSUBSCRIBE.
  EXPECT_TRUE(fails_with(hex("82 07  00 01  00 02 C0 80  00"), EK::invalid_utf8, 4, v4));
  EXPECT_TRUE(fails_with(hex("A2 06  00 01  00 02 ED A0"), EK::invalid_utf8, 4, v4));
}

TEST(MalformedUtf8, UserPropertyNameAndValue) {
  auto value =
      hex("30 0D          # PUBLISH qos 0, remaining length 13\n"
          "00 03 'a/b'    # topic name\n"
          "07             # property length 7\n"
          "26             # user property, at offset 8\n"
          "00 01 'k'      # name, at 9\n"
          "00 01 00       # value U+0000, at 12\n");
  EXPECT_TRUE(fails_with(value, EK::invalid_utf8, 12, v5));
  auto name =
      hex("30 0E          # PUBLISH qos 0\n"
          "00 03 'a/b'    # topic name\n"
          "08             # property length 8\n"
          "26             # user property\n"
          "00 02 ED A0    # name: a truncated surrogate, at 9\n"
          "00 01 'v'      # value\n");
  EXPECT_TRUE(fails_with(name, EK::invalid_utf8, 9, v5));
  // Other UTF-8 properties: reason string in PUBACK (property block at 6).
  EXPECT_TRUE(fails_with(hex("40 09  00 01 80  05  1F 00 02 C0 80"), EK::invalid_utf8, 7, v5));
}

// Well-formed code points that MQTT only discourages (control characters, non-characters, a BOM) are not
// malformed [MQTT-1.5.3-3] and section 1.5.4.
TEST(MalformedUtf8, DiscouragedButWellFormedIsAccepted) {
  auto b = hex("30 0D  00 0B 01 EF BB BF EF BF BF F4 8F BF BF   # U+0001 U+FEFF U+FFFF U+10FFFF");
  auto p = must_decode<Publish>(b, v4);
  EXPECT_EQ(p.topic, "\x01\xEF\xBB\xBF\xEF\xBF\xBF\xF4\x8F\xBF\xBF");
}

// ---- Lengths and trailing bytes ---------------------------------------------------------------------------

TEST(MalformedLength, TrailingBytes) {
  // CONNECT: the last field (client identifier) ends at 14.
  EXPECT_TRUE(fails_with(hex("10 0D  00 04 'MQTT' 04 02 00 3C  00 00  FF"), EK::trailing_bytes, 14, v4));
  EXPECT_TRUE(fails_with(hex("10 0E  00 04 'MQTT' 05 02 00 00  00  00 00  FF"), EK::trailing_bytes, 15, v5));
  // CONNACK: 3.1.1 section 3.2: remaining length 2.
  EXPECT_TRUE(fails_with(hex("20 03  00 00  00"), EK::trailing_bytes, 4, v4));
  EXPECT_TRUE(fails_with(hex("20 04  00 00 00  FF"), EK::trailing_bytes, 5, v5));
  // PUBACK / PUBREL / UNSUBACK: remaining length 2 in 3.1.1.
  EXPECT_TRUE(fails_with(hex("40 03  00 01  00"), EK::trailing_bytes, 4, v4));
  EXPECT_TRUE(fails_with(hex("62 04  00 01  00 00"), EK::trailing_bytes, 4, v4));
  EXPECT_TRUE(fails_with(hex("B0 03  00 01  00"), EK::trailing_bytes, 4, v4));
  // DISCONNECT: remaining length 0 in 3.1.1.
  EXPECT_TRUE(fails_with(hex("E0 01  00"), EK::trailing_bytes, 2, v4));
  // v5 PUBACK / DISCONNECT / AUTH after their property blocks.
  EXPECT_TRUE(fails_with(hex("40 05  00 01 00 00  FF"), EK::trailing_bytes, 6, v5));
  EXPECT_TRUE(fails_with(hex("E0 03  00 00  FF"), EK::trailing_bytes, 4, v5));
  EXPECT_TRUE(fails_with(hex("F0 0B  18 08 15 00 05 'SCRAM'  FF"), EK::trailing_bytes, 12, v5));
}

// PINGREQ / PINGRESP have no variable header and no payload (3.1.1 sections 3.12, 3.13). The decoder names
// this a bad remaining length at the length byte.
TEST(MalformedLength, PingWithBody) {
  EXPECT_TRUE(fails_with(hex("C0 01  00"), EK::bad_length, 1, v4));
  EXPECT_TRUE(fails_with(hex("D0 02  00 00"), EK::bad_length, 1, v5));
}

TEST(MalformedLength, FieldOverrunsThePacket) {
  // Topic length 5 with 2 bytes left: the error is at the string's data.
  EXPECT_TRUE(fails_with(hex("30 04  00 05 'ab'"), EK::field_overrun, 4, v4));
  // Remaining length 1 cannot hold a packet identifier.
  EXPECT_TRUE(fails_with(hex("40 01  00"), EK::field_overrun, 2, v4));
  // A CONNECT whose remaining length ends inside the client identifier length.
  EXPECT_TRUE(fails_with(hex("10 0B  00 04 'MQTT' 04 02 00 3C  00"), EK::field_overrun, 12, v4));
  // Will flag set but no will topic.
  EXPECT_TRUE(fails_with(hex("10 0C  00 04 'MQTT' 04 06 00 3C  00 00"), EK::field_overrun, 14, v4));
  // Username flag set but no username.
  EXPECT_TRUE(fails_with(hex("10 0C  00 04 'MQTT' 04 82 00 3C  00 00"), EK::field_overrun, 14, v4));
  // PUBLISH qos 1 without room for the packet identifier.
  EXPECT_TRUE(fails_with(hex("32 06  00 03 'a/b'  00"), EK::field_overrun, 7, v4));
  // v5 CONNACK without a property length: real stacks send and accept it; read as no properties.
  EXPECT_TRUE(fails_with(hex("20 02  00 00"), EK::missing_field, 4, v5));
  // v5 SUBSCRIBE: a filter without its options byte.
  EXPECT_TRUE(fails_with(hex("82 08  00 01 00  00 03 'a/b'"), EK::field_overrun, 10, v5));
}

// ---- CONNECT ----------------------------------------------------------------------------------------------

// [MQTT-3.1.2-1]: protocol name "MQTT" (and "MQIsdp" for 3.1).
TEST(MalformedConnect, BadProtocolName) {
  EXPECT_TRUE(fails_with(hex("10 0C  00 04 'MQTX' 04 02 00 3C  00 00"), EK::bad_protocol_name, 2, v4));
  EXPECT_TRUE(fails_with(hex("10 0C  00 04 'mqtt' 04 02 00 3C  00 00"), EK::bad_protocol_name, 2, v4));
  EXPECT_TRUE(fails_with(hex("10 08  00 00 04 02 00 3C  00 00"), EK::bad_protocol_name, 2, v4));
  EXPECT_TRUE(fails_with(hex("10 12  00 06 'MQIsdP' 03 02 00 3C  00 04 'cl31'"), EK::bad_protocol_name, 2, v4));
}

// [MQTT-3.1.2-2]: unsupported protocol level (the decoder knows 3, 4 and 5).
TEST(MalformedConnect, BadProtocolLevel) {
  EXPECT_TRUE(fails_with(hex("10 0C  00 04 'MQTT' 06 02 00 3C  00 00"), EK::bad_protocol_level, 8, v4));
  EXPECT_TRUE(fails_with(hex("10 0C  00 04 'MQTT' 86 02 00 3C  00 00"), EK::bad_protocol_level, 8, v4));
  EXPECT_TRUE(fails_with(hex("10 0C  00 04 'MQTT' 02 02 00 3C  00 00"), EK::bad_protocol_level, 8, v4));
  EXPECT_TRUE(fails_with(hex("10 0C  00 04 'MQTT' 00 02 00 3C  00 00"), EK::bad_protocol_level, 8, at_level(0)));
}

// "MQIsdp" goes with level 3 only, "MQTT" with 4 and 5.
TEST(MalformedConnect, NameLevelMismatch) {
  EXPECT_TRUE(fails_with(hex("10 12  00 06 'MQIsdp' 04 02 00 3C  00 04 'cl31'"), EK::bad_protocol_name, 2, v4));
  EXPECT_TRUE(fails_with(hex("10 13  00 06 'MQIsdp' 05 02 00 3C  00 00 04 'cl31'"), EK::bad_protocol_name, 2, v5));
  EXPECT_TRUE(fails_with(hex("10 0C  00 04 'MQTT' 03 02 00 3C  00 00"), EK::bad_protocol_name, 2, v4));
}

// [MQTT-3.1.2-3]: the reserved flag (bit 0) is 0. The flags byte is at offset 9.
TEST(MalformedConnect, ReservedFlagBit) {
  EXPECT_TRUE(fails_with(hex("10 0C  00 04 'MQTT' 04 03 00 3C  00 00"), EK::bad_connect_flags, 9, v4));
  EXPECT_TRUE(fails_with(hex("10 0D  00 04 'MQTT' 05 01 00 3C  00 00 00"), EK::bad_connect_flags, 9, v5));
  EXPECT_TRUE(
      fails_with(hex("10 12  00 06 'MQIsdp' 03 03 00 3C  00 04 'cl31'"), EK::bad_connect_flags, 11, at_level(3)));
}

// [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]: will QoS and will retain are 0 without the will flag;
// [MQTT-3.1.2-14]: will QoS is not 3.
TEST(MalformedConnect, WillFlagsWithoutWill) {
  EXPECT_TRUE(
      fails_with(hex("10 0C  00 04 'MQTT' 04 0A 00 3C  00 00   # will qos 1, no will"), EK::bad_connect_flags, 9, v4));
  EXPECT_TRUE(
      fails_with(hex("10 0C  00 04 'MQTT' 04 12 00 3C  00 00   # will qos 2, no will"), EK::bad_connect_flags, 9, v4));
  EXPECT_TRUE(
      fails_with(hex("10 0C  00 04 'MQTT' 04 22 00 3C  00 00   # will retain, no will"), EK::bad_connect_flags, 9, v4));
  EXPECT_TRUE(fails_with(hex("10 0D  00 04 'MQTT' 05 0A 00 3C  00 00 00   # level 5: will qos 1, no will"),
                         EK::bad_connect_flags, 9, v5));
  EXPECT_TRUE(fails_with(hex("10 11  00 04 'MQTT' 04 1E 00 3C  00 00  00 01 'w' 00 00   # will qos 3"),
                         EK::bad_connect_flags, 9, v4));
}

// [MQTT-3.1.2-22] (3.1.1): if the user name flag is 0, the password flag is 0. MQTT 5.0 section 3.1.2.9
// allows a password without a user name (vector v5/connect_password_only).
TEST(MalformedConnect, PasswordWithoutUsernameAtLevel4) {
  auto b =
      hex("10 10          # CONNECT\n"
          "00 04 'MQTT' 04 # name, level 4\n"
          "42             # flags: password, clean session (no user name)\n"
          "00 00          # keep alive\n"
          "00 00          # client identifier\n"
          "00 02 'pw'     # password\n");
  EXPECT_TRUE(fails_with(b, EK::bad_connect_flags, 9, v4));
  EXPECT_TRUE(decode(vec("v5/connect_password_only").bytes, v5).ok());
}

// 3.1.1 [MQTT-3.1.3-7]: a zero-byte client id needs clean session; MQTT 3.1 requires 1 to 23 characters.
TEST(MalformedConnect, EmptyClientIdentifier) {
  EXPECT_TRUE(fails_with(hex("10 0C  00 04 'MQTT' 04 00 00 3C  00 00"), EK::bad_connect_flags, 12, v4));
  EXPECT_TRUE(decode(hex("10 0C  00 04 'MQTT' 04 02 00 3C  00 00"), v4)->violations.empty());  // clean session
  EXPECT_TRUE(fails_with(hex("10 0E  00 06 'MQIsdp' 03 02 00 3C  00 00"), EK::bad_connect_flags, 14, v4));
  EXPECT_TRUE(decode(hex("10 0D  00 04 'MQTT' 05 00 00 3C 00  00 00"), v5)->violations.empty());  // MQTT 5: allowed
}

TEST(MalformedConnect, WillTopicWithWildcard) {
  auto b =
      hex("10 13          # CONNECT, remaining length 19\n"
          "00 04 'MQTT' 04 06 00 00 # name, level, flags (will, clean), keep alive\n"
          "00 00          # client identifier\n"
          "00 03 'a/#'    # will topic, at 14\n"
          "00 00          # will message\n");
  EXPECT_TRUE(fails_with(b, EK::bad_topic_name, 14, v4));
}

// ---- Packet identifiers -----------------------------------------------------------------------------------

// [MQTT-2.3.1-1]: SUBSCRIBE, UNSUBSCRIBE and PUBLISH with QoS > 0 carry a non-zero packet identifier; the
// acknowledgements echo one, so 0 is invalid there too.
TEST(MalformedPacketId, Zero) {
  EXPECT_TRUE(fails_with(hex("32 07  00 03 'a/b'  00 00   # PUBLISH qos 1"), EK::zero_packet_id, 7, v4));
  EXPECT_TRUE(fails_with(hex("34 08  00 03 'a/b'  00 00  00   # PUBLISH qos 2"), EK::zero_packet_id, 7, v5));
  EXPECT_TRUE(fails_with(hex("82 08  00 00  00 03 'a/b' 00   # SUBSCRIBE"), EK::zero_packet_id, 2, v4));
  EXPECT_TRUE(fails_with(hex("A2 07  00 00  00 03 'a/b'   # UNSUBSCRIBE"), EK::zero_packet_id, 2, v4));
  EXPECT_TRUE(fails_with(hex("40 02  00 00   # PUBACK"), EK::zero_packet_id, 2, v4));
  EXPECT_TRUE(fails_with(hex("50 02  00 00   # PUBREC"), EK::zero_packet_id, 2, v4));
  EXPECT_TRUE(fails_with(hex("62 02  00 00   # PUBREL"), EK::zero_packet_id, 2, v4));
  EXPECT_TRUE(fails_with(hex("70 03  00 00 92   # PUBCOMP"), EK::zero_packet_id, 2, v5));
  EXPECT_TRUE(fails_with(hex("90 03  00 00  00   # SUBACK"), EK::zero_packet_id, 2, v4));
  EXPECT_TRUE(fails_with(hex("B0 02  00 00   # UNSUBACK"), EK::zero_packet_id, 2, v4));
}

// ---- SUBSCRIBE / UNSUBSCRIBE / acks: payload ---------------------------------------------------------------

// [MQTT-3.8.3-3], [MQTT-3.10.3-2]: at least one topic filter; SUBACK / UNSUBACK (5.0) one code per filter.
TEST(MalformedPayload, Empty) {
  EXPECT_TRUE(fails_with(hex("82 02  00 01"), EK::empty_payload, 4, v4));
  EXPECT_TRUE(fails_with(hex("82 03  00 01  00"), EK::empty_payload, 5, v5));
  EXPECT_TRUE(fails_with(hex("A2 02  00 01"), EK::empty_payload, 4, v4));
  EXPECT_TRUE(fails_with(hex("A2 03  00 01  00"), EK::empty_payload, 5, v5));
  EXPECT_TRUE(fails_with(hex("90 02  00 01"), EK::empty_payload, 4, v4));
  EXPECT_TRUE(fails_with(hex("90 03  00 01  00"), EK::empty_payload, 5, v5));
  EXPECT_TRUE(fails_with(hex("B0 03  00 01  00"), EK::empty_payload, 5, v5));
}

// ---- Topic names ------------------------------------------------------------------------------------------

// [MQTT-3.3.2-2]: the topic name in PUBLISH MUST NOT contain wildcard characters.
TEST(MalformedTopic, WildcardInTopicName) {
  EXPECT_TRUE(fails_with(hex("30 05  00 03 'a/+'"), EK::bad_topic_name, 2, v4));
  EXPECT_TRUE(fails_with(hex("30 05  00 03 'a/#'"), EK::bad_topic_name, 2, v4));
  EXPECT_TRUE(fails_with(hex("30 03  00 01 '#'"), EK::bad_topic_name, 2, v4));
  EXPECT_TRUE(fails_with(hex("30 04  00 01 '+'  00"), EK::bad_topic_name, 2, v5));
  EXPECT_TRUE(fails_with(hex("32 08  00 03 'a+b'  00 01  00"), EK::bad_topic_name, 2, v5));
}

// 3.1.1 section 4.7.3: topic names are at least one character long.
TEST(MalformedTopic, EmptyTopicAtLevel4) {
  EXPECT_TRUE(fails_with(hex("30 02  00 00"), EK::bad_topic_name, 2, v4));
  EXPECT_TRUE(fails_with(hex("32 04  00 00  00 01"), EK::bad_topic_name, 2, v4));
  EXPECT_TRUE(fails_with(hex("30 03  00 00  'x'"), EK::bad_topic_name, 2, v4));
}

// 5.0 section 3.3.2.1: a zero-length topic name is allowed only with a Topic Alias [MQTT-3.3.2-1].
TEST(MalformedTopic, EmptyTopicWithoutAliasAtLevel5) {
  EXPECT_TRUE(fails_with(hex("30 03  00 00  00"), EK::bad_topic_name, 2, v5));
  EXPECT_TRUE(fails_with(hex("30 05  00 00  02 01 01   # payload format indicator, no topic alias"), EK::bad_topic_name,
                         2, v5));
  // The topic-alias form is not valid at level 4: the 0x03 is read as payload and the topic is empty.
  EXPECT_TRUE(fails_with(vec("v5/publish_alias_empty_topic").bytes, EK::bad_topic_name, 2, v4));
}

// ---- Topic filters ----------------------------------------------------------------------------------------

// 3.1.1 / 5.0 section 4.7.1: '#' alone and last; '+' alone in its level; filters at least one character.
TEST(MalformedFilter, Wildcards) {
  for (std::string_view f : {"a/#/b", "a+", "#/a", "+a", "a/b#", "a/+b/c", "##", "a/#/", ""}) {
    EXPECT_TRUE(fails_with(subscribe_with(f, 0, false), EK::bad_topic_filter, 4, v4)) << f;
    EXPECT_TRUE(fails_with(subscribe_with(f, 0, true), EK::bad_topic_filter, 5, v5)) << f;
    EXPECT_TRUE(fails_with(unsubscribe_with(f, false), EK::bad_topic_filter, 4, v4)) << f;
    EXPECT_TRUE(fails_with(unsubscribe_with(f, true), EK::bad_topic_filter, 5, v5)) << f;
  }
  for (std::string_view f : {"#", "+", "a/#", "+/+", "a/+/b", "/", "//", "+/", "/#", "$SYS/#"}) {
    EXPECT_TRUE(decode(subscribe_with(f, 0, false), v4).ok()) << f;
    EXPECT_TRUE(decode(subscribe_with(f, 0, true), v5).ok()) << f;
  }
}

// 5.0 section 4.8.2: "$share/{ShareName}/{filter}" with a non-empty share name without '/', '+', '#'
// [MQTT-4.8.2-1], [MQTT-4.8.2-2].
TEST(MalformedFilter, SharedSubscriptionsAtLevel5) {
  for (std::string_view f : {"$share/g", "$share//a", "$share/g+/a", "$share/g#/a", "$share/+/a", "$share/g/",
                             "$share/", "$share/g/a/#/b"}) {
    EXPECT_TRUE(fails_with(subscribe_with(f, 0, true), EK::bad_topic_filter, 5, v5)) << f;
    EXPECT_TRUE(fails_with(unsubscribe_with(f, true), EK::bad_topic_filter, 5, v5)) << f;
  }
  // At level 4 these are ordinary filters (the ones without misplaced wildcards are valid).
  EXPECT_TRUE(decode(subscribe_with("$share/g", 0, false), v4).ok());
  EXPECT_TRUE(decode(subscribe_with("$share//a", 0, false), v4).ok());
  EXPECT_TRUE(decode(subscribe_with("$share/g/+", 1, true), v5).ok());
  EXPECT_TRUE(decode(subscribe_with("$shared/g", 1, true), v5).ok());
}

// ---- Subscription options ---------------------------------------------------------------------------------

// 3.1.1 [MQTT-3.8.3-4]: the upper six bits of the requested QoS byte are 0, QoS is not 3.
TEST(MalformedOptions, Level4) {
  // Filter "a/b" at 4..8, options at 9.
  for (std::uint8_t o : std::initializer_list<std::uint8_t>{0x03, 0x04, 0x08, 0x10, 0x40, 0x80, 0xFF})
    EXPECT_TRUE(fails_with(subscribe_with("a/b", o, false), EK::bad_subscription_options, 9, v4)) << int{o};
}

// 5.0 section 3.8.3.1: bits 6 and 7 reserved [MQTT-3.8.3-5], QoS 3 and retain handling 3 are malformed.
TEST(MalformedOptions, Level5) {
  // Filter "a/b" at 5..9, options at 10.
  for (std::uint8_t o : std::initializer_list<std::uint8_t>{0x03, 0x40, 0x80, 0xC0, 0x30, 0x31})
    EXPECT_TRUE(fails_with(subscribe_with("a/b", o, true), EK::bad_subscription_options, 10, v5)) << int{o};
  // The second subscription's options.
  auto two = hex("82 0F  00 01  00  00 03 'a/b' 00  00 03 'c/d' 30   # retain handling 3 in the second");
  EXPECT_TRUE(fails_with(two, EK::bad_subscription_options, 16, v5));
}

// 5.0 [MQTT-3.8.3-4]: No Local set on a shared subscription is a protocol error.
TEST(MalformedOptions, NoLocalOnSharedSubscription) {
  // "$share/g/a" is 10 bytes: filter at 5..16, options at 17.
  EXPECT_TRUE(fails_with(subscribe_with("$share/g/a", 0x04, true), EK::bad_subscription_options, 17, v5));
  EXPECT_TRUE(decode(subscribe_with("$share/g/a", 0x08, true), v5).ok());
  EXPECT_TRUE(decode(subscribe_with("g/a", 0x04, true), v5).ok());
}

// ---- CONNACK ----------------------------------------------------------------------------------------------

// 3.1.1 section 3.2.2.3: return codes 0..5.
TEST(MalformedConnack, ReturnCodeAbove5) {
  EXPECT_TRUE(fails_with(hex("20 02  00 06"), EK::bad_reason_code, 3, v4));
  EXPECT_TRUE(fails_with(hex("20 02  00 80"), EK::bad_reason_code, 3, v4));
  EXPECT_TRUE(fails_with(hex("20 02  00 FF"), EK::bad_reason_code, 3, at_level(3)));
}

// [MQTT-3.2.2-4] (3.1.1), [MQTT-3.2.2-6] (5.0): session present is 0 with a non-zero code.
TEST(MalformedConnack, SessionPresentWithNonZeroCode) {
  EXPECT_TRUE(fails_with(hex("20 02  01 05"), EK::reserved_flags, 2, v4));
  EXPECT_TRUE(fails_with(hex("20 03  01 87 00"), EK::reserved_flags, 2, v5));
}

// 3.1.1 section 3.2.2.1 / 5.0 section 3.2.2.1: bits 7-1 of the acknowledge flags are reserved (0).
TEST(MalformedConnack, ReservedAcknowledgeFlags) {
  EXPECT_TRUE(fails_with(hex("20 02  02 00"), EK::reserved_flags, 2, v4));
  EXPECT_TRUE(fails_with(hex("20 03  80 00 00"), EK::reserved_flags, 2, v5));
}

// ---- v5 reason codes --------------------------------------------------------------------------------------

// Each v5 packet allows only the reason codes of its table (5.0 sections 3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1,
// 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1, 3.15.2.1).
TEST(MalformedReasonCode, NotAllowedForThePacket) {
  EXPECT_TRUE(fails_with(hex("20 03  00 01 00   # CONNACK 0x01 (a SUBACK code)"), EK::bad_reason_code, 3, v5));
  EXPECT_TRUE(fails_with(hex("20 03  00 8B 00   # CONNACK 0x8B (DISCONNECT only)"), EK::bad_reason_code, 3, v5));
  EXPECT_TRUE(fails_with(hex("40 03  00 01 92   # PUBACK 0x92 (PUBREL/PUBCOMP)"), EK::bad_reason_code, 4, v5));
  EXPECT_TRUE(fails_with(hex("40 03  00 01 11   # PUBACK 0x11 (UNSUBACK)"), EK::bad_reason_code, 4, v5));
  EXPECT_TRUE(fails_with(hex("50 03  00 01 04   # PUBREC 0x04"), EK::bad_reason_code, 4, v5));
  EXPECT_TRUE(fails_with(hex("62 03  00 01 10   # PUBREL 0x10 (PUBACK/PUBREC)"), EK::bad_reason_code, 4, v5));
  EXPECT_TRUE(fails_with(hex("70 03  00 01 80   # PUBCOMP 0x80"), EK::bad_reason_code, 4, v5));
  EXPECT_TRUE(fails_with(hex("90 04  00 01 00  04   # SUBACK 0x04"), EK::bad_reason_code, 5, v5));
  EXPECT_TRUE(fails_with(hex("90 05  00 01 00  00 11   # SUBACK, second code 0x11"), EK::bad_reason_code, 6, v5));
  EXPECT_TRUE(fails_with(hex("B0 04  00 01 00  01   # UNSUBACK 0x01"), EK::bad_reason_code, 5, v5));
  EXPECT_TRUE(fails_with(hex("B0 05  00 01 00  00 9E   # UNSUBACK, second code 0x9E"), EK::bad_reason_code, 6, v5));
  EXPECT_TRUE(fails_with(hex("E0 01  01   # DISCONNECT 0x01"), EK::bad_reason_code, 2, v5));
  EXPECT_TRUE(fails_with(hex("E0 01  84   # DISCONNECT 0x84 (CONNACK only)"), EK::bad_reason_code, 2, v5));
  EXPECT_TRUE(fails_with(hex("F0 02  01 00   # AUTH 0x01"), EK::bad_reason_code, 2, v5));
  EXPECT_TRUE(fails_with(hex("F0 02  87 00   # AUTH 0x87"), EK::bad_reason_code, 2, v5));
}

// 3.1.1 section 3.9.3: SUBACK return codes 0x00, 0x01, 0x02, 0x80.
TEST(MalformedReasonCode, SubackAtLevel4) {
  EXPECT_TRUE(fails_with(hex("90 03  00 01  03"), EK::bad_reason_code, 4, v4));
  EXPECT_TRUE(fails_with(hex("90 04  00 01  00 81"), EK::bad_reason_code, 5, v4));
}

// ---- v5 properties ----------------------------------------------------------------------------------------

// 5.0 section 2.2.2.2: an unknown identifier is malformed.
TEST(MalformedProperty, UnknownIdentifier) {
  // PUBACK: packet id 2..3, reason 4, property length 5, block from 6.
  EXPECT_TRUE(fails_with(hex("40 05  00 01 00  01  00"), EK::bad_property_id, 6, v5));
  EXPECT_TRUE(fails_with(hex("40 05  00 01 00  01  7F"), EK::bad_property_id, 6, v5));
  EXPECT_TRUE(fails_with(hex("40 05  00 01 00  01  04"), EK::bad_property_id, 6, v5));
  EXPECT_TRUE(fails_with(hex("40 06  00 01 00  02  80 01   # identifier 128 as a variable integer"),
                         EK::bad_property_id, 6, v5));
  // After a valid property: the second identifier is at 11.
  EXPECT_TRUE(fails_with(hex("40 0A  00 01 00  06  1F 00 02 'ok'  2B"), EK::bad_property_id, 11, v5));
}

// 5.0 section 2.2.2.2: a property in a packet it is not defined for.
TEST(MalformedProperty, NotAllowedInThePacket) {
  // Topic Alias in CONNECT: properties from 13.
  EXPECT_TRUE(
      fails_with(hex("10 10  00 04 'MQTT' 05 02 00 00  03  23 00 01  00 00"), EK::property_not_allowed, 13, v5));
  // Will Delay Interval in CONNECT properties (it belongs to the will properties).
  EXPECT_TRUE(
      fails_with(hex("10 12  00 04 'MQTT' 05 02 00 00  05  18 00 00 00 01  00 00"), EK::property_not_allowed, 13, v5));
  // Session Expiry Interval in the will properties: client id 13..14, will property length 15, block 16.
  EXPECT_TRUE(fails_with(hex("10 18  00 04 'MQTT' 05 06 00 00  00  00 00  05  11 00 00 00 01  00 01 'w'  00 00"),
                         EK::property_not_allowed, 16, v5));
  // Session Expiry Interval in PUBLISH: block at 8.
  EXPECT_TRUE(fails_with(hex("30 0B  00 03 'a/b'  05  11 00 00 00 01"), EK::property_not_allowed, 8, v5));
  // Reason String in PUBLISH.
  EXPECT_TRUE(fails_with(hex("30 0A  00 03 'a/b'  04  1F 00 01 'x'"), EK::property_not_allowed, 8, v5));
  // Subscription Identifier in SUBACK: block at 5.
  EXPECT_TRUE(fails_with(hex("90 06  00 01  02  0B 01  00"), EK::property_not_allowed, 5, v5));
  // Reason String in UNSUBSCRIBE (only User Property is allowed).
  EXPECT_TRUE(fails_with(hex("A2 0D  00 01  05  1F 00 02 'no'  00 03 'a/b'"), EK::property_not_allowed, 5, v5));
  // Server Keep Alive in DISCONNECT: block at 4.
  EXPECT_TRUE(fails_with(hex("E0 05  00  03  13 00 0A"), EK::property_not_allowed, 4, v5));
  // Maximum QoS in CONNECT.
  EXPECT_TRUE(fails_with(hex("10 0F  00 04 'MQTT' 05 02 00 00  02  24 01  00 00"), EK::property_not_allowed, 13, v5));
  // Topic Alias in PUBACK.
  EXPECT_TRUE(fails_with(hex("40 07  00 01 00  03  23 00 01"), EK::property_not_allowed, 6, v5));
}

// 5.0 section 2.2.2.2 and each property's "It is a Protocol Error to include ... more than once".
TEST(MalformedProperty, Duplicate) {
  // Two Session Expiry Intervals in CONNECT: block 13, second property at 18.
  EXPECT_TRUE(fails_with(hex("10 17  00 04 'MQTT' 05 02 00 00  0A  11 00 00 00 01  11 00 00 00 02  00 00"),
                         EK::duplicate_property, 18, v5));
  // Two Topic Aliases in PUBLISH: block 8, second at 11.
  EXPECT_TRUE(fails_with(hex("30 0C  00 03 'a/b'  06  23 00 01  23 00 02"), EK::duplicate_property, 11, v5));
  // Two Reason Strings in PUBACK: block 6, second at 11.
  EXPECT_TRUE(fails_with(hex("40 0E  00 01 80  0A  1F 00 02 'r1'  1F 00 02 'r2'"), EK::duplicate_property, 11, v5));
  // Two Subscription Identifiers in SUBSCRIBE (5.0 section 3.8.2.1.2): block 5, second at 7.
  EXPECT_TRUE(fails_with(hex("82 0D  00 01  04  0B 01  0B 02  00 03 'a/b' 00"), EK::duplicate_property, 7, v5));
  // Two Authentication Methods in AUTH: block 4, second at 9.
  EXPECT_TRUE(fails_with(hex("F0 0C  18  0A  15 00 02 'm1'  15 00 02 'm2'"), EK::duplicate_property, 9, v5));
}

// User Property may repeat (5.0 section 3.1.2.11.8 etc.), and so may Subscription Identifier in PUBLISH
// (5.0 section 3.3.2.3.8).
TEST(MalformedProperty, RepeatableProperties) {
  // (The decoded packets view their input: keep the bytes alive.)
  auto user_bytes = hex("40 12  00 01 00  0E  26 00 01 'a' 00 01 'b'  26 00 01 'a' 00 01 'b'");
  auto user = must_decode<Puback>(user_bytes, v5);
  EXPECT_EQ(user.properties.count(), 2u);
  auto ids_bytes = hex("30 0A  00 03 'a/b'  04  0B 01  0B 01");
  auto ids = must_decode<Publish>(ids_bytes, v5);
  EXPECT_EQ(ids.properties.count(), 2u);
}

// Values outside the ranges the spec gives.
TEST(MalformedProperty, ValueOutOfRange) {
  // Payload Format Indicator 2 (3.3.2.3.2: 0 or 1): identifier at 8, value at 9.
  EXPECT_TRUE(fails_with(hex("30 08  00 03 'a/b'  02  01 02"), EK::bad_property_value, 9, v5));
  // Receive Maximum 0 in CONNECT (3.1.2.11.3): identifier at 13, value at 14.
  EXPECT_TRUE(fails_with(hex("10 10  00 04 'MQTT' 05 02 00 00  03  21 00 00  00 00"), EK::bad_property_value, 14, v5));
  // Receive Maximum 0 in CONNACK (3.2.2.3.3).
  EXPECT_TRUE(fails_with(hex("20 06  00 00  03  21 00 00"), EK::bad_property_value, 6, v5));
  // Maximum Packet Size 0 in CONNECT (3.1.2.11.4) and CONNACK (3.2.2.3.6).
  EXPECT_TRUE(
      fails_with(hex("10 12  00 04 'MQTT' 05 02 00 00  05  27 00 00 00 00  00 00"), EK::bad_property_value, 14, v5));
  EXPECT_TRUE(fails_with(hex("20 08  00 00  05  27 00 00 00 00"), EK::bad_property_value, 6, v5));
  // Topic Alias 0 (3.3.2.3.4).
  EXPECT_TRUE(fails_with(hex("30 09  00 03 'a/b'  03  23 00 00"), EK::bad_property_value, 9, v5));
  // Maximum QoS 2 (3.2.2.3.4: 0 or 1).
  EXPECT_TRUE(fails_with(hex("20 05  00 00  02  24 02"), EK::bad_property_value, 6, v5));
  // Retain Available 2, Wildcard / Subscription Identifier / Shared Subscription Available 2.
  EXPECT_TRUE(fails_with(hex("20 05  00 00  02  25 02"), EK::bad_property_value, 6, v5));
  EXPECT_TRUE(fails_with(hex("20 05  00 00  02  28 02"), EK::bad_property_value, 6, v5));
  EXPECT_TRUE(fails_with(hex("20 05  00 00  02  29 FF"), EK::bad_property_value, 6, v5));
  EXPECT_TRUE(fails_with(hex("20 05  00 00  02  2A 02"), EK::bad_property_value, 6, v5));
  // Request Problem / Response Information 2 in CONNECT (3.1.2.11.7, 3.1.2.11.6).
  EXPECT_TRUE(fails_with(hex("10 0F  00 04 'MQTT' 05 02 00 00  02  17 02  00 00"), EK::bad_property_value, 14, v5));
  EXPECT_TRUE(fails_with(hex("10 0F  00 04 'MQTT' 05 02 00 00  02  19 02  00 00"), EK::bad_property_value, 14, v5));
  // Subscription Identifier 0 in SUBSCRIBE (3.8.2.1.2) and PUBLISH: block at 5 / 8, value at 6 / 9.
  EXPECT_TRUE(fails_with(hex("82 0B  00 01  02  0B 00  00 03 'a/b' 00"), EK::bad_property_value, 6, v5));
  EXPECT_TRUE(fails_with(hex("30 08  00 03 'a/b'  02  0B 00"), EK::bad_property_value, 9, v5));
  // Response Topic with a wildcard (3.3.2.3.5, [MQTT-3.3.2-14]).
  EXPECT_TRUE(fails_with(hex("30 0C  00 03 'a/b'  06  08 00 03 'r/#'"), EK::bad_property_value, 9, v5));
  // The boundaries are fine: 1 for Receive Maximum and Maximum Packet Size, 0 for Topic Alias Maximum.
  EXPECT_TRUE(decode(hex("20 0E  00 00  0B  21 00 01  27 00 00 00 01  22 00 00"), v5).ok());
}

// 5.0 section 2.2.2.1: the property length covers the block; a block or value running past its end is
// malformed.
TEST(MalformedProperty, LengthOverruns) {
  // Property length 5 with nothing after it: the block would start at 6.
  EXPECT_TRUE(fails_with(hex("40 04  00 01 00  05"), EK::field_overrun, 6, v5));
  EXPECT_TRUE(fails_with(hex("30 06  00 03 'a/b'  7F"), EK::field_overrun, 8, v5));
  // Message Expiry Interval needs four bytes but the block has one: the payload after it is not borrowed.
  EXPECT_TRUE(fails_with(hex("30 0A  00 03 'a/b'  02  02 00  'xy'"), EK::field_overrun, 9, v5));
  // A user property string running past the block.
  EXPECT_TRUE(fails_with(hex("40 0A  00 01 00  06  26 00 01 'k' 00 05"), EK::field_overrun, 12, v5));
  // Property length missing entirely (v5 SUBACK needs one).
  EXPECT_TRUE(fails_with(hex("90 02  00 01"), EK::field_overrun, 4, v5));
}

// 5.0 sections 3.1.2.11.10 / 3.15.2.2.3: Authentication Data without Authentication Method is a protocol
// error; the offset is that of the property block.
TEST(MalformedProperty, AuthenticationDataWithoutMethod) {
  EXPECT_TRUE(
      fails_with(hex("10 11  00 04 'MQTT' 05 02 00 00  04  16 00 01 AA  00 00"), EK::bad_property_value, 13, v5));
  EXPECT_TRUE(fails_with(hex("20 07  00 00  04  16 00 01 AA"), EK::bad_property_value, 5, v5));
}

// 5.0 section 3.15.2.2.2: AUTH without Authentication Method is a protocol error.
TEST(MalformedProperty, AuthWithoutMethod) {
  EXPECT_TRUE(fails_with(hex("F0 02  18 00"), EK::bad_property_value, 4, v5));
  EXPECT_TRUE(fails_with(hex("F0 02  00 00"), EK::bad_property_value, 4, v5));
  EXPECT_TRUE(fails_with(hex("F0 07  19  05  1F 00 02 'hi'"), EK::bad_property_value, 4, v5));
  EXPECT_TRUE(fails_with(hex("F0 09  18  07  16 00 04 01 02 03 04"), EK::bad_property_value, 4, v5));
  // Remaining length 1: the property length is missing (only the length-0 form may omit it).
  EXPECT_TRUE(fails_with(hex("F0 01  18"), EK::field_overrun, 3, v5));
}

// ---- Limits -----------------------------------------------------------------------------------------------

TEST(MalformedLimits, PacketTooLarge) {
  const auto& v = vec("v4/publish_qos1");  // 14 bytes
  DecodeContext ctx = v4;
  ctx.limits.max_packet_size = static_cast<std::uint32_t>(v.bytes.size() - 1);
  EXPECT_TRUE(fails_with(v.bytes, EK::packet_too_large, 1, ctx));
  ctx.limits.max_packet_size = static_cast<std::uint32_t>(v.bytes.size());
  EXPECT_TRUE(decode(v.bytes, ctx).ok());
  // Known as soon as the fixed header is complete, before the body has arrived.
  ctx.limits.max_packet_size = 1000;
  EXPECT_TRUE(fails_with(hex("30 FF 7F"), EK::packet_too_large, 1, ctx));
  EXPECT_TRUE(fails_with(hex("30 E7 07"), EK::packet_too_large, 1, ctx));  // 3 + 999 = 1002 bytes
  EXPECT_TRUE(fails_with(hex("30 E5 07"), EK::need_more, 1000, ctx));      // 3 + 997 = 1000 bytes
}

TEST(MalformedLimits, ErrorMessage) {
  DecodeContext strict = v4;
  strict.strict = true;
  auto r = decode(hex("36 07  00 03 'a/b'  00 01"), strict);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message().rfind("bad_qos at byte 0", 0), 0u) << r.error().message();
  auto t = decode(hex("36 07  00 03 'a/b'  00 01"), v4);
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->violations.size(), 1u);
  EXPECT_EQ(t->violations[0].message(), "bad_qos at byte 0 [MQTT-3.3.1-4]: PUBLISH with QoS 3");
  EXPECT_EQ(error_kind_name(EK::bad_subscription_options), "bad_subscription_options");
}

// ---- Level 0 (unknown level) ------------------------------------------------------------------------------

TEST(MalformedLevel0, ReportsThe311Error) {
  // Neither reading works: the 3.1.1 error (trailing byte) is the one reported.
  EXPECT_TRUE(fails_with(hex("40 03  00 01 92"), EK::trailing_bytes, 4, at_level(0)));
  // Bad for both: the zero packet identifier.
  EXPECT_TRUE(fails_with(hex("40 02  00 00"), EK::zero_packet_id, 2, at_level(0)));
}

}  // namespace
