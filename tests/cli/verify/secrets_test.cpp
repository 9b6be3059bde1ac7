// The verification library's secrets: exact client ids, patterns shared by a fleet, the file format.
#include <gtest/gtest.h>

#include <fstream>

#include "cli_helpers.hpp"
#include "mqttauth/verify.hpp"

using namespace mqttauth;

TEST(Glob, StarAndQuestionMark) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("sensor-*", "sensor-"));
  EXPECT_TRUE(glob_match("sensor-*", "sensor-017"));
  EXPECT_FALSE(glob_match("sensor-*", "sensor"));
  EXPECT_FALSE(glob_match("sensor-*", "gateway-1"));
  EXPECT_TRUE(glob_match("s?n*-0?", "sensor-01"));
  EXPECT_FALSE(glob_match("s?n*-0?", "sensor-1"));
  EXPECT_TRUE(glob_match("*-*-*", "a-b-c"));
  EXPECT_FALSE(glob_match("*-*-*", "a-b"));
  EXPECT_TRUE(glob_match("plain", "plain"));
  EXPECT_FALSE(glob_match("plain", "plainer"));
  EXPECT_FALSE(glob_match("", "x"));
  // No exponential backtracking on a hostile pattern.
  EXPECT_FALSE(glob_match("*a*a*a*a*a*a*a*a*a*a*b", std::string(5000, 'a')));
}

TEST(Secrets, ExactIdWinsThenTheFirstMatchingPattern) {
  Secrets s;
  s.add("sensor-*", "fleet");
  s.add("*", "default");
  s.add("sensor-7", "own");
  s.add("sensor-1?", "never: sensor-* comes first");
  ASSERT_NE(s.find("sensor-7"), nullptr);
  EXPECT_EQ(*s.find("sensor-7"), "own");
  EXPECT_EQ(*s.find("sensor-12"), "fleet");
  EXPECT_EQ(*s.find("gateway"), "default");
  EXPECT_EQ(s.size(), 4u);
  EXPECT_EQ(s.verify("sensor-3", "abc", hmac_sha256_hex("fleet", "abc")), Verification::verified);
  EXPECT_EQ(s.verify("gateway", "abc", hmac_sha256_hex("fleet", "abc")), Verification::mismatch);
  Secrets only_fleet;
  only_fleet.add("sensor-*", "fleet");
  EXPECT_EQ(only_fleet.verify("gateway", "abc", "x"), Verification::no_secret);
  EXPECT_FALSE(only_fleet.empty());
}

TEST(Secrets, FileWithPatterns) {
  const std::string path = mqttauth::clitest::temp_path("secrets-patterns");
  {
    std::ofstream f(path);
    f << "# fleet\nsensor-01 own\nsensor-* fleet secret with spaces\n* fallback\n";
  }
  Secrets s;
  std::string err;
  ASSERT_TRUE(s.load(path, err)) << err;
  EXPECT_EQ(*s.find("sensor-01"), "own");
  EXPECT_EQ(*s.find("sensor-02"), "fleet secret with spaces");
  EXPECT_EQ(*s.find("x"), "fallback");
}
