// Analyzer: captures written with TcpConversation, read back and analysed; and `mqttauth decode` on capture
// files end to end (several files merged in time order, exit codes).
#include <algorithm>
#include <string>

#include "cli_helpers.hpp"
#include "json.hpp"
#include "run.hpp"

using namespace mqttauth;
using namespace mqttauth::cli;
using namespace mqttauth::clitest;

namespace {

const std::int64_t kT0 = 1764047123000LL * 1000000LL;
const std::string kChallenge = "1764047123456";
const std::string kResponse = "efc4f1b9f841746e08bbe276535c223a40955fa66b3ace735d9e682819d1284a";

Buf text(std::size_t n, char c = 'x') { return Buf(n, static_cast<std::uint8_t>(c)); }

// A capture file being written.
struct Cap {
  std::string path;
  PcapWriter w;
  explicit Cap(const std::string& stem, std::uint32_t link = kLinkEthernet) : path(temp_path(stem)) {
    EXPECT_TRUE(w.open(path, link, true));
  }
  std::string done() {
    w.close();
    return path;
  }
};

struct Result {
  AnalyzerRecorder rec;
  Analyzer::Counters counters;
};

std::unique_ptr<Result> analyze(const std::string& path, const AnalyzerOptions& opts = {}) {
  auto r = std::make_unique<Result>();
  Analyzer an(opts, r->rec);
  analyze_file(path, an);
  r->counters = an.counters();
  return r;
}

// CONNECT, challenge, response, CONNACK 0.
void custom_handshake(TcpConversation& t, std::int64_t& ts, std::uint8_t code = 0) {
  t.send(true, mqtt_connect("sensor-01"), ts += 1000000);
  t.send(false, mqtt_authenticate(code, "sensor-01", kChallenge), ts += 1000000);
  t.send(true, mqtt_authenticate(code, "sensor-01", kResponse), ts += 1000000);
  t.send(false, mqtt_connack(0), ts += 1000000);
}

void expect_custom_handshake(const AnalyzerRecorder& rec, std::uint64_t conn = 1,
                             const std::string& client_id = "sensor-01") {
  std::vector<AnalyzerRecorder::Pkt> p;
  for (const auto& x : rec.pkts)
    if (x.conn == conn) p.push_back(x);
  ASSERT_GE(p.size(), 4u);
  EXPECT_EQ(p[0].type, "connect");
  EXPECT_EQ(p[0].dir, Direction::c2s);
  EXPECT_EQ(p[1].type, "authenticate");
  EXPECT_EQ(p[1].dir, Direction::s2c);
  EXPECT_EQ(p[1].role, Role::challenge);
  EXPECT_EQ(p[1].password, kChallenge);
  EXPECT_EQ(p[2].type, "authenticate");
  EXPECT_EQ(p[2].dir, Direction::c2s);
  EXPECT_EQ(p[2].role, Role::response);
  EXPECT_EQ(p[2].password, kResponse);
  EXPECT_EQ(p[3].type, "connack");
  EXPECT_EQ(p[3].dir, Direction::s2c);
  auto end = std::find_if(rec.ends.begin(), rec.ends.end(), [&](const auto& e) { return e.id == conn; });
  ASSERT_NE(end, rec.ends.end());
  ASSERT_EQ(end->handshakes.size(), 1u);
  EXPECT_EQ(end->handshakes[0].outcome, Outcome::accepted);
  EXPECT_EQ(end->handshakes[0].client_id, client_id);
  EXPECT_EQ(end->handshakes[0].challenge, kChallenge);
  EXPECT_EQ(end->handshakes[0].response, kResponse);
}

const Endpoint kClient = ep4(192, 168, 7, 20, 50001);
Endpoint server(std::uint16_t port) { return ep4(10, 1, 1, 1, port); }

}  // namespace

TEST(Analyzer, CustomHandshakeOnPort1883) {
  for (std::uint8_t code : {std::uint8_t{0}, std::uint8_t{15}}) {
    SCOPED_TRACE(int{code});
    Cap cap("hs1883.pcap");
    TcpConversation t(cap.w, LinkSpec{}, kClient, server(1883));
    std::int64_t ts = kT0;
    t.handshake(ts);
    custom_handshake(t, ts, code);
    t.close(ts += 1000000);
    auto r = analyze(cap.done());
    expect_custom_handshake(r->rec);
    EXPECT_EQ(r->rec.pkts[1].code, code);
    ASSERT_EQ(r->rec.ends.size(), 1u);
    EXPECT_EQ(r->rec.ends[0].why, EndReason::fin);
    EXPECT_EQ(r->rec.ends[0].client, kClient);
    EXPECT_EQ(r->rec.ends[0].server, server(1883));
    EXPECT_TRUE(r->rec.errs.empty());
    EXPECT_TRUE(r->rec.gaps.empty());
    EXPECT_EQ(r->counters.mqtt_connections, 1u);
  }
}

