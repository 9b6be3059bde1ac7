// The Wireshark plugin through real tshark.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "../e2e/broker_process.hpp"
#include "../e2e/mosquitto.hpp"  // free_port
#include "../e2e/tls_cert.hpp"
#include "tshark.hpp"

using namespace mqttauth::test;

namespace {

#define NEED_TSHARK()                                              \
  do {                                                             \
    if (!have_tshark()) GTEST_SKIP() << "tshark is not installed"; \
  } while (0)

const char* kCapture = "field-handshakes.pcap";

// frame -> tab-separated fields
std::map<int, std::vector<std::string>> by_frame(const Tshark::Result& r) {
  std::map<int, std::vector<std::string>> m;
  for (const auto& l : r.lines()) {
    auto f = split(l, '\t');
    if (!f.empty() && !f[0].empty()) m[std::stoi(f[0])] = f;
  }
  return m;
}

// A capture made by mqttauth_synth with `args`, in the Tshark's folder (readable by tshark's user).
bool synthesize(const Tshark& ts, const std::string& name, const std::string& args) {
  const std::string out = q(ts.home + "/" + name);
  return std::system((q(MQTTAUTH_SYNTH_BIN) + " -o " + out + " " + args + " >/dev/null && chmod a+r " + out).c_str()) ==
         0;
}

}  // namespace

TEST(Plugin, IsLoaded) {
  NEED_TSHARK();
  Tshark ts;
  ASSERT_TRUE(ts.ok);
  auto r = ts.run("-G plugins");
  EXPECT_NE(r.out.find("mqttauth.so"), std::string::npos) << r.out << r.err;
  // The copy under test, not one installed globally (that one would shadow it in every test here).
  EXPECT_NE(r.out.find(ts.home + "/.local/lib/wireshark/plugins/4.0/epan/mqttauth.so"), std::string::npos)
      << "another mqttauth.so is loaded instead of the build under test (installed globally?): " << r.out;
}

TEST(Plugin, AuthenticateFieldsInBothCodes) {
  NEED_TSHARK();
  Tshark ts;
  auto r =
      ts.run(std::string("-2 -r ") + kCapture +
             " -Y mqttauth -T fields -E separator=/t -e frame.number -e mqttauth.code -e mqttauth.role"
             " -e mqttauth.protoname -e mqttauth.level -e mqttauth.flags -e mqttauth.keepalive -e mqttauth.clientid"
             " -e mqttauth.username -e mqttauth.password -e mqttauth.handshake.outcome -e mqttauth.connect_in"
             " -e mqttauth.challenge_in -e mqttauth.response_in -e mqttauth.connack_in");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto m = by_frame(r);
  // Exactly the five authenticate packets: challenge and response of sensor-01 (code 0) and sensor-02 (code 15),
  // and the unanswered challenge to sensor-05.
  std::set<int> frames;
  for (auto& [f, v] : m) frames.insert(f);
  EXPECT_EQ(frames, (std::set<int>{5, 6, 20, 21, 58}));
  auto row = [&](int f) { return m.at(f); };
  // frame, code, role, protoname, level, flags, keepalive, clientid, username, password, outcome, links
  EXPECT_EQ(row(5)[1], "0");
  EXPECT_EQ(row(5)[2], "1");
  EXPECT_EQ(row(5)[3], "MQTT");
  EXPECT_EQ(row(5)[4], "4");
  EXPECT_EQ(row(5)[5], "0x42");
  EXPECT_EQ(row(5)[6], "0");
  EXPECT_EQ(row(5)[7], "sensor-01");
  EXPECT_EQ(row(5)[8], "");  // the field leaves an empty username out
  EXPECT_EQ(row(5)[9], "1764047123008");
  EXPECT_EQ(row(5)[10], "1");  // accepted
  EXPECT_EQ(row(5)[11], "4");
  EXPECT_EQ(row(5)[13], "6");
  EXPECT_EQ(row(5)[14], "7");
  EXPECT_EQ(row(6)[2], "2");
  EXPECT_EQ(row(6)[9], "3670a89fb535c06f410cbfd9a1c702126b8d9aa54f45a086d3da21c59013704d");
  EXPECT_EQ(row(6)[12], "5");
  EXPECT_EQ(row(20)[1], "15");
  EXPECT_EQ(row(20)[2], "1");
  EXPECT_EQ(row(20)[7], "sensor-02");
  EXPECT_EQ(row(20)[10], "2");  // refused
  EXPECT_EQ(row(21)[1], "15");
  EXPECT_EQ(row(21)[2], "2");
  EXPECT_EQ(row(58)[7], "sensor-05");
  EXPECT_EQ(row(58)[10], "4");  // abandoned: the server reset the connection (as `sessions` says)
}

TEST(Plugin, InfoColumn) {
  NEED_TSHARK();
  Tshark ts;
  auto r = ts.run(std::string("-r ") + kCapture + " -T fields -E separator=/t -e frame.number -e _ws.col.Info");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto m = by_frame(r);
  EXPECT_EQ(m.at(5)[1], "Authenticate (challenge) sensor-01");
  EXPECT_EQ(m.at(6)[1], "Authenticate (response) sensor-01");
  EXPECT_EQ(m.at(20)[1], "Authenticate (challenge) sensor-02");
  EXPECT_EQ(m.at(8)[1], "Subscribe Request (id=1) [devices/sensor-01/cmd]");
}

