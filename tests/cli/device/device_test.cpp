// The reference device against the reference broker over loopback (every auth mode, right and wrong secrets,
// both custom codes, MQTT 5, timeouts, exit codes), against tiny fake servers (protocol errors, silence), and
// the Recorder: its pcap read back with CaptureReader and the Analyzer.
#include <asio.hpp>
#include <memory>
#include <thread>

#include "broker/broker.hpp"
#include "cli_helpers.hpp"
#include "device.hpp"
#include "recorder.hpp"
#include "mqttauth/verify.hpp"

using namespace mqttauth;
using namespace mqttauth::clitest;
using cli::Recorder;
using cli::RecorderOptions;
namespace dev = mqttauth::cli::device;
namespace br = mqttauth::cli::broker;

namespace {

struct Bench {
  asio::io_context io;
  std::unique_ptr<br::Broker> broker;
  std::string addr;

  explicit Bench(br::AuthMode auth, std::uint8_t code = 0, int auth_timeout_ms = 2000, bool seed_compat = false)
      : Bench(config(auth, code, auth_timeout_ms, seed_compat)) {}
  explicit Bench(br::BrokerConfig cfg) {
    broker = std::make_unique<br::Broker>(io, std::move(cfg));
    std::string err;
    EXPECT_TRUE(broker->listen("127.0.0.1:0", err)) << err;
    addr = "127.0.0.1:" + std::to_string(broker->port());
  }

  // The broker's configuration: three clients with their secrets.
  static br::BrokerConfig config(br::AuthMode auth, std::uint8_t code = 0, int auth_timeout_ms = 2000,
                                 bool seed_compat = false) {
    br::BrokerConfig cfg;
    cfg.auth = auth;
    cfg.auth_code = code;
    cfg.seed_compat = seed_compat;
    cfg.auth_timeout = std::chrono::milliseconds(auth_timeout_ms);
    cfg.secrets.add("sensor-01", "s3cret");
    cfg.secrets.add("sensor-02", "other");
    cfg.secrets.add("ctl", "ctl-secret");
    return cfg;
  }

  dev::DeviceConfig device(const std::string& id = "sensor-01", const std::string& secret = "s3cret") const {
    dev::DeviceConfig c;
    c.connect = addr;
    c.client_id = id;
    c.secret = secret;
    c.timeout = std::chrono::milliseconds(3000);
    return c;
  }
  // The same with MQTT 5 enhanced authentication.
  dev::DeviceConfig device_v5(const std::string& id = "sensor-01", const std::string& secret = "s3cret") const {
    dev::DeviceConfig c = device(id, secret);
    c.auth = dev::DeviceAuth::v5;
    c.level = 5;
    return c;
  }