TEST(Analyzer, CustomHandshakeOnOtherPortRecognisedByConnect) {
  Cap cap("hs28830.pcap", kLinkLinuxSll2);
  TcpConversation t(cap.w, LinkSpec{kLinkLinuxSll2, {}}, kClient, server(28830));
  std::int64_t ts = kT0;
  t.handshake(ts);
  custom_handshake(t, ts);
  t.close(ts += 1000000);
  auto path = cap.done();
  {
    SCOPED_TRACE("no options");
    auto r = analyze(path);
    expect_custom_handshake(r->rec);
  }
  {
    SCOPED_TRACE("--port 28830 --no-heuristic");
    AnalyzerOptions o;
    o.ports.insert(28830);
    o.any_port = false;
    auto r = analyze(path, o);
    expect_custom_handshake(r->rec);
  }
  {
    SCOPED_TRACE("--no-heuristic without the port");
    AnalyzerOptions o;
    o.any_port = false;
    auto r = analyze(path, o);
    EXPECT_TRUE(r->rec.pkts.empty());
    EXPECT_TRUE(r->rec.ends.empty());
    EXPECT_EQ(r->counters.mqtt_connections, 0u);
  }
}

TEST(Analyzer, PortOptionMakesMidStreamConnectionMqtt) {
  // No SYN, no CONNECT: only the port says this is MQTT.
  Cap cap("port.pcap");
  TcpConversation t(cap.w, LinkSpec{}, kClient, server(28830));
  std::int64_t ts = kT0;
  t.send(true, mqtt_publish("a/b", text(10)), ts += 1000);
  t.send(false, mqtt_pingresp(), ts += 1000);
  auto path = cap.done();
  EXPECT_TRUE(analyze(path)->rec.pkts.empty());
  AnalyzerOptions o;
  o.ports.insert(28830);
  auto r = analyze(path, o);
  EXPECT_EQ(r->rec.types(), (std::vector<std::string>{"publish", "pingresp"}));
  EXPECT_EQ(r->rec.pkts[0].dir, Direction::c2s);
  EXPECT_EQ(r->rec.pkts[1].dir, Direction::s2c);
}

TEST(Analyzer, NonMqttConnectionIgnored) {
  Cap cap("http.pcap");
  TcpConversation t(cap.w, LinkSpec{}, kClient, server(8080));
  std::int64_t ts = kT0;
  t.handshake(ts);
  std::string req = "GET / HTTP/1.1\r\nHost: example\r\n\r\n";
  t.send(true, Buf(req.begin(), req.end()), ts += 1000);
  t.send(false, text(500, 'h'), ts += 1000);
  t.close(ts += 1000);
  auto r = analyze(cap.done());
  EXPECT_TRUE(r->rec.pkts.empty());
  EXPECT_TRUE(r->rec.errs.empty());
  EXPECT_TRUE(r->rec.ends.empty());
  EXPECT_EQ(r->counters.connections, 1u);
  EXPECT_EQ(r->counters.mqtt_connections, 0u);
}

TEST(Analyzer, TlsOn8883Reported) {
  Cap cap("tls.pcap");
  TcpConversation t(cap.w, LinkSpec{}, kClient, server(8883));
  std::int64_t ts = kT0;
  t.handshake(ts);
  Buf hello = concat({Buf{0x16, 0x03, 0x01, 0x00, 0x40, 0x01}, pattern(63)});
  t.send(true, hello, ts += 1000);
  t.send(false, concat({Buf{0x16, 0x03, 0x03, 0x00, 0x20}, pattern(32)}), ts += 1000);
  t.close(ts += 1000);
  auto r = analyze(cap.done());
  EXPECT_EQ(r->rec.tls, std::vector<std::uint64_t>{1});
  EXPECT_TRUE(r->rec.pkts.empty());
  EXPECT_EQ(r->counters.tls_connections, 1u);
}

TEST(Analyzer, MqttOverIpv6) {
  Cap cap("v6.pcap");
  TcpConversation t(cap.w, LinkSpec{kLinkEthernet, {42}}, ep6(0x20, 50002), ep6(0x01, 1883));
  std::int64_t ts = kT0;
  t.handshake(ts);
  custom_handshake(t, ts);
  t.close(ts += 1000);
  auto r = analyze(cap.done());
  expect_custom_handshake(r->rec);
  ASSERT_EQ(r->rec.ends.size(), 1u);
  EXPECT_EQ(r->rec.ends[0].server, ep6(0x01, 1883));
}

TEST(Analyzer, LargePublishOverManySegments) {
  Cap cap("big.pcap");
  TcpConversation t(cap.w, LinkSpec{}, kClient, server(1883));
  std::int64_t ts = kT0;
  t.handshake(ts);
  t.send(true, mqtt_connect("big"), ts += 1000);
  t.send(false, mqtt_connack(0), ts += 1000);
  const Buf payload = pattern(200 * 1024);
  t.send(true, mqtt_publish("bulk/data", payload, 1, 7), ts += 1000);
  t.send(false, mqtt_puback(7), ts += 10000000);
  t.close(ts += 1000);
  auto r = analyze(cap.done());
  ASSERT_EQ(r->rec.types(), (std::vector<std::string>{"connect", "connack", "publish", "puback"}));
  EXPECT_EQ(r->rec.pkts[2].payload_len, payload.size());
  EXPECT_EQ(r->rec.pkts[2].payload, payload);
  EXPECT_EQ(r->rec.pkts[2].topic, "bulk/data");
  EXPECT_TRUE(r->rec.errs.empty());
}

