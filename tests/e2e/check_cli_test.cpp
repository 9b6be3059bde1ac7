// End-to-end tests of `mqttauth check`: rules, expectations, exit codes, JSON Lines and JUnit output.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "broker_process.hpp"
#include "json.hpp"
#include "run.hpp"

using namespace mqttauth::test;

namespace {

const std::string kSrc = MQTTAUTH_SOURCE_DIR;
const std::string kHandshakes = kSrc + "/captures/field-handshakes.pcap";
const std::string kAnomalies = kSrc + "/captures/field-anomalies.pcap";
const std::string kSecrets = kSrc + "/captures/field-handshakes.secrets";

std::string write_temp(const std::string& name, const std::string& text) {
  std::string p = temp_dir() + "/" + name;
  std::ofstream(p) << text;
  return p;
}

std::vector<Json> jsonl(const RunResult& r) {
  std::vector<Json> v;
  for (const auto& l : r.lines()) v.push_back(Json::parse(l));
  return v;
}

// Rules found, as "rule@conn".
std::multiset<std::string> rules(const RunResult& r) {
  std::multiset<std::string> s;
  for (const auto& j : jsonl(r))
    if (j.has("rule"))
      s.insert(j["rule"].str() + "@" + (j.has("conn") ? std::to_string(static_cast<int>(j["conn"].num())) : "0"));
  return s;
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

TEST(CheckCli, BuiltInRulesOnTheFiveDeviceCapture) {
  auto r = run({"check", "--format", "jsonl", "--secrets", kSecrets, kHandshakes});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;  // only warnings and infos: passes the default --fail-on error
  auto got = rules(r);
  std::multiset<std::string> want{"predictable_challenge@1", "handshake_refused@2",   "response_mismatch@2",
                                  "predictable_challenge@2", "handshake_abandoned@5", "challenge_without_response@5",
                                  "predictable_challenge@5"};
  EXPECT_EQ(got, want) << r.out;
  auto last = jsonl(r).back();
  EXPECT_EQ(last["summary"]["connections"].num(), 5);
  EXPECT_EQ(last["summary"]["warnings"].num(), 4);
  EXPECT_TRUE(last["summary"]["pass"].boolean());
}

TEST(CheckCli, FailOnWarningFailsRefusedDevices) {
  EXPECT_EQ(run({"check", "--fail-on", "warning", kHandshakes}).rc, 1);
  EXPECT_EQ(run({"check", "--fail-on", "error", kHandshakes}).rc, 0);
}

TEST(CheckCli, AnomaliesAreErrors) {
  auto r = run({"check", "--format", "jsonl", kAnomalies});
  EXPECT_EQ(r.rc, 1);
  auto got = rules(r);
  EXPECT_EQ(got.count("decode_error@3"), 1u) << r.out;
  EXPECT_EQ(got.count("repeated_response@2"), 1u) << r.out;  // the device answered twice
  EXPECT_EQ(got.count("unexpected_state@3"), 1u) << r.out;   // authenticate from the device first
  EXPECT_EQ(got.count("challenge_reused@2"), 1u) << r.out;
  for (const auto& j : jsonl(r))
    if (j.has("rule") && j["rule"].str() == "decode_error") {
      EXPECT_EQ(j["frame"].num(), 168);
      EXPECT_NE(j["message"].str().find("field_overrun at byte 9"), std::string::npos);
    }
}

TEST(CheckCli, ExpectationsEachKind) {
  auto ex = write_temp("all.expect",
                       "# every kind, all true of field-handshakes.pcap\n"
                       "client sensor-01 authenticates\n"
                       "client sensor-02 refused\n"
                       "client sensor-05 abandoned\n"
                       "publishes >= 2 on devices/+/telemetry\n"
                       "publishes == 1 on legacy/04/state\n"
                       "connections == 5\n"
                       "no decode-errors\n"
                       "max-handshake-latency 100ms\n"
                       "no qos 2   # false: sensor-03 publishes at QoS 2\n"
                       "every-session authenticates   # false\n");
  auto r = run({"check", "--format", "jsonl", "--expect", ex, kHandshakes});
  EXPECT_EQ(r.rc, 1);
  std::map<std::string, bool> pass;
  for (const auto& j : jsonl(r))
    if (j.has("expectation")) pass[j["expectation"].str()] = j["pass"].boolean();
  EXPECT_EQ(pass.size(), 10u);
  for (const char* ok : {"client sensor-01 authenticates", "client sensor-02 refused", "client sensor-05 abandoned",
                         "publishes >= 2 on devices/+/telemetry", "publishes == 1 on legacy/04/state",
                         "connections == 5", "no decode-errors", "max-handshake-latency 100ms"})
    EXPECT_TRUE(pass[ok]) << ok;
  EXPECT_FALSE(pass["no qos 2"]);
  EXPECT_FALSE(pass["every-session authenticates"]);
  // The same expectations that hold, alone, pass.
  auto good = write_temp("good.expect", "client sensor-02 refused\nconnections >= 5\nmax-handshake-latency 1s\n");
  EXPECT_EQ(run({"check", "--expect", good, kHandshakes}).rc, 0);
  auto slow = write_temp("slow.expect", "max-handshake-latency 10ms\n");
  EXPECT_EQ(run({"check", "--expect", slow, kHandshakes}).rc, 1);
}

TEST(CheckCli, ExitTwoOnUnreadableInputOrBadExpectations) {
  auto notcap = write_temp("not-a-capture.pcap", "hello, this is text\n");
  auto r = run({"check", notcap});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("not a capture file"), std::string::npos) << r.err;
  auto bad = write_temp("bad.expect", "connections == 5\npublishes lots on a/b\n");
  auto b = run({"check", "--expect", bad, kHandshakes});
  EXPECT_EQ(b.rc, 2);
  EXPECT_NE(b.err.find("bad.expect:2:"), std::string::npos) << b.err;
  // A duration that would overflow the nanoseconds (found by fuzzing) is refused with its line.
  auto huge = write_temp("huge.expect", "connections >= 1\nmax-handshake-latency 5003333333333333ms\n");
  auto h = run({"check", "--expect", huge, kHandshakes});
  EXPECT_EQ(h.rc, 2);
  EXPECT_NE(h.err.find("huge.expect:2:"), std::string::npos) << h.err;
  EXPECT_NE(h.err.find("longer than a day"), std::string::npos) << h.err;
  EXPECT_EQ(run({"check", "--fail-on", "never", kHandshakes}).rc, 2);
}

TEST(CheckCli, JUnitReportHasOneTestcasePerDeviceAndExpectation) {
  auto ex = write_temp("junit.expect", "connections == 5\nclient sensor-01 authenticates\n");
  std::string xml_path = temp_dir() + "/report.xml";
  auto r =
      run({"check", "--fail-on", "warning", "--secrets", kSecrets, "--expect", ex, "--junit", xml_path, kHandshakes});
  EXPECT_EQ(r.rc, 1);
  std::string xml = slurp(xml_path);
  ASSERT_FALSE(xml.empty());
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 0), 0u);
  EXPECT_EQ(count(xml, "<testsuites "), 1u);
  EXPECT_EQ(count(xml, "<testsuite "), 1u);
  EXPECT_EQ(count(xml, "<testcase "), 7u);  // five devices, two expectations
  EXPECT_EQ(count(xml, "classname=\"mqttauth.connection\""), 5u);
  EXPECT_EQ(count(xml, "classname=\"mqttauth.expectation\""), 2u);
  // The refused and the abandoned device fail; the accepted ones and both expectations pass.
  EXPECT_EQ(count(xml, "<failure "), 2u) << xml;
  EXPECT_NE(xml.find("tests=\"7\" failures=\"2\""), std::string::npos) << xml;
  auto refused = xml.find("sensor-02");
  ASSERT_NE(refused, std::string::npos);
  EXPECT_LT(xml.find("<failure ", refused), xml.find("</testcase>", refused));
  auto accepted = xml.find("sensor-01 192.168");
  ASSERT_NE(accepted, std::string::npos);
  EXPECT_GT(xml.find("<failure ", accepted), xml.find("</testcase>", accepted));
  // Balanced elements.
  EXPECT_EQ(count(xml, "<testcase "), count(xml, "</testcase>"));
  EXPECT_EQ(count(xml, "<failure "), count(xml, "</failure>"));
}

