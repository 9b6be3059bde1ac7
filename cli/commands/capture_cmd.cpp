// mqttauth capture SCENARIO -o FILE.pcap [--seed N]: the broker and reference devices talk over real loopback
// sockets in this process; the devices report their traffic to a Recorder, which writes the capture.
//
// The broker is the reference broker itself (broker/broker.hpp) on a free loopback port. With --seed each
// challenge is derived from (seed, client id, n-th challenge of that client), independent of which device the
// scheduler lets connect first, and the Recorder runs on its virtual clock with stable ports. The same command
// then writes the same bytes.
//
// With --live [IFACE] the Recorder is not used: libpcap captures the real packets on the interface (loopback
// by default), filtered to the server's port, while the same scenario runs (live_capture.hpp).
#include <unistd.h>

#include <asio.hpp>
#include <cstdio>
#include <map>
#include <memory>

#include "self_signed.hpp"
#include "broker/broker.hpp"
#include "commands.hpp"
#include "device.hpp"
#include "live_capture.hpp"
#include "recorder.hpp"
#include "mqttauth/verify.hpp"

namespace mqttauth::cli {
namespace {

namespace br = broker;
using device::DeviceConfig;
using device::DeviceResult;

// Deterministic challenges for --seed: derived from (seed, client id, n-th challenge of that client), so they
// do not depend on which device the scheduler lets connect first. With seed_compat they are the field's
// 13-digit milliseconds near `compat_ms` (the capture's virtual clock).
std::function<std::string(std::string_view)> seeded_challenges(std::uint64_t seed, bool compat,
                                                               std::int64_t compat_ms) {
  auto counts = std::make_shared<std::map<std::string, int, std::less<>>>();
  return [counts, seed, compat, compat_ms](std::string_view client) {
    int n = ++(*counts)[std::string(client)];
    std::string h =
        hmac_sha256_hex("mqttauth-capture-seed-" + std::to_string(seed), std::string(client) + "#" + std::to_string(n));
    if (!compat) return h.substr(0, 32);
    std::uint64_t off = std::stoull(h.substr(0, 8), nullptr, 16) % 600000;
    return std::to_string(compat_ms + static_cast<std::int64_t>(off));
  };
}

// ------------------------------------------------------------------------------------------ scenarios

struct Dev {
  DeviceConfig cfg;
  int expect = device::kDeviceOk;
  int phase = 0;
  int start_after_ready_of = -1;  // index of a device of the same phase whose readiness starts this one
};

struct Scenario {
  Scenario(const char* n, const char* w) : name(n), what(w) {}
  const char* name;
  const char* what;
  br::AuthMode auth = br::AuthMode::custom;
  std::uint8_t code = 0;
  bool seed_compat = false;
  int auth_timeout_ms = 10000;
  bool interleave = false;  // --seed: frames in the order they happened, across connections
  std::vector<Dev> devs;
};

// The devices' secrets: sensor-NN has secret-NN (written by --write-secrets).
std::string secret_of(const std::string& client) { return "secret-" + client.substr(client.find('-') + 1); }

Dev dev(const std::string& id, int phase = 0) {
  Dev d;
  d.cfg.client_id = id;
  d.cfg.secret = secret_of(id);
  d.cfg.timeout = std::chrono::milliseconds(5000);
  d.phase = phase;
  return d;
}

// A device that uses MQTT 5 enhanced authentication.
Dev dev_v5(const std::string& id, int phase = 0) {
  Dev d = dev(id, phase);
  d.cfg.auth = device::DeviceAuth::v5;
  d.cfg.level = 5;
  return d;
}

// The field's custom handshake: both codes, accepted and refused, and its predictable challenges.
void add_custom_scenarios(std::vector<Scenario>& v) {
  {
    Scenario s{"success-code0", "custom authenticate code 0, right response, accepted; QoS 0/1/2 telemetry"};
    Dev d = dev("sensor-01");
    d.cfg.publish = 3;
    d.cfg.qos = 1;
    s.devs.push_back(d);
    Dev e = dev("sensor-02", 1);
    e.cfg.publish = 1;
    e.cfg.qos = 2;
    s.devs.push_back(e);
    v.push_back(s);
  }
  {
    Scenario s{"success-code15", "custom authenticate code 15, right response, accepted; QoS 1 telemetry"};
    s.code = 15;
    Dev d = dev("sensor-11");
    d.cfg.publish = 2;
    d.cfg.qos = 1;
    s.devs.push_back(d);
    v.push_back(s);
  }
  {
    Scenario s{"refused-code0", "custom code 0: a wrong secret and an echoed challenge, both refused (CONNACK 5)"};
    Dev d = dev("sensor-21");
    d.cfg.wrong_secret = true;
    d.expect = device::kDeviceRefused;
    s.devs.push_back(d);
    Dev e = dev("sensor-22", 1);
    e.cfg.echo_challenge = true;
    e.expect = device::kDeviceRefused;
    s.devs.push_back(e);
    v.push_back(s);
  }
  {
    Scenario s{"refused-code15", "custom code 15: a wrong secret, refused (CONNACK 5), the server closes"};
    s.code = 15;
    Dev d = dev("sensor-31");
    d.cfg.wrong_secret = true;
    d.expect = device::kDeviceRefused;
    s.devs.push_back(d);
    v.push_back(s);
  }
  {
    Scenario s{"seed-compat", "the field's predictable challenges (13-digit millisecond timestamps), accepted"};
    s.seed_compat = true;
    for (int i = 0; i < 2; ++i) {
      Dev d = dev("sensor-4" + std::to_string(i + 1), i);
      d.cfg.publish = 1;
      s.devs.push_back(d);
    }
    v.push_back(s);
  }
}

// MQTT 5 enhanced authentication and re-authentication.
void add_v5_scenarios(std::vector<Scenario>& v) {
  {
    Scenario s{"v5-auth", "MQTT 5 enhanced authentication (HMAC-SHA256): accepted, then a wrong secret refused"};
    s.auth = br::AuthMode::v5;
    Dev d = dev_v5("sensor-51");
    d.cfg.publish = 1;
    d.cfg.qos = 2;
    s.devs.push_back(d);
    Dev e = dev_v5("sensor-52", 1);
    e.cfg.wrong_secret = true;
    e.expect = device::kDeviceRefused;
    s.devs.push_back(e);
    v.push_back(s);
  }
  {
    Scenario s{"v5-reauth",
               "MQTT 5 re-authentication during the session (AUTH 0x19, 0x18, 0x00) twice while publishing, then "
               "a device whose re-authentication response is wrong: DISCONNECT 0x87"};
    s.auth = br::AuthMode::v5;
    Dev d = dev_v5("sensor-56");
    d.cfg.publish = 3;
    d.cfg.qos = 1;
    d.cfg.reauth = 2;
    d.cfg.reauth_after = std::chrono::milliseconds(20);
    s.devs.push_back(d);
    Dev e = dev_v5("sensor-57", 1);
    e.cfg.publish = 1;
    e.cfg.reauth = 1;
    e.cfg.reauth_after = std::chrono::milliseconds(20);
    e.cfg.wrong_reauth = true;
    e.expect = device::kDeviceReauthRefused;
    s.devs.push_back(e);
    v.push_back(s);
  }
}

// Timeouts, load, large payloads and the mix of everything.
void add_other_scenarios(std::vector<Scenario>& v) {
  {
    Scenario s{"no-response", "the device never answers the challenge: the broker's handshake timeout closes"};
    s.auth_timeout_ms = 300;
    Dev d = dev("sensor-61");
    d.cfg.no_answer = true;
    d.expect = device::kDeviceTimeout;
    s.devs.push_back(d);
    v.push_back(s);
  }
  {
    Scenario s{"many-devices", "20 devices at once, custom code 0, each publishes one QoS 1 message"};
    for (int i = 0; i < 20; ++i) {
      char id[16];
      std::snprintf(id, sizeof id, "sensor-7%02d", i + 1);
      Dev d = dev(id);
      d.cfg.publish = 1;
      d.cfg.qos = 1;
      s.devs.push_back(d);
    }
    v.push_back(s);
  }
  {
    Scenario s{"large-payload", "one 200 KB PUBLISH (QoS 1) over many TCP segments after the handshake"};
    Dev d = dev("sensor-81");
    d.cfg.publish = 1;
    d.cfg.qos = 1;
    d.cfg.payload_size = 200000;
    s.devs.push_back(d);
    v.push_back(s);
  }
  {
    Scenario s{"mixed",
               "a bit of everything: code 0 accepted with a command and its reply, a wrong secret, MQTT 5 auth, "
               "MQTT 3.1, a double response, an unanswered challenge, a reconnect"};
    s.auth = br::AuthMode::any;
    s.auth_timeout_ms = 300;
    Dev a = dev("sensor-91");
    a.cfg.publish = 2;
    a.cfg.qos = 1;
    a.cfg.wait_commands = 1;
    s.devs.push_back(a);
    Dev ctl = dev("sensor-90");
    ctl.cfg.subscribe = false;
    ctl.cfg.commands.emplace_back("sensor-91", "reboot");
    ctl.cfg.qos = 1;
    ctl.start_after_ready_of = 0;
    s.devs.push_back(ctl);
    Dev b = dev("sensor-92", 1);
    b.cfg.wrong_secret = true;
    b.expect = device::kDeviceRefused;
    s.devs.push_back(b);
    Dev c = dev("sensor-93", 2);
    c.cfg.auth = device::DeviceAuth::v5;
    c.cfg.level = 5;
    c.cfg.publish = 1;
    c.cfg.qos = 2;
    s.devs.push_back(c);
    Dev d = dev("sensor-94", 3);
    d.cfg.level = 3;
    d.cfg.publish = 1;
    s.devs.push_back(d);
    Dev e = dev("sensor-95", 4);
    e.cfg.answer_twice = true;
    e.expect = -1;  // whatever the broker makes of it
    s.devs.push_back(e);
    Dev f = dev("sensor-96", 5);
    f.cfg.no_answer = true;
    f.expect = device::kDeviceTimeout;
    s.devs.push_back(f);
    Dev g = dev("sensor-97", 6);
    g.cfg.reconnect = 1;
    g.cfg.publish = 1;
    s.devs.push_back(g);
    v.push_back(s);
  }
}

// Each finding of the QoS flow audit on purpose.
void add_flow_scenarios(std::vector<Scenario>& v) {
  Scenario s{"qos-flows",
             "QoS flows broken on purpose: a packet id reused while in flight, a resend without DUP, a command "
             "PUBLISH the device never acknowledges"};
  Dev a = dev("sensor-41");
  a.cfg.publish = 2;
  a.cfg.qos = 1;
  a.cfg.reuse_packet_id = true;
  s.devs.push_back(a);
  Dev b = dev("sensor-42", 1);
  b.cfg.publish = 1;
  b.cfg.qos = 1;
  b.cfg.resend_without_dup = true;
  s.devs.push_back(b);
  Dev c = dev("sensor-43", 2);
  c.cfg.qos = 1;
  c.cfg.wait_commands = 1;
  c.cfg.never_ack = true;
  s.devs.push_back(c);
  Dev ctl = dev("sensor-40", 2);
  ctl.cfg.subscribe = false;
  ctl.cfg.commands.emplace_back("sensor-43", "reboot");
  ctl.cfg.qos = 1;
  ctl.start_after_ready_of = 0;
  s.devs.push_back(ctl);
  v.push_back(s);
}

// The findings of the model across connections on purpose: client ids shared and flapping, retained messages
// and wills.
void add_fleet_scenarios(std::vector<Scenario>& v) {
  {
    Scenario s{"takeover",
               "two devices share client id sensor-51 from 127.0.0.2 and 127.0.0.3 and take each other over three "
               "times (a takeover loop); sensor-52 connects six times in a row (a reconnect storm)"};
    s.interleave = true;
    for (int i = 0; i < 4; ++i) {
      Dev d = dev("sensor-51");
      d.cfg.source = i % 2 == 0 ? "127.0.0.2" : "127.0.0.3";
      d.cfg.publish = i == 3 ? 1 : 20;  // the first three stay until the next one takes them over
      d.cfg.interval_ms = 250;
      d.expect = i == 3 ? device::kDeviceOk : device::kDeviceConnectFailed;
      d.start_after_ready_of = i - 1;
      s.devs.push_back(d);
    }
    Dev storm = dev("sensor-52", 1);
    storm.cfg.reconnect = 5;
    storm.cfg.publish = 1;
    s.devs.push_back(storm);
    v.push_back(s);
  }
  {
    Scenario s{"will-retained",
               "sensor-61 publishes a retained message and leaves without DISCONNECT: its will reaches sensor-60; "
               "sensor-62 subscribes later and gets the retained message, then sensor-63's telemetry as it is "
               "published; sensor-63 retains and clears one"};
    s.interleave = true;
    Dev watcher = dev("sensor-60");
    watcher.cfg.subscribe_to.push_back("devices/+/status");
    watcher.cfg.wait_messages = 1;
    s.devs.push_back(watcher);
    Dev dying = dev("sensor-61");
    dying.cfg.will_topic = "devices/sensor-61/status";
    dying.cfg.will_payload = "offline";
    dying.cfg.publish = 1;
    dying.cfg.qos = 1;
    dying.cfg.retain = true;
    dying.cfg.drop = true;
    dying.start_after_ready_of = 0;
    s.devs.push_back(dying);
    Dev late = dev("sensor-62", 1);
    late.cfg.subscribe_to.push_back("devices/+/telemetry");
    late.cfg.wait_messages = 4;  // sensor-61's retained one, sensor-63's two and its clearing
    s.devs.push_back(late);
    Dev clearer = dev("sensor-63", 1);
    clearer.start_after_ready_of = 0;  // sensor-62, subscribed
    clearer.cfg.publish = 2;
    clearer.cfg.interval_ms = 20;
    clearer.cfg.retain = true;
    clearer.cfg.clear_retained = true;
    s.devs.push_back(clearer);
    v.push_back(s);
  }
}

std::vector<Scenario> scenarios() {
  std::vector<Scenario> v;
  add_custom_scenarios(v);
  add_v5_scenarios(v);
  add_other_scenarios(v);
  add_flow_scenarios(v);
  add_fleet_scenarios(v);
  return v;
}

// ------------------------------------------------------------------------------------------ running

struct CaptureOptionsCmd {
  std::string scenario;
  std::string output;
  std::optional<std::uint64_t> seed;
  std::optional<std::string> live;  // --live: the interface ("" when --live is given without one)
  std::string write_secrets;
  std::string transport = "tcp";  // --transport: tcp, ws, mqtts, wss (all but tcp with --live)
  bool list = false;
  bool verbose = false;
};

// Runs one phase's devices on `io` (concurrently) and returns when all are done.
void run_phase(asio::io_context& io, std::vector<Dev*>& devs, std::vector<DeviceResult>& results) {
  std::size_t left = devs.size();
  auto start = std::make_shared<std::function<void(std::size_t)>>();
  *start = [&, start](std::size_t i) {
    DeviceConfig cfg = devs[i]->cfg;
    std::vector<std::size_t> followers;
    for (std::size_t j = 0; j < devs.size(); ++j)
      if (devs[j]->start_after_ready_of == static_cast<int>(i)) followers.push_back(j);
    if (!followers.empty()) {
      auto fired = std::make_shared<bool>(false);
      cfg.on_ready = [start, followers, fired] {
        if (*fired) return;
        *fired = true;
        for (auto j : followers) (*start)(j);
      };
    }
    device::start_device(io, cfg, [&, i](const DeviceResult& r) {
      results[i] = r;
      --left;
    });
  };
  for (std::size_t i = 0; i < devs.size(); ++i)
    if (devs[i]->start_after_ready_of < 0) (*start)(i);
  io.restart();
  while (left > 0 && io.run_one() > 0) {
  }
  // Devices waiting for a leader that never became ready did not start: count them as failed.
  *start = nullptr;
}

// --live: the interface when none is given (the scenario runs over 127.0.0.1), and how long the capture goes on
// after the scenario for the connections' last FIN/ACKs.
constexpr const char* kLoopbackInterface = "lo";
constexpr std::chrono::milliseconds kLiveGrace{2000};

// This program's path, for the setcap advice.
std::string self_path() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("$(command -v mqttauth)");
}

// Opens the --live interface; on failure says why (and what to do about missing privileges).
bool open_live(LiveCapture& live, const std::string& iface) {
  std::string err;
  bool permission = false;
  if (live.open(iface, err, permission)) return true;
  std::fprintf(stderr, "mqttauth capture: %s\n", err.c_str());
  if (permission)
    std::fprintf(stderr,
                 "  capturing packets needs CAP_NET_RAW: run as root, or give the binary the capability once with\n"
                 "  sudo setcap cap_net_raw,cap_net_admin+eip %s\n",
                 self_path().c_str());
  return false;
}

// After the scenario: stops the --live capture once the `accepted` connections have ended (or after the grace
// period) and reports on standard error. kExitOk, kExitFindings when the capture is incomplete (packets
// dropped, connections not seen or not ended), kExitUsage when the capture failed or the file cannot be written.
int finish_live(LiveCapture& live, std::size_t accepted) {
  std::string err;
  bool ok = live.stop(accepted, kLiveGrace, err);
  auto st = live.stats();
  std::fprintf(stderr, "live capture on %s: %llu packets captured", live.interface().c_str(),
               static_cast<unsigned long long>(st.written));
  if (st.kernel)
    std::fprintf(stderr, " (pcap_stats: %llu received, %llu dropped, %llu dropped by the interface)",
                 static_cast<unsigned long long>(st.received), static_cast<unsigned long long>(st.dropped),
                 static_cast<unsigned long long>(st.if_dropped));
  std::fprintf(stderr, "\n");
  if (!ok) {
    std::fprintf(stderr, "mqttauth capture: %s\n", err.c_str());
    return kExitUsage;
  }
  int rc = kExitOk;
  if (st.dropped > 0 || st.if_dropped > 0) {
    std::fprintf(stderr, "mqttauth capture: the capture is incomplete: packets were dropped\n");
    rc = kExitFindings;
  }
  if (live.connections_seen() < accepted) {
    std::fprintf(stderr,
                 "mqttauth capture: %zu of the %zu connections were seen on %s (the scenario runs over 127.0.0.1: "
                 "capture on %s or any)\n",
                 live.connections_seen(), accepted, live.interface().c_str(), kLoopbackInterface);
    rc = kExitFindings;
  }
  if (live.connections_open() > 0) {
    std::fprintf(stderr, "mqttauth capture: %zu connections had not ended after %lld ms: their end is not captured\n",
                 live.connections_open(), static_cast<long long>(kLiveGrace.count()));
    rc = kExitFindings;
  }
  return rc;
}

// --write-secrets: every scenario's device secrets, for 'sessions --secrets'. False when the file cannot be
// written.
bool write_secrets(const std::string& path, const std::vector<Scenario>& all) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  std::fprintf(f, "# client-id secret: the devices of every 'mqttauth capture' scenario\n");
  for (const auto& s : all)
    for (const auto& d : s.devs) std::fprintf(f, "%s %s\n", d.cfg.client_id.c_str(), d.cfg.secret.c_str());
  return std::fclose(f) == 0;
}