TEST(Analyzer, SegmentBoundaryInsideRemainingLength) {
  Cap cap("rl.pcap");
  TcpConversation t(cap.w, LinkSpec{}, kClient, server(1883));
  std::int64_t ts = kT0;
  t.handshake(ts);
  t.send(true, mqtt_connect("rl"), ts += 1000);
  const Buf pub = mqtt_publish("t", text(20000), 0);  // remaining length in 3 bytes
  ASSERT_GE(pub[2], 0x80);
  t.send(true, Buf(pub.begin(), pub.begin() + 2), ts += 1000);      // type and first length byte
  t.send(true, Buf(pub.begin() + 2, pub.begin() + 3), ts += 1000);  // second length byte
  t.send(true, Buf(pub.begin() + 3, pub.end()), ts += 1000);
  t.send(true, mqtt_pingreq(), ts += 1000);
  t.close(ts += 1000);
  auto r = analyze(cap.done());
  ASSERT_EQ(r->rec.types(), (std::vector<std::string>{"connect", "publish", "pingreq"}));
  EXPECT_EQ(r->rec.pkts[1].payload_len, 20000u);
  EXPECT_EQ(r->rec.pkts[1].offset, mqtt_connect("rl").size());
}

TEST(Analyzer, LostSegmentGapThenResync) {
  Cap cap("lost.pcap");
  TcpConversation t(cap.w, LinkSpec{}, kClient, server(1883));
  std::int64_t ts = kT0;
  t.handshake(ts);
  t.send(true, mqtt_connect("lossy"), ts += 1000);
  t.send(false, mqtt_connack(0), ts += 1000);
  const Buf a = mqtt_publish("a", text(50, 'a')), b = mqtt_publish("b", text(300, 'b')),
            c = mqtt_publish("c", text(40, 'c')), d = mqtt_publish("d", text(30, 'd'));
  t.send(true, a, ts += 1000);
  t.send(true, Buf(b.begin(), b.begin() + 100), ts += 1000);     // the first part of B
  t.lose(true, static_cast<std::uint32_t>(b.size() - 100 + 5));  // the rest of B and 5 bytes of C: lost
  t.send(true, Buf(c.begin() + 5, c.end()), ts += 1000);
  t.send(true, d, ts += 1000);
  t.send(true, mqtt_pingreq(), ts += 1000);
  t.raw_segment(false, t.next_seq(false), {}, ts += 1000, tcpflag::ack);  // the server acknowledges it all
  t.send(false, mqtt_pingresp(), ts += 1000);
  t.close(ts += 1000);
  auto r = analyze(cap.done());
  ASSERT_EQ(r->rec.gaps.size(), 1u);
  const std::uint64_t gap_at = mqtt_connect("lossy").size() + a.size() + 100;
  EXPECT_EQ(r->rec.gaps[0].offset, gap_at);
  EXPECT_EQ(r->rec.gaps[0].bytes, b.size() - 100 + 5);
  EXPECT_EQ(r->rec.gaps[0].why, GapReason::lost);
  EXPECT_EQ(r->rec.gaps[0].dir, Direction::c2s);
  ASSERT_EQ(r->rec.resyncs.size(), 1u);
  EXPECT_EQ(r->rec.resyncs[0].skipped, c.size() - 5);
  EXPECT_EQ(r->rec.resyncs[0].offset, gap_at + r->rec.gaps[0].bytes + c.size() - 5);
  EXPECT_EQ(r->rec.types(),
            (std::vector<std::string>{"connect", "connack", "publish", "publish", "pingreq", "pingresp"}));
  EXPECT_EQ(r->rec.pkts[3].topic, "d");
  EXPECT_TRUE(r->rec.errs.empty());
}

TEST(Analyzer, CaptureStartingMidStream) {
  Cap cap("mid.pcap");
  TcpConversation t(cap.w, LinkSpec{}, kClient, server(1883), 70000, 90000);
  std::int64_t ts = kT0;
  const Buf b = mqtt_publish("sensors/x", text(120, 'v'), 1, 9);
  // No SYN: the capture begins in the middle of a PUBLISH.
  t.send(true, Buf(b.begin() + 37, b.end()), ts += 1000);
  t.send(true, mqtt_publish("sensors/y", text(10, 'w')), ts += 1000);
  t.send(false, mqtt_puback(9), ts += 1000);
  t.send(true, mqtt_pingreq(), ts += 1000);
  t.send(false, mqtt_pingresp(), ts += 1000);
  auto r = analyze(cap.done());
  ASSERT_EQ(r->rec.resyncs.size(), 1u);
  EXPECT_EQ(r->rec.resyncs[0].dir, Direction::c2s);
  EXPECT_EQ(r->rec.resyncs[0].skipped, b.size() - 37);
  // The server's first segment is one whole PUBACK: taken at once. The client's boundary is proven only when
  // the PINGREQ follows the PUBLISH; the PUBLISH keeps the frame that carried it.
  EXPECT_EQ(r->rec.types(), (std::vector<std::string>{"puback", "publish", "pingreq", "pingresp"}));
  EXPECT_EQ(r->rec.pkts[1].topic, "sensors/y");
  std::vector<std::uint64_t> frames;
  for (const auto& p : r->rec.pkts) frames.push_back(p.frame);
  EXPECT_EQ(frames, (std::vector<std::uint64_t>{3, 2, 4, 5}));
  EXPECT_TRUE(r->rec.errs.empty());
  ASSERT_EQ(r->rec.ends.size(), 1u);
  EXPECT_EQ(r->rec.ends[0].why, EndReason::capture_end);
}

