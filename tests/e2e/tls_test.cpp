// MQTT over TLS decrypted with a key log, from third-party software only: MQTT.js (npm) on Node as the client,
// its key log written by Node (--tls-keylog), Debian's mosquitto's TLS and WebSocket-over-TLS listeners as the
// server, captured on loopback with dumpcap. Every MQTT packet the client logged is in the decode, in order; the
// same with the secrets embedded in the pcapng (editcap --inject-secrets, a Decryption Secrets Block); and
// without the keys each connection is reported as TLS with the reason, never guessed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "json.hpp"
#include "mqttjs_log.hpp"
#include "mosquitto.hpp"
#include "run.hpp"

using namespace mqttauth::test;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(Tls, MqttJsThroughMosquittoDecryptedWithNodesKeyLog) {
  const char* modules = nullptr;
  if (const std::string why = mqttjs_and_mosquitto_missing(modules); !why.empty()) GTEST_SKIP() << why;
  MosquittoOnLo m("mosquitto-tls", false, true);
  ASSERT_TRUE(m.ready()) << m.broker->log_text();
  ASSERT_NE(m.tls_port, 0) << "no certificate";
  struct Client {
    std::string id, url, tls_max, version, transport, tls_version;
  };
  const std::string host = "127.0.0.1:";
  const std::vector<Client> clients = {
      {"js-tls13", "mqtts://" + host + std::to_string(m.tls_port), "1.3", "4", "tls", "TLS 1.3"},
      {"js-tls12", "mqtts://" + host + std::to_string(m.tls_port), "1.2", "5", "tls", "TLS 1.2"},
      {"js-wss13", "wss://" + host + std::to_string(m.wss_port) + "/mqtt", "1.3", "4", "websocket-tls", "TLS 1.3"},
      {"js-wss12", "wss://" + host + std::to_string(m.wss_port) + "/mqtt", "1.2", "5", "websocket-tls", "TLS 1.2"},
  };
  PacketLog logged;
  std::string all_keys;
  const std::string first_keys = unique_path("keylog-first") + ".txt";
  for (const Client& c : clients) {
    const std::string keylog = unique_path("keylog-" + c.id) + ".txt";
    auto r = run_shell("NODE_PATH=" + shell_quote(modules) + " timeout 20 node --tls-keylog=" + shell_quote(keylog) +
                       " " + shell_quote(source_path("tests/interop/mqttjs-ws.js")) + " " + c.url + " " + c.id +
                       " --version " + c.version + " --tls-max " + c.tls_max + " --sizes 10,300,70000,5,20000,0");
    ASSERT_EQ(r.rc, 0) << c.id << ": " << r.out << r.err;
    add_mqttjs_log(logged, c.id, r.out);
    const std::string text = read_file(keylog);
    ASSERT_NE(text.find(c.tls_max == "1.3" ? "SERVER_TRAFFIC_SECRET_0" : "CLIENT_RANDOM"), std::string::npos) << text;
    if (all_keys.empty()) std::ofstream(first_keys) << text;
    all_keys += text;
  }
  m.stop_capture();
  const std::string keys = unique_path("keylog-all") + ".txt";
  std::ofstream(keys) << all_keys;

  auto check_decode = [&](const std::vector<std::string>& args, const std::string& what) {
    auto d = run(args);
    ASSERT_EQ(d.rc, 0) << what << ": " << d.err;
    PacketLog decoded = decoded_packets(d.out);
    for (auto [id, dirs] : logged) {
      ASSERT_GE(dirs.at("c2s").size(), 10u) << id;
      dirs["c2s"].insert(dirs["c2s"].begin(), "connect");  // MQTT.js logs no 'packetsend' for its CONNECT
      EXPECT_EQ(decoded[id]["c2s"], dirs.at("c2s")) << what << ": " << id;
      EXPECT_EQ(decoded[id]["s2c"], dirs.at("s2c")) << what << ": " << id;
    }
  };
  check_decode({"decode", m.pcap, "--format", "jsonl", "--tls-keylog", keys}, "--tls-keylog");

  // The secrets inside the capture: a pcapng Decryption Secrets Block, no --tls-keylog.
  const std::string with_secrets = unique_path("tls-dsb") + ".pcapng";
  auto e = run_shell("editcap --inject-secrets tls," + shell_quote(keys) + " " + shell_quote(m.pcap) + " " +
                     shell_quote(with_secrets));
  ASSERT_EQ(e.rc, 0) << e.out << e.err;
  check_decode({"decode", with_secrets, "--format", "jsonl"}, "Decryption Secrets Block");

  // sessions: the transport, the version the client was held to, the suite.
  auto s = run({"sessions", m.pcap, "--format", "jsonl", "--tls-keylog", keys});
  ASSERT_EQ(s.rc, 0) << s.err;
  std::map<std::string, Json> row;
  for (const Json& j : json_lines(s.out))
    if (j.has("client_id")) row[j["client_id"].str()] = j;
  for (const Client& c : clients) {
    ASSERT_TRUE(row.count(c.id)) << s.out;
    EXPECT_EQ(row[c.id]["transport"].str(), c.transport) << c.id;
    EXPECT_EQ(row[c.id]["tls_version"].str(), c.tls_version) << c.id;
    EXPECT_TRUE(row[c.id].has("tls_suite")) << c.id;
    EXPECT_FALSE(row[c.id].has("tls_reason")) << c.id << ": " << row[c.id]["tls_reason"].str();
  }

  // Without keys, or with only the first client's: TLS, with the reason, and no MQTT packet invented.
  auto count_reasons = [](const std::string& out) {
    std::map<std::string, int> n;
    for (const Json& j : json_lines(out))
      if (j.has("record") && j["record"].str() == "tls") ++n[j["reason"].str()];
    return n;
  };
  // (TLS is reported on the MQTT ports and 8883: these are other ports.)
  const std::string p1 = std::to_string(m.tls_port), p2 = std::to_string(m.wss_port);
  auto none = run({"decode", m.pcap, "--format", "jsonl", "--port", p1, "--port", p2});
  ASSERT_EQ(none.rc, 0) << none.err;
  EXPECT_EQ(decoded_packets(none.out).size(), 0u) << none.out;
  auto reasons = count_reasons(none.out);
  EXPECT_EQ(reasons["TLS 1.3, no key log (--tls-keylog FILE, or a pcapng with its secrets)"], 2) << none.out;
  EXPECT_EQ(reasons["TLS 1.2, no key log (--tls-keylog FILE, or a pcapng with its secrets)"], 2) << none.out;
  auto some = run({"decode", m.pcap, "--format", "jsonl", "--tls-keylog", first_keys, "--port", p1, "--port", p2});
  ASSERT_EQ(some.rc, 0) << some.err;
  reasons = count_reasons(some.out);
  EXPECT_EQ(reasons["TLS 1.3, no key for this client random"], 1) << some.out;
  EXPECT_EQ(reasons["TLS 1.2, no key for this client random"], 2) << some.out;
  PacketLog partial = decoded_packets(some.out);
  EXPECT_EQ(partial.size(), 1u);
  EXPECT_TRUE(partial.count("js-tls13"));
}

