// Interoperability with the field's own stack: Mosca 2.8.3 with mqtt-connection and mqtt-packet patched as the
// seed write-up describes (tests/interop/setup-field-stack.sh installs and patches them; MQTTAUTH_FIELD_STACK
// names its node_modules). Both directions, both custom codes, right and wrong secrets, several devices at once:
//   - `mqttauth device` against the patched Mosca broker (tests/interop/mosca-broker.js),
//   - a device on the patched mqtt-connection (tests/interop/field-device.js) against `mqttauth broker`.
// Each run is captured on lo with dumpcap, and `mqttauth sessions` on the capture must say what each side logged.
// Without MQTTAUTH_FIELD_STACK the tests skip, unless MQTTAUTH_REQUIRE_TOOLS is set (scripts/test-all.sh);
// without the privilege to capture, the capture checks are left out.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <thread>

#include "broker_process.hpp"
#include "json.hpp"
#include "run.hpp"

using namespace mqttauth::test;

namespace {

const char* field_stack() {
  const char* dir = std::getenv("MQTTAUTH_FIELD_STACK");
  if (dir == nullptr && std::getenv("MQTTAUTH_REQUIRE_TOOLS") != nullptr)
    ADD_FAILURE() << "MQTTAUTH_FIELD_STACK is not set (tests/interop/setup-field-stack.sh)";
  return dir;
}

#define NEED_FIELD_STACK()                                                                                     \
  const char* stack = field_stack();                                                                           \
  if (stack == nullptr) GTEST_SKIP() << "MQTTAUTH_FIELD_STACK is not set: the field's stack is not installed"; \
  const std::string node_path = std::string("NODE_PATH=") + stack

std::uint16_t free_port() {
  // A port the kernel had free a moment ago: bind port 0 through the broker's own helper would need a broker;
  // ask the shell's Node for one instead.
  auto r = run_shell(
      "node -e \"const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address()"
      ".port);s.close();})\"");
  return static_cast<std::uint16_t>(std::stoi(r.out));
}

// dumpcap on lo for one TCP port while it lives; stop() ends it and the capture file is complete.
class Capture {
 public:
  Capture(std::uint16_t port, const std::string& path) : path_(path) {
    if (!can_capture()) return;
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{"dumpcap", "-q", "-i", "lo", "-f", "tcp port " + std::to_string(port), "-w", path},
        path + ".log", "File: ");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  bool active() const { return proc_ != nullptr; }
  void stop() {
    if (!proc_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(proc_->stop(SIGINT), "exit 0") << proc_->log_text();
  }

 private:
  std::string path_;
  std::unique_ptr<Process> proc_;
};

// `sessions --format jsonl` of a capture: per client id, the outcomes in order ("accepted custom0 verified").
std::map<std::string, std::vector<std::string>> sessions_by_client(const std::string& pcap,
                                                                   const std::string& secrets) {
  auto r = run({"sessions", pcap, "--secrets", secrets, "--format", "jsonl"});
  EXPECT_EQ(r.rc, 0) << r.err;
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& line : r.lines()) {
    auto j = Json::parse(line);
    std::string anomalies;
    if (j.has("anomalies"))
      for (std::size_t i = 0; i < j["anomalies"].size(); ++i) anomalies += " " + j["anomalies"][i].str();
    out[j["client_id"].str()].push_back(j["outcome"].str() + " " + j["auth"].str() + " " +
                                        (j.has("verification") ? j["verification"].str() : "-") + anomalies);
  }
  return out;
}

std::vector<Json> json_lines_of(const std::string& path) {
  std::vector<Json> v;
  std::istringstream in(slurp(path));
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) v.push_back(Json::parse(l));
  return v;
}

std::string write_secrets() {
  std::string path = unique_path("field-secrets");
  std::ofstream(path) << "sensor-01 s3cret\nsensor-02 other\nsensor-03 third\nctl ctl-secret\n";
  return path;
}

class FieldStack : public ::testing::TestWithParam<int> {};

}  // namespace

