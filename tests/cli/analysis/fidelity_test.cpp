// Field-grade fidelity, end to end through `mqttauth`: the patterns of real third-party captures, rebuilt here
// so that the project's tests stand alone (the field corpus itself is compared in the e2e differential test).
// Each capture is written with TcpConversation and read back by the CLI as a user would.
#include <map>
#include <string>

#include "cli_helpers.hpp"
#include "json.hpp"
#include "mqttauth/codec.hpp"
#include "run.hpp"
#include "../../unit/hex.hpp"

using namespace mqttauth;
using namespace mqttauth::cli;
using namespace mqttauth::clitest;

namespace {

Buf hex_bytes(std::string_view s) { return test::hex(s); }

const std::int64_t kT0 = 1764047123000LL * 1000000LL;
const Endpoint kDevice = ep4(10, 0, 0, 7, 50123);
const Endpoint kBroker = ep4(10, 0, 0, 1, 1883);

struct Capture {
  std::string path;
  PcapWriter w;
  std::unique_ptr<TcpConversation> t;
  std::int64_t ts = kT0;
  explicit Capture(const std::string& stem, bool syn = true, std::uint32_t cseq = 1000, std::uint32_t sseq = 5000)
      : path(temp_path(stem)) {
    EXPECT_TRUE(w.open(path, kLinkEthernet, true));
    t = std::make_unique<TcpConversation>(w, LinkSpec{}, kDevice, kBroker, cseq, sseq);
    if (syn) t->handshake(ts += 1000);
  }
  void c2s(const Buf& b) { t->send(true, b, ts += 1000000); }
  void s2c(const Buf& b) { t->send(false, b, ts += 1000000); }
  std::string done(bool close = true) {
    if (close) t->close(ts += 1000000);
    w.close();
    return path;
  }
};

Buf enc(const Packet& p, std::uint8_t level) { return encode_or_throw(p, level); }

Buf v5_connect(std::string_view id) {
  Connect c;
  c.level = kLevel5;
  c.client_id = id;
  c.keep_alive = 60;
  return enc(c, kLevel5);
}

std::vector<test::Json> decode_jsonl(const std::string& path, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"decode", "--format", "jsonl"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(path);
  auto r = test::run(args);
  EXPECT_EQ(r.rc, 0) << r.err;
  return test::json_lines(r.out);
}

std::vector<test::Json> packets_only(const std::vector<test::Json>& lines) {
  std::vector<test::Json> out;
  for (const auto& l : lines)
    if (l.has("type")) out.push_back(l);
  return out;
}

TEST(Fidelity, PermissivePropertyValuesKeepThePacket) {
  // mosquitto_pub -D publish payload-format-indicator 88, and a broker announcing Maximum QoS 2: the broker
  // on the wire accepted both. Shown in full, with the violation and its clause.
  Capture cap("permissive.pcap");
  cap.c2s(v5_connect("pub-88"));
  Connack ack;
  PropertyBuilder ap;
  ap.add_int(PropertyId::maximum_qos, 2);
  ack.properties = ap.properties();
  cap.s2c(enc(ack, kLevel5));
  Publish p;
  p.topic = "sensors/pfi";
  p.payload = Bytes::of("hello");
  PropertyBuilder pp;
  pp.add_int(PropertyId::payload_format_indicator, 88);
  p.properties = pp.properties();
  cap.c2s(enc(p, kLevel5));
  cap.c2s(enc(Disconnect{}, kLevel5));
  auto path = cap.done();

  auto pk = packets_only(decode_jsonl(path));
  ASSERT_EQ(pk.size(), 4u);
  EXPECT_EQ(pk[1]["type"].str(), "connack");
  EXPECT_EQ(pk[1]["violations"][0]["kind"].str(), "bad_property_value");
  EXPECT_EQ(pk[1]["violations"][0]["rule"].str(), "3.2.2.3.4");
  EXPECT_EQ(pk[2]["type"].str(), "publish");
  EXPECT_EQ(pk[2]["topic"].str(), "sensors/pfi");
  EXPECT_EQ(pk[2]["payload"].str(), "hello");
  EXPECT_EQ(pk[2]["violations"][0]["rule"].str(), "3.3.2.3.2");

  // The session row keeps its client id and outcome.
  auto s = test::run({"sessions", "--format", "jsonl", path});
  ASSERT_EQ(s.rc, 0) << s.err;
  auto rows = test::json_lines(s.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["client_id"].str(), "pub-88");
  EXPECT_EQ(rows[0]["outcome"].str(), "accepted");
  EXPECT_EQ(rows[0]["violations"].num(), 2);

  // --strict: the conformance view, where each is an error.
  auto strict = test::run({"decode", "--format", "jsonl", "--strict", path});
  EXPECT_EQ(strict.rc, 1);
  int errors = 0;
  for (const auto& l : test::json_lines(strict.out)) errors += l.has("error") ? 1 : 0;
  EXPECT_EQ(errors, 2);
}

TEST(Fidelity, V5ClientRefusedByA311Broker) {
  // [MQTT-3.1.2-2] of 3.1.1: the server answers a level it does not support with return code 1.
  Capture cap("v5-refused.pcap");
  cap.c2s(v5_connect("new-client"));
  cap.s2c(hex_bytes("20 02 00 01"));
  auto path = cap.done();
  auto pk = packets_only(decode_jsonl(path));
  ASSERT_EQ(pk.size(), 2u);
  EXPECT_EQ(pk[1]["type"].str(), "connack");
  EXPECT_EQ(pk[1]["return_code"].num(), 1);
  EXPECT_FALSE(pk[1].has("violations"));
  auto s = test::run({"sessions", path});
  EXPECT_NE(s.out.find("refused (1)"), std::string::npos) << s.out;
  auto j = test::json_lines(test::run({"sessions", "--format", "jsonl", path}).out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["outcome"].str(), "refused");
  EXPECT_EQ(j[0]["return_code"].num(), 1);
  auto text = test::run({"decode", path});
  EXPECT_NE(text.out.find("unacceptable protocol version"), std::string::npos) << text.out;
}

TEST(Fidelity, ShortV5ConnackIsAcceptedWithAViolation) {
  Capture cap("v5-short-connack.pcap");
  cap.c2s(v5_connect("short"));
  cap.s2c(hex_bytes("20 02 00 00"));
  auto path = cap.done();
  auto pk = packets_only(decode_jsonl(path));
  ASSERT_EQ(pk.size(), 2u);
  EXPECT_EQ(pk[1]["reason_code"].num(), 0);
  EXPECT_EQ(pk[1]["violations"][0]["kind"].str(), "missing_field");
  auto j = test::json_lines(test::run({"sessions", "--format", "jsonl", path}).out);
  EXPECT_EQ(j[0]["outcome"].str(), "accepted");
}

TEST(Fidelity, BridgeConnectWithMQIsdpAtLevel4) {
  // A mosquitto bridge: protocol name "MQIsdp", level 0x84 (bridge bit, 3.1.1).
  Capture cap("bridge.pcap");
  cap.c2s(hex_bytes("10 18 00 06 'MQIsdp' 84 02 00 3c 00 0a 'bridge-a/1'"));
  cap.s2c(hex_bytes("20 02 00 00"));
  auto path = cap.done();
  auto pk = packets_only(decode_jsonl(path));
  ASSERT_EQ(pk.size(), 2u);
  EXPECT_EQ(pk[0]["type"].str(), "connect");
  EXPECT_EQ(pk[0]["client_id"].str(), "bridge-a/1");
  EXPECT_EQ(pk[0]["violations"][0]["kind"].str(), "bad_protocol_name");
  EXPECT_EQ(pk[0]["violations"][0]["rule"].str(), "MQTT-3.1.2-1");
  auto j = test::json_lines(test::run({"sessions", "--format", "jsonl", path}).out);
  EXPECT_EQ(j[0]["client_id"].str(), "bridge-a/1");
  EXPECT_EQ(j[0]["outcome"].str(), "accepted");
}

TEST(Fidelity, ForbiddenTypeZeroIsAFinding) {
  // Type 0 carrying a PUBLISH-like body inside a 3.1.1 session: shown raw, flagged, and `check` fails.
  Capture cap("type0.pcap");
  cap.c2s(mqtt_connect("t0"));
  cap.s2c(mqtt_connack(0));
  Buf bad = mqtt_publish("topicX", Buf{'a', 'b', 'c'});
  bad[0] = 0x00;
  cap.c2s(bad);
  cap.c2s(mqtt_disconnect());
  auto path = cap.done();
  auto pk = packets_only(decode_jsonl(path));
  ASSERT_EQ(pk.size(), 4u);
  EXPECT_EQ(pk[2]["type"].str(), "reserved");
  EXPECT_EQ(pk[2]["violations"][0]["kind"].str(), "bad_packet_type");
  auto c = test::run({"check", "--format", "jsonl", path});
  EXPECT_EQ(c.rc, 1) << c.out;
  bool found = false;
  for (const auto& l : test::json_lines(c.out))
    if (l.has("rule") && l["rule"].str() == "bad_packet_type") {
      found = true;
      EXPECT_EQ(l["severity"].str(), "error");
      EXPECT_EQ(l["clause"].str(), "2.2.1");
    }
  EXPECT_TRUE(found) << c.out;
}

TEST(Fidelity, MidStreamInsideALargePublishInventsNothing) {
  // The capture starts (no SYN) at a 35 KB v5 PUBLISH of a JPEG-like blob, split over segments, then a
  // DISCONNECT: exactly those two packets, no resynchronisation, no error.
  Capture cap("midstream-jpeg.pcap", false);
  Buf blob = pattern(35'000, 7);
  for (std::size_t i = 0; i < blob.size(); i += 97) blob[i] = static_cast<std::uint8_t>(0xE0 | (i & 0x0F));
  Connack ack;
  PropertyBuilder ap;
  ap.add_int(PropertyId::topic_alias_maximum, 10);
  ack.properties = ap.properties();
  cap.s2c(enc(ack, kLevel5));
  Publish p;
  p.topic = "topicX";
  p.payload = Bytes(blob.data(), blob.size());
  cap.c2s(enc(p, kLevel5));
  cap.c2s(enc(Disconnect{}, kLevel5));
  auto path = cap.done(false);
  auto lines = decode_jsonl(path);
  auto pk = packets_only(lines);
  ASSERT_EQ(pk.size(), 3u);
  EXPECT_EQ(pk[0]["type"].str(), "connack");
  EXPECT_EQ(pk[1]["type"].str(), "publish");
  EXPECT_EQ(pk[1]["payload_len"].num(), 35'000);
  EXPECT_EQ(pk[2]["type"].str(), "disconnect");
  for (const auto& l : lines) {
    EXPECT_FALSE(l.has("error"));
    EXPECT_FALSE(l.has("record") && l["record"].str() == "resync");
  }
}

TEST(Fidelity, ChallengeAndResponseOfTheTwoCodesIsNamed) {
  Capture cap("code-mismatch.pcap");
  cap.c2s(mqtt_connect("dev-9"));
  cap.s2c(mqtt_authenticate(0, "dev-9", "1764047123456"));
  cap.c2s(mqtt_authenticate(15, "dev-9", "efc4f1b9"));
  auto path = cap.done();
  auto j = test::json_lines(test::run({"sessions", "--format", "jsonl", path}).out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["anomalies"][0].str(), "code_mismatch");
  auto c = test::run({"check", "--format", "jsonl", path});
  bool found = false;
  for (const auto& l : test::json_lines(c.out)) found = found || (l.has("rule") && l["rule"].str() == "code_mismatch");
  EXPECT_TRUE(found) << c.out;
}

TEST(Fidelity, JsonLinesCarriesEveryEventTheTextShows) {
  // A lost segment (gap, then a resynchronisation) and the connection's end are records in JSON Lines.
  Capture cap("events.pcap");
  cap.c2s(mqtt_connect("ev"));
  cap.s2c(mqtt_connack(0));
  cap.c2s(mqtt_publish("a", Buf(50, 'x')));
  cap.t->lose(true, 40);
  cap.c2s(concat({Buf(10, 'y'), mqtt_pingreq(), mqtt_pingreq()}));
  auto path = cap.done();
  auto lines = test::json_lines(test::run({"decode", "--format", "jsonl", path}).out);
  std::map<std::string, int> records;
  for (const auto& l : lines)
    if (l.has("record")) ++records[l["record"].str()];
  EXPECT_EQ(records["gap"], 1);
  EXPECT_EQ(records["resync"], 1);
  EXPECT_EQ(records["connection_end"], 1);
  auto text = test::run({"decode", path});
  EXPECT_NE(text.out.find("GAP 40 bytes"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("RESYNC after 10 bytes"), std::string::npos) << text.out;
  for (const auto& l : lines)
    if (l.has("record") && l["record"].str() == "resync") {
      EXPECT_EQ(l["skipped"].num(), 10);
    }
}

TEST(Fidelity, NoMqttIsExplained) {
  {
    // TLS on the MQTT port: a record, and the reason on stderr.
    Capture cap("tls-only.pcap");
    cap.c2s(hex_bytes("16 03 01 00 05 01 00 00 01 00"));
    cap.s2c(hex_bytes("16 03 03 00 05 02 00 00 01 00"));
    auto path = cap.done();
    auto r = test::run({"decode", "--format", "jsonl", path});
    EXPECT_EQ(r.rc, 0);
    EXPECT_NE(r.err.find("no MQTT: only TLS on the MQTT ports"), std::string::npos) << r.err;
    auto lines = test::json_lines(r.out);
    ASSERT_EQ(lines.size(), 1u) << r.out;
    EXPECT_EQ(lines[0]["record"].str(), "tls");
  }
  {
    // Plain TCP on another port, never a CONNECT.
    std::string path = temp_path("http.pcap");
    PcapWriter w;
    ASSERT_TRUE(w.open(path, kLinkEthernet, true));
    TcpConversation t(w, LinkSpec{}, kDevice, ep4(10, 0, 0, 1, 8080));
    std::int64_t ts = kT0;
    t.handshake(ts);
    const std::string get = "GET / HTTP/1.1\r\n\r\n";
    t.send(true, Buf(get.begin(), get.end()), ts += 1000);
    t.close(ts += 1000);
    w.close();
    auto r = test::run({"decode", path});
    EXPECT_EQ(r.rc, 0);
    EXPECT_NE(r.err.find("none on an MQTT port (1883) and none opened with a CONNECT: try --port"), std::string::npos)
        << r.err;
  }
}

TEST(Fidelity, ConnectionNumbersFollowFirstAppearanceWhateverTheKind) {
  // TLS on 8883, plain MQTT on 1883, HTTP on 8080 and TLS again, interleaved: numbered in order of their first
  // segment, whatever each turns out to be.
  std::string path = temp_path("kinds.pcap");
  PcapWriter w;
  ASSERT_TRUE(w.open(path, kLinkEthernet, true));
  TcpConversation tls(w, LinkSpec{}, ep4(10, 0, 0, 2, 50001), ep4(10, 0, 0, 1, 8883));
  TcpConversation mqtt(w, LinkSpec{}, ep4(10, 0, 0, 3, 50002), ep4(10, 0, 0, 1, 1883));
  TcpConversation http(w, LinkSpec{}, ep4(10, 0, 0, 4, 50003), ep4(10, 0, 0, 1, 8080));
  TcpConversation tls2(w, LinkSpec{}, ep4(10, 0, 0, 5, 50004), ep4(10, 0, 0, 1, 1883));
  std::int64_t ts = kT0;
  tls.handshake(ts += 1000);
  mqtt.handshake(ts += 1000);
  http.handshake(ts += 1000);
  tls2.handshake(ts += 1000);
  const Buf hello = hex_bytes("16 03 01 00 05 01 00 00 01 00");
  const std::string get = "GET / HTTP/1.1\r\n\r\n";
  tls2.send(true, hello, ts += 1000);
  mqtt.send(true, mqtt_connect("m"), ts += 1000);
  http.send(true, Buf(get.begin(), get.end()), ts += 1000);
  tls.send(true, hello, ts += 1000);
  mqtt.send(false, mqtt_connack(0), ts += 1000);
  for (auto* c : {&tls, &mqtt, &http, &tls2}) c->close(ts += 1000);
  w.close();
  auto lines = test::json_lines(test::run({"decode", "--format", "jsonl", path}).out);
  std::map<std::string, std::vector<double>> conns;  // record or type -> conn numbers
  for (const auto& l : lines) conns[l.has("record") ? l["record"].str() : l["type"].str()].push_back(l["conn"].num());
  // Printed once it is known why they cannot be decrypted (here: at their end, no ServerHello came), numbered
  // by first appearance.
  EXPECT_EQ(conns["tls"], (std::vector<double>{1, 4}));
  EXPECT_EQ(conns["connect"], (std::vector<double>{2}));
  auto text = test::run({"decode", path});
  EXPECT_NE(text.out.find("-- connection #1 10.0.0.2:50001 > 10.0.0.1:8883: TLS"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("-- connection #4 10.0.0.5:50004 > 10.0.0.1:1883: TLS"), std::string::npos) << text.out;
}

}  // namespace