  // Runs the devices concurrently until they are all done, then stops the broker.
  std::vector<dev::DeviceResult> run(std::vector<dev::DeviceConfig> cfgs) {
    std::vector<dev::DeviceResult> out(cfgs.size());
    std::size_t left = cfgs.size();
    for (std::size_t i = 0; i < cfgs.size(); ++i)
      dev::start_device(io, cfgs[i], [&, i](const dev::DeviceResult& r) {
        out[i] = r;
        if (--left == 0) broker->stop();
      });
    io.run();
    return out;
  }
  dev::DeviceResult run1(dev::DeviceConfig cfg) { return run({std::move(cfg)})[0]; }
};

// ------------------------------------------------------------------------------------------ custom scheme

TEST(Device, CustomCode0RightSecretIsAcceptedAndPublishesAtEveryQos) {
  for (std::uint8_t qos = 0; qos <= 2; ++qos) {
    Bench b(br::AuthMode::custom, 0);
    auto cfg = b.device();
    cfg.publish = 3;
    cfg.qos = qos;
    auto r = b.run1(cfg);
    EXPECT_EQ(r.exit_code, dev::kDeviceOk) << r.message;
    EXPECT_EQ(r.sessions, 1);
    EXPECT_EQ(r.published, 3);
    ASSERT_EQ(r.challenges.size(), 1u);
    ASSERT_EQ(r.responses.size(), 1u);
    EXPECT_EQ(r.responses[0], hmac_sha256_hex("s3cret", r.challenges[0]));
  }
}

TEST(Device, CustomCode15RightSecretIsAccepted) {
  Bench b(br::AuthMode::custom, 15);
  auto cfg = b.device();
  cfg.publish = 1;
  cfg.qos = 1;
  auto r = b.run1(cfg);
  EXPECT_EQ(r.exit_code, dev::kDeviceOk) << r.message;
  EXPECT_EQ(r.published, 1);
}

TEST(Device, WrongSecretIsRefusedWithExit3InBothCodes) {
  for (std::uint8_t code : {std::uint8_t{0}, std::uint8_t{15}}) {
    Bench b(br::AuthMode::custom, code);
    auto cfg = b.device();
    cfg.wrong_secret = true;
    auto r = b.run1(cfg);
    EXPECT_EQ(r.exit_code, dev::kDeviceRefused) << "code " << int(code) << ": " << r.message;
    EXPECT_EQ(r.sessions, 0);
  }
}

TEST(Device, EchoedChallengeIsRefused) {
  Bench b(br::AuthMode::custom, 0);
  auto cfg = b.device();
  cfg.echo_challenge = true;
  auto r = b.run1(cfg);
  EXPECT_EQ(r.exit_code, dev::kDeviceRefused) << r.message;
  ASSERT_EQ(r.responses.size(), 1u);
  EXPECT_EQ(r.responses[0], r.challenges[0]);
}

TEST(Device, UnknownClientIsRefused) {
  Bench b(br::AuthMode::custom, 0);
  auto r = b.run1(b.device("stranger", "whatever"));
  EXPECT_EQ(r.exit_code, dev::kDeviceRefused) << r.message;
}

TEST(Device, NoAnswerEndsWithTheBrokersTimeoutExit4) {
  Bench b(br::AuthMode::custom, 0, 200);
  auto cfg = b.device();
  cfg.no_answer = true;
  auto t0 = std::chrono::steady_clock::now();
  auto r = b.run1(cfg);
  EXPECT_EQ(r.exit_code, dev::kDeviceTimeout) << r.message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));  // the broker's, not the device's
}

TEST(Device, SeedCompatChallengesAreMillisecondTimestamps) {
  Bench b(br::AuthMode::custom, 0, 2000, true);
  auto r = b.run1(b.device());
  EXPECT_EQ(r.exit_code, dev::kDeviceOk) << r.message;
  ASSERT_EQ(r.challenges.size(), 1u);
  EXPECT_EQ(classify_challenge(r.challenges[0], Recorder::wall_clock_ns()), ChallengeWeakness::timestamp_ms);
}

TEST(Device, CustomSchemeAtLevel3AndRefusedAtLevel5) {
  for (std::uint8_t level : {std::uint8_t{3}, std::uint8_t{5}}) {
    Bench b(br::AuthMode::custom, 0);
    auto cfg = b.device();
    cfg.level = level;
    cfg.publish = 1;
    cfg.qos = 1;
    auto r = b.run1(cfg);
    if (level == 3) {
      EXPECT_EQ(r.exit_code, dev::kDeviceOk) << r.message;
    } else {
      // The custom scheme is for levels 3 and 4: an MQTT 5 client without a method gets CONNACK 0x8C.
      EXPECT_EQ(r.exit_code, dev::kDeviceRefused) << r.message;
      EXPECT_EQ(r.message, "refused: CONNACK code 140");
      EXPECT_TRUE(r.challenges.empty());
    }
  }
}

// ------------------------------------------------------------------------------------------ MQTT 5 and none

TEST(Device, V5RightSecretIsAcceptedWrongIsRefused) {
  Bench b(br::AuthMode::v5);
  auto ok = b.device_v5();
  ok.publish = 2;
  ok.qos = 2;
  auto bad = b.device_v5("sensor-02", "not-other");
  auto r = b.run({ok, bad});
  EXPECT_EQ(r[0].exit_code, dev::kDeviceOk) << r[0].message;
  EXPECT_EQ(r[0].published, 2);
  EXPECT_EQ(r[1].exit_code, dev::kDeviceRefused) << r[1].message;
}

