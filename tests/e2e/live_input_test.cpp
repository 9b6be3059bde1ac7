// Live inputs of the analysis commands: `-i IFACE` (libpcap) while the reference device talks to the
// reference broker, ended by Ctrl-C with totals; standard input as a stream; `--follow` on a directory that
// tcpdump rotates into (-G), with a connection that spans files. Capturing needs CAP_NET_RAW: without it these
// skip with the reason, and the error a user without it gets is checked instead.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <iterator>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "broker_process.hpp"
#include "json.hpp"
#include "run.hpp"

using namespace mqttauth::test;

namespace {

#define SKIP_WITHOUT_CAPTURE()                                                                             \
  do {                                                                                                     \
    if (!can_capture())                                                                                    \
      GTEST_SKIP() << "not permitted to capture packets (no CAP_NET_RAW): run the tests as root to cover " \
                      "-i and --follow of a tcpdump";                                                      \
  } while (0)

std::string secrets_file() {
  std::string p = unique_path("live") + ".secrets";
  std::ofstream(p) << "dev-a a-secret\ndev-b b-secret\ndev-c c-secret\n";
  return p;
}

std::vector<std::string> device(const std::string& port, const std::string& id, int publishes, int interval_ms) {
  return {MQTTAUTH_BIN,    "device",
          "--connect",     "127.0.0.1:" + port,
          "--client-id",   id,
          "--secret",      id.substr(4) + "-secret",
          "--auth",        "custom",
          "--publish",     std::to_string(publishes),
          "--interval-ms", std::to_string(interval_ms),
          "--qos",         "1"};
}

// The JSON objects of a log that also holds mqttauth's messages (one per line).
std::vector<Json> object_lines(const std::string& text) {
  std::vector<Json> v;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty() && l[0] == '{') v.push_back(Json::parse(l));
  return v;
}

