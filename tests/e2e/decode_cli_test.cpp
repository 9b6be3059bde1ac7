// End-to-end tests of `mqttauth decode --hex / --hex-file / --raw`.
#include <gtest/gtest.h>

#include <fstream>

#include "json.hpp"
#include "run.hpp"

using namespace mqttauth::test;

namespace {

std::vector<Json> jsonl(const RunResult& r) {
  std::vector<Json> v;
  for (const auto& l : r.lines()) v.push_back(Json::parse(l));
  return v;
}

const std::string kHandshake0 = "captures/custom-handshake-code0.hex";
const std::string kHandshake15 = "captures/custom-handshake-code15-refused.hex";

}  // namespace

TEST(DecodeCli, BundledCode0HandshakeAsJsonl) {
  auto r = run({"decode", "--hex-file", source_path(kHandshake0), "--format", "jsonl"});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto pk = jsonl(r);
  ASSERT_EQ(pk.size(), 11u);
  const char* types[] = {"connect", "authenticate", "authenticate", "connack",  "subscribe", "suback",
                         "publish", "puback",       "pingreq",      "pingresp", "disconnect"};
  for (std::size_t i = 0; i < pk.size(); ++i) {
    EXPECT_EQ(pk[i]["type"].str(), types[i]) << i;
    EXPECT_EQ(pk[i]["index"].num(), static_cast<double>(i + 1));
  }
  EXPECT_EQ(pk[0]["client_id"].str(), "sensor-01");
  EXPECT_EQ(pk[0]["keep_alive"].num(), 60);
  EXPECT_EQ(pk[0]["protocol_level"].num(), 4);
  EXPECT_TRUE(pk[0]["clean_session"].boolean());
  // The challenge: code 0, server to device, timestamp in the password, no username.
  EXPECT_EQ(pk[1]["code"].num(), 0);
  EXPECT_EQ(pk[1]["role"].str(), "challenge");
  EXPECT_EQ(pk[1]["dir"].str(), "s2c");
  EXPECT_EQ(pk[1]["password"].str(), "1764047123456");
  EXPECT_FALSE(pk[1].has("username"));
  EXPECT_EQ(pk[1]["offset"].num(), 23);
  // The response: HMAC-SHA256("s3cret", challenge) in hex.
  EXPECT_EQ(pk[2]["role"].str(), "response");
  EXPECT_EQ(pk[2]["dir"].str(), "c2s");
  EXPECT_EQ(pk[2]["password"].str(), "efc4f1b9f841746e08bbe276535c223a40955fa66b3ace735d9e682819d1284a");
  EXPECT_EQ(pk[3]["return_code"].num(), 0);
  EXPECT_FALSE(pk[3]["session_present"].boolean());
  ASSERT_EQ(pk[4]["subscriptions"].size(), 1u);
  EXPECT_EQ(pk[4]["subscriptions"][0]["topic"].str(), "devices/sensor-01/cmd");
  EXPECT_EQ(pk[4]["subscriptions"][0]["qos"].num(), 1);
  EXPECT_EQ(pk[5]["return_codes"][0].num(), 1);
  EXPECT_EQ(pk[6]["topic"].str(), "devices/sensor-01/telemetry");
  EXPECT_EQ(pk[6]["packet_id"].num(), 2);
  EXPECT_EQ(pk[6]["payload"].str(), "{\"t\":21.5,\"rh\":40}");
  EXPECT_EQ(pk[6]["payload_len"].num(), 18);
  EXPECT_EQ(pk[7]["packet_id"].num(), 2);
}

TEST(DecodeCli, BundledCode15RefusedAsText) {
  auto r = run({"decode", "--hex-file", source_path(kHandshake15), "--color", "never"});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto lines = r.lines();
  ASSERT_EQ(lines.size(), 5u) << r.out;
  EXPECT_NE(lines[1].find("AUTHENTICATE(15)"), std::string::npos);
  EXPECT_NE(lines[1].find("challenge"), std::string::npos);
  EXPECT_NE(lines[2].find("response"), std::string::npos);
  EXPECT_NE(lines[3].find("return_code=5"), std::string::npos);
  EXPECT_NE(lines[4].find("outcome=refused"), std::string::npos);
  EXPECT_NE(lines[4].find("refused_after_exchange"), std::string::npos);
  EXPECT_NE(lines[4].find("weak_challenge=timestamp_ms"), std::string::npos);
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << "no colour codes with --color never";
}

