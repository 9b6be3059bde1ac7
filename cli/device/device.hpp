// The reference device: an MQTT client on Asio that authenticates the way the field's devices do (the
// custom authenticate packet with code 0 or 15, or MQTT 5 enhanced authentication with HMAC-SHA256), then
// publishes telemetry, answers commands and disconnects. Misbehaviours (wrong secret, echoed challenge,
// no answer, double answer) make failure captures. Reports its socket traffic to an IoTap.
//
//   asio::io_context io;
//   DeviceConfig cfg; cfg.connect = "127.0.0.1:1883"; cfg.client_id = "sensor-01"; cfg.secret = "s3cret";
//   start_device(io, cfg, [](const DeviceResult& r) { ... r.exit_code ... });
//   io.run();
//
// Topics: telemetry goes to devices/ID/telemetry, commands arrive on devices/ID/cmd (subscribed after the
// handshake), replies go to devices/ID/reply ("ok " + the command). `commands` sends commands to other
// devices and waits for their replies.
#pragma once

#include "link.hpp"      // Link::TlsOptions
#include "netparse.hpp"  // split_host_port

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace asio {
class io_context;
}

namespace mqttauth::cli {
class IoTap;
}

namespace mqttauth::cli::device {

// Exit codes of `mqttauth device` (and DeviceResult::exit_code).
inline constexpr int kDeviceOk = 0;             // accepted, and everything asked for was done
inline constexpr int kDeviceUsage = 2;          // wrong usage
inline constexpr int kDeviceRefused = 3;        // CONNACK with a non-zero code
inline constexpr int kDeviceTimeout = 4;        // no answer in time, or the server closed during the handshake
inline constexpr int kDeviceProtocolError = 5;  // a packet that cannot be decoded or is not expected
inline constexpr int kDeviceConnectFailed = 6;  // cannot connect, or the connection broke after the handshake
inline constexpr int kDeviceReauthRefused = 7;  // MQTT 5 re-authentication refused (DISCONNECT from the server)
inline constexpr int kDevicePingTimeout = 8;    // keep-alive: no PINGRESP to a PINGREQ within the answer timeout

enum class DeviceAuth : std::uint8_t { none, custom, v5 };
const char* device_auth_name(DeviceAuth a) noexcept;  // "none", "custom", "v5"

struct DeviceConfig {
  std::string connect = "127.0.0.1:1883";  // HOST:PORT or [v6]:PORT
  std::string client_id = "device-01";
  std::string secret;
  DeviceAuth auth = DeviceAuth::custom;
  std::optional<std::uint8_t> auth_code;  // code of the response packet; unset = the challenge's code
  std::uint8_t level = 4;                 // 3, 4 or 5 (v5 auth needs 5)
  std::uint16_t keep_alive = 60;          // seconds; PINGREQ after this long without sending; 0: none

  // After the handshake.
  bool subscribe = true;                                      // subscribe to devices/ID/cmd
  int publish = 0;                                            // telemetry messages
  std::uint8_t qos = 0;                                       // of telemetry, replies and commands
  int interval_ms = 0;                                        // between two telemetry messages
  std::size_t payload_size = 0;                               // 0: a small JSON document; else this many bytes
  int wait_commands = 0;                                      // stay until this many commands were answered
  std::vector<std::pair<std::string, std::string>> commands;  // (device id, text): send and await the reply
  int reconnect = 0;                                          // connect again this many times after the first session
  // MQTT 5 re-authentication (--auth v5): this many per session, each `reauth_after` after the handshake or the
  // previous one. AUTH 0x19 -> challenge -> response -> AUTH 0x00; telemetry goes on meanwhile.
  int reauth = 0;
  std::chrono::milliseconds reauth_after{0};

  // Misbehaviour, for failure captures.
  bool wrong_secret = false;    // answer with HMAC of another secret
  bool echo_challenge = false;  // answer with the challenge itself
  bool no_answer = false;       // never answer the challenge
  bool answer_twice = false;    // send the response twice
  bool wrong_reauth = false;    // answer re-authentication challenges with HMAC of another secret
  // QoS flow misbehaviour (findings of the flow audit).
  bool never_ack = false;           // never acknowledge the server's QoS 1/2 PUBLISH (no PUBACK, no PUBREC)
  bool reuse_packet_id = false;     // every QoS 1/2 telemetry message under packet id 1, without awaiting its ack
  bool resend_without_dup = false;  // send each QoS 1/2 telemetry message twice, the second without DUP
  bool no_pingreq = false;          // announce the keep-alive but never send PINGREQ (go silent)
  bool drop = false;                // leave without DISCONNECT: close the socket (the will is published)

  // Retained messages, wills, other subscriptions (findings of the model across connections).
  std::string source;                     // local address to connect from ("" = any)
  Link::TlsOptions tls;                   // mqtts:// and wss://: verification, key log, highest version
  std::optional<std::string> will_topic;  // a will in CONNECT: this topic ...
  std::string will_payload;               // ... and payload
  bool retain = false;                    // telemetry with RETAIN 1
  bool clear_retained = false;            // after the telemetry: a zero-byte retained PUBLISH on its topic
  std::vector<std::string> subscribe_to;  // more topic filters to subscribe to
  int wait_messages = 0;                  // stay until this many messages arrived on them

  std::chrono::milliseconds timeout{5000};  // for each answer awaited from the server

  // Traffic reporting: connection ids tap_id, tap_id + 1, ... (one per session).
  IoTap* tap = nullptr;
  std::uint64_t tap_id = 1;
  // Called once per session when the device is subscribed and ready for commands.
  std::function<void()> on_ready;
  // One line per event; empty = silent.
  std::function<void(std::string_view)> log;
};

struct DeviceResult {
  int exit_code = kDeviceOk;
  std::string message;  // why, when exit_code != 0
  int sessions = 0;     // sessions accepted
  int published = 0;    // telemetry messages completed (acknowledged for QoS 1/2)
  int commands_answered = 0;
  int replies_received = 0;                        // replies to `commands`
  int messages_received = 0;                       // on the subscribe_to filters
  int reauths = 0;                                 // re-authentications completed (AUTH 0x00 received)
  std::vector<std::string> challenges, responses;  // of every session, as sent / received
};

// Runs the device on `io` (the caller runs it); `done` is called once at the end.
void start_device(asio::io_context& io, const DeviceConfig& cfg, const std::function<void(const DeviceResult&)>& done);
// Runs the device on its own io_context until it ends.
DeviceResult run_device(const DeviceConfig& cfg);

}  // namespace mqttauth::cli::device
