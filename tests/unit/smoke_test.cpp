#include <gtest/gtest.h>

#include <utility>
#include <variant>

#include "hex.hpp"
#include "mqttauth/codec.hpp"

using namespace mqttauth;
using mqttauth::test::hex;

TEST(Smoke, PingreqDecodes) {
  auto b = hex("c0 00");
  auto r = decode(b);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(std::holds_alternative<Pingreq>(r->packet));
}

// holds_any<Ts...> (one bit test) answers as holds_alternative does, type by type, for every alternative.
TEST(Smoke, HoldsAnyAgreesWithHoldsAlternative) {
  static_assert(packet_index<Connect> == 0 && packet_index<Publish> == 2 && packet_index<Reserved> == 16);
  static_assert(std::variant_size_v<Packet> <= 32, "holds_any keeps the alternatives in one 32-bit mask");
  auto each = [](auto f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) { (f(Packet(std::in_place_index<I>)), ...); }
    (std::make_index_sequence<std::variant_size_v<Packet>>());
  };
  int n = 0;
  each([&](const Packet& p) {
    ++n;
    EXPECT_EQ(p.index(), static_cast<std::size_t>(n - 1));
    EXPECT_EQ((holds_any<Subscribe, Unsubscribe, Pingreq>(p)), std::holds_alternative<Subscribe>(p) ||
                                                                   std::holds_alternative<Unsubscribe>(p) ||
                                                                   std::holds_alternative<Pingreq>(p));
    EXPECT_EQ((holds_any<Publish, Connect, Connack, Subscribe, Unsubscribe, Disconnect>(p)),
              std::holds_alternative<Publish>(p) || std::holds_alternative<Connect>(p) ||
                  std::holds_alternative<Connack>(p) || std::holds_alternative<Subscribe>(p) ||
                  std::holds_alternative<Unsubscribe>(p) || std::holds_alternative<Disconnect>(p));
    EXPECT_EQ(holds_any<Reserved>(p), std::holds_alternative<Reserved>(p));
    EXPECT_EQ(holds_any<Connect>(p), std::holds_alternative<Connect>(p));
  });
  EXPECT_EQ(n, 17);
}