// The QoS flow audit: each finding of loopback-qos-flows.pcap (made with the device's flow misbehaviours) on its
// frame, and none on the healthy captures, bundled and (when present) the field corpus.
TEST(CheckCli, QosFlowFindingsOnTheirFramesAndNoneOnHealthyCaptures) {
  auto r = run({"check", source_path("captures/loopback-qos-flows.pcap"), "--format", "jsonl"});
  EXPECT_EQ(r.rc, 1) << r.err;  // errors: packet_id_in_use, resend_without_dup
  std::vector<std::string> got;
  for (const auto& l : r.lines()) {
    auto j = Json::parse(l);
    if (!j.has("rule")) continue;
    const std::string rule = j["rule"].str();
    if (rule == "packet_id_in_use" || rule == "resend_without_dup" || rule == "unknown_packet_id" ||
        rule == "unacked_publish" || rule == "incomplete_qos2" || rule == "receive_maximum_exceeded")
      got.push_back(rule + "@" + std::to_string(static_cast<int>(j["frame"].num())) + " " + j["client_id"].str());
  }
  EXPECT_EQ(got, (std::vector<std::string>{"packet_id_in_use@11 sensor-41", "unknown_packet_id@13 sensor-41",
                                           "resend_without_dup@28 sensor-42", "unknown_packet_id@30 sensor-42",
                                           "unacked_publish@44 sensor-43"}))
      << r.out;
  // The unacknowledged PUBLISH: the server's command to sensor-43, waited until the connection ended.
  EXPECT_NE(r.out.find("the server's QoS 1 PUBLISH id 1: no PUBACK when the connection ended"), std::string::npos)
      << r.out;

  std::vector<std::string> healthy;
  for (const char* f :
       {"field-handshakes", "field-anomalies", "field-violations", "loopback-success-code0", "loopback-success-code15",
        "loopback-v5-reauth", "loopback-many-devices", "loopback-large-payload", "loopback-mixed"})
    healthy.push_back(source_path(std::string("captures/") + f + ".pcap"));
  const std::filesystem::path corpus = source_path("../shared/field-corpus");
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(corpus, ec))
    if (e.path().extension() == ".pcap") healthy.push_back(e.path().string());
  for (const auto& h : healthy) {
    auto c = run({"check", h, "--format", "jsonl"});
    for (const char* rule : {"packet_id_in_use", "resend_without_dup", "unknown_packet_id", "unacked_publish",
                             "incomplete_qos2", "receive_maximum_exceeded"})
      EXPECT_EQ(c.out.find(std::string("\"rule\":\"") + rule + "\""), std::string::npos) << h << ": " << rule;
  }
}

