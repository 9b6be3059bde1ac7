// mqttauth device: the reference device (see device.hpp).
#include <cstdio>
#include <memory>

#include "commands.hpp"
#include "device.hpp"
#include "recorder.hpp"

namespace mqttauth::cli {
namespace {

struct DeviceOptions {
  device::DeviceConfig cfg;
  std::string auth = "custom";
  std::string auth_code = "auto";
  int level = 4;
  int qos = 0;
  int timeout_ms = 5000;
  double reauth_after = 0;
  std::vector<std::string> commands;
  std::string will;
  std::string pcap;
  bool quiet = false;
};

int run_device_cmd(DeviceOptions& o) {
  auto& cfg = o.cfg;
  cfg.auth = o.auth == "none" ? device::DeviceAuth::none
             : o.auth == "v5" ? device::DeviceAuth::v5
                              : device::DeviceAuth::custom;
  if (o.auth_code != "auto") cfg.auth_code = static_cast<std::uint8_t>(std::stoi(o.auth_code));
  cfg.level = static_cast<std::uint8_t>(o.level);
  if (cfg.auth == device::DeviceAuth::v5 && o.level != 5) cfg.level = 5;  // v5 auth implies MQTT 5
  cfg.qos = static_cast<std::uint8_t>(o.qos);
  cfg.timeout = std::chrono::milliseconds(o.timeout_ms);
  cfg.reauth_after = std::chrono::milliseconds(static_cast<long long>(o.reauth_after * 1000));
  for (const auto& c : o.commands) {
    auto eq = c.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "mqttauth device: --command wants ID=TEXT, not %s\n", c.c_str());
      return device::kDeviceUsage;
    }
    cfg.commands.emplace_back(c.substr(0, eq), c.substr(eq + 1));
  }
  if (!o.will.empty()) {
    auto eq = o.will.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "mqttauth device: --will wants TOPIC=PAYLOAD, not %s\n", o.will.c_str());
      return device::kDeviceUsage;
    }
    cfg.will_topic = o.will.substr(0, eq);
    cfg.will_payload = o.will.substr(eq + 1);
  }
  if (cfg.auth != device::DeviceAuth::none && cfg.secret.empty() && !cfg.echo_challenge && !cfg.no_answer) {
    std::fprintf(stderr, "mqttauth device: --secret is needed with --auth %s\n", o.auth.c_str());
    return device::kDeviceUsage;
  }
  if (!o.quiet)
    cfg.log = [](std::string_view line) { std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data()); };

  std::unique_ptr<Recorder> rec;
  if (!o.pcap.empty()) {
    rec = std::make_unique<Recorder>();
    std::string err;
    if (!rec->open(o.pcap, err)) {
      std::fprintf(stderr, "mqttauth device: %s\n", err.c_str());
      return device::kDeviceUsage;
    }
    cfg.tap = rec.get();
  }
  device::DeviceResult r = device::run_device(cfg);
  if (rec) {
    std::string err;
    if (!rec->finish(err)) std::fprintf(stderr, "mqttauth device: %s\n", err.c_str());
  }
  std::printf("%s: sessions=%d published=%d commands_answered=%d replies_received=%d reauths=%d exit=%d%s%s\n",
              cfg.client_id.c_str(), r.sessions, r.published, r.commands_answered, r.replies_received, r.reauths,
              r.exit_code, r.message.empty() ? "" : " ", r.message.c_str());
  return r.exit_code;
}

}  // namespace

