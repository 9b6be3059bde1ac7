// The health findings on traffic that neither our broker nor our device made: Debian's mosquitto broker and
// its stock clients on loopback, captured with dumpcap. Two mosquitto_sub with one client id from 127.0.0.2
// and 127.0.0.3 kick each other off (mosquitto_sub reconnects after a second: a takeover loop), a client with
// a will is killed, a retained message reaches a later subscriber and is cleared. The frames `check` names are
// checked against the decode of the same capture, found independently here.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "broker_process.hpp"
#include "json.hpp"
#include "run.hpp"

using namespace mqttauth::test;

namespace {

bool have_mosquitto() {
  if (std::system("command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto") == 0) return true;
  if (std::getenv("MQTTAUTH_REQUIRE_TOOLS") != nullptr) ADD_FAILURE() << "Debian's mosquitto is not installed";
  return false;
}

std::uint16_t free_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t n = sizeof a;
  const bool ok = s >= 0 && bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  getsockname(s, reinterpret_cast<sockaddr*>(&a), &n) == 0;
  if (s >= 0) close(s);
  return ok ? ntohs(a.sin_port) : std::uint16_t{18931};
}

std::vector<Json> jsonl(const std::string& out) {
  std::vector<Json> v;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) v.push_back(Json::parse(l));
  return v;
}

}  // namespace

TEST(RealBrokerHealth, MosquittoTakeoverLoopWillAndRetained) {
  if (!have_mosquitto_clients() || !have_mosquitto()) GTEST_SKIP() << "mosquitto or its clients are not installed";
  if (!can_capture()) GTEST_SKIP() << "no privilege to capture on lo";
  const std::uint16_t port = free_port();
  const std::string conf = unique_path("mosquitto") + ".conf", pcap = unique_path("mosquitto-health") + ".pcapng";
  std::ofstream(conf) << "listener " << port << " 127.0.0.1\nallow_anonymous true\npersistence false\n";
  const std::string mosquitto =
      std::system("command -v mosquitto >/dev/null 2>&1") == 0 ? "mosquitto" : "/usr/sbin/mosquitto";
  Process broker({mosquitto, "-c", conf}, conf + ".log", "Opening ipv4 listen socket on port ");
  ASSERT_FALSE(broker.ready.empty()) << broker.log_text();
  Process cap({"dumpcap", "-q", "-i", "lo", "-f", "tcp port " + std::to_string(port), "-w", pcap}, pcap + ".log",
              "File: ");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string p = "-h 127.0.0.1 -p " + std::to_string(port);
  const std::string dir = temp_dir();
  auto r = run_shell("set -e; cd " + shell_quote(dir) + "; P='" + p +
                     "'\n"
                     "mosquitto_sub $P -i watcher -t 'wills/#' -C 1 -W 10 > health-watcher.out & W=$!\n"
                     "sleep 0.3\n"
                     "mosquitto_pub $P -i retainer -t state/x -m on -r -q 1\n"
                     "mosquitto_sub $P -i dying -t dying/in --will-topic wills/dying --will-payload gone >/dev/null & "
                     "D=$!\n"
                     "sleep 0.4; kill -9 $D\n"
                     "mosquitto_sub $P -i shared -A 127.0.0.2 -t a/1 >/dev/null 2>&1 & S1=$!\n"
                     "sleep 0.4\n"
                     "mosquitto_sub $P -i shared -A 127.0.0.3 -t a/1 >/dev/null 2>&1 & S2=$!\n"
                     "sleep 3; kill $S1 $S2\n"
                     "mosquitto_sub $P -i late -t 'state/#' -C 1 -W 5 > health-late.out\n"
                     "mosquitto_pub $P -i clearer -t state/x -r -n\n"
                     "wait $W; cat health-watcher.out health-late.out");
  EXPECT_EQ(r.out, "gone\non\n") << r.err;  // what the clients themselves saw: the will, the retained message
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(cap.stop(SIGINT), "exit 0") << cap.log_text();

  // By hand, from the decode: the frames each finding must be on.
  auto d = run({"decode", pcap, "--format", "jsonl"});
  ASSERT_EQ(d.rc, 0) << d.err;
  std::map<double, std::string> client_of;
  std::set<std::string> want;
  int shared = 0;
  std::uint64_t retained_publish = 0;
  for (const Json& j : jsonl(d.out)) {
    if (!j.has("type")) continue;
    const std::string type = j["type"].str(), dir2 = j["dir"].str();
    const double conn = j["conn"].num();
    const auto frame = static_cast<std::uint64_t>(j["frame"].num());
    if (type == "connect") client_of[conn] = j["client_id"].str();
    const std::string who = client_of.count(conn) ? client_of[conn] : "";
    if (type == "connack" && who == "shared" && shared++ > 0) want.insert("client_takeover@" + std::to_string(frame));
    if (type != "publish") continue;
    const std::string topic = j["topic"].str();
    const bool retain = j.has("retain") && j["retain"].boolean();
    if (dir2 == "s2c" && who == "watcher" && topic == "wills/dying")
      want.insert("will_published@" + std::to_string(frame));
    if (dir2 == "s2c" && who == "late" && retain) want.insert("retained_delivered@" + std::to_string(frame));
    if (dir2 == "c2s" && retain && topic == "state/x" && j["payload_len"].num() == 0)
      want.insert("retained_cleared@" + std::to_string(frame));
    if (dir2 == "c2s" && retain && topic == "state/x" && j["payload_len"].num() > 0) retained_publish = frame;
  }
  ASSERT_GE(shared, 4) << "the two mosquitto_sub did not flap: " << d.out;
  ASSERT_NE(retained_publish, 0u);

  auto c = run({"check", pcap, "--format", "jsonl"});
  EXPECT_EQ(c.rc, 1) << c.err;  // the takeover loop is an error
  std::set<std::string> got;
  int loops = 0;
  for (const Json& j : jsonl(c.out)) {
    if (!j.has("rule")) continue;
    const std::string rule = j["rule"].str();
    if (rule == "takeover_loop") {
      ++loops;
      continue;
    }
    got.insert(rule + "@" + std::to_string(static_cast<std::uint64_t>(j["frame"].num())));
  }
  EXPECT_EQ(got, want) << c.out;
  EXPECT_EQ(loops, 1) << c.out;  // once per loop, however long it goes on
  EXPECT_NE(c.out.find("(published in frame " + std::to_string(retained_publish) + ")"), std::string::npos) << c.out;
  // sessions: the killed client's will fired; each shared connection but the last was taken over.
  auto s = run({"sessions", pcap, "--format", "jsonl"});
  int taken = 0, fired = 0;
  for (const Json& j : jsonl(s.out)) {
    if (j.has("taken_over_by")) ++taken;
    if (j.has("will") && j["will"].str() == "fired") ++fired;
  }
  EXPECT_EQ(taken, shared - 1);
  EXPECT_EQ(fired, 1);
}
