// MQTT over WebSocket from third-party software only: MQTT.js (npm) as the client, Debian's mosquitto's
// WebSocket listener as the server, captured on loopback with dumpcap. MQTT.js writes each packet in several
// WebSocket messages (its fixed header, then each part), so MQTT packets span frames; mosquitto answers a packet
// per frame. Every MQTT packet the client logged sending or receiving is in the decode, in order, with its type,
// topic, QoS, packet id and payload length; the connection is reported as WebSocket with the subprotocol the
// client asked for; healthy traffic gives no websocket_violation.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "json.hpp"
#include "mqttjs_log.hpp"
#include "mosquitto.hpp"
#include "run.hpp"

using namespace mqttauth::test;

TEST(WebSocket, MqttJsThroughMosquittoDecodesAsTheClientLoggedIt) {
  const char* modules = nullptr;
  if (const std::string why = mqttjs_and_mosquitto_missing(modules); !why.empty()) GTEST_SKIP() << why;
  MosquittoOnLo m("mosquitto-ws", true);
  ASSERT_TRUE(m.ready()) << m.broker->log_text();
  // What each client logged: client id -> direction -> packets.
  PacketLog logged;
  for (const char* version : {"4", "5"}) {
    const std::string id = std::string("js-ws-") + version;
    auto r = run_shell("NODE_PATH=" + shell_quote(modules) + " timeout 20 node " +
                       shell_quote(source_path("tests/interop/mqttjs-ws.js")) +
                       " ws://127.0.0.1:" + std::to_string(m.ws_port) + "/mqtt " + id + " --version " + version +
                       " --sizes 10,300,70000,5,100000,0");
    ASSERT_EQ(r.rc, 0) << r.out << r.err;
    add_mqttjs_log(logged, id, r.out);
  }
  m.stop_capture();

  auto d = run({"decode", m.pcap, "--format", "jsonl"});
  ASSERT_EQ(d.rc, 0) << d.err;
  PacketLog decoded = decoded_packets(d.out);
  for (auto& [id, dirs] : logged) {
    ASSERT_GE(dirs.at("c2s").size(), 10u) << id;
    // MQTT.js emits no 'packetsend' for its CONNECT (the CONNACK it receives is logged).
    dirs["c2s"].insert(dirs["c2s"].begin(), "connect");
    EXPECT_EQ(decoded[id]["c2s"], dirs.at("c2s")) << id;
    EXPECT_EQ(decoded[id]["s2c"], dirs.at("s2c")) << id;
  }

  auto s = run({"sessions", m.pcap, "--format", "jsonl"});
  ASSERT_EQ(s.rc, 0) << s.err;
  int ws = 0;
  for (const Json& j : json_lines(s.out)) {
    if (!j.has("transport")) continue;
    ++ws;
    EXPECT_EQ(j["transport"].str(), "websocket");
    EXPECT_EQ(j["ws_subprotocol"].str(), "mqtt");
    EXPECT_GT(j["ws_frames"].num(), 20) << s.out;  // MQTT.js: a packet in several messages
  }
  EXPECT_EQ(ws, 2) << s.out;
  auto c = run({"check", m.pcap, "--format", "jsonl"});
  EXPECT_EQ(c.out.find("websocket_violation"), std::string::npos) << c.out;
}