bool wait_for(const std::function<bool()>& done, int ms) {
  for (int i = 0; i < ms / 50; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

}  // namespace

TEST(LiveInput, SessionsOnAnInterfaceShowTheHandshakeWhileTheDeviceRuns) {
  SKIP_WITHOUT_CAPTURE();
  BrokerProcess broker(MQTTAUTH_BIN, {"--auth", "custom", "--secrets", secrets_file()}, unique_path("broker"));
  ASSERT_FALSE(broker.address.empty()) << broker.log_text();
  const std::string port = std::to_string(broker.port());
  Process live({MQTTAUTH_BIN, "sessions", "-i", "lo", "--port", port}, unique_path("sessions-i"), "capturing on '");
  ASSERT_FALSE(live.ready.empty()) << live.log_text();
  // The device publishes for about 2 s after its handshake: its row must show before it is done.
  Process dev(device(port, "dev-a", 10, 200), unique_path("device"), "connected to ");
  const bool shown = wait_for(
      [&] {
        const std::string t = live.log_text();
        return t.find("dev-a") != std::string::npos && t.find("accepted") != std::string::npos;
      },
      5000);
  EXPECT_TRUE(shown) << live.log_text();
  EXPECT_TRUE(dev.alive()) << "the device ended before its handshake was shown:\n" << live.log_text();
  ASSERT_TRUE(wait_for([&] { return !dev.alive(); }, 10000));
  EXPECT_EQ(dev.stop(), "exit 0") << dev.log_text();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // its FIN through the 50 ms delivery
  EXPECT_EQ(live.stop(SIGINT), "exit 0");
  const std::string out = live.log_text();
  // The handshake's row (END open), then the connection's final row (END fin), then the totals.
  const auto open_row = out.find(" open ");
  const auto final_row = out.find(" fin ");
  ASSERT_NE(open_row, std::string::npos) << out;
  ASSERT_NE(final_row, std::string::npos) << out;
  EXPECT_LT(open_row, final_row) << out;
  EXPECT_NE(out.find("custom code 0"), std::string::npos) << out;
  EXPECT_NE(out.find("packets captured"), std::string::npos) << out;
  EXPECT_NE(out.find("1 MQTT"), std::string::npos) << out;
}

TEST(LiveInput, DecodeStatsAndCheckOnAnInterfacePrintTotalsOnCtrlC) {
  SKIP_WITHOUT_CAPTURE();
  BrokerProcess broker(MQTTAUTH_BIN, {"--auth", "custom", "--secrets", secrets_file()}, unique_path("broker"));
  ASSERT_FALSE(broker.address.empty()) << broker.log_text();
  const std::string port = std::to_string(broker.port());
  Process stats({MQTTAUTH_BIN, "stats", "--format", "jsonl", "-i", "lo", "--port", port}, unique_path("stats-i"),
                "capturing on '");
  Process check({MQTTAUTH_BIN, "check", "-i", "lo", "--port", port}, unique_path("check-i"), "capturing on '");
  Process decode({MQTTAUTH_BIN, "decode", "--format", "jsonl", "-i", "lo", "--port", port}, unique_path("decode-i"),
                 "capturing on '");
  ASSERT_FALSE(decode.ready.empty()) << decode.log_text();
  ASSERT_FALSE(stats.ready.empty()) << stats.log_text();
  ASSERT_FALSE(check.ready.empty()) << check.log_text();
  const auto args = device(port, "dev-b", 4, 0);
  ASSERT_EQ(run(std::vector<std::string>(args.begin() + 1, args.end())).rc, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(stats.stop(SIGINT), "exit 0");
  EXPECT_EQ(check.stop(SIGINT), "exit 0");
  EXPECT_EQ(decode.stop(SIGINT), "exit 0");
  // decode: every packet of the exchange, the challenge and the response told apart.
  std::map<std::string, int> roles;
  for (const auto& p : object_lines(decode.log_text()))
    if (p.has("role")) ++roles[p["role"].str()];
  EXPECT_EQ(roles, (std::map<std::string, int>{{"challenge", 1}, {"response", 1}})) << decode.log_text();
  const auto rows = object_lines(stats.log_text());
  ASSERT_EQ(rows.size(), 1u) << stats.log_text();
  EXPECT_EQ(rows[0]["packets"]["publish"]["c2s"].num(), 4.0) << stats.log_text();
  EXPECT_EQ(rows[0]["packets"]["authenticate"]["total"].num(), 2.0) << stats.log_text();
  EXPECT_NE(check.log_text().find("1 connections; 0 errors"), std::string::npos) << check.log_text();
}

TEST(LiveInput, WithoutThePrivilegeTheErrorSaysWhatIsMissing) {
  const auto bad = run({"sessions", "-i", "no-such-if0"});
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("cannot capture on interface 'no-such-if0'"), std::string::npos) << bad.err;
  if (getuid() != 0) GTEST_SKIP() << "not root: no way to drop the capture privilege to check its message";
  if (std::system("command -v setpriv >/dev/null 2>&1") != 0) GTEST_SKIP() << "setpriv (util-linux) is missing";
  const auto r =
      run_shell("setpriv --reuid=65534 --regid=65534 --clear-groups " + shell_quote(MQTTAUTH_BIN) + " sessions -i lo");
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("cannot capture on interface 'lo'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("CAP_NET_RAW"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(LiveInput, StandardInputIsReadAsAStream) {
  const std::string cap = source_path("captures/loopback-mixed.pcap");
  const auto file = run({"sessions", "--format", "jsonl", cap});
  // (In a subshell: run_shell gives the command line /dev/null as its input.)
  const auto piped =
      run_shell("(cat " + shell_quote(cap) + " | " + shell_quote(MQTTAUTH_BIN) + " sessions --format jsonl -)");
  ASSERT_EQ(piped.rc, 0) << piped.err;
  const auto a = object_lines(file.out), b = object_lines(piped.out);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GE(a.size(), 5u);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["client_id"].str(), b[i]["client_id"].str());
    EXPECT_EQ(a[i]["outcome"].str(), b[i]["outcome"].str());
    EXPECT_EQ(a[i]["packets_c2s"].num(), b[i]["packets_c2s"].num());
    EXPECT_EQ(b[i]["file"].str(), "-");
  }
  const auto stats = run_shell("(cat " + shell_quote(cap) + " | " + shell_quote(MQTTAUTH_BIN) + " stats -)");
  EXPECT_EQ(stats.rc, 0) << stats.err;
  EXPECT_NE(stats.out.find("Handshakes"), std::string::npos);
}