// The model across connections on the takeover and will-retained scenarios: every finding on its frame, with
// the frame it refers to, and none of them on the healthy captures.
TEST(CheckCli, FleetFindingsOnTheirFramesAndNoneOnHealthyCaptures) {
  auto findings = [](const std::string& capture) {
    auto r = run({"check", source_path(capture), "--format", "jsonl"});
    std::vector<std::string> got;
    for (const auto& l : r.lines()) {
      auto j = Json::parse(l);
      if (!j.has("rule")) continue;
      const std::string rule = j["rule"].str();
      if (rule == "client_takeover" || rule == "takeover_loop" || rule == "reconnect_storm" ||
          rule == "retained_delivered" || rule == "retained_cleared" || rule == "will_published")
        got.push_back(rule + "@" + std::to_string(static_cast<int>(j["frame"].num())) + " #" +
                      std::to_string(static_cast<int>(j["conn"].num())));
    }
    return std::make_pair(r, got);
  };
  auto [t, takeovers] = findings("captures/loopback-takeover.pcap");
  EXPECT_EQ(t.rc, 1) << t.err;  // takeover_loop is an error
  EXPECT_EQ(takeovers,
            (std::vector<std::string>{"client_takeover@20 #2", "client_takeover@33 #3", "takeover_loop@46 #4",
                                      "client_takeover@46 #4", "reconnect_storm@113 #9"}))
      << t.out;
  EXPECT_NE(t.out.find("connected on connection #1 (CONNECT in frame 4), taken over"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("5 connections of this client id"), std::string::npos) << t.out;
  auto [w, wills] = findings("captures/loopback-will-retained.pcap");
  EXPECT_EQ(w.rc, 0) << w.err;
  EXPECT_EQ(wills,
            (std::vector<std::string>{"will_published@24 #1", "retained_delivered@46 #3", "retained_cleared@51 #4"}))
      << w.out;
  EXPECT_NE(w.out.find("the will of connection #2, which ended abnormally in frame 22"), std::string::npos) << w.out;
  EXPECT_NE(w.out.find("retained, sent for the SUBSCRIBE in frame 42 (published in frame 19)"), std::string::npos)
      << w.out;

  std::vector<std::string> healthy;
  for (const char* f : {"field-handshakes", "field-anomalies", "field-violations", "loopback-success-code0",
                        "loopback-v5-reauth", "loopback-many-devices", "loopback-mixed", "loopback-qos-flows"})
    healthy.push_back(std::string("captures/") + f + ".pcap");
  for (const auto& h : healthy) EXPECT_EQ(findings(h).second, std::vector<std::string>{}) << h;
}

// Expectations on the health findings and the latency, as a CI gate would write them.
TEST(CheckCli, HealthExpectations) {
  auto ex = write_temp("health.expect",
                       "no takeover-loop\nno unacked-publish\nmax-publish-latency p99 2ms\n"
                       "max-delivery-latency 1ms\nno client_takeover\n");
  auto pass_of = [&](const std::string& capture) {
    auto r = run({"check", "--format", "jsonl", "--expect", ex, source_path(capture)});
    std::map<std::string, std::string> got;
    for (const auto& l : r.lines()) {
      auto j = Json::parse(l);
      if (j.has("expectation"))
        got[j["expectation"].str()] = (j["pass"].boolean() ? "pass " : "fail ") + j["detail"].str();
    }
    return std::make_pair(r.rc, got);
  };
  auto [trc, t] = pass_of("captures/loopback-takeover.pcap");
  EXPECT_EQ(trc, 1);
  EXPECT_EQ(t["no takeover-loop"], "fail 1 takeover_loop (first: conn #4 frame 46)");
  EXPECT_EQ(t["no client_takeover"], "fail 3 client_takeover (first: conn #2 frame 20)");
  EXPECT_EQ(t["no unacked-publish"], "pass 0 unacked_publish");
  auto [wrc, w] = pass_of("captures/loopback-will-retained.pcap");
  EXPECT_EQ(wrc, 1);
  EXPECT_EQ(w["max-publish-latency p99 2ms"], "pass p99 1.000 ms over 1 acknowledgements");
  EXPECT_EQ(w["max-delivery-latency 1ms"], "fail max 2.000 ms over 3 deliveries");
  EXPECT_EQ(w["no takeover-loop"], "pass 0 takeover_loop");
  // A name outside the vocabulary is a usage error with the line.
  auto bad = write_temp("bad.expect", "no such-thing\n");
  auto r = run({"check", "--expect", bad, source_path("captures/loopback-takeover.pcap")});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("bad.expect:1: no finding is named 'such-thing'"), std::string::npos) << r.err;
}