// The same synthetic traffic over bare TCP, over WebSocket and over WebSocket with permessage-deflate
// (mqttauth_synth --websocket / --websocket-deflate: the HTTP Upgrade,
// client frames masked, a third of the writes cut in two as fragments or as two messages, 64-bit lengths for
// the large payloads, on port 8080 where only the subprotocol says MQTT): the same packets in the same order with
// the same fields, the same findings, and the authenticate packets of the custom handshakes among them.
TEST(WebSocket, SyntheticTrafficDecodesAsItsTcpTwin) {
  const std::string dir = temp_dir();
  auto make = [&](const std::string& name, const std::string& extra) {
    const std::string cmd = shell_quote(MQTTAUTH_SYNTH_BIN) + " -o " + shell_quote(dir + "/" + name) +
                            " --seed 11 --clients 12 --levels 3,4,5 --auth-ratio 0.5 --publishes 10,60"
                            " --large-ratio 0.03 --port 8080" +
                            extra + " >/dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return dir + "/" + name;
  };
  const std::string tcp = make("tcp.pcap", ""), ws = make("ws.pcap", " --websocket"),
                    deflated = make("ws-deflate.pcap", " --websocket-deflate");
  // Packet lines without what the framing changes: frame numbers, times and stream offsets.
  auto packets = [](const std::string& pcap, int& authenticate) {
    auto d = run({"decode", pcap, "--format", "jsonl", "--port", "8080"});
    EXPECT_EQ(d.rc, 0) << d.err;
    std::vector<std::string> v;
    for (const Json& j : json_lines(d.out)) {
      if (!j.has("type")) continue;
      if (j["type"].str() == "authenticate") ++authenticate;
      std::string line;
      for (const auto& [k, val] : *std::get<5>(j.v)) {
        if (k == "frame" || k == "ts" || k == "offset") continue;
        line += k + "=" + (val.is_string() ? val.str() : val.is_number() ? std::to_string(val.num()) : "?") + " ";
      }
      v.push_back(line);
    }
    return v;
  };
  int auth_tcp = 0, auth_ws = 0, auth_deflated = 0;
  const auto a = packets(tcp, auth_tcp), b = packets(ws, auth_ws), z = packets(deflated, auth_deflated);
  ASSERT_GT(a.size(), 300u);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, z);  // permessage-deflate: every message inflated, the context kept from one to the next
  EXPECT_GT(auth_ws, 4);
  EXPECT_EQ(auth_ws, auth_tcp);
  EXPECT_EQ(auth_deflated, auth_tcp);
  auto rules = [](const std::string& pcap) {
    auto c = run({"check", pcap, "--format", "jsonl", "--port", "8080"});
    std::vector<std::string> v;
    for (const Json& j : json_lines(c.out))
      if (j.has("rule")) v.push_back(j["rule"].str() + " #" + std::to_string(static_cast<int>(j["conn"].num())));
    return v;
  };
  EXPECT_EQ(rules(tcp), rules(ws));
  EXPECT_EQ(rules(tcp), rules(deflated));
  auto s = run({"sessions", ws, "--format", "jsonl"});
  int over_ws = 0;
  for (const Json& j : json_lines(s.out))
    if (j.has("transport") && j["transport"].str() == "websocket" && j["ws_frames"].num() > 0) ++over_ws;
  EXPECT_EQ(over_ws, 12) << s.out;
}

// The reference device over WebSocket (--connect ws://...) against mosquitto's WebSocket listener: its opening
// handshake accepted (Sec-WebSocket-Accept checked), masked frames, its 70 KB messages (64-bit lengths) round
// trip through the broker; the capture decodes to exactly what the device did, with no WebSocket violation.
TEST(WebSocket, ReferenceDeviceThroughMosquitto) {
  if (!have_mosquitto()) GTEST_SKIP() << "mosquitto is not installed";
  if (!can_capture()) GTEST_SKIP() << "no privilege to capture on lo";
  MosquittoOnLo m("mosquitto-ws-device", true);
  ASSERT_TRUE(m.ready()) << m.broker->log_text();
  const std::string url = "ws://127.0.0.1:" + std::to_string(m.ws_port);
  auto a = run({"device", "-q", "--auth", "none", "--connect", url + "/mqtt", "--client-id", "ws-dev", "--publish", "2",
                "--qos", "1", "--payload-size", "70000", "--subscribe-to", "devices/ws-dev/#", "--wait-messages", "2"});
  EXPECT_EQ(a.rc, 0) << a.err;
  auto b = run({"device", "-q", "--auth", "none", "--connect", url, "--client-id", "ws-dev5", "--level", "5",
                "--publish", "3", "--qos", "2"});
  EXPECT_EQ(b.rc, 0) << b.err;
  m.stop_capture();
  auto d = run({"decode", m.pcap, "--format", "jsonl"});
  ASSERT_EQ(d.rc, 0) << d.err;
  std::map<std::string, int> seen;  // "client dir type" -> count
  std::map<double, std::string> client_of;
  for (const Json& j : json_lines(d.out)) {
    if (!j.has("type")) continue;
    const double conn = j["conn"].num();
    if (j["type"].str() == "connect") client_of[conn] = j["client_id"].str();
    ++seen[client_of[conn] + " " + j["dir"].str() + " " + j["type"].str()];
    if (j["type"].str() == "publish" && client_of[conn] == "ws-dev") {
      EXPECT_EQ(j["payload_len"].num(), 70000) << d.out;
    }
  }
  const std::map<std::string, int> want{
      {"ws-dev c2s connect", 1},  {"ws-dev s2c connack", 1},  {"ws-dev c2s subscribe", 1},
      {"ws-dev s2c suback", 1},   {"ws-dev c2s publish", 2},  {"ws-dev s2c puback", 2},
      {"ws-dev s2c publish", 2},  {"ws-dev c2s puback", 2},   {"ws-dev c2s disconnect", 1},
      {"ws-dev5 c2s connect", 1}, {"ws-dev5 s2c connack", 1}, {"ws-dev5 c2s subscribe", 1},
      {"ws-dev5 s2c suback", 1},  {"ws-dev5 c2s publish", 3}, {"ws-dev5 s2c pubrec", 3},
      {"ws-dev5 c2s pubrel", 3},  {"ws-dev5 s2c pubcomp", 3}, {"ws-dev5 c2s disconnect", 1}};
  EXPECT_EQ(seen, want) << d.out;
  auto c = run({"check", m.pcap, "--format", "jsonl"});
  EXPECT_EQ(c.out.find("websocket_violation"), std::string::npos) << c.out;
}