TEST(Analyzer, RstEndsConnectionAndAbandonsHandshake) {
  Cap cap("rst.pcap");
  TcpConversation t(cap.w, LinkSpec{}, kClient, server(1883));
  std::int64_t ts = kT0;
  t.handshake(ts);
  t.send(true, mqtt_connect("sensor-01"), ts += 1000);
  t.send(false, mqtt_authenticate(0, "sensor-01", kChallenge), ts += 1000);
  t.reset(true, ts += 1000);
  t.send(false, mqtt_pingresp(), ts += 1000);  // after the reset: not part of the connection
  auto r = analyze(cap.done());
  ASSERT_EQ(r->rec.ends.size(), 1u);
  EXPECT_EQ(r->rec.ends[0].why, EndReason::rst);
  ASSERT_EQ(r->rec.ends[0].handshakes.size(), 1u);
  EXPECT_EQ(r->rec.ends[0].handshakes[0].outcome, Outcome::abandoned);
  EXPECT_EQ(r->rec.types(), (std::vector<std::string>{"connect", "authenticate"}));
  EXPECT_EQ(r->counters.connections, 1u);
}

TEST(Analyzer, FinBothWays) {
  Cap cap("fin.pcap");
  TcpConversation t(cap.w, LinkSpec{}, kClient, server(1883));
  std::int64_t ts = kT0;
  t.handshake(ts);
  t.send(true, mqtt_connect("fin"), ts += 1000);
  t.send(false, mqtt_connack(0), ts += 1000);
  t.send(true, mqtt_disconnect(), ts += 1000);
  t.close(ts += 1000);
  auto r = analyze(cap.done());
  ASSERT_EQ(r->rec.ends.size(), 1u);
  EXPECT_EQ(r->rec.ends[0].why, EndReason::fin);
  EXPECT_TRUE(r->rec.gaps.empty());
  EXPECT_TRUE(r->rec.errs.empty());
  EXPECT_EQ(r->counters.connections, 1u);  // the last ACK after both FINs is no new connection
}

TEST(Analyzer, PortReuseAfterFinIsANewConnection) {
  Cap cap("reuse.pcap");
  std::int64_t ts = kT0;
  {
    TcpConversation t(cap.w, LinkSpec{}, kClient, server(1883), 1000, 5000);
    t.handshake(ts);
    t.send(true, mqtt_connect("first"), ts += 1000);
    t.send(false, mqtt_connack(0), ts += 1000);
    t.close(ts += 1000);
  }
  {
    TcpConversation t(cap.w, LinkSpec{}, kClient, server(1883), 800000, 900000);
    t.handshake(ts += 1000000);
    t.send(true, mqtt_connect("second"), ts += 1000);
    t.send(false, mqtt_connack(5), ts += 1000);
    t.close(ts += 1000);
  }
  auto r = analyze(cap.done());
  ASSERT_EQ(r->rec.ends.size(), 2u);
  EXPECT_EQ(r->rec.ends[0].id, 1u);
  EXPECT_EQ(r->rec.ends[1].id, 2u);
  EXPECT_EQ(r->rec.ends[0].handshakes.at(0).client_id, "first");
  EXPECT_EQ(r->rec.ends[1].handshakes.at(0).client_id, "second");
  EXPECT_EQ(r->rec.ends[1].handshakes.at(0).outcome, Outcome::refused);
  EXPECT_EQ(r->counters.connections, 2u);
  EXPECT_TRUE(r->rec.gaps.empty());
}

TEST(Analyzer, PortReuseWithoutFin) {
  // A new SYN on a 4-tuple whose connection carried data and never closed.
  Cap cap("reuse2.pcap");
  std::int64_t ts = kT0;
  TcpConversation t1(cap.w, LinkSpec{}, kClient, server(1883), 1000, 5000);
  t1.handshake(ts);
  t1.send(true, mqtt_connect("first"), ts += 1000);
  TcpConversation t2(cap.w, LinkSpec{}, kClient, server(1883), 800000, 900000);
  t2.handshake(ts += 1000000);
  t2.send(true, mqtt_connect("second"), ts += 1000);
  auto r = analyze(cap.done());
  ASSERT_EQ(r->rec.ends.size(), 2u);
  EXPECT_EQ(r->rec.ends[0].handshakes.at(0).client_id, "first");
  EXPECT_EQ(r->rec.ends[1].handshakes.at(0).client_id, "second");
  EXPECT_NE(r->rec.pkts[0].conn, r->rec.pkts[1].conn);
}