// The scenario the options name, or nullptr after saying why not.
const Scenario* chosen_scenario(const CaptureOptionsCmd& o, const std::vector<Scenario>& all) {
  for (const auto& s : all)
    if (o.scenario == s.name) return &s;
  std::fprintf(stderr, "mqttauth capture: unknown scenario '%s' (see --list)\n", o.scenario.c_str());
  // --live takes an optional value: "capture --live mixed" reads the scenario as the interface.
  if (o.scenario.empty() && o.live && !o.live->empty())
    for (const auto& s : all)
      if (*o.live == s.name)
        std::fprintf(stderr, "  '%s' was read as the interface of --live: write 'capture %s --live'\n", s.name, s.name);
  return nullptr;
}

// The broker's settings for a scenario; with --seed, challenges derived from the seed.
br::BrokerConfig broker_config(const Scenario& sc, const CaptureOptionsCmd& o, const RecorderOptions& ro) {
  br::BrokerConfig bc;
  bc.auth = sc.auth;
  bc.auth_code = sc.code;
  bc.seed_compat = sc.seed_compat;
  bc.auth_timeout = std::chrono::milliseconds(sc.auth_timeout_ms);
  for (const auto& d : sc.devs) bc.secrets.add(d.cfg.client_id, d.cfg.secret);
  if (o.seed) bc.challenges = seeded_challenges(*o.seed, sc.seed_compat, ro.start_ns / 1000000);
  return bc;
}