TEST(Plugin, StandardPacketsStayWiresharks) {
  NEED_TSHARK();
  Tshark with, without(false);
  const std::string args =
      std::string("-2 -r ") + kCapture +
      " -Y mqtt -T fields -E separator=/t -e frame.number -e mqtt.msgtype -e mqtt.topic -e mqtt.msgid";
  auto a = by_frame(with.run(args));
  auto b = by_frame(without.run(args));
  ASSERT_FALSE(b.empty());
  std::size_t compared = 0;
  for (const auto& [frame, fields] : b) {
    if (fields[1] == "0" || fields[1] == "15") continue;  // Wireshark alone: "Reserved" / AUTH misread
    ASSERT_TRUE(a.count(frame)) << "frame " << frame << " lost its mqtt fields with the plugin";
    EXPECT_EQ(a.at(frame), fields) << "frame " << frame;
    ++compared;
  }
  EXPECT_GE(compared, 20u);
  // Without the plugin the non-standard port 28830 is not MQTT at all; with it the standard packets are.
  EXPECT_TRUE(a.count(19));
  EXPECT_FALSE(b.count(19));
  EXPECT_EQ(a.at(19)[1], "1");  // CONNECT
  EXPECT_EQ(a.at(22)[1], "2");  // CONNACK
}

TEST(Plugin, ExpertInfos) {
  NEED_TSHARK();
  Tshark ts;
  auto r = ts.run(std::string("-2 -r ") + kCapture + " -o mqttauth.secrets:field-handshakes.secrets" +
                  " -T fields -E separator=/t -E occurrence=a -e frame.number -e _ws.expert.message"
                  " -Y _ws.expert");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto m = by_frame(r);
  auto has = [&](int f, const std::string& text) { return m.count(f) && m.at(f)[1].find(text) != std::string::npos; };
  EXPECT_TRUE(has(5, "Predictable challenge")) << r.out;
  EXPECT_TRUE(has(21, "does not match the configured secret")) << r.out;
  EXPECT_FALSE(has(6, "does not match")) << r.out;
  EXPECT_TRUE(has(22, "The server refused the device after the challenge and the response. (CONNACK code 5)")) << r.out;
  EXPECT_TRUE(has(58, "The device never answered the challenge.")) << r.out;
}

// field-violations.pcap: each rule broken is an expert info named as `check` names it, on the packet that
// breaks it, with the spec clause; the packets themselves are decoded in full.
TEST(Plugin, ViolationsAreExpertInfosOfTheVocabulary) {
  NEED_TSHARK();
  Tshark ts;
  auto r = ts.run(
      "-2 -r field-violations.pcap -Y _ws.expert -T fields -E separator=/t -E occurrence=a"
      " -e frame.number -e _ws.expert.message");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto m = by_frame(r);
  auto has = [&](int f, const std::string& text) { return m.count(f) && m.at(f)[1].find(text) != std::string::npos; };
  EXPECT_TRUE(has(5, "[3.2.2.3.4]: value must be 0 or 1")) << r.out;  // CONNACK Maximum QoS 2
  EXPECT_TRUE(has(6, "[3.3.2.3.2]: value must be 0 or 1")) << r.out;  // PUBLISH payload format indicator 88
  EXPECT_TRUE(has(22, "[MQTT-3.1.2-1]")) << r.out;                    // MQIsdp at level 4
  EXPECT_TRUE(has(32, "Packet type 0 is forbidden")) << r.out;
  EXPECT_TRUE(has(33, "[MQTT-3.3.1-4]")) << r.out;  // QoS 3, a packet only Wireshark's MQTT shows
  EXPECT_TRUE(has(43, "the other custom packet type")) << r.out;
  EXPECT_TRUE(has(52, "not the one the device connected with")) << r.out;
  // The names are those of `check`.
  auto names = [&](const std::string& filter) {
    auto x = ts.run("-2 -r field-violations.pcap -Y " + filter + " -T fields -e frame.number");
    return x.out;
  };
  EXPECT_EQ(names("mqttauth.bad_property_value"), "5\n6\n");
  EXPECT_EQ(names("mqttauth.bad_protocol_name"), "22\n");
  EXPECT_EQ(names("mqttauth.bad_packet_type"), "32\n");
  EXPECT_EQ(names("mqttauth.bad_qos"), "33\n");
  EXPECT_EQ(names("mqttauth.code_mismatch"), "43\n");
  EXPECT_EQ(names("mqttauth.client_id_mismatch"), "52\n");
  EXPECT_EQ(names("mqttauth.challenge_reused"), "");
  // The PUBLISH with payload format indicator 88 is still Wireshark's MQTT with its topic.
  auto p = ts.run("-2 -r field-violations.pcap -Y frame.number==6 -T fields -e mqtt.topic");
  EXPECT_EQ(p.out, "sensors/pfi\n");
}