TEST(LiveInput, FollowADirectoryTcpdumpRotatesIntoReportsEveryConnectionOnce) {
  SKIP_WITHOUT_CAPTURE();
  if (std::system("command -v tcpdump >/dev/null 2>&1") != 0) {
    if (std::getenv("MQTTAUTH_REQUIRE_TOOLS") != nullptr) ADD_FAILURE() << "tcpdump is not on PATH";
    GTEST_SKIP() << "tcpdump is not installed (scripts/install-deps.sh installs it)";
  }
  BrokerProcess broker(MQTTAUTH_BIN, {"--auth", "custom", "--secrets", secrets_file()}, unique_path("broker"));
  ASSERT_FALSE(broker.address.empty()) << broker.log_text();
  const std::string port = std::to_string(broker.port());
  const std::string dir = unique_path("rotated");
  ASSERT_TRUE(std::filesystem::create_directory(dir));
  // A new file every second (when a packet comes after it), each packet written as it is captured.
  Process tcpdump({"tcpdump", "-i", "lo", "-G", "1", "-w", dir + "/cap-%Y%m%d-%H%M%S.pcap", "-Z", "root", "-U",
                   "--immediate-mode", "-B", "131072", "tcp port " + port},
                  unique_path("tcpdump"), "listening on ");
  ASSERT_FALSE(tcpdump.ready.empty()) << tcpdump.log_text();
  Process follow({MQTTAUTH_BIN, "sessions", "--format", "jsonl", "--follow", dir}, unique_path("follow"), "following ");
  ASSERT_FALSE(follow.ready.empty()) << follow.log_text();
  // dev-a: 12 messages 300 ms apart (3.6 s: across several files); dev-b and dev-c short, meanwhile.
  Process a(device(port, "dev-a", 12, 300), unique_path("dev-a"), "connected to ");
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  const auto args_b = device(port, "dev-b", 3, 0), args_c = device(port, "dev-c", 3, 0);
  EXPECT_EQ(run(std::vector<std::string>(args_b.begin() + 1, args_b.end())).rc, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(run(std::vector<std::string>(args_c.begin() + 1, args_c.end())).rc, 0);
  ASSERT_TRUE(wait_for([&] { return !a.alive(); }, 15000));
  EXPECT_EQ(a.stop(), "exit 0") << a.log_text();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(tcpdump.stop(SIGINT), "exit 0") << tcpdump.log_text();
  // The follower reads the rest, then ends on Ctrl-C.
  const bool all = wait_for([&] { return object_lines(follow.log_text()).size() >= 3; }, 5000);
  EXPECT_TRUE(all) << follow.log_text();
  EXPECT_EQ(follow.stop(SIGINT), "exit 0");

  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 3u) << "tcpdump did not rotate";
  // Every connection once, each complete (its FIN seen), dev-a's across files.
  const auto rows = object_lines(follow.log_text());
  std::map<std::string, int> seen;
  for (const auto& r : rows) {
    ++seen[r["client_id"].str()];
    EXPECT_EQ(r["end"].str(), "fin") << r["client_id"].str();
    EXPECT_EQ(r["outcome"].str(), "accepted") << r["client_id"].str();
  }
  EXPECT_EQ(seen, (std::map<std::string, int>{{"dev-a", 1}, {"dev-b", 1}, {"dev-c", 1}})) << follow.log_text();
  // dev-a's connection (its client address and port) in each file alone: the first holds its CONNECT, a later
  // one only the rest (a row without the handshake).
  std::string a_client;
  for (const auto& r : rows)
    if (r["client_id"].str() == "dev-a") a_client = r["client"].str();
  int files_with_a = 0;
  for (const auto& f : files) {
    const auto one = run({"sessions", "--format", "jsonl", "--port", port, f});  // (mid-stream: the port says MQTT)
    for (const auto& r : object_lines(one.out)) files_with_a += r["client"].str() == a_client ? 1 : 0;
  }
  EXPECT_GE(files_with_a, 2) << "dev-a's connection did not span two files";
  for (const auto& r : rows) {
    if (r["client_id"].str() == "dev-a") {
      EXPECT_GE(r["packets_c2s"].num(), 14.0);  // CONNECT, response, 12 PUBLISH
    }
  }
  // The same rows as one run over the files.
  std::vector<std::string> batch = {"sessions", "--format", "jsonl"};
  batch.insert(batch.end(), files.begin(), files.end());
  const auto whole = object_lines(run(batch).out);
  ASSERT_EQ(whole.size(), rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(whole[i]["client_id"].str(), rows[i]["client_id"].str());
    EXPECT_EQ(whole[i]["packets_c2s"].num(), rows[i]["packets_c2s"].num());
    EXPECT_EQ(whole[i]["packets_s2c"].num(), rows[i]["packets_s2c"].num());
  }
}

TEST(LiveInput, FollowAGrowingFileReadsWhatIsAppended) {
  // A capture copied in two parts, the second while mqttauth follows the file (the first part ends inside a
  // record): every connection once, as from the whole file.
  const std::string src = source_path("captures/loopback-mixed.pcap");
  std::ifstream in(src, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 2000u);
  const std::string path = unique_path("growing") + ".pcap";
  std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() / 2 + 7);
  Process follow({MQTTAUTH_BIN, "sessions", "--format", "jsonl", "--follow", path}, unique_path("follow-file"),
                 "following ");
  ASSERT_FALSE(follow.ready.empty()) << follow.log_text();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out << bytes.substr(bytes.size() / 2 + 7);
  }
  const auto whole = object_lines(run({"sessions", "--format", "jsonl", src}).out);
  ASSERT_GE(whole.size(), 5u);
  // Connections still open at the end of the file are written when the input ends (Ctrl-C).
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(follow.stop(SIGINT), "exit 0");
  const auto rows = object_lines(follow.log_text());
  ASSERT_EQ(rows.size(), whole.size()) << follow.log_text();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i]["client_id"].str(), whole[i]["client_id"].str());
    EXPECT_EQ(rows[i]["packets_c2s"].num(), whole[i]["packets_c2s"].num());
    EXPECT_EQ(rows[i]["end"].str(), whole[i]["end"].str());
  }
  EXPECT_EQ(follow.log_text().find("truncated"), std::string::npos) << follow.log_text();
}