// The keep-alive audit on real timing: a device that announces 4 s and never pings stays silent 5.3 s between
// two messages (the broker drops at 6 s): keep_alive_late on the second PUBLISH, nothing else.
TEST(CheckCli, KeepAliveLateOnASilentDevice) {
  BrokerProcess b(MQTTAUTH_BIN, {"--quiet"}, unique_path("keepalive-broker") + ".log");
  ASSERT_FALSE(b.address.empty()) << b.log_text();
  const std::string pcap = unique_path("keepalive") + ".pcap";
  auto d = run({"device", "-q", "--connect", b.address, "--client-id", "silent", "--auth", "none", "--keep-alive", "4",
                "--no-pingreq", "--publish", "2", "--interval-ms", "5300", "--pcap", pcap});
  ASSERT_EQ(d.rc, 0) << d.out << d.err;
  auto r = run({"check", pcap, "--format", "jsonl"});
  std::vector<std::string> got;
  for (const auto& l : r.lines()) {
    auto j = Json::parse(l);
    if (j.has("rule") && j["rule"].str().find("keep_alive") != std::string::npos)
      got.push_back(j["rule"].str() + "@" + std::to_string(static_cast<int>(j["frame"].num())));
  }
  auto dec = run({"decode", pcap, "--format", "jsonl"});
  std::string second_publish;
  int publishes = 0;
  for (const auto& l : dec.lines()) {
    auto j = Json::parse(l);
    if (j.has("type") && j["type"].str() == "publish" && ++publishes == 2)
      second_publish = std::to_string(static_cast<int>(j["frame"].num()));
  }
  EXPECT_EQ(got, std::vector<std::string>{"keep_alive_late@" + second_publish}) << r.out;
  EXPECT_EQ(dec.out.find("\"type\":\"pingreq\""), std::string::npos);
}