TEST(DecodeCli, HexOnTheCommandLineAtLevel5) {
  // CONNACK v5: flags 0, reason 0x86, properties: reason string "bad".
  auto r = run({"decode", "--level", "5", "--format", "jsonl", "--hex", "20 09 00 86 06 1f 00 03 62 61 64"});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto pk = jsonl(r);
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_EQ(pk[0]["reason_code"].num(), 0x86);
  EXPECT_FALSE(pk[0].has("return_code"));
  EXPECT_EQ(pk[0]["properties"]["reason_string"].str(), "bad");
}

TEST(DecodeCli, BinaryPayloadGoesToHexField) {
  auto r = run({"decode", "--format", "jsonl", "--hex", "30 06 00 01 74 ff fe 00"});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto pk = jsonl(r);
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_FALSE(pk[0].has("payload"));
  EXPECT_EQ(pk[0]["payload_hex"].str(), "fffe00");
  EXPECT_EQ(pk[0]["payload_len"].num(), 3);
}

TEST(DecodeCli, ViolationIsListedOnThePacket) {
  // PINGREQ, a PUBLISH with a wildcard in its topic, then PINGRESP: the PUBLISH is shown in full.
  auto r = run({"decode", "--format", "jsonl", "--hex", "c0 00  30 04 00 01 23 78  d0 00"});
  EXPECT_EQ(r.rc, 0) << r.err;
  auto pk = jsonl(r);
  ASSERT_EQ(pk.size(), 3u);
  EXPECT_EQ(pk[1]["type"].str(), "publish");
  EXPECT_EQ(pk[1]["topic"].str(), "#");
  EXPECT_EQ(pk[1]["payload"].str(), "x");
  ASSERT_TRUE(pk[1].has("violations"));
  EXPECT_EQ(pk[1]["violations"][0]["kind"].str(), "bad_topic_name");
  EXPECT_EQ(pk[1]["violations"][0]["rule"].str(), "MQTT-3.3.2-2");
  EXPECT_EQ(pk[1]["violations"][0]["offset"].num(), 2);
  EXPECT_FALSE(pk[0].has("violations"));
  auto text = run({"decode", "--hex", "c0 00  30 04 00 01 23 78  d0 00"});
  EXPECT_NE(text.out.find("!bad_topic_name@2[MQTT-3.3.2-2]"), std::string::npos) << text.out;
}

TEST(DecodeCli, DecodeErrorIsAnObjectAndExitsNonZeroButKeepsGoodPackets) {
  // PINGREQ, a PUBLISH with a wildcard in its topic (an error when strict), then PINGRESP.
  auto r = run({"decode", "--format", "jsonl", "--strict", "--hex", "c0 00  30 04 00 01 23 78  d0 00"});
  EXPECT_EQ(r.rc, 1);
  auto pk = jsonl(r);
  ASSERT_EQ(pk.size(), 3u);
  EXPECT_EQ(pk[0]["type"].str(), "pingreq");
  ASSERT_TRUE(pk[1].has("error"));
  EXPECT_EQ(pk[1]["error"]["kind"].str(), "bad_topic_name");
  EXPECT_EQ(pk[1]["error"]["offset"].num(), 2);
  EXPECT_EQ(pk[1]["offset"].num(), 2);
  EXPECT_NE(pk[1]["error"]["message"].str().find("--hex"), std::string::npos);
  EXPECT_EQ(pk[2]["type"].str(), "pingresp");
}

TEST(DecodeCli, TruncatedStreamIsReported) {
  auto r = run({"decode", "--format", "jsonl", "--hex", "c0 00 30 0a 00 03"});
  EXPECT_EQ(r.rc, 1);
  auto pk = jsonl(r);
  ASSERT_EQ(pk.size(), 2u);
  EXPECT_EQ(pk[1]["error"]["kind"].str(), "need_more");
  EXPECT_EQ(pk[1]["offset"].num(), 2);
}

