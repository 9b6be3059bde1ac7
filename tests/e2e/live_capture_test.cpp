// `mqttauth capture SCENARIO --live`: the real packets, captured with libpcap on the loopback interface while
// the scenario runs, show the same connections as the in-process recorder: the same client ids, auth modes,
// outcomes, verifications, anomalies, ends and MQTT packets per type and direction (the challenges differ, they
// are random). Capturing needs CAP_NET_RAW: without it those tests skip themselves (CI runs as root), and one
// checks that an unprivileged user gets exit 2 and a message naming the interface.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>

#include "json.hpp"
#include "run.hpp"
#include "scenarios.hpp"

using namespace mqttauth::test;

namespace {

#define NEED_CAPTURE()                                                                                            \
  do {                                                                                                            \
    if (!can_capture())                                                                                           \
      GTEST_SKIP() << "not permitted to capture packets (no CAP_NET_RAW): run the tests as root to cover --live"; \
  } while (0)

std::vector<Json> jsonl(const std::string& out) {
  std::vector<Json> v;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);) v.push_back(Json::parse(l));
  return v;
}

// One line per connection of `sessions --format jsonl`, sorted (connections that open at once may be accepted in
// either order): everything but the addresses, challenge, response, latency, frames and times.
std::vector<std::string> session_rows(const std::string& pcap, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"sessions", "--secrets", source_path("captures/loopback.secrets"),
                                   pcap,       "--format",  "jsonl"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = run(args);
  EXPECT_EQ(r.rc, 0) << r.err;
  std::vector<std::string> rows;
  for (const auto& s : jsonl(r.out)) {
    std::string row;
    for (const char* key : {"client_id", "protocol_level", "auth", "auth_method", "outcome", "return_code",
                            "reason_code", "verification", "weak_challenge", "anomalies", "packets_c2s", "packets_s2c",
                            "bytes_c2s", "bytes_s2c", "gaps", "errors", "end"}) {
      if (!s.has(key)) continue;  // keys without a value are left out
      const Json& v = s[key];
      row += std::string(" ") + key + "=";
      if (v.is_string())
        row += v.str();
      else if (v.is_number())
        row += std::to_string(static_cast<long long>(v.num()));
      else
        for (std::size_t i = 0; i < v.size(); ++i) row += v[i].str() + ",";
    }
    rows.push_back(row);
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

// `stats --format jsonl`: MQTT packets per type, "c2s/s2c/unknown", and the frames read.
struct Stats {
  std::map<std::string, std::string> packets;
  double frames = 0;
};

Stats stats(const std::string& pcap) {
  auto r = run({"stats", pcap, "--format", "jsonl"});
  EXPECT_EQ(r.rc, 0) << r.err;
  Stats st;
  auto j = Json::parse(r.out);
  for (const auto& [type, n] : *std::get<std::shared_ptr<Json::Object>>(j["packets"].v))
    st.packets[type] = std::to_string(static_cast<int>(n["c2s"].num())) + "/" +
                       std::to_string(static_cast<int>(n["s2c"].num())) + "/" +
                       std::to_string(static_cast<int>(n["unknown"].num()));
  st.frames = j["frames"].num();
  return st;
}

std::uint32_t le32(const std::string& b, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + i])) << (8 * i);
  return v;
}

class LiveCapture : public ::testing::TestWithParam<const char*> {};

TEST_P(LiveCapture, ShowsWhatTheInProcessRecorderShows) {
  NEED_CAPTURE();
  const std::string name = GetParam();
  const std::string recorded = temp_dir() + "/recorded-" + name + ".pcap",
                    live = temp_dir() + "/live-" + name + ".pcap";
  auto a = run({"capture", name, "-o", recorded});
  ASSERT_EQ(a.rc, 0) << a.err;
  auto b = run({"capture", name, "--live", "-o", live});
  ASSERT_EQ(b.rc, 0) << b.err;

  // The report on standard error: nothing dropped, and as many packets as the file holds.
  std::smatch m;
  const std::regex report(
      R"(live capture on lo: (\d+) packets captured \(pcap_stats: (\d+) received, (\d+) dropped, (\d+) dropped by the interface\))");
  ASSERT_TRUE(std::regex_search(b.err, m, report)) << b.err;
  EXPECT_EQ(m[3].str(), "0") << b.err;
  EXPECT_EQ(m[4].str(), "0") << b.err;

  // A pcap file (pcap_dump: microseconds, little-endian here) with the link type of lo on Linux: Ethernet.
  std::string file = slurp(live);
  ASSERT_GE(file.size(), 24u);
  EXPECT_EQ(le32(file, 0), 0xa1b2c3d4u);
  EXPECT_EQ(le32(file, 20), 1u);

  Stats sa = stats(recorded), sb = stats(live);
  EXPECT_EQ(sb.frames, std::stod(m[1].str()));
  EXPECT_FALSE(sb.packets.empty());
  EXPECT_EQ(sa.packets, sb.packets);
  auto ra = session_rows(recorded), rb = session_rows(live);
  EXPECT_FALSE(rb.empty());
  EXPECT_EQ(ra, rb);

  // decode reads it too, the same MQTT packets.
  auto da = run({"decode", recorded, "--format", "jsonl"}), db = run({"decode", live, "--format", "jsonl"});
  ASSERT_EQ(db.rc, 0) << db.err;
  EXPECT_EQ(da.lines().size(), db.lines().size());
}