// `mqttauth device` against the field's Mosca: a device that answers a command from a controller, one with the
// wrong secret, and (code 0) one idle longer than its keep-alive between messages, all at once.
TEST_P(FieldStack, MqttauthDeviceAgainstPatchedMosca) {
  NEED_FIELD_STACK();
  const int code = GetParam();
  const std::string secrets = write_secrets(), mosca_log = unique_path("mosca-verdicts"),
                    pcap = unique_path("mosca") + ".pcapng";
  const std::uint16_t port = free_port();
  Capture cap(port, pcap);
  Process mosca({"node", source_path("tests/interop/mosca-broker.js"), std::to_string(port), std::to_string(code),
                 secrets, mosca_log},
                unique_path("mosca") + ".log", "listening on ", {node_path});
  ASSERT_FALSE(mosca.ready.empty()) << mosca.log_text();
  const std::string addr = mosca.ready;
  const std::string dev = shell_quote(MQTTAUTH_BIN) + " device -q --connect " + addr;
  std::string script = "(" + dev + " --client-id sensor-01 --secret s3cret --wait-commands 1 --publish 2 --qos 1 " +
                       "--timeout-ms 8000 >a.out 2>&1; echo $? >a.rc) & " + "(" + dev +
                       " --client-id sensor-02 --secret not-other >b.out 2>&1; echo $? >b.rc) & ";
  if (code == 0)
    script += "(" + dev +
              " --client-id sensor-03 --secret third --keep-alive 2 --publish 4 --interval-ms 3500 >c.out 2>&1;"
              " echo $? >c.rc) & ";
  script += "sleep 1; " + dev + " --client-id ctl --secret ctl-secret --command sensor-01=reboot --qos 1 >d.out 2>&1;" +
            " echo $? >d.rc; wait";
  const std::string dir = unique_path("mosca-run");
  ASSERT_EQ(std::system(("mkdir -p " + dir + " && cd " + dir + " && sh -c " + shell_quote(script)).c_str()), 0);
  cap.stop();
  mosca.stop();
  auto rc = [&](const char* f) { return slurp(dir + "/" + f + ".rc") + slurp(dir + "/" + f + ".out"); };
  EXPECT_EQ(rc("a").substr(0, 2), "0\n") << rc("a");
  EXPECT_NE(rc("a").find("commands_answered=1"), std::string::npos) << rc("a");
  EXPECT_EQ(rc("b").substr(0, 2), "3\n") << rc("b");
  EXPECT_EQ(rc("d").substr(0, 2), "0\n") << rc("d");
  EXPECT_NE(rc("d").find("replies_received=1"), std::string::npos) << rc("d");
  if (code == 0) {
    EXPECT_EQ(rc("c").substr(0, 2), "0\n") << rc("c") << mosca.log_text();
  }

  // What Mosca logged: each handshake's verdict, with the code it read.
  std::map<std::string, std::string> verdicts;
  for (const auto& j : json_lines_of(mosca_log)) {
    verdicts[j["client_id"].str()] = j["verdict"].str();
    EXPECT_EQ(static_cast<int>(j["code"].num()), code);
  }
  EXPECT_EQ(verdicts["sensor-01"], "accepted");
  EXPECT_EQ(verdicts["sensor-02"], "refused");
  EXPECT_EQ(verdicts["ctl"], "accepted");
  if (code == 0) {
    EXPECT_EQ(verdicts["sensor-03"], "accepted");
  }

  if (!cap.active()) return;
  const std::string scheme = code == 0 ? "custom0" : "custom15";
  auto s = sessions_by_client(pcap, secrets);
  EXPECT_EQ(s["sensor-01"], std::vector<std::string>{"accepted " + scheme + " verified"});
  EXPECT_EQ(s["sensor-02"], std::vector<std::string>{"refused " + scheme + " mismatch refused_after_exchange"});
  EXPECT_EQ(s["ctl"], std::vector<std::string>{"accepted " + scheme + " verified"});
  if (code == 0) {
    EXPECT_EQ(s["sensor-03"], std::vector<std::string>{"accepted custom0 verified"});
    auto d = run({"decode", pcap, "--format", "jsonl"});
    std::size_t pings = 0, pongs = 0;
    for (const auto& line : d.lines()) {
      pings += line.find("\"type\":\"pingreq\"") != std::string::npos;
      pongs += line.find("\"type\":\"pingresp\"") != std::string::npos;
    }
    EXPECT_GE(pings, 3u);  // one in each 3.5 s pause of sensor-03
    EXPECT_EQ(pongs, pings);
  }
}