// MQTT 5 re-authentication (--reauth): two fresh challenges answered while QoS 1 telemetry goes on.
TEST(Device, V5ReauthenticationWhilePublishing) {
  Bench b(br::AuthMode::v5);
  auto cfg = b.device_v5();
  cfg.publish = 3;
  cfg.qos = 1;
  cfg.reauth = 2;
  cfg.reauth_after = std::chrono::milliseconds(20);
  auto r = b.run1(cfg);
  EXPECT_EQ(r.exit_code, dev::kDeviceOk) << r.message;
  EXPECT_EQ(r.sessions, 1);
  EXPECT_EQ(r.published, 3);
  EXPECT_EQ(r.reauths, 2);
  ASSERT_EQ(r.challenges.size(), 3u);  // CONNECT's, then one per re-authentication
  ASSERT_EQ(r.responses.size(), 3u);
  EXPECT_NE(r.challenges[1], r.challenges[0]);
  EXPECT_NE(r.challenges[2], r.challenges[1]);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(r.responses[i], hmac_sha256_hex("s3cret", r.challenges[i]));
}

TEST(Device, RefusedReauthenticationIsExit7) {
  Bench b(br::AuthMode::v5);
  auto cfg = b.device_v5();
  cfg.publish = 1;
  cfg.reauth = 1;
  cfg.wrong_reauth = true;
  auto r = b.run1(cfg);
  EXPECT_EQ(r.exit_code, dev::kDeviceReauthRefused) << r.message;
  EXPECT_EQ(r.sessions, 1);
  EXPECT_EQ(r.reauths, 0);
  EXPECT_NE(r.message.find("reason 135"), std::string::npos) << r.message;  // 0x87 Not authorized
}

TEST(Device, ReauthNeedsV5Auth) {
  Bench b(br::AuthMode::custom);
  auto cfg = b.device();
  cfg.reauth = 1;
  EXPECT_EQ(b.run1(cfg).exit_code, dev::kDeviceUsage);
}

TEST(Device, NoAuthBroker) {
  Bench b(br::AuthMode::none);
  auto cfg = b.device();
  cfg.auth = dev::DeviceAuth::none;
  cfg.publish = 1;
  EXPECT_EQ(b.run1(cfg).exit_code, dev::kDeviceOk);
}

TEST(Device, AnyModeServesCustomAndV5DevicesTogether) {
  Bench b(br::AuthMode::any);
  auto a = b.device();
  auto v = b.device_v5("sensor-02", "other");
  auto r = b.run({a, v});
  EXPECT_EQ(r[0].exit_code, dev::kDeviceOk) << r[0].message;
  EXPECT_EQ(r[1].exit_code, dev::kDeviceOk) << r[1].message;
}

// ------------------------------------------------------------------------------------------ behaviour

TEST(Device, CommandsAreAnsweredOnTheReplyTopic) {
  Bench b(br::AuthMode::custom, 0);
  auto target = b.device();
  target.wait_commands = 2;
  target.qos = 1;
  auto ctl = b.device("ctl", "ctl-secret");
  ctl.subscribe = false;
  ctl.commands = {{"sensor-01", "reboot"}, {"sensor-01", "status"}};
  ctl.qos = 1;
  std::vector<dev::DeviceResult> out(2);
  int left = 2;
  target.on_ready = [&] {
    dev::start_device(b.io, ctl, [&](const dev::DeviceResult& r) {
      out[1] = r;
      if (--left == 0) b.broker->stop();
    });
  };
  dev::start_device(b.io, target, [&](const dev::DeviceResult& r) {
    out[0] = r;
    if (--left == 0) b.broker->stop();
  });
  b.io.run();
  EXPECT_EQ(out[0].exit_code, dev::kDeviceOk) << out[0].message;
  EXPECT_EQ(out[0].commands_answered, 2);
  EXPECT_EQ(out[1].exit_code, dev::kDeviceOk) << out[1].message;
  EXPECT_EQ(out[1].replies_received, 2);
}

TEST(Device, ReconnectRunsSeveralSessions) {
  Bench b(br::AuthMode::custom, 0);
  auto cfg = b.device();
  cfg.reconnect = 2;
  cfg.publish = 1;
  cfg.qos = 1;
  auto r = b.run1(cfg);
  EXPECT_EQ(r.exit_code, dev::kDeviceOk) << r.message;
  EXPECT_EQ(r.sessions, 3);
  EXPECT_EQ(r.published, 3);
  EXPECT_EQ(r.challenges.size(), 3u);
}