// Runs the scenario's devices against `addr`, phase by phase; their results in the scenario's order.
std::vector<DeviceResult> run_devices(asio::io_context& io, std::vector<Dev>& devs, const std::string& addr, IoTap* tap,
                                      bool verbose) {
  std::vector<DeviceResult> results(devs.size());
  int phases = 0;
  for (std::size_t i = 0; i < devs.size(); ++i) {
    devs[i].cfg.connect = addr;
    devs[i].cfg.tap = tap;
    devs[i].cfg.tap_id = (i + 1) * 100;
    if (verbose)
      devs[i].cfg.log = [](std::string_view l) {
        std::fprintf(stderr, "%.*s\n", static_cast<int>(l.size()), l.data());
      };
    phases = std::max(phases, devs[i].phase + 1);
  }
  for (int p = 0; p < phases; ++p) {
    std::vector<Dev*> group;
    std::vector<std::size_t> index;
    for (std::size_t i = 0; i < devs.size(); ++i)
      if (devs[i].phase == p) {
        group.push_back(&devs[i]);
        index.push_back(i);
      }
    // Followers refer to indices within the phase.
    for (auto* d : group)
      if (d->start_after_ready_of >= 0) {
        auto it = std::find(index.begin(), index.end(), static_cast<std::size_t>(d->start_after_ready_of));
        d->start_after_ready_of = it == index.end() ? -1 : static_cast<int>(it - index.begin());
      }
    std::vector<DeviceResult> r(group.size());
    run_phase(io, group, r);
    for (std::size_t k = 0; k < group.size(); ++k) results[index[k]] = r[k];
  }
  return results;
}