// loopback-qos-flows.pcap: the QoS flow audit's findings on the frames `check` names, and each acknowledgement
// linked to its PUBLISH; the healthy captures have none.
TEST(Plugin, QosFlowFindingsOnTheFramesCheckNames) {
  NEED_TSHARK();
  Tshark ts;
  auto names = [&](const std::string& file, const std::string& filter) {
    auto x = ts.run("-2 -r " + file + " -Y " + filter + " -T fields -e frame.number");
    EXPECT_EQ(x.rc, 0) << x.err;
    return x.out;
  };
  EXPECT_EQ(names("loopback-qos-flows.pcap", "mqttauth.packet_id_in_use"), "11\n");
  EXPECT_EQ(names("loopback-qos-flows.pcap", "mqttauth.resend_without_dup"), "28\n");
  EXPECT_EQ(names("loopback-qos-flows.pcap", "mqttauth.unknown_packet_id"), "13\n30\n");
  // The PUBACK of sensor-42's PUBLISH (frame 27) links back to it.
  auto link = ts.run("-2 -r loopback-qos-flows.pcap -Y frame.number==29 -T fields -e mqttauth.flow.publish_in");
  EXPECT_EQ(link.out, "27\n");
  // What the connection's end left in flight, on the frame `check` names (CheckCli.QosFlowFindings...): the
  // server's command to sensor-43, never acknowledged.
  EXPECT_EQ(names("loopback-qos-flows.pcap", "mqttauth.unacked_publish"), "44\n");
  for (const char* healthy : {"loopback-success-code0.pcap", "loopback-mixed.pcap", "field-handshakes.pcap"})
    EXPECT_EQ(names(healthy,
                    "mqttauth.packet_id_in_use || mqttauth.resend_without_dup || mqttauth.unknown_packet_id "
                    "|| mqttauth.receive_maximum_exceeded || mqttauth.unacked_publish || mqttauth.incomplete_qos2"),
              "")
        << healthy;
}

// The model across connections in the plugin: the same findings on the same frames as `check`
// (CheckCli.FleetFindingsOnTheirFramesAndNoneOnHealthyCaptures), the connections ended by the FIN and RST
// Wireshark's TCP dissector sees; forward links on a second pass; the latency in the stats tree.
TEST(Plugin, FleetFindingsOnTheFramesCheckNames) {
  NEED_TSHARK();
  Tshark ts;
  auto frames = [&](const std::string& file, const std::string& filter) {
    auto x = ts.run("-2 -r " + file + " -Y \"" + filter + "\" -T fields -e frame.number");
    EXPECT_EQ(x.rc, 0) << x.err;
    return x.out;
  };
  EXPECT_EQ(frames("loopback-takeover.pcap", "mqttauth.client_takeover"), "20\n33\n46\n");
  EXPECT_EQ(frames("loopback-takeover.pcap", "mqttauth.takeover_loop"), "46\n");
  EXPECT_EQ(frames("loopback-takeover.pcap", "mqttauth.reconnect_storm"), "113\n");
  auto rel = ts.run("-2 -r loopback-takeover.pcap -Y frame.number==20 -T fields -e mqttauth.fleet.related");
  EXPECT_EQ(rel.out, "4\n");  // the CONNECT of the connection taken over
  EXPECT_EQ(frames("loopback-will-retained.pcap", "mqttauth.will_published"), "24\n");
  EXPECT_EQ(frames("loopback-will-retained.pcap", "mqttauth.retained_delivered"), "46\n");
  EXPECT_EQ(frames("loopback-will-retained.pcap", "mqttauth.retained_cleared"), "51\n");
  auto will = ts.run("-2 -r loopback-will-retained.pcap -Y frame.number==24 -T fields -e mqttauth.fleet.related");
  EXPECT_EQ(will.out, "22\n");  // the end of sensor-61's connection
  // Deliveries link back to the client's PUBLISH with the time between; a PUBLISH forward to its PUBACK.
  auto del = ts.run(
      "-2 -r loopback-will-retained.pcap -Y mqttauth.fleet.published_in -T fields -E separator=/s "
      "-e frame.number -e mqttauth.fleet.published_in -e mqttauth.fleet.delivery_ms");
  // (46: the retained message, published in frame 19 on another connection; no delivery time for it.)
  EXPECT_EQ(del.out, "46 19 \n49 48 1\n52 50 2\n53 51 2\n");
  auto fwd = ts.run(
      "-2 -r loopback-will-retained.pcap -Y \"mqtt.msgtype==3 && mqttauth.flow.ack_in\" -T fields "
      "-E separator=/s -e frame.number -e mqttauth.flow.ack_in");
  EXPECT_EQ(fwd.out, "19 20\n");  // sensor-61's retained QoS 1 PUBLISH and its PUBACK
  auto lat = ts.run("-2 -r loopback-will-retained.pcap -Y frame.number==20 -T fields -e mqttauth.flow.latency_ms");
  EXPECT_EQ(lat.out, "1\n");
  auto tree = ts.run("-2 -q -r loopback-will-retained.pcap -z mqttauth,tree");
  EXPECT_NE(tree.out.find("PUBLISH to acknowledgement (ms)"), std::string::npos) << tree.out;
  EXPECT_NE(tree.out.find("Delivery to another client (ms)"), std::string::npos) << tree.out;
  for (const char* healthy : {"loopback-success-code0.pcap", "loopback-mixed.pcap", "loopback-qos-flows.pcap",
                              "field-handshakes.pcap", "loopback-many-devices.pcap"})
    EXPECT_EQ(frames(healthy,
                     "mqttauth.client_takeover || mqttauth.takeover_loop || mqttauth.reconnect_storm || "
                     "mqttauth.will_published || mqttauth.retained_delivered || mqttauth.retained_cleared"),
              "")
        << healthy;
}