// The reference device verifies the reference broker's certificate (chain and IP address) unless told not to,
// and both write the same secrets for a session to their key logs.
TEST(Tls, ReferenceDeviceVerifiesTheBrokersCertificateAndBothLogTheSecrets) {
  const std::string dir = unique_path("tls-verify");
  const std::string crt = dir + "-broker.crt", key = dir + "-broker.key", other = dir + "-other.crt",
                    other_key = dir + "-other.key", broker_keys = dir + "-broker-keys.txt",
                    device_keys = dir + "-device-keys.txt";
  ASSERT_TRUE(write_self_signed(crt, key));
  ASSERT_TRUE(write_self_signed(other, other_key));
  Process broker({MQTTAUTH_BIN, "broker", "--listen", "mqtts://127.0.0.1:0", "--listen", "wss://127.0.0.1:0",
                  "--tls-cert", crt, "--tls-key", key, "--tls-keylog", broker_keys},
                 dir + "-broker.log", "listening on ");
  ASSERT_FALSE(broker.ready.empty()) << broker.log_text();
  const std::string url = "mqtts://" + broker.ready;
  auto device = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"device", "--connect", url, "--client-id", "tls-dev", "--auth",
                                     "none",   "--publish", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args);
  };
  auto good = device({"--tls-ca", crt, "--tls-keylog", device_keys});
  EXPECT_EQ(good.rc, 0) << good.err;
  auto wrong_ca = device({"--tls-ca", other});
  EXPECT_EQ(wrong_ca.rc, 6) << wrong_ca.err;
  EXPECT_NE(wrong_ca.err.find("TLS handshake with 127.0.0.1 failed: certificate"), std::string::npos) << wrong_ca.err;
  auto insecure = device({"--tls-insecure", "--tls-max", "1.2"});
  EXPECT_EQ(insecure.rc, 0) << insecure.err;
  EXPECT_EQ(broker.stop(), "exit 0") << broker.log_text();  // (its TLS context and key log torn down cleanly)
  // The device's key log (one TLS 1.3 session) is a subset of the broker's (every session it served).
  std::istringstream mine(read_file(device_keys));
  const std::string theirs = read_file(broker_keys);
  int lines = 0;
  for (std::string l; std::getline(mine, l); ++lines) EXPECT_NE(theirs.find(l), std::string::npos) << l;
  EXPECT_EQ(lines, 5);  // the TLS 1.3 secrets: handshake and traffic both ways, and the exporter's
  EXPECT_NE(theirs.find("CLIENT_RANDOM "), std::string::npos);  // the TLS 1.2 session of --tls-max 1.2
}