TEST(Analyzer, TwoConnectionsInterleaved) {
  Cap cap("two.pcap");
  std::int64_t ts = kT0;
  TcpConversation a(cap.w, LinkSpec{}, ep4(192, 168, 7, 20, 40001), server(1883), 100, 200);
  TcpConversation b(cap.w, LinkSpec{}, ep4(192, 168, 7, 21, 40002), server(1883), 300, 400);
  a.handshake(ts += 1000);
  b.handshake(ts += 10000);
  a.send(true, mqtt_connect("alpha"), ts += 10000);
  b.send(true, mqtt_connect("beta"), ts += 10000);
  b.send(false, mqtt_authenticate(0, "beta", kChallenge), ts += 10000);
  a.send(false, mqtt_connack(0), ts += 10000);
  b.send(true, mqtt_authenticate(0, "beta", kResponse), ts += 10000);
  a.send(true, mqtt_pingreq(), ts += 10000);
  b.send(false, mqtt_connack(0), ts += 10000);
  a.close(ts += 10000);
  b.close(ts += 10000);
  auto r = analyze(cap.done());
  EXPECT_EQ(r->rec.types(1), (std::vector<std::string>{"connect", "connack", "pingreq"}));
  EXPECT_EQ(r->rec.types(2), (std::vector<std::string>{"connect", "authenticate", "authenticate", "connack"}));
  expect_custom_handshake(r->rec, 2, "beta");
  ASSERT_EQ(r->rec.ends.size(), 2u);
}

// A full connection table ends the least recently active connection (not the oldest): its handshake is
// finished as far as it got, and what it sends later is followed as a new connection, not dropped.
TEST(Analyzer, FullTableEvictsLeastRecentlyActive) {
  Cap cap("evict.pcap");
  std::int64_t ts = kT0;
  TcpConversation a(cap.w, LinkSpec{}, ep4(192, 168, 7, 20, 40001), server(1883), 100, 200);
  TcpConversation b(cap.w, LinkSpec{}, ep4(192, 168, 7, 21, 40002), server(1883), 300, 400);
  TcpConversation c(cap.w, LinkSpec{}, ep4(192, 168, 7, 22, 40003), server(1883), 500, 600);
  a.handshake(ts += 1000);
  a.send(true, mqtt_connect("alpha"), ts += 10000);
  b.handshake(ts += 1000);
  b.send(true, mqtt_connect("beta"), ts += 10000);
  b.send(false, mqtt_authenticate(0, "beta", kChallenge), ts += 10000);
  a.send(false, mqtt_connack(0), ts += 10000);  // a is now more recent than b
  c.handshake(ts += 1000);                      // the third connection: b goes
  c.send(true, mqtt_connect("gamma"), ts += 10000);
  b.send(true, mqtt_pingreq(), ts += 10000);  // b again: a new (mid-stream) connection, a goes
  AnalyzerOptions o;
  o.max_connections = 2;
  auto r = analyze(cap.done(), o);
  EXPECT_EQ(r->counters.evicted, 2u);
  ASSERT_GE(r->rec.ends.size(), 2u);
  EXPECT_EQ(r->rec.ends[0].id, 2u);  // b, evicted during its handshake
  EXPECT_EQ(r->rec.ends[0].why, EndReason::evicted);
  ASSERT_EQ(r->rec.ends[0].handshakes.size(), 1u);
  EXPECT_EQ(r->rec.ends[0].handshakes[0].outcome, Outcome::incomplete);
  EXPECT_EQ(r->rec.ends[1].id, 1u);  // then a
  EXPECT_EQ(r->rec.ends[1].why, EndReason::evicted);
  EXPECT_EQ(r->rec.types(1), (std::vector<std::string>{"connect", "connack"}));
  EXPECT_EQ(r->rec.types(3), (std::vector<std::string>{"connect"}));
  EXPECT_EQ(r->rec.types(4), (std::vector<std::string>{"pingreq"}));  // b's later bytes, followed again
  EXPECT_EQ(r->counters.connections, 4u);
}

// Twelve devices take turns (in a fixed pseudo-random order) through a table of four: the connections that end
// early are exactly those a plain least-recently-active list names, through many rebuilds of the analyzer's
// eviction order (entries gone stale because their connection was active again, or ended).
TEST(Analyzer, EvictsExactlyTheLeastRecentlyActiveThroughManyTurns) {
  Cap cap("lru.pcap");
  std::int64_t ts = kT0;
  std::vector<std::unique_ptr<TcpConversation>> dev;
  for (std::uint8_t i = 0; i < 12; ++i)
    dev.push_back(std::make_unique<TcpConversation>(cap.w, LinkSpec{}, ep4(192, 168, 8, i + 1, 41000 + i), server(1883),
                                                    1000u * (i + 1), 500000u + i));
  constexpr std::size_t kMax = 4;
  std::vector<std::pair<int, std::uint64_t>> open;  // (device, connection id), least recently active first
  std::vector<std::uint64_t> want_evicted;
  std::uint64_t next_id = 0;
  std::uint32_t lcg = 12345;
  for (int turn = 0; turn < 400; ++turn) {
    lcg = lcg * 1103515245u + 12345u;
    // Mostly the four busiest devices, now and then any of the twelve.
    const int d = static_cast<int>((lcg >> 16) % ((lcg >> 8) % 3 == 0 ? 12 : 5));
    auto it = std::find_if(open.begin(), open.end(), [&](const auto& o) { return o.first == d; });
    if (it != open.end()) {
      auto o = *it;
      open.erase(it);
      open.push_back(o);
    } else {
      if (open.size() >= kMax) {
        want_evicted.push_back(open.front().second);
        open.erase(open.begin());
      }
      open.emplace_back(d, ++next_id);
    }
    dev[static_cast<std::size_t>(d)]->send(true, mqtt_pingreq(), ts += 1000);
  }
  AnalyzerOptions o;
  o.max_connections = kMax;
  auto r = analyze(cap.done(), o);
  std::vector<std::uint64_t> evicted, at_end;
  for (const auto& e : r->rec.ends) (e.why == EndReason::evicted ? evicted : at_end).push_back(e.id);
  ASSERT_GT(want_evicted.size(), 50u);  // the order was made again many times
  EXPECT_EQ(evicted, want_evicted);
  EXPECT_EQ(r->counters.evicted, want_evicted.size());
  EXPECT_EQ(r->counters.connections, next_id);
  std::vector<std::uint64_t> still_open;
  still_open.reserve(open.size());
  for (const auto& [d, id] : open) still_open.push_back(id);
  std::sort(still_open.begin(), still_open.end());
  EXPECT_EQ(at_end, still_open);  // ended by the end of the capture, in id order
  EXPECT_EQ(r->rec.pkts.size(), 400u);
}