// A device on the field's patched mqtt-connection against `mqttauth broker`: a device that answers a command,
// a controller that sends it and publishes, one with the wrong secret, one that answers with the other code.
TEST_P(FieldStack, FieldDeviceAgainstMqttauthBroker) {
  NEED_FIELD_STACK();
  const int code = GetParam();
  const std::string secrets = write_secrets(), pcap = unique_path("field-device") + ".pcapng";
  const std::uint16_t port = free_port();
  Capture cap(port, pcap);
  BrokerProcess broker(MQTTAUTH_BIN,
                       {"--listen", "127.0.0.1:" + std::to_string(port), "--auth", "custom", "--auth-code",
                        std::to_string(code), "--secrets", secrets},
                       unique_path("mqttauth-broker") + ".log");
  ASSERT_FALSE(broker.address.empty()) << broker.log_text();
  const std::string log = unique_path("field-device-log");
  const std::string dev =
      "node " + shell_quote(source_path("tests/interop/field-device.js")) + " 127.0.0.1:" + std::to_string(port) + " ";
  const std::string other = code == 0 ? "15" : "0";
  const std::string script =
      node_path + " sh -c " +
      shell_quote("(" + dev + "sensor-01 s3cret --wait-commands 1 --publish 1 --log " + log + "; echo a=$?) & (" + dev +
                  "sensor-02 not-other --log " + log + "; echo b=$?) & (" + dev + "sensor-03 third --code " + other +
                  " --log " + log + "; echo c=$?) & sleep 1; " + dev + "ctl ctl-secret --command sensor-01=reboot " +
                  "--publish 2 --log " + log + "; echo d=$?; wait");
  auto r = run_shell(script);
  cap.stop();
  broker.stop();
  for (const char* want : {"a=0", "b=3", "c=3", "d=0"})
    EXPECT_NE(r.out.find(want), std::string::npos) << r.out << r.err;

  // What the devices logged.
  std::map<std::string, Json> logged;
  for (auto& j : json_lines_of(log)) logged[j["client_id"].str()] = j;
  ASSERT_EQ(logged.size(), 4u) << slurp(log);
  EXPECT_EQ(logged["sensor-01"]["commands_answered"].num(), 1);
  EXPECT_EQ(logged["ctl"]["replies"].num(), 1);
  EXPECT_EQ(logged["ctl"]["published"].num(), 2);
  for (const auto& [id, j] : logged) EXPECT_EQ(static_cast<int>(j["challenge_code"].num()), code) << id;
  EXPECT_EQ(logged["sensor-02"]["connack"].num(), 5);
  EXPECT_EQ(logged["sensor-03"]["connack"].num(), 5);  // the other code: code_mismatch, refused

  // The broker's log names the refusals with the findings' names.
  EXPECT_NE(broker.log_text().find("(code_mismatch)"), std::string::npos) << broker.log_text();

  if (!cap.active()) return;
  const std::string scheme = code == 0 ? "custom0" : "custom15";
  auto s = sessions_by_client(pcap, secrets);
  EXPECT_EQ(s["sensor-01"], std::vector<std::string>{"accepted " + scheme + " verified"});
  EXPECT_EQ(s["ctl"], std::vector<std::string>{"accepted " + scheme + " verified"});
  EXPECT_EQ(s["sensor-02"], std::vector<std::string>{"refused " + scheme + " mismatch refused_after_exchange"});
  EXPECT_EQ(s["sensor-03"],
            std::vector<std::string>{"refused " + scheme + " verified refused_after_exchange code_mismatch"});
}

INSTANTIATE_TEST_SUITE_P(Codes, FieldStack, ::testing::Values(0, 15),
                         [](const ::testing::TestParamInfo<int>& i) { return "code" + std::to_string(i.param); });