// The keep-alive audit through tshark, on a synthetic capture whose devices break a 1 s keep-alive
// (mqttauth_synth --keep-alive-faults): the frames the plugin marks are the frames `check` names, and both are
// the frames found here by hand from Wireshark's own MQTT fields (the spec's limits plus the second of grace
// the audit allows): a client packet more than keep-alive + 1 s after the client's previous one is late; the
// server's first packet once the client has been silent for 1.5 x keep-alive + 1 s says the server should
// have closed; a PINGREQ while the previous one is unanswered.
TEST(Plugin, KeepAliveFindingsOnTheFramesCheckNames) {
  NEED_TSHARK();
  Tshark ts;
  const std::string cap = "keep-alive-faults.pcap";
  ASSERT_TRUE(synthesize(ts, cap, "--seed 7 --clients 6 --levels 3,4,5 --publishes 5,15 --keep-alive-faults 0.5"));
  // By hand, from Wireshark's dissection without the plugin's findings.
  auto t = ts.run("-2 -r " + cap +
                  " -Y mqtt -T fields -E separator=/t -E occurrence=a -E aggregator=, -e frame.number"
                  " -e frame.time_epoch -e tcp.stream -e tcp.dstport -e mqtt.msgtype -e mqtt.kalive");
  ASSERT_EQ(t.rc, 0) << t.err;
  struct Conn {
    double ka = 0, last_client = -1;
    bool expired_said = false, ping_pending = false;
  };
  std::map<std::string, Conn> conns;
  std::map<std::string, std::set<int>> want;
  for (const auto& l : t.lines()) {
    auto v = split(l, '\t');
    ASSERT_GE(v.size(), 5u) << l;
    const int frame = std::stoi(v[0]);
    const double ts_s = std::stod(v[1]);
    Conn& c = conns[v[2]];
    const bool from_client = v[3] == "1883";
    for (const auto& type : split(v[4], ',')) {
      const int m = std::stoi(type);
      if (m == 1 && v.size() > 5 && !v[5].empty()) c.ka = std::stod(v[5]);
      if (!from_client) {
        if (m == 13) c.ping_pending = false;
        if (c.ka > 0 && c.last_client >= 0 && !c.expired_said && ts_s - c.last_client > 1.5 * c.ka + 1) {
          want["keep_alive_expired"].insert(frame);
          c.expired_said = true;
        }
        continue;
      }
      if (c.ka > 0 && c.last_client >= 0 && ts_s - c.last_client > c.ka + 1) want["keep_alive_late"].insert(frame);
      if (m == 12) {
        if (c.ping_pending) want["pingreq_unanswered"].insert(frame);
        c.ping_pending = true;
      }
      c.last_client = ts_s;
      c.expired_said = false;
    }
  }
  ASSERT_GE(want["keep_alive_late"].size(), 2u) << t.out;
  ASSERT_EQ(want["keep_alive_expired"].size(), want["keep_alive_late"].size());
  ASSERT_EQ(want["pingreq_unanswered"].size(), want["keep_alive_late"].size());
  // The CLI's check.
  std::map<std::string, std::set<int>> cli;
  FILE* p = popen((std::string(MQTTAUTH_BIN) + " check --format jsonl " + q(ts.home + "/" + cap)).c_str(), "r");
  ASSERT_TRUE(p);
  char buf[1 << 14];
  while (fgets(buf, sizeof buf, p)) {
    std::string l = buf;
    auto rp = l.find("\"rule\":\""), fp = l.find("\"frame\":");
    if (rp == std::string::npos || fp == std::string::npos) continue;
    std::string rule = l.substr(rp + 8, l.find('"', rp + 8) - rp - 8);
    if (rule.rfind("keep_alive", 0) == 0 || rule == "pingreq_unanswered")
      cli[rule].insert(std::atoi(l.c_str() + fp + 8));
  }
  pclose(p);
  EXPECT_EQ(cli, want);
  // tshark with the plugin.
  std::map<std::string, std::set<int>> plugin;
  for (const char* rule : {"keep_alive_late", "keep_alive_expired", "pingreq_unanswered"}) {
    auto x = ts.run("-2 -r " + cap + " -Y mqttauth." + rule + " -T fields -e frame.number");
    EXPECT_EQ(x.rc, 0) << x.err;
    for (const auto& l : x.lines())
      if (!l.empty()) plugin[rule].insert(std::stoi(l));
  }
  EXPECT_EQ(plugin, want);
  // The related frame: a late packet refers back to the client's previous packet.
  const int late = *want["keep_alive_late"].begin();
  auto rel = ts.run("-2 -r " + cap + " -Y frame.number==" + std::to_string(late) +
                    " -T fields -e mqttauth.flow.keep_alive_related");
  EXPECT_EQ(rel.rc, 0) << rel.err;
  EXPECT_FALSE(rel.out.empty() || rel.out == "\n") << "frame " << late << " has no related frame";
  for (const char* healthy : {"loopback-success-code0.pcap", "loopback-mixed.pcap", "field-handshakes.pcap"}) {
    auto x = ts.run(std::string("-2 -r ") + healthy +
                    " -Y \"mqttauth.keep_alive_late || mqttauth.keep_alive_expired || mqttauth.pingreq_unanswered\""
                    " -T fields -e frame.number");
    EXPECT_EQ(x.out, "") << healthy;
  }
}

