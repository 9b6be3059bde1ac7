// One MQTT connection summarised: the row of `mqttauth sessions` (and the unit `check` judges).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "analyzer.hpp"
#include "mqttauth/verify.hpp"

namespace mqttauth::cli {

struct SessionRow {
  std::uint64_t conn = 0;
  std::string client, server, file;
  bool roles_known = false;
  bool has_handshake = false;  // false when the capture started after the handshake
  bool connect_seen = false;
  std::string client_id;
  std::uint8_t level = 0;
  AuthScheme scheme = AuthScheme::none;
  std::string auth_method, challenge, response;
  Outcome outcome = Outcome::pending;
  std::optional<std::uint8_t> code;
  std::uint8_t connack_level = 0;  // the CONNACK's format: 4 for a 3.1.1 refusal of a level-5 client
  std::optional<std::int64_t> latency_ns;
  std::uint32_t anomalies = 0;
  std::uint32_t reauths = 0, reauths_refused = 0;  // MQTT 5 re-authentications after CONNACK
  // The QoS flow audit: PUBLISH never acknowledged and QoS 2 exchanges left half-way at the connection's end,
  // and packets with a flow finding (a reused packet id, a resend without DUP, an unknown id, Receive Maximum, a
  // keep-alive finding).
  std::uint32_t unacked = 0, qos2_open = 0, flow_findings = 0;
  std::uint64_t flows_untracked = 0;  // QoS 1/2 PUBLISH beyond the audit's bound (FlowAudit::kMaxFlights)
  ChallengeWeakness weakness = ChallengeWeakness::none;
  Verification verification = Verification::not_applicable;
  std::optional<std::uint64_t> challenge_frame, response_frame, connack_frame;
  DirStats c2s, s2c;
  EndReason end = EndReason::open;
  // Who ended the TCP connection, and how long that side had sent no MQTT packet then (its silence).
  Direction closed_by = Direction::unknown;
  std::optional<std::int64_t> silence_ns;
  FleetConnEnd fleet;  // clean or abnormal close, the will, takeovers
  // MQTT over WebSocket: the subprotocol, permessage-deflate, frames, Close codes (0: none).
  bool websocket = false, ws_deflate = false;
  std::string ws_subprotocol;
  std::uint64_t ws_frames = 0;
  std::uint16_t ws_close_c2s = 0, ws_close_s2c = 0;
  // MQTT over TLS, decrypted: the version and suite; why the decryption stopped, if it did.
  bool tls = false;
  std::uint16_t tls_version = 0, tls_suite = 0;
  std::string tls_reason;
  std::uint64_t first_frame = 0, last_frame = 0;
  std::int64_t start_ns = 0, end_ns = 0;
};

// The row of a connection that has ended; `secrets` may be null.
SessionRow make_row(const Connection& c, const Secrets* secrets);

}  // namespace mqttauth::cli