TEST(Device, ConnectionFailureIsExit6) {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto port = a.local_endpoint().port();
  a.close();
  dev::DeviceConfig cfg;
  cfg.connect = "127.0.0.1:" + std::to_string(port);
  cfg.secret = "x";
  EXPECT_EQ(dev::run_device(cfg).exit_code, dev::kDeviceConnectFailed);
  cfg.connect = "not-a-host-port";
  EXPECT_EQ(dev::run_device(cfg).exit_code, dev::kDeviceUsage);
}

// A one-connection fake server: reads the CONNECT, sends `reply` (if any), then waits.
struct FakeServer {
  asio::io_context io;
  asio::ip::tcp::acceptor acc{io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::thread th;
  explicit FakeServer(const Buf& reply) {
    th = std::thread([this, reply] {
      asio::ip::tcp::socket s(io);
      std::error_code ec;
      acc.accept(s, ec);
      if (ec) return;
      std::array<std::uint8_t, 256> buf{};
      s.read_some(asio::buffer(buf), ec);
      if (!reply.empty()) asio::write(s, asio::buffer(reply), ec);
      s.read_some(asio::buffer(buf), ec);  // until the device gives up
    });
  }
  std::string addr() { return "127.0.0.1:" + std::to_string(acc.local_endpoint().port()); }
  ~FakeServer() { th.join(); }
};

TEST(Device, UnexpectedPacketIsProtocolErrorExit5) {
  Buf suback{0x90, 0x03, 0x00, 0x01, 0x00};
  FakeServer srv(suback);
  dev::DeviceConfig cfg;
  cfg.connect = srv.addr();
  cfg.secret = "x";
  auto r = dev::run_device(cfg);
  EXPECT_EQ(r.exit_code, dev::kDeviceProtocolError) << r.message;
}

TEST(Device, UndecodablePacketIsProtocolErrorExit5) {
  FakeServer srv(Buf{0x20, 0x02, 0x00, 0x09});  // CONNACK with return code 9
  dev::DeviceConfig cfg;
  cfg.connect = srv.addr();
  cfg.secret = "x";
  auto r = dev::run_device(cfg);
  EXPECT_EQ(r.exit_code, dev::kDeviceProtocolError) << r.message;
}

TEST(Device, SilentServerIsTimeoutExit4) {
  FakeServer srv(Buf{});
  dev::DeviceConfig cfg;
  cfg.connect = srv.addr();
  cfg.secret = "x";
  cfg.timeout = std::chrono::milliseconds(200);
  auto r = dev::run_device(cfg);
  EXPECT_EQ(r.exit_code, dev::kDeviceTimeout) << r.message;
}

// ------------------------------------------------------------------------------------------ the recorder

namespace {
// The devices run concurrently against `b`, recorded by one Recorder (tap ids 1, 101, 201, ...).
struct RecordedRun {
  std::string path;
  std::size_t frames = 0;
  std::vector<dev::DeviceResult> results;
};
RecordedRun record_run(Bench& b, std::vector<dev::DeviceConfig> devices, const std::string& name) {
  RecordedRun out;
  out.path = temp_path(name) + ".pcap";
  Recorder rec;
  std::string err;
  EXPECT_TRUE(rec.open(out.path, err)) << err;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    devices[i].tap = &rec;
    devices[i].tap_id = 1 + 100 * i;
  }
  out.results = b.run(std::move(devices));
  EXPECT_TRUE(rec.finish(err)) << err;
  out.frames = rec.frames();
  return out;
}
}  // namespace