TEST(Plugin, ResponseVerifiedWithSecrets) {
  NEED_TSHARK();
  Tshark ts;
  auto r = ts.run(std::string("-2 -r ") + kCapture + " -o mqttauth.secrets:field-handshakes.secrets" +
                  " -Y mqttauth.role==2 -T fields -E separator=/t -e frame.number -e mqttauth.verification");
  auto m = by_frame(r);
  EXPECT_EQ(m.at(6)[1], "1");   // verified
  EXPECT_EQ(m.at(21)[1], "2");  // mismatch
}

TEST(Plugin, StatsTree) {
  NEED_TSHARK();
  Tshark ts;
  auto r = ts.run(std::string("-2 -q -r ") + kCapture + " -z mqttauth,tree");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("MQTT custom authentication"), std::string::npos) << r.out;
  auto count_of = [&](const std::string& label) -> int {
    for (const auto& l : r.lines()) {
      auto p = l.find(label);
      if (p == std::string::npos) continue;
      return std::atoi(l.substr(p + label.size()).c_str());
    }
    return -1;
  };
  EXPECT_EQ(count_of("Authenticate packets"), 5);
  EXPECT_EQ(count_of(" challenge"), 3);
  EXPECT_EQ(count_of(" response"), 2);
  EXPECT_EQ(count_of(" Accepted"), 2);
  EXPECT_EQ(count_of(" Refused"), 1);
  EXPECT_EQ(count_of(" sensor-02"), 1);
}

// field-anomalies.pcap: Linux cooked v2, port 28830 only (found by the heuristic), a challenge whose length
// field is split across segments, a 200 KB PUBLISH, a replayed challenge, a response sent twice, a malformed
// type-15 body.
TEST(Plugin, AnomaliesCapture) {
  NEED_TSHARK();
  Tshark ts;
  auto r = ts.run(
      "-2 -r field-anomalies.pcap -Y \"mqtt || mqttauth\" -T fields -E separator=/t -e frame.number"
      " -e mqtt.msgtype -e mqttauth.role -e mqtt.len");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto m = by_frame(r);
  std::set<int> frames;
  for (auto& [f, v] : m) frames.insert(f);
  EXPECT_EQ(frames, (std::set<int>{4, 6, 7, 8, 148, 155, 156, 157, 158, 159, 166, 167, 168, 169})) << r.out;
  EXPECT_EQ(m.at(6)[2], "1");    // the challenge whose header byte came one segment earlier
  EXPECT_EQ(m.at(148)[1], "3");  // the 200 KB PUBLISH, its length field split across segments
  EXPECT_EQ(m.at(148)[3], "200016");
  EXPECT_EQ(m.at(158)[2], "2");

  auto e = ts.run(
      "-2 -r field-anomalies.pcap -Y _ws.expert -T fields -E separator=/t -E occurrence=a"
      " -e frame.number -e _ws.expert.message");
  auto x = by_frame(e);
  auto has = [&](int f, const std::string& text) { return x.count(f) && x.at(f)[1].find(text) != std::string::npos; };
  EXPECT_TRUE(has(156, "The same challenge was sent in frame 6")) << e.out;
  EXPECT_TRUE(has(158, "answered the challenge more than once")) << e.out;
  EXPECT_TRUE(has(167, "outside the CONNECT / CONNACK exchange")) << e.out;
  EXPECT_TRUE(has(168, "malformed authenticate: field_overrun at byte 9")) << e.out;
}

TEST(Plugin, HeuristicCanBeTurnedOff) {
  NEED_TSHARK();
  Tshark ts;
  auto r = ts.run("-r field-anomalies.pcap -o mqttauth.heuristic:FALSE -Y \"mqtt || mqttauth\"");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  auto d = ts.run("-r field-anomalies.pcap -d tcp.port==28830,mqttauth -o mqttauth.heuristic:FALSE -Y mqttauth");
  EXPECT_NE(d.out.find("Authenticate (challenge) meter-31"), std::string::npos) << d.out << d.err;
}