// The devices are done; the broker may not have read their last packets yet. Closing a socket with unread
// bytes resets it, so the broker is given a moment to see every connection end before it stops.
void stop_broker(asio::io_context& io, br::Broker& server) {
  io.restart();
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
       server.connection_count() > 0 && std::chrono::steady_clock::now() < until;)
    io.run_one_for(std::chrono::milliseconds(10));
  server.stop();
  io.restart();
  io.poll();
}

// One line per device on standard error; kExitFindings when a device did not end as the scenario expects.
int report_devices(const std::vector<Dev>& devs, const std::vector<DeviceResult>& results) {
  int rc = kExitOk;
  for (std::size_t i = 0; i < devs.size(); ++i) {
    const auto& r = results[i];
    bool as_expected = devs[i].expect < 0 || r.exit_code == devs[i].expect;
    if (!as_expected) rc = kExitFindings;
    std::fprintf(stderr, "%-11s exit=%d%s%s%s\n", devs[i].cfg.client_id.c_str(), r.exit_code,
                 r.message.empty() ? "" : " (", r.message.c_str(), r.message.empty() ? "" : ")");
    if (!as_expected) std::fprintf(stderr, "  expected exit %d\n", devs[i].expect);
  }
  return rc;
}

// --transport mqtts|wss: a self-signed certificate for the broker, in a temporary folder removed at the end,
// that the devices verify; the broker writes the key log next to the capture so that it can be decrypted
// (decode --tls-keylog, Wireshark's tls.keylog_file).
struct BrokerCertificate {
  std::string dir;
  bool make(br::BrokerConfig& bc, const std::string& keylog) {
    char tmpl[] = "/tmp/mqttauth-capture-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return false;
    dir = tmpl;
    bc.tls.cert_file = dir + "/broker.crt";
    bc.tls.key_file = dir + "/broker.key";
    bc.tls.keylog_file = keylog;
    std::remove(keylog.c_str());  // (the broker appends)
    return write_self_signed(bc.tls.cert_file, bc.tls.key_file);
  }
  BrokerCertificate() = default;
  BrokerCertificate(const BrokerCertificate&) = delete;
  BrokerCertificate& operator=(const BrokerCertificate&) = delete;
  ~BrokerCertificate() {
    if (dir.empty()) return;
    std::remove((dir + "/broker.crt").c_str());
    std::remove((dir + "/broker.key").c_str());
    rmdir(dir.c_str());
  }
};

