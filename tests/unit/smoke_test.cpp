#include <gtest/gtest.h>

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