TEST(Recorder, LiveCaptureOfTheDeviceReadsBackThroughTheAnalyzer) {
  Bench b(br::AuthMode::custom, 0);
  auto good = b.device();
  good.publish = 1;
  good.qos = 1;
  good.payload_size = 200000;
  auto run = record_run(b, {good, b.device("sensor-02", "wrong")}, "live");
  const std::string& path = run.path;
  const auto& r = run.results;
  EXPECT_EQ(r[0].exit_code, dev::kDeviceOk) << r[0].message;
  EXPECT_EQ(r[1].exit_code, dev::kDeviceRefused) << r[1].message;

  auto back = read_capture(path);
  ASSERT_TRUE(back.opened) << back.open_error;
  EXPECT_EQ(back.status, cli::CaptureReader::Status::end);
  EXPECT_EQ(back.recs.size(), run.frames);
  for (const auto& f : back.recs) EXPECT_LE(f.data.size(), 14u + 20u + 20u + 1460u);

  AnalyzerRecorder sink;
  cli::Analyzer an(cli::AnalyzerOptions{}, sink);
  analyze_file(path, an);
  EXPECT_TRUE(sink.errs.empty());
  EXPECT_TRUE(sink.gaps.empty());
  ASSERT_EQ(sink.ends.size(), 2u);
  std::size_t big = 0;
  for (const auto& p : sink.pkts)
    if (p.type == "publish" && p.payload_len == 200000) ++big;
  EXPECT_EQ(big, 1u);
  int accepted = 0, refused = 0;
  for (const auto& e : sink.ends) {
    EXPECT_EQ(e.why, cli::EndReason::fin);
    ASSERT_EQ(e.handshakes.size(), 1u);
    EXPECT_EQ(e.handshakes[0].scheme, AuthScheme::custom0);
    accepted += e.handshakes[0].outcome == Outcome::accepted;
    refused += e.handshakes[0].outcome == Outcome::refused;
  }
  EXPECT_EQ(accepted, 1);
  EXPECT_EQ(refused, 1);
}

// Re-authentications recorded live read back as one accepted connect handshake per connection, without
// anomalies: a successful pair interleaved with telemetry, and a refused one (DISCONNECT 0x87).
TEST(Recorder, LiveReauthenticationCaptureHasNoAnomalies) {
  Bench b(br::AuthMode::v5);
  auto good = b.device_v5();
  good.publish = 2;
  good.qos = 1;
  good.reauth = 2;
  auto bad = b.device_v5("sensor-02", "other");
  bad.reauth = 1;
  bad.wrong_reauth = true;
  auto run = record_run(b, {good, bad}, "reauth");
  const auto& r = run.results;
  EXPECT_EQ(r[0].exit_code, dev::kDeviceOk) << r[0].message;
  EXPECT_EQ(r[1].exit_code, dev::kDeviceReauthRefused) << r[1].message;

  AnalyzerRecorder sink;
  cli::Analyzer an(cli::AnalyzerOptions{}, sink);
  analyze_file(run.path, an);
  EXPECT_TRUE(sink.errs.empty());
  ASSERT_EQ(sink.ends.size(), 2u);
  for (const auto& e : sink.ends) {
    ASSERT_EQ(e.handshakes.size(), 1u);
    EXPECT_EQ(e.handshakes[0].scheme, AuthScheme::v5);
    EXPECT_EQ(e.handshakes[0].outcome, Outcome::accepted);
    EXPECT_EQ(e.handshakes[0].anomalies, 0u) << anomaly_names(e.handshakes[0].anomalies);
    EXPECT_EQ(e.handshakes[0].responses, 1u);
  }
  // AUTH packets: 2 in each connect handshake, 4 per successful re-authentication, 3 for the refused one.
  std::size_t auths = 0;
  for (const auto& p : sink.pkts) auths += p.type == "auth";
  EXPECT_EQ(auths, 2u + 2u * 4u + 2u + 3u);
}