TEST(Analyzer, OldestOpenIdIgnoresTheConnectionEnding) {
  struct Sink final : AnalyzerSink {
    const Analyzer* an = nullptr;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> seen;  // (ending id, oldest open id then)
    void on_connection_end(const Connection& c) override { seen.emplace_back(c.id, an->oldest_open_id()); }
  } sink;
  Cap cap("oldest.pcap");
  std::int64_t ts = kT0;
  TcpConversation a(cap.w, LinkSpec{}, ep4(192, 168, 7, 20, 40001), server(1883), 100, 200);
  TcpConversation b(cap.w, LinkSpec{}, ep4(192, 168, 7, 21, 40002), server(1883), 300, 400);
  a.handshake(ts += 1000);
  a.send(true, mqtt_connect("alpha"), ts += 10000);
  b.handshake(ts += 1000);
  b.send(true, mqtt_connect("beta"), ts += 10000);
  b.close(ts += 10000);
  a.close(ts += 10000);
  Analyzer an(AnalyzerOptions{}, sink);
  sink.an = &an;
  analyze_file(cap.done(), an);
  using P = std::pair<std::uint64_t, std::uint64_t>;
  EXPECT_EQ(sink.seen, (std::vector<P>{{2, 1}, {1, 0}}));
  EXPECT_EQ(an.oldest_open_id(), 0u);
}

TEST(Analyzer, DecodeErrorReportedAndStreamContinues) {
  Cap cap("err.pcap");
  TcpConversation t(cap.w, LinkSpec{}, kClient, server(1883));
  std::int64_t ts = kT0;
  t.handshake(ts);
  const Buf connect = mqtt_connect("err");
  t.send(true, connect, ts += 1000);
  // A PUBLISH with QoS 3 (flags 0x06): malformed, but its length frames it.
  Buf bad = mqtt_publish("t", text(5), 0);
  bad[0] = 0x36;
  t.send(true, bad, ts += 1000);
  t.send(true, mqtt_pingreq(), ts += 1000);
  t.close(ts += 1000);
  auto r = analyze(cap.done());
  // The rule broken is a violation: the packet is shown with it, and the stream goes on.
  EXPECT_TRUE(r->rec.errs.empty());
  EXPECT_EQ(r->rec.types(), (std::vector<std::string>{"connect", "publish", "pingreq"}));
  EXPECT_EQ(r->rec.pkts[1].frame, 5u);  // SYN, SYN-ACK, ACK, CONNECT, the bad PUBLISH
  EXPECT_EQ(r->rec.pkts[1].offset, connect.size());
  EXPECT_EQ(r->rec.pkts[1].violations, (std::vector<std::string>{"bad_qos@0"}));
  EXPECT_EQ(r->rec.pkts[1].topic, "t");
}

TEST(Analyzer, UndecodablePacketReportedAndStreamContinues) {
  Cap cap("err2.pcap");
  TcpConversation t(cap.w, LinkSpec{}, kClient, server(1883));
  std::int64_t ts = kT0;
  t.handshake(ts);
  const Buf connect = mqtt_connect("err");
  t.send(true, connect, ts += 1000);
  // A PUBLISH whose topic length runs past the packet: its length frames it, its structure cannot be walked.
  Buf bad = mqtt_publish("t", text(5), 0);
  bad[3] = 0x40;
  t.send(true, bad, ts += 1000);
  t.send(true, mqtt_pingreq(), ts += 1000);
  t.close(ts += 1000);
  auto r = analyze(cap.done());
  ASSERT_EQ(r->rec.errs.size(), 1u);
  EXPECT_EQ(r->rec.errs[0].kind, ErrorKind::field_overrun);
  EXPECT_EQ(r->rec.errs[0].offset, connect.size());
  EXPECT_EQ(r->rec.errs[0].frame, 5u);
  EXPECT_EQ(r->rec.errs[0].dir, Direction::c2s);
  EXPECT_EQ(r->rec.types(), (std::vector<std::string>{"connect", "pingreq"}));
}