TEST(Plugin, AuthenticateCodePreference) {
  NEED_TSHARK();
  Tshark ts;
  // Type 15 only: the code-0 packets of sensor-01 are raw reserved packets, sensor-02's code 15 still decode.
  auto r15 = ts.run(std::string("-r ") + kCapture + " -o mqttauth.code:15 -Y mqttauth.role -T fields -e frame.number");
  EXPECT_EQ(r15.out, "20\n21\n") << r15.err;
  auto info =
      ts.run(std::string("-r ") + kCapture + " -o mqttauth.code:15 -Y frame.number==5 -T fields -e _ws.col.Info");
  EXPECT_EQ(info.out, "Reserved (type 0)\n");
  // Type 0 only: the code-15 packets go to Wireshark's MQTT dissector.
  auto r0 = ts.run(std::string("-r ") + kCapture + " -o mqttauth.code:0 -Y mqttauth.role -T fields -e frame.number");
  EXPECT_EQ(r0.out, "5\n6\n58\n") << r0.err;
  auto m0 = ts.run(std::string("-r ") + kCapture +
                   " -o mqttauth.code:0 -Y \"frame.number==20 && mqtt\" -T fields -e mqtt.msgtype");
  EXPECT_EQ(m0.out, "15\n");
}

// The plugin and the CLI must see the same MQTT packets, frame by frame, and the same authenticate roles,
// in every capture of captures/ (one shared codec, two front ends).
// tshark with the plugin and the CLI on one capture in the Tshark's folder: per frame, the same number of MQTT
// packets, and the same authenticate roles. Returns the number of frames with an authenticate packet.
std::size_t expect_same_packets_as_cli(const Tshark& ts, const std::string& f, const std::string& tshark_args = {},
                                       const std::string& cli_args = {}) {
  SCOPED_TRACE(f);
  // tshark: per frame, the number of MQTT PDUs (standard ones under mqtt.msgtype, ours under mqttauth.code),
  // and the authenticate roles.
  auto t = ts.run("-2 -r " + q(f) + " " + tshark_args +
                  " -Y \"mqtt || mqttauth\" -T fields -E separator=/t -E occurrence=a"
                  " -E aggregator=, -e frame.number -e mqtt.msgtype -e mqttauth.code -e mqttauth.role");
  EXPECT_EQ(t.rc, 0) << t.err;
  std::map<int, int> tshark_count;
  std::map<int, std::string> tshark_roles;
  for (const auto& l : t.lines()) {
    auto v = split(l, '\t');
    int frame = std::stoi(v[0]);
    for (std::size_t col : {1u, 2u})
      if (v.size() > col && !v[col].empty()) tshark_count[frame] += static_cast<int>(split(v[col], ',').size());
    if (v.size() > 3 && !v[3].empty()) tshark_roles[frame] = v[3];
  }
  // The CLI on the same file.
  std::string cmd = std::string(MQTTAUTH_BIN) + " decode --format jsonl " + q(ts.home + "/" + f) + " " + cli_args;
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_TRUE(p);
  if (!p) return 0;
  std::map<int, int> cli_count;
  std::map<int, std::string> cli_roles;
  char buf[1 << 16];
  while (fgets(buf, sizeof buf, p)) {
    std::string l = buf;
    auto fp = l.find("\"frame\":");
    if (fp == std::string::npos || l.rfind("{\"record\":", 0) == 0) continue;  // not a packet line
    int frame = std::atoi(l.c_str() + fp + 8);
    ++cli_count[frame];
    auto rp = l.find("\"role\":\"");
    // Roles of authenticate packets (MQTT 5 AUTH is shown by Wireshark's MQTT dissector itself).
    if (rp != std::string::npos && l.find("\"type\":\"authenticate\"") != std::string::npos) {
      std::string role = l.substr(rp + 8, l.find('"', rp + 8) - rp - 8);
      std::string code = role == "challenge" ? "1" : "2";
      auto& r = cli_roles[frame];
      r += (r.empty() ? "" : ",") + code;
    }
  }
  pclose(p);
  EXPECT_FALSE(cli_count.empty());
  EXPECT_EQ(tshark_count, cli_count);
  EXPECT_EQ(tshark_roles, cli_roles);
  return cli_roles.size();
}

TEST(Plugin, SamePacketsAsTheCliForEveryBundledCapture) {
  NEED_TSHARK();
  Tshark ts;
  std::vector<std::string> files;
  {
    auto r = ts.run("-v");  // any run, to have the folder listed below
    (void)r;
    FILE* p = popen(("ls " + q(ts.home) + " | grep '\\.pcap$'").c_str(), "r");
    char line[512];
    while (p && fgets(line, sizeof line, p)) {
      std::string f = line;
      while (!f.empty() && (f.back() == '\n' || f.back() == '\r')) f.pop_back();
      files.push_back(f);
    }
    if (p) pclose(p);
  }
  ASSERT_GE(files.size(), 10u);
  std::size_t authenticate_frames = 0;
  for (const auto& f : files) authenticate_frames += expect_same_packets_as_cli(ts, f);
  EXPECT_GE(authenticate_frames, 40u);  // the corpus is full of handshakes
}