// Stable mode: the same traffic reported in different read sizes and at different times gives the same file;
// packets become segments, the server is port 1883, clients 50001..., connections in id order.
TEST(Recorder, StableModeIgnoresChunkingAndTiming) {
  Buf connect = mqtt_connect("sensor-01");
  Buf challenge = mqtt_authenticate(0, "sensor-01", "abc");
  Buf response = mqtt_authenticate(0, "sensor-01", hmac_sha256_hex("s3cret", "abc"));
  Buf connack = mqtt_connack(0);
  Buf big = mqtt_publish("t", pattern(5000), 0);
  Endpoint c = ep4(127, 0, 0, 1, 41234), s = ep4(127, 0, 0, 1, 39999);
  auto record = [&](std::size_t chunk, std::int64_t t0, bool reverse_ids) {
    std::string path = temp_path("stable") + ".pcap";
    RecorderOptions o;
    o.stable = true;
    Recorder rec(o);
    std::string err;
    EXPECT_TRUE(rec.open(path, err));
    std::uint64_t first = reverse_ids ? 2 : 1, second = reverse_ids ? 1 : 2;
    // Open the second connection first: ids decide the order, not time.
    rec.on_open(second, c, s, t0);
    rec.on_data(second, true, mqtt_disconnect(), t0);
    rec.on_close(second, true, false, t0);
    rec.on_open(first, c, s, t0 + 5);
    rec.on_data(first, true, connect, t0 + 7);
    Buf s2c = concat({challenge, connack});
    rec.on_data(first, false, std::span(s2c).subspan(0, challenge.size()), t0 + 9);
    rec.on_data(first, true, response, t0 + 11);
    for (std::size_t off = challenge.size(); off < s2c.size(); off += chunk)
      rec.on_data(first, false, std::span(s2c).subspan(off, std::min(chunk, s2c.size() - off)), t0 + 13);
    for (std::size_t off = 0; off < big.size(); off += chunk * 97)
      rec.on_data(first, true, std::span(big).subspan(off, std::min(chunk * 97, big.size() - off)), t0 + 15);
    rec.on_close(first, false, true, t0 + 17);
    EXPECT_TRUE(rec.finish(err));
    return path;
  };
  std::string a = record(1, 1000, false), b2 = record(3, 99999999, false);
  EXPECT_EQ(read_file(a), read_file(b2));

  AnalyzerRecorder sink;
  cli::Analyzer an(cli::AnalyzerOptions{}, sink);
  analyze_file(a, an);
  EXPECT_TRUE(sink.errs.empty());
  EXPECT_TRUE(sink.gaps.empty());
  ASSERT_EQ(sink.ends.size(), 2u);
  EXPECT_EQ(sink.ends[0].server.port, 1883);
  EXPECT_EQ(sink.ends[0].client.port, 50001);
  EXPECT_EQ(sink.ends[0].why, cli::EndReason::rst);
  EXPECT_EQ(sink.ends[1].client.port, 50002);
  EXPECT_EQ(sink.ends[1].why, cli::EndReason::fin);
  EXPECT_EQ(sink.types(1), (std::vector<std::string>{"connect", "authenticate", "authenticate", "connack", "publish"}));
  auto back = read_capture(a);
  ASSERT_FALSE(back.recs.empty());
  EXPECT_EQ(back.recs[0].ts_ns, RecorderOptions{}.start_ns);
  for (std::size_t i = 1; i < back.recs.size(); ++i) EXPECT_GE(back.recs[i].ts_ns, back.recs[i - 1].ts_ns);
}