TEST(Analyzer, UnframeableStreamResyncs) {
  // A remaining length of more than 4 bytes cannot be framed: an error, then the next packet boundary.
  Cap cap("unframe.pcap");
  TcpConversation t(cap.w, LinkSpec{}, kClient, server(1883));
  std::int64_t ts = kT0;
  t.handshake(ts);
  t.send(true, mqtt_connect("uf"), ts += 1000);
  t.send(true, Buf{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, ts += 1000);
  t.send(true, mqtt_publish("after", text(8)), ts += 1000);
  t.send(true, mqtt_pingreq(), ts += 1000);
  t.close(ts += 1000);
  auto r = analyze(cap.done());
  ASSERT_GE(r->rec.errs.size(), 1u);
  EXPECT_EQ(r->rec.errs[0].kind, ErrorKind::bad_remaining_length);
  EXPECT_EQ(r->rec.errs[0].offset, mqtt_connect("uf").size());
  EXPECT_EQ(r->rec.types(), (std::vector<std::string>{"connect", "publish", "pingreq"}));
}

TEST(Analyzer, ResyncFindsAuthenticateAfterGap) {
  // After a gap the next packets are a PUBLISH followed by a type-0 authenticate packet: the header byte
  // 0x00 is a plausible packet start in this protocol.
  Cap cap("gap-auth.pcap");
  TcpConversation t(cap.w, LinkSpec{}, kClient, server(1883));
  std::int64_t ts = kT0;
  t.handshake(ts);
  t.send(false, mqtt_pingresp(), ts += 1000);
  t.lose(false, 7);
  t.send(false, concat({mqtt_publish("p", text(4)), mqtt_authenticate(0, "dev", kChallenge)}), ts += 1000);
  t.raw_segment(true, t.next_seq(true), {}, ts += 1000, tcpflag::ack);
  t.send(false, mqtt_connack(0), ts += 1000);
  auto r = analyze(cap.done());
  EXPECT_EQ(r->rec.gaps.size(), 1u);
  EXPECT_EQ(r->rec.types(), (std::vector<std::string>{"pingresp", "publish", "authenticate", "connack"}));
}

// ------------------------------------------------------------------------------------------ end to end

namespace {

std::string write_conv_file(const std::string& stem, std::uint16_t cport, std::int64_t t_first, std::int64_t step) {
  Cap cap(stem);
  TcpConversation t(cap.w, LinkSpec{}, ep4(192, 168, 7, 20, cport), server(1883));
  std::int64_t ts = t_first;
  t.handshake(ts);
  ts += 2000;
  t.send(true, mqtt_connect("dev-" + std::to_string(cport)), ts += step);
  t.send(false, mqtt_connack(0), ts += step);
  t.send(true, mqtt_pingreq(), ts += step);
  t.send(false, mqtt_pingresp(), ts += step);
  t.close(ts += step);
  return cap.done();
}

// The packet and error lines (not the records of gaps, resyncs, TLS and connection ends).
std::vector<test::Json> jsonl(const test::RunResult& r) {
  std::vector<test::Json> v;
  for (const auto& l : r.lines()) {
    auto j = test::Json::parse(l);
    if (!j.has("record")) v.push_back(std::move(j));
  }
  return v;
}

}  // namespace

TEST(DecodeCapturesE2E, SeveralFilesMergedInTimeOrder) {
  // File 1 holds connection A, file 2 connection B; their packets alternate in time.
  auto f1 = write_conv_file("merge-a.pcap", 40001, kT0, 2000000);
  auto f2 = write_conv_file("merge-b.pcap", 40002, kT0 + 1000000, 2000000);
  auto r = test::run({"decode", "--format", "jsonl", f1, f2});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto pk = jsonl(r);
  ASSERT_EQ(pk.size(), 8u) << r.out;
  for (std::size_t i = 0; i < pk.size(); ++i) {
    const bool a = i % 2 == 0;
    const std::string type = pk[i]["type"].str();
    const std::string client = a ? "192.168.7.20:40001" : "192.168.7.20:40002";
    const std::string peer = pk[i]["dir"].str() == "c2s" ? pk[i]["src"].str() : pk[i]["dst"].str();
    EXPECT_EQ(peer, client) << i << " " << type;
  }
  // The same output whatever the order of the files on the command line.
  auto r2 = test::run({"decode", "--format", "jsonl", f2, f1});
  ASSERT_EQ(r2.rc, 0) << r2.err;
  ASSERT_EQ(jsonl(r2).size(), 8u);
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(jsonl(r2)[i]["type"].str(), pk[i]["type"].str());
}

TEST(DecodeCapturesE2E, ExitCodes) {
  auto good = write_conv_file("ok.pcap", 40003, kT0, 1000000);
  {
    auto r = test::run({"decode", good});
    EXPECT_EQ(r.rc, 0) << r.err;
  }
  {
    SCOPED_TRACE("decode errors: 1");
    Cap cap("bad-mqtt.pcap");
    TcpConversation t(cap.w, LinkSpec{}, kClient, server(1883));
    std::int64_t ts = kT0;
    t.handshake(ts);
    t.send(true, mqtt_connect("e"), ts += 1000);
    Buf bad = mqtt_publish("t", text(3));
    bad[0] = 0x36;
    t.send(true, bad, ts += 1000);
    t.send(true, mqtt_pingreq(), ts += 1000);
    const std::string path = cap.done();
    // A QoS 3 PUBLISH breaks a rule: decoded, with the violation; an error only with --strict.
    auto r = test::run({"decode", "--format", "jsonl", "--strict", path});
    EXPECT_EQ(r.rc, 1) << r.err;
    auto lines = jsonl(r);
    ASSERT_EQ(lines.size(), 3u) << r.out;
    EXPECT_TRUE(lines[1].has("error"));
    EXPECT_EQ(lines[2]["type"].str(), "pingreq");
    auto t2 = test::run({"decode", "--format", "jsonl", path});
    EXPECT_EQ(t2.rc, 0) << t2.err;
    auto l2 = jsonl(t2);
    ASSERT_EQ(l2.size(), 3u) << t2.out;
    EXPECT_EQ(l2[1]["type"].str(), "publish");
    EXPECT_EQ(l2[1]["violations"][0]["kind"].str(), "bad_qos");
    EXPECT_EQ(l2[1]["violations"][0]["rule"].str(), "MQTT-3.3.1-4");
  }
  {
    SCOPED_TRACE("not a capture: 2");
    auto path = temp_path("text.pcap");
    std::string s = "not a capture at all\n";
    write_file(path, Buf(s.begin(), s.end()));
    auto r = test::run({"decode", path});
    EXPECT_EQ(r.rc, 2);
    EXPECT_NE(r.err.find("not a capture"), std::string::npos) << r.err;
  }
  {
    SCOPED_TRACE("truncated: 3, everything before the damage printed");
    Buf full = read_file(good);
    auto path = temp_path("trunc.pcap");
    write_file(path, Buf(full.begin(), full.end() - 30));  // inside the last record (the final ACK)
    auto r = test::run({"decode", "--format", "jsonl", path});
    EXPECT_EQ(r.rc, 3) << r.err;
    EXPECT_EQ(jsonl(r).size(), 4u) << r.out;
    EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("frame 10"), std::string::npos) << r.err;
  }
  {
    SCOPED_TRACE("a good file with an unreadable one: 2, the good one still decoded");
    auto r = test::run({"decode", "--format", "jsonl", good, temp_dir()});
    EXPECT_EQ(r.rc, 2) << r.err;
    EXPECT_EQ(jsonl(r).size(), 4u) << r.out;
    EXPECT_NE(r.err.find("directory"), std::string::npos) << r.err;
  }
}