int run_capture(const CaptureOptionsCmd& o) {
  auto all = scenarios();
  if (o.list) {
    for (const auto& s : all) std::printf("%-15s %s\n", s.name, s.what);
    return 0;
  }
  if (!o.write_secrets.empty()) {
    if (!write_secrets(o.write_secrets, all)) {
      std::fprintf(stderr, "mqttauth capture: cannot write %s\n", o.write_secrets.c_str());
      return kExitUsage;
    }
    if (o.scenario.empty()) return 0;
  }
  const Scenario* sc = chosen_scenario(o, all);
  if (!sc) return kExitUsage;
  if (o.output.empty()) {
    std::fprintf(stderr, "mqttauth capture: -o FILE.pcap is required\n");
    return kExitUsage;
  }
  if (o.live && o.seed) {
    std::fprintf(stderr,
                 "mqttauth capture: --seed does not apply to --live: a live capture records the real packets, with "
                 "their real times, ports and TCP segmentation, so it cannot be the same bytes on every run\n");
    return kExitUsage;
  }

  const bool tls = o.transport == "mqtts" || o.transport == "wss";
  if (o.transport != "tcp" && !o.live) {
    std::fprintf(stderr,
                 "mqttauth capture: --transport %s needs --live: the in-process recorder writes the MQTT bytes the "
                 "sockets carry, not their WebSocket frames or TLS records\n",
                 o.transport.c_str());
    return kExitUsage;
  }

  // The live capture is opened first: without the privileges to capture, nothing else is started.
  std::unique_ptr<LiveCapture> live;
  if (o.live) {
    live = std::make_unique<LiveCapture>();
    if (!open_live(*live, o.live->empty() ? kLoopbackInterface : *o.live)) return kExitUsage;
  }
  RecorderOptions ro;
  ro.stable = o.seed.has_value();
  ro.interleave = sc->interleave;
  Recorder rec(ro);
  std::string err;
  if (!live && !rec.open(o.output, err)) {
    std::fprintf(stderr, "mqttauth capture: %s\n", err.c_str());
    return kExitUsage;
  }

  br::BrokerConfig bc = broker_config(*sc, o, ro);
  const std::string keylog = o.output + ".keys";
  BrokerCertificate cert;
  if (tls && !cert.make(bc, keylog)) {
    std::fprintf(stderr, "mqttauth capture: cannot make the broker's TLS certificate\n");
    return kExitUsage;
  }
  const std::string scheme = o.transport == "tcp" ? "" : o.transport + "://";
  asio::io_context io;
  br::Broker server(io, bc);
  if (!server.listen(scheme + "127.0.0.1:0", err)) {
    std::fprintf(stderr, "mqttauth capture: %s\n", err.c_str());
    return kExitUsage;
  }
  if (live) {
    // Only the scenario's connections: the server's address and port. Capturing before any device connects.
    std::string filter = "tcp and host 127.0.0.1 and port " + std::to_string(server.port());
    if (!live->set_filter(filter, err) || !live->start(o.output, err)) {
      std::fprintf(stderr, "mqttauth capture: %s\n", err.c_str());
      return kExitUsage;
    }
    if (o.verbose) std::fprintf(stderr, "capturing on %s, filter '%s'\n", live->interface().c_str(), filter.c_str());
  }

  std::vector<Dev> devs = sc->devs;
  for (Dev& d : devs)
    if (tls) d.cfg.tls.ca_file = bc.tls.cert_file;
  const bool ws = o.transport == "ws" || o.transport == "wss";
  auto results =
      run_devices(io, devs, scheme + server.bound_address() + (ws ? "/mqtt" : ""), live ? nullptr : &rec, o.verbose);
  stop_broker(io, server);
  int live_rc = kExitOk;
  if (live) {
    live_rc = finish_live(*live, server.accepted_count());
    if (live_rc == kExitUsage) return live_rc;
  } else if (!rec.finish(err)) {
    std::fprintf(stderr, "mqttauth capture: %s\n", err.c_str());
    return kExitUsage;
  }

  int rc = report_devices(devs, results);
  if (live) {
    std::fprintf(stderr, "%s: %s, %zu connections, %llu frames captured on %s\n", o.output.c_str(), sc->name,
                 live->connections_seen(), static_cast<unsigned long long>(live->stats().written),
                 live->interface().c_str());
    if (tls) std::fprintf(stderr, "%s: the TLS secrets (decode --tls-keylog %s)\n", keylog.c_str(), keylog.c_str());
    return std::max(rc, live_rc);
  }
  std::fprintf(stderr, "%s: %s, %zu connections, %llu frames\n", o.output.c_str(), sc->name, rec.connections(),
               static_cast<unsigned long long>(rec.frames()));
  return rc;
}

}  // namespace