INSTANTIATE_TEST_SUITE_P(Scenarios, LiveCapture, ::testing::ValuesIn(kCaptureScenarios), scenario_test_name);

// Without the privileges to capture: exit 2 before anything runs, a message naming the interface and libpcap's
// reason, and what to do about it. As root the binary runs as nobody (setpriv: the user switch drops every
// capability); as another user that cannot capture, as that user.
TEST(LiveCaptureUnprivileged, FailsWithExit2NamingTheInterface) {
  std::string as_nobody;
  if (geteuid() == 0) {
    if (std::system("command -v setpriv >/dev/null 2>&1") != 0)
      GTEST_SKIP() << "setpriv (util-linux) is not installed: no way to run as an unprivileged user";
    as_nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
  } else if (can_capture()) {
    GTEST_SKIP() << "this user may capture (CAP_NET_RAW) and is not root: no unprivileged user to run as";
  }
  // A copy of the binary in a directory anyone may use: nobody may not reach the build tree, and a copy has no
  // file capabilities. The directory is writable for all, so that the capture is the only thing that can fail.
  char tmpl[] = "/tmp/mqttauth-live-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ASSERT_EQ(std::system(("cp " + shell_quote(MQTTAUTH_BIN) + " " + shell_quote(dir + "/mqttauth") + " && chmod 0777 " +
                         shell_quote(dir) + " && chmod 0755 " + shell_quote(dir + "/mqttauth"))
                            .c_str()),
            0);
  for (const std::string iface : {"", "any"}) {
    std::string cmd = "cd " + shell_quote(dir) + " && " + as_nobody + "./mqttauth capture success-code0 --live " +
                      (iface.empty() ? "" : shell_quote(iface) + " ") + "-o out.pcap";
    auto r = run_shell(cmd);
    const std::string shown = iface.empty() ? "lo" : iface;
    EXPECT_EQ(r.rc, 2) << r.err;
    EXPECT_NE(r.err.find("cannot capture on interface '" + shown + "': "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("permission"), std::string::npos) << r.err;  // libpcap's reason
    EXPECT_NE(r.err.find("run as root"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("setcap cap_net_raw,cap_net_admin+eip"), std::string::npos) << r.err;
    EXPECT_EQ(access((dir + "/out.pcap").c_str(), F_OK), -1) << "nothing is written when the capture cannot start";
    EXPECT_EQ(r.err.find("sensor-01"), std::string::npos) << "no device ran: " << r.err;
  }
  std::system(("rm -rf " + shell_quote(dir)).c_str());
}

// --transport: the same scenario over WebSocket, TLS and WebSocket over TLS shows the same connections as over
// bare TCP (client ids, outcomes, verifications, packets and MQTT bytes per direction), the TLS ones decrypted
// with the key log the broker wrote next to the capture; without it they are TLS with the reason.
TEST(LiveCaptureTransport, WebSocketAndTlsShowWhatTcpShows) {
  NEED_CAPTURE();
  const std::string base = temp_dir() + "/transport-";
  auto tcp = run({"capture", "mixed", "--live", "-o", base + "tcp.pcap"});
  ASSERT_EQ(tcp.rc, 0) << tcp.err;
  const auto want = session_rows(base + "tcp.pcap");
  ASSERT_FALSE(want.empty());
  for (const std::string t : {"ws", "mqtts", "wss"}) {
    const std::string pcap = base + t + ".pcap";
    auto c = run({"capture", "mixed", "--live", "--transport", t, "-o", pcap});
    ASSERT_EQ(c.rc, 0) << t << ": " << c.err;
    const bool tls = t != "ws";
    EXPECT_EQ(access((pcap + ".keys").c_str(), F_OK) == 0, tls) << t;
    EXPECT_EQ(
        session_rows(pcap, tls ? std::vector<std::string>{"--tls-keylog", pcap + ".keys"} : std::vector<std::string>{}),
        want)
        << t;
    if (!tls) continue;
    auto none = run({"decode", pcap, "--format", "jsonl"});
    EXPECT_EQ(none.out.find("\"type\""), std::string::npos) << t;  // no MQTT packet without the secrets
  }
  auto recorder = run({"capture", "mixed", "--transport", "mqtts", "-o", base + "recorded.pcap"});
  EXPECT_EQ(recorder.rc, 2);
  EXPECT_NE(recorder.err.find("--transport mqtts needs --live"), std::string::npos) << recorder.err;
}

TEST(LiveCaptureUsage, SeedIsRefusedWithLive) {
  // Refused before any capture is attempted: the same answer with or without privileges.
  auto r = run({"capture", "success-code0", "--live", "-o", temp_dir() + "/seeded.pcap", "--seed", "1"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--seed does not apply to --live"), std::string::npos) << r.err;
  EXPECT_EQ(access((temp_dir() + "/seeded.pcap").c_str(), F_OK), -1);
}

TEST(LiveCaptureUsage, AScenarioReadAsTheInterfaceIsPointedOut) {
  auto r = run({"capture", "--live", "mixed", "-o", temp_dir() + "/x.pcap"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("'mixed' was read as the interface of --live: write 'capture mixed --live'"), std::string::npos)
      << r.err;
}

TEST(LiveCaptureUsage, NoSuchInterface) {
  NEED_CAPTURE();  // without the privileges libpcap may report those first
  auto r = run({"capture", "success-code0", "--live", "mqttauth-none0", "-o", temp_dir() + "/none.pcap"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("cannot capture on interface 'mqttauth-none0': "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("No such device"), std::string::npos) << r.err;
}

}  // namespace