TEST(DecodeCli, OversizedPacketIsSkippedNotGarbage) {
  // A 10-byte PUBLISH body with a limit of 8, then PINGREQ.
  auto r = run(
      {"decode", "--format", "jsonl", "--max-packet-size", "8", "--hex", "30 0a 00 01 74 01 02 03 04 05 06 07  c0 00"});
  EXPECT_EQ(r.rc, 1);
  auto pk = jsonl(r);
  ASSERT_EQ(pk.size(), 2u);
  EXPECT_EQ(pk[0]["error"]["kind"].str(), "packet_too_large");
  EXPECT_EQ(pk[1]["type"].str(), "pingreq");
  EXPECT_EQ(pk[1]["offset"].num(), 12);
}

TEST(DecodeCli, RemainingLengthOverFourBytesStopsWithError) {
  auto r = run({"decode", "--format", "jsonl", "--hex", "c0 00 30 ff ff ff ff 01"});
  EXPECT_EQ(r.rc, 1);
  auto pk = jsonl(r);
  ASSERT_EQ(pk.size(), 2u);
  EXPECT_EQ(pk[1]["error"]["kind"].str(), "bad_remaining_length");
  EXPECT_EQ(pk[1]["offset"].num(), 2);
}

TEST(DecodeCli, RawFileAndStdin) {
  std::string path = temp_dir() + "/stream.bin";
  {
    std::ofstream f(path, std::ios::binary);
    const unsigned char bytes[] = {0xc0, 0x00, 0xd0, 0x00, 0xe0, 0x00};
    f.write(reinterpret_cast<const char*>(bytes), sizeof bytes);
  }
  auto a = run({"decode", "--raw", path, "--format", "jsonl"});
  auto b = run({"decode", "--raw", "-", "--format", "jsonl"}, path);
  ASSERT_EQ(a.rc, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  auto pk = jsonl(a);
  ASSERT_EQ(pk.size(), 3u);
  EXPECT_EQ(pk[2]["type"].str(), "disconnect");
}

TEST(DecodeCli, UsageErrorsExitTwo) {
  EXPECT_EQ(run({"decode"}).rc, 2);
  EXPECT_EQ(run({"decode", "--hex", "c0 0"}).rc, 2);
  EXPECT_EQ(run({"decode", "--hex", "zz"}).rc, 2);
  EXPECT_EQ(run({"decode", "--raw", "/nonexistent/file"}).rc, 2);
  EXPECT_EQ(run({"decode", "--hex", "c000", "--level", "7"}).rc, 2);
  EXPECT_EQ(run({"decode", "--hex", "c000", "--raw", "-"}).rc, 2);
  auto r = run({"decode", "--raw", "/nonexistent/file"});
  EXPECT_NE(r.err.find("/nonexistent/file"), std::string::npos) << r.err;
}

TEST(DecodeCli, ForcedDialects) {
  // Type 15 with a CONNECT-like body: authenticate by default at an unknown level, AUTH when forced standard
  // (where it fails, being no valid AUTH), authenticate when forced.
  std::string bytes = "f0 0f 00 04 4d 51 54 54 04 02 00 00 00 03 64 65 76";
  auto a = run({"decode", "--format", "jsonl", "--hex", bytes});
  ASSERT_EQ(a.rc, 0) << a.out;
  EXPECT_EQ(jsonl(a)[0]["type"].str(), "authenticate");
  auto s = run({"decode", "--format", "jsonl", "--dialect", "standard", "--hex", bytes});
  EXPECT_EQ(s.rc, 1);
  auto c = run({"decode", "--format", "jsonl", "--dialect", "authenticate", "--level", "5", "--hex", bytes});
  ASSERT_EQ(c.rc, 0);
  EXPECT_EQ(jsonl(c)[0]["type"].str(), "authenticate");
  // Type 0 with a body that is not CONNECT-like: reserved, raw body kept.
  auto r = run({"decode", "--format", "jsonl", "--hex", "00 02 ab cd"});
  ASSERT_EQ(r.rc, 0);
  EXPECT_EQ(jsonl(r)[0]["type"].str(), "reserved");
  EXPECT_EQ(jsonl(r)[0]["body_hex"].str(), "abcd");
}