void setup_capture(CLI::App& app) {
  auto o = std::make_shared<CaptureOptionsCmd>();
  auto* sub = app.add_subcommand("capture", "Record a scenario: the broker and devices over loopback, to a pcap file");
  sub->footer(
      "Scenarios: success-code0 success-code15 refused-code0 refused-code15 seed-compat v5-auth v5-reauth no-response\n"
      "many-devices large-payload mixed (--list describes them).\n"
      "Examples:\n"
      "  mqttauth capture mixed -o /tmp/mixed.pcap && mqttauth sessions /tmp/mixed.pcap\n"
      "  mqttauth capture success-code0 -o a.pcap --seed 1     # the same bytes on every run\n"
      "  sudo mqttauth capture mixed --live -o live.pcap        # the real packets on lo, with libpcap\n"
      "  sudo mqttauth capture mixed --live --transport mqtts -o tls.pcap   # over TLS; secrets in tls.pcap.keys\n"
      "Without --seed the capture has wall-clock timestamps, the real ports and random challenges. With --seed N\n"
      "the challenges derive from N, timestamps come from a virtual clock (1 ms per frame from\n"
      "2025-11-25 05:05:23 UTC), the server is port 1883, clients 50001, 50002, ...; connections are written one\n"
      "after the other and each MQTT packet is one TCP segment (split at 1460 bytes).\n"
      "Device secrets: sensor-NN has secret-NN (--write-secrets FILE writes them for 'sessions --secrets').\n"
      "With --live [IFACE] the packets are not recorded from inside the process but captured with libpcap on\n"
      "IFACE (default lo), filtered to the server's port, until the last FIN/ACK (at most 2 s after the scenario);\n"
      "the packet counts and pcap_stats go to standard error. It needs CAP_NET_RAW: run as root or\n"
      "'sudo setcap cap_net_raw,cap_net_admin+eip mqttauth'. --seed does not apply (real times, ports and TCP\n"
      "segments cannot be the same on every run) and is refused with --live.\n"
      "Exit codes: 0 written and every device ended as the scenario expects, 1 written but a device did not\n"
      "(or --live: packets dropped, connections not seen or not ended), 2 usage, the file cannot be written or\n"
      "--live cannot capture (no privileges, no such interface).");
  sub->add_option("scenario", o->scenario, "Scenario name");
  sub->add_option("-o,--output", o->output, "The pcap file to write");
  sub->add_option("--seed", o->seed, "Stable mode: challenges from this seed, virtual clock, stable ports");
  sub->add_option("--live", o->live,
                  "Capture the real packets with libpcap on IFACE (default lo); needs CAP_NET_RAW, not with --seed")
      ->expected(0, 1)
      ->type_name("[IFACE]");
  sub->add_option("--write-secrets", o->write_secrets, "Write the devices' secrets file (client-id secret)");
  sub->add_option("--transport", o->transport,
                  "With --live: tcp (default), ws (MQTT over WebSocket), mqtts (TLS; a self-signed certificate, the "
                  "secrets in OUTPUT.keys) or wss (WebSocket over TLS)")
      ->check(CLI::IsMember({"tcp", "ws", "mqtts", "wss"}));
  sub->add_flag("--list", o->list, "List the scenarios");
  sub->add_flag("-v,--verbose", o->verbose, "Device event lines on standard error");
  sub->callback([o] {
    int rc = run_capture(*o);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace mqttauth::cli