void setup_device(CLI::App& app) {
  auto o = std::make_shared<DeviceOptions>();
  auto* sub = app.add_subcommand("device", "The reference device: authenticate, publish telemetry, answer commands");
  sub->footer(
      "Examples:\n"
      "  mqttauth device --connect 127.0.0.1:1883 --client-id sensor-01 --secret s3cret --publish 5 --qos 1\n"
      "  mqttauth device --connect 127.0.0.1:1883 --client-id sensor-02 --secret x --auth-code 15 --wrong-secret\n"
      "  mqttauth device --connect 127.0.0.1:1883 --client-id sensor-03 --secret y --auth v5 --level 5\n"
      "  mqttauth device --connect 127.0.0.1:1883 --client-id sensor-03 --secret y --auth v5 --reauth 2 --reauth-after "
      "1\n"
      "Topics: devices/ID/telemetry (published), devices/ID/cmd (subscribed; each command is answered on\n"
      "devices/ID/reply with \"ok <command>\").\n"
      "Exit codes: 0 accepted and done, 2 usage, 3 refused (CONNACK code != 0), 4 timeout (no answer in time, or\n"
      "the server closed the connection during the handshake), 5 protocol error, 6 connection failure,\n"
      "7 re-authentication refused (DISCONNECT from the server during --reauth), 8 keep-alive lost (no PINGRESP\n"
      "within --timeout-ms).");
  sub->add_option("--connect", o->cfg.connect,
                  "Server HOST:PORT ([v6]:PORT), mqtts://HOST:PORT for MQTT over TLS, ws://HOST:PORT/PATH for MQTT "
                  "over WebSocket, wss://HOST:PORT/PATH for WebSocket over TLS")
      ->required();
  sub->add_option("--tls-ca", o->cfg.tls.ca_file,
                  "TLS: verify the server's certificate (and its host name or IP) against these CA certificates "
                  "(default: the system's)")
      ->check(CLI::ExistingFile);
  sub->add_flag("--tls-insecure", o->cfg.tls.insecure, "TLS: do not verify the server's certificate (test brokers)");
  sub->add_option("--tls-keylog", o->cfg.tls.keylog_file,
                  "TLS: append the sessions' secrets to FILE (NSS key log format) so captures can be decrypted");
  sub->add_option("--tls-max", o->cfg.tls.max_version, "TLS: the highest version to offer, 1.2 or 1.3")
      ->check(CLI::IsMember({"1.2", "1.3"}));
  sub->add_option("--client-id", o->cfg.client_id, "Client identifier")->required();
  sub->add_option("--secret", o->cfg.secret, "The device's secret (response = hex HMAC-SHA256(secret, challenge))");
  sub->add_option("--auth", o->auth, "Authentication: custom (authenticate packet), v5 (MQTT 5 AUTH), none")
      ->check(CLI::IsMember({"custom", "v5", "none"}));
  sub->add_option("--auth-code", o->auth_code, "Type code of the response packet: 0, 15, or auto (the challenge's)")
      ->check(CLI::IsMember({"0", "15", "auto"}));
  sub->add_option("--level", o->level, "Protocol level: 3 (MQTT 3.1), 4 (3.1.1), 5")->check(CLI::IsMember({3, 4, 5}));
  sub->add_option("--keep-alive", o->cfg.keep_alive,
                  "Keep-alive in seconds, sent in CONNECT: PINGREQ after this long without sending (0: never)");
  sub->add_option("--publish", o->cfg.publish, "Telemetry messages to publish to devices/ID/telemetry")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--qos", o->qos, "QoS of telemetry, replies and commands")->check(CLI::Range(0, 2));
  sub->add_option("--interval-ms", o->cfg.interval_ms, "Pause between two telemetry messages")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--payload-size", o->cfg.payload_size, "Telemetry payload size in bytes (0: a small JSON document)");
  sub->add_option("--wait-commands", o->cfg.wait_commands, "Stay until this many commands were answered")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--command", o->commands, "ID=TEXT: send TEXT to devices/ID/cmd and await the reply (repeatable)")
      ->take_all();
  sub->add_option("--reconnect", o->cfg.reconnect, "Connect again this many times after the first session")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--reauth", o->cfg.reauth,
                  "MQTT 5 re-authentications per session (--auth v5): AUTH 0x19, challenge, response, AUTH 0x00")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--reauth-after", o->reauth_after,
                  "Seconds before each re-authentication, from the handshake or the previous one (default 0)")
      ->check(CLI::Range(0.0, 86400.0));
  sub->add_option("--timeout-ms", o->timeout_ms, "How long to wait for each answer of the server")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--wrong-secret", o->cfg.wrong_secret, "Misbehave: answer with the HMAC of another secret");
  sub->add_flag("--echo-challenge", o->cfg.echo_challenge, "Misbehave: answer with the challenge itself");
  sub->add_flag("--no-answer", o->cfg.no_answer, "Misbehave: never answer the challenge");
  sub->add_flag("--answer-twice", o->cfg.answer_twice, "Misbehave: send the response twice");
  sub->add_flag("--wrong-reauth", o->cfg.wrong_reauth,
                "Misbehave: answer re-authentication challenges with the HMAC of another secret");
  sub->add_flag("--never-ack", o->cfg.never_ack, "Misbehave: never acknowledge the server's QoS 1/2 PUBLISH");
  sub->add_flag("--reuse-packet-id", o->cfg.reuse_packet_id,
                "Misbehave: every QoS 1/2 message under packet id 1, without awaiting its acknowledgement");
  sub->add_flag("--resend-without-dup", o->cfg.resend_without_dup,
                "Misbehave: send each QoS 1/2 message twice, the second without DUP");
  sub->add_flag("--no-pingreq", o->cfg.no_pingreq, "Misbehave: announce the keep-alive but never send PINGREQ");
  sub->add_flag("--drop", o->cfg.drop, "Misbehave: leave without DISCONNECT (the server publishes the will)");
  sub->add_option("--source", o->cfg.source, "Local address to connect from (e.g. 127.0.0.2)");
  sub->add_option("--will", o->will, "TOPIC=PAYLOAD: a will message in CONNECT");
  sub->add_flag("--retain", o->cfg.retain, "Publish telemetry with RETAIN set");
  sub->add_flag("--clear-retained", o->cfg.clear_retained,
                "After the telemetry, clear its retained message (a zero-byte retained PUBLISH)");
  sub->add_option("--subscribe-to", o->cfg.subscribe_to, "Also subscribe to this topic filter (repeatable)");
  sub->add_option("--wait-messages", o->cfg.wait_messages, "Stay until this many messages arrived on --subscribe-to")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--pcap", o->pcap, "Record the device's own traffic to this pcap file");
  sub->add_flag("-q,--quiet", o->quiet, "No event lines on standard error");
  sub->callback([o] {
    int rc = run_device_cmd(*o);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace mqttauth::cli
