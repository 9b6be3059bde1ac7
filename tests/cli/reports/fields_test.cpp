// The one walk over a packet's fields (reports/fields.hpp): which fields a packet has, and when.
#include <gtest/gtest.h>

#include "fields.hpp"

using namespace mqttauth;
using namespace mqttauth::cli;

namespace {

// Encodes `p` at `level` and decodes it back, so the fields come from real bytes.
Decoded round_trip(const Packet& p, std::uint8_t level, std::vector<std::uint8_t>& buf) {
  auto r = encode(p, level, buf);
  EXPECT_TRUE(r.ok());
  DecodeContext ctx;
  ctx.level = level;
  auto d = decode(buf, ctx);
  EXPECT_TRUE(d.ok());
  return std::move(*d);
}

}  // namespace

TEST(PacketFields, PacketIdOnlyWithQosAboveZero) {
  std::vector<std::uint8_t> b0, b1;
  Publish p;
  p.topic = "t";
  auto d0 = round_trip(p, kLevel311, b0);
  auto f0 = packet_fields(d0, Observation{});
  ASSERT_TRUE(f0.topic);
  EXPECT_FALSE(f0.packet_id);
  p.qos = 1;
  p.packet_id = 7;
  auto d1 = round_trip(p, kLevel311, b1);
  auto f1 = packet_fields(d1, Observation{});
  ASSERT_TRUE(f1.packet_id);
  EXPECT_EQ(*f1.packet_id, 7);
  EXPECT_TRUE(f1.properties);
  EXPECT_FALSE(f1.connect);
}

TEST(PacketFields, ReasonCodesAtLevelFiveOnlyButAuthAlways) {
  std::vector<std::uint8_t> b4, b5, ba, bc;
  Puback ack;
  ack.packet_id = 3;
  ack.reason_code = 0x10;
  auto f4 = packet_fields(round_trip(ack, kLevel311, b4), Observation{});
  EXPECT_FALSE(f4.reason_code);
  auto f5 = packet_fields(round_trip(ack, kLevel5, b5), Observation{});
  ASSERT_TRUE(f5.reason_code);
  EXPECT_EQ(*f5.reason_code, 0x10);
  EXPECT_TRUE(f5.code_name.empty());  // acknowledgements show no name

  Auth a;
  a.reason_code = 0x18;
  Observation obs;
  obs.role = Role::challenge;
  auto fa = packet_fields(round_trip(a, kLevel5, ba), obs);
  ASSERT_TRUE(fa.reason_code);
  EXPECT_EQ(fa.role, Role::challenge);
  EXPECT_FALSE(fa.code_name.empty());

  Connack c;
  c.code = 5;
  auto fc = packet_fields(round_trip(c, kLevel311, bc), obs);
  EXPECT_TRUE(fc.return_code);
  EXPECT_FALSE(fc.reason_code);
  EXPECT_EQ(fc.role, Role::none);  // only authenticate packets and AUTH take a role
  EXPECT_EQ(fc.code_name, "Connection Refused: not authorized");
}