TEST(DecodeCapturesE2E, SeveralFilesNameTheFileOfEachPacket) {
  auto f1 = write_conv_file("named-a.pcap", 40011, kT0, 2000000);
  auto f2 = write_conv_file("named-b.pcap", 40012, kT0 + 1000000, 2000000);
  auto r = test::run({"decode", "--format", "jsonl", f1, f2});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto pk = jsonl(r);
  ASSERT_EQ(pk.size(), 8u);
  for (std::size_t i = 0; i < pk.size(); ++i) EXPECT_EQ(pk[i]["file"].str(), i % 2 == 0 ? f1 : f2) << i;
  // One file: no file field.
  auto one = jsonl(test::run({"decode", "--format", "jsonl", f1}));
  ASSERT_FALSE(one.empty());
  EXPECT_FALSE(one[0].has("file"));
}

TEST(DecodeCapturesE2E, UnsupportedLinkTypeIsNamedOnceAndTheRestDecoded) {
  // A pcapng with a USER0 (147) interface and an Ethernet one carrying a handshake.
  auto path = temp_path("links.pcapng");
  {
    PcapngWriter w;
    ASSERT_TRUE(w.open(path));
    auto odd = w.add_interface(147);
    auto eth = w.add_interface(kLinkEthernet);
    const Buf junk = pattern(40);
    w.write(kT0, junk, 0, odd);
    w.write(kT0 + 1, junk, 0, odd);
    struct Iface final : CaptureWriter {
      PcapngWriter& w;
      std::uint32_t id;
      Iface(PcapngWriter& ww, std::uint32_t i) : w(ww), id(i) {}
      bool write(std::int64_t ts, std::span<const std::uint8_t> d, std::uint32_t orig, std::uint32_t) override {
        return w.write(ts, d, orig, id);
      }
      bool close() override { return true; }
    } out(w, eth);
    TcpConversation t(out, {}, ep4(10, 0, 0, 2, 40100), ep4(10, 0, 0, 1, 1883));
    t.handshake(kT0 + 10);
    t.send(true, mqtt_connect("dev-link"), kT0 + 20);
    t.send(false, mqtt_connack(0), kT0 + 30);
    w.close();
  }
  auto r = test::run({"decode", "--format", "jsonl", path});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(jsonl(r).size(), 2u);
  EXPECT_NE(r.err.find("frame 1: link type 147 is not supported"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("frame 2:"), std::string::npos) << "named once: " << r.err;
}