TEST(Recorder, ServerCloseWritesTheServersFinFirst) {
  std::string path = temp_path("fin") + ".pcap";
  Recorder rec;
  std::string err;
  ASSERT_TRUE(rec.open(path, err));
  Endpoint c = ep4(127, 0, 0, 1, 40000), s = ep4(127, 0, 0, 1, 1883);
  rec.on_open(7, c, s, 1'000'000'000);
  rec.on_data(7, true, mqtt_connect("x"), 1'001'000'000);
  rec.on_close(7, false, false, 1'002'000'000);
  rec.on_data(7, true, mqtt_pingreq(), 1'003'000'000);  // after the close: ignored
  ASSERT_TRUE(rec.finish(err));
  auto back = read_capture(path);
  ASSERT_EQ(back.recs.size(), 7u);  // SYN, SYN-ACK, ACK, CONNECT, FIN (server), FIN (client), ACK
  AnalyzerRecorder sink;
  cli::Analyzer an(cli::AnalyzerOptions{}, sink);
  analyze_file(path, an);
  ASSERT_EQ(sink.ends.size(), 1u);
  EXPECT_EQ(sink.ends[0].why, cli::EndReason::fin);
  EXPECT_EQ(sink.types(), (std::vector<std::string>{"connect"}));
}

}  // namespace

// ------------------------------------------------------------------------------------------ keep-alive

namespace {
std::size_t count_packets(const std::string& path, const std::string& type, Direction dir) {
  AnalyzerRecorder sink;
  cli::Analyzer an(cli::AnalyzerOptions{}, sink);
  analyze_file(path, an);
  std::size_t n = 0;
  for (const auto& p : sink.pkts) n += p.type == type && p.dir == dir;
  return n;
}
}  // namespace

// Idle longer than its keep-alive between two messages: the device sends PINGREQ and the broker, which drops a
// client silent for 1.5 x its keep-alive, keeps it. At every QoS wait too (the acknowledgements come at once).
TEST(Device, PingsWhenIdleForItsKeepAliveAndStaysConnected) {
  Bench b(br::AuthMode::custom, 0);
  auto cfg = b.device();
  cfg.keep_alive = 1;
  cfg.publish = 3;
  cfg.qos = 1;
  cfg.interval_ms = 1700;
  auto run = record_run(b, {cfg}, "keepalive");
  const auto& r = run.results[0];
  EXPECT_EQ(r.exit_code, dev::kDeviceOk) << r.message;
  EXPECT_EQ(r.published, 3);
  const std::size_t pings = count_packets(run.path, "pingreq", Direction::c2s);
  EXPECT_GE(pings, 2u);  // one in each 1.7 s pause
  EXPECT_EQ(count_packets(run.path, "pingresp", Direction::s2c), pings);
}

TEST(Device, KeepAliveZeroSendsNoPingreq) {
  Bench b(br::AuthMode::custom, 0);
  auto cfg = b.device();
  cfg.keep_alive = 0;
  cfg.publish = 2;
  cfg.interval_ms = 1200;
  auto run = record_run(b, {cfg}, "keepalive0");
  EXPECT_EQ(run.results[0].exit_code, dev::kDeviceOk) << run.results[0].message;
  EXPECT_EQ(count_packets(run.path, "pingreq", Direction::c2s), 0u);
}

// MQTT 5: a Server Keep Alive in CONNACK replaces the CONNECT's keep-alive (MQTT 5 3.2.2.3.14).
TEST(Device, ServerKeepAliveReplacesItsOwn) {
  auto bc = Bench::config(br::AuthMode::none);
  bc.server_keep_alive = 1;
  Bench b(std::move(bc));
  auto cfg = b.device();
  cfg.auth = dev::DeviceAuth::none;
  cfg.level = 5;
  cfg.keep_alive = 60;
  cfg.publish = 2;
  cfg.interval_ms = 1700;
  auto run = record_run(b, {cfg}, "serverkeepalive");
  EXPECT_EQ(run.results[0].exit_code, dev::kDeviceOk) << run.results[0].message;
  EXPECT_GE(count_packets(run.path, "pingreq", Direction::c2s), 1u);
}

// A server that accepts and then never answers again: the PINGREQ goes unanswered and the device ends the
// connection with its own exit code after its answer timeout.
TEST(Device, NoPingrespIsExit8) {
  asio::io_context io;
  asio::ip::tcp::acceptor acc(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::size_t after_connack = 0;
  std::thread th([&] {
    asio::ip::tcp::socket s(io);
    std::error_code ec;
    acc.accept(s, ec);
    if (ec) return;
    std::array<std::uint8_t, 256> buf{};
    s.read_some(asio::buffer(buf), ec);
    const Buf connack{0x20, 0x02, 0x00, 0x00};
    asio::write(s, asio::buffer(connack), ec);
    while (!ec) after_connack += s.read_some(asio::buffer(buf), ec);
  });
  dev::DeviceConfig cfg;
  cfg.connect = "127.0.0.1:" + std::to_string(acc.local_endpoint().port());
  cfg.auth = dev::DeviceAuth::none;
  cfg.subscribe = false;
  cfg.keep_alive = 1;
  cfg.publish = 2;
  cfg.interval_ms = 4000;
  cfg.timeout = std::chrono::milliseconds(500);
  auto t0 = std::chrono::steady_clock::now();
  auto r = dev::run_device(cfg);
  th.join();
  EXPECT_EQ(r.exit_code, dev::kDevicePingTimeout) << r.message;
  EXPECT_EQ(r.published, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(3500));  // before the pause's end
  EXPECT_GE(after_connack, 2u + 2u);  // a PUBLISH and the PINGREQ (0xC0 0x00) at least
}