// MQTT over WebSocket through Wireshark's own WebSocket dissector (the plugin registers for the "mqtt"
// subprotocol): a synthetic capture on port 8080 whose writes are cut across WebSocket frames and messages
// (mqttauth_synth --websocket): every MQTT packet, the custom authenticate packets among them, on the frame the
// CLI names, with the same roles.
TEST(Plugin, MqttOverWebSocketAsTheCliSeesIt) {
  NEED_TSHARK();
  Tshark ts;
  const std::string cap = "synthetic-websocket.pcap";
  ASSERT_TRUE(synthesize(ts, cap,
                         "--seed 5 --clients 10 --levels 3,4 --auth-ratio 0.6 --publishes 5,30 --large-ratio 0.03"
                         " --port 8080 --websocket"));
  EXPECT_GE(expect_same_packets_as_cli(ts, cap), 4u);
  auto proto = ts.run("-2 -r " + cap + " -Y mqttauth.code -T fields -e _ws.col.Protocol");
  EXPECT_NE(proto.out.find("MQTT/WS"), std::string::npos) << proto.out;
}

// The custom handshake over WebSocket between real sockets: the reference broker on a ws:// listener (code 15)
// and the reference device connecting with --connect ws://..., the device recording its own traffic (--pcap).
// tshark with the plugin shows the four authenticate packets (challenge and response of an accepted and of a
// refused device) inside the WebSocket frames, on the frames the CLI names, with the same roles.
TEST(Plugin, CustomAuthenticateOverWebSocketBetweenRealSockets) {
  NEED_TSHARK();
  Tshark ts;
  const std::string secrets = ts.home + "/ws.secrets";
  std::ofstream(secrets) << "sensor-ws s3cret\n";
  Process broker({MQTTAUTH_BIN, "broker", "--listen", "ws://127.0.0.1:0", "--auth", "custom", "--auth-code", "15",
                  "--secrets", secrets},
                 ts.home + "/broker.log", "listening on ");
  ASSERT_FALSE(broker.ready.empty()) << broker.log_text();
  const std::string url = "ws://" + broker.ready + "/mqtt";
  for (const char* secret : {"s3cret", "wrong"}) {
    const std::string pcap = ts.home + "/ws-" + secret + ".pcap";
    const std::string cmd = q(MQTTAUTH_BIN) + " device -q --connect " + q(url) + " --client-id sensor-ws --secret " +
                            secret + " --publish 2 --qos 1 --pcap " + q(pcap) + " >/dev/null 2>&1; chmod a+r " +
                            q(pcap);
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  broker.stop();
  for (const char* f : {"ws-s3cret.pcap", "ws-wrong.pcap"}) {
    EXPECT_EQ(expect_same_packets_as_cli(ts, f), 2u) << f;  // the challenge's frame and the response's
    auto roles = ts.run(std::string("-2 -r ") + f + " -Y mqttauth.code -T fields -e mqttauth.code -e mqttauth.role");
    EXPECT_EQ(roles.out, "15\t1\n15\t2\n") << f;
  }
  auto outcome = ts.run(
      "-2 -r ws-wrong.pcap -o mqttauth.secrets:ws.secrets -Y mqttauth.response_mismatch -T fields "
      "-e frame.number");
  EXPECT_FALSE(outcome.out.empty()) << "the wrong response is not flagged: " << outcome.err;
}

// The custom authenticate packet inside TLS, through Wireshark's own TLS dissector decrypting with a key log
// (-o tls.keylog_file): the reference broker's mqtts:// and wss:// listeners (a self-signed certificate, code
// 15 and 0), its key log, the reference device with the right and a wrong secret, TLS 1.3 and 1.2, captured on
// loopback. tshark with the plugin shows every MQTT packet on the frame the CLI names (the CLI decrypting with
// the same key log), the challenge and response roles, and flags the wrong response with the secrets
// preference.
TEST(Plugin, CustomAuthenticateInsideDecryptedTls) {
  NEED_TSHARK();
  if (!can_capture()) GTEST_SKIP() << "no privilege to capture on lo";
  Tshark ts;
  const std::string secrets = ts.home + "/tls.secrets", keys = ts.home + "/tls-keys.txt";
  std::ofstream(secrets) << "sensor-tls s3cret\n";
  ASSERT_TRUE(write_self_signed(ts.home + "/broker.crt", ts.home + "/broker.key"));
  const std::uint16_t p1 = free_port(), p2 = free_port();
  Process broker({MQTTAUTH_BIN, "broker", "--listen", "mqtts://127.0.0.1:" + std::to_string(p1) + " code=15",
                  "--listen", "wss://127.0.0.1:" + std::to_string(p2), "--auth", "custom", "--secrets", secrets,
                  "--tls-cert", ts.home + "/broker.crt", "--tls-key", ts.home + "/broker.key", "--tls-keylog", keys},
                 ts.home + "/broker.log", "listening on ");
  ASSERT_FALSE(broker.ready.empty()) << broker.log_text();
  const std::string pcap = ts.home + "/tls.pcapng";
  Process cap({"dumpcap", "-q", "-i", "lo", "-f",
               "tcp port " + std::to_string(p1) + " or tcp port " + std::to_string(p2), "-w", pcap},
              pcap + ".log", "File: ");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string urls[] = {"mqtts://127.0.0.1:" + std::to_string(p1),
                              "wss://127.0.0.1:" + std::to_string(p2) + "/mqtt"};
  for (const std::string& url : urls)
    for (const char* secret : {"s3cret", "wrong"}) {
      const std::string cmd = q(MQTTAUTH_BIN) + " device -q --connect " + q(url) + " --client-id sensor-tls --secret " +
                              secret + " --publish 2 --qos 1 --tls-ca " + q(ts.home + "/broker.crt") + " --tls-max " +
                              (url[0] == 'm' ? "1.3" : "1.2") + " >/dev/null 2>&1";
      EXPECT_EQ(std::system(cmd.c_str()) != 0, std::string(secret) == "wrong") << cmd;
    }
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(cap.stop(SIGINT), "exit 0") << cap.log_text();
  broker.stop();
  std::system(("chmod a+r " + q(pcap) + " " + q(keys) + " " + q(secrets)).c_str());
  const std::string decrypt = "-o tls.keylog_file:tls-keys.txt -d tcp.port==" + std::to_string(p1) +
                              ",tls -d tcp.port==" + std::to_string(p2) + ",tls -d tls.port==" + std::to_string(p1) +
                              ",mqttauth";
  // Four handshakes: a challenge and a response each.
  EXPECT_EQ(expect_same_packets_as_cli(
                ts, "tls.pcapng", decrypt,
                "--tls-keylog " + q(keys) + " --port " + std::to_string(p1) + " --port " + std::to_string(p2)),
            8u);
  auto roles = ts.run("-2 -r tls.pcapng " + decrypt + " -Y mqttauth.code -T fields -e mqttauth.code -e mqttauth.role");
  EXPECT_EQ(roles.out, "15\t1\n15\t2\n15\t1\n15\t2\n0\t1\n0\t2\n0\t1\n0\t2\n") << roles.err;
  auto mismatch = ts.run("-2 -r tls.pcapng " + decrypt +
                         " -o mqttauth.secrets:tls.secrets -Y mqttauth.response_mismatch -T fields -e frame.number");
  EXPECT_EQ(mismatch.lines().size(), 2u) << mismatch.out << mismatch.err;  // the two wrong responses
  // Without the key log: TLS, nothing of MQTT.
  auto none = ts.run("-2 -r tls.pcapng -d tcp.port==" + std::to_string(p1) + ",tls -Y \"mqtt || mqttauth\"");
  EXPECT_TRUE(none.out.empty()) << none.out;
}

// Hostile input end to end: mutated and truncated copies of every bundled capture (deterministic: a fixed
// seed) never crash or hang the CLI or tshark with the plugin; the CLI exits 0, 1 (decode errors) or 3
// (damaged capture), never with a signal.
TEST(Plugin, MutatedAndTruncatedCapturesNeverCrashCliOrTshark) {
  NEED_TSHARK();
  Tshark ts;
  const std::string dir = ts.home;
  FILE* p = popen(("ls " + q(dir) + " | grep '\\.pcap$'").c_str(), "r");
  std::vector<std::string> files;
  char line[512];
  while (p && fgets(line, sizeof line, p)) {
    std::string f = line;
    f.pop_back();
    files.push_back(f);
  }
  if (p) pclose(p);
  ASSERT_FALSE(files.empty());
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  auto rnd = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  int made = 0;
  for (const auto& f : files) {
    std::string bytes = read_file(dir + "/" + f);
    if (bytes.size() < 64) continue;
    for (int variant = 0; variant < 3; ++variant) {
      std::string m = bytes;
      if (variant == 0) {  // about 1 byte in 200 replaced, the file header kept
        for (std::size_t i = 24; i < m.size(); ++i)
          if (rnd() % 200 == 0) m[i] = static_cast<char>(rnd());
      } else if (variant == 1) {  // truncated at a random point
        m.resize(24 + rnd() % (m.size() - 24));
      } else {  // a record length made absurd
        std::size_t at = 24 + 8;
        m[at] = m[at + 1] = m[at + 2] = static_cast<char>(0xFF);
      }
      std::string name = "hostile-" + std::to_string(made++) + ".pcap";
      {
        std::ofstream o(dir + "/" + name, std::ios::binary);
        o << m;
      }
      std::system(("chmod a+r " + q(dir + "/" + name)).c_str());
      for (const char* sub : {"decode --format jsonl", "sessions", "stats", "check"}) {
        std::string cmd =
            "timeout 60 " + std::string(MQTTAUTH_BIN) + " " + sub + " " + q(dir + "/" + name) + " >/dev/null 2>&1";
        int st = std::system(cmd.c_str());
        ASSERT_TRUE(WIFEXITED(st)) << sub << " " << name << " from " << f;
        int rc = WEXITSTATUS(st);
        EXPECT_TRUE(rc == 0 || rc == 1 || rc == 3) << sub << " on " << name << " (from " << f << ") exited " << rc;
      }
      auto t = ts.run("-2 -r " + q(name) + " -Y mqttauth -T fields -e frame.number");
      EXPECT_TRUE(t.rc == 0 || t.rc == 2) << name << " (from " << f << "): tshark exited " << t.rc << "\n" << t.err;
      EXPECT_EQ(t.err.find("Segmentation"), std::string::npos) << t.err;
    }
  }
  EXPECT_GE(made, 30);
}
