// The one vocabulary of findings: every rule violation in a packet, every handshake anomaly and every
// condition of a capture that the tools report has one name, one severity, one spec clause (where the spec
// has one) and one sentence, defined here. `decode` (violations), `sessions`, `check`, `stats` and the
// Wireshark plugin (expert infos `mqttauth.<name>`) all take their words from this table.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "mqttauth/error.hpp"

namespace mqttauth {

enum class Severity : std::uint8_t { info = 0, warning = 1, error = 2 };
std::string_view severity_name(Severity s) noexcept;  // "info", "warning", "error"

enum class FindingId : std::uint8_t {
  // Rule violations in a packet whose structure is intact (named as their ErrorKind).
  reserved_flags,
  bad_qos,
  invalid_utf8,
  trailing_bytes,
  bad_length,
  bad_protocol_name,
  bad_connect_flags,
  zero_packet_id,
  empty_payload,
  bad_topic_name,
  bad_topic_filter,
  bad_subscription_options,
  bad_reason_code,
  property_not_allowed,
  duplicate_property,
  bad_property_value,
  bad_variable_int,
  bad_remaining_length,
  missing_field,
  bad_packet_type,
  // Handshake anomalies (the session model's anomaly bits, in bit order).
  unexpected_direction,
  unexpected_state,
  challenge_without_response,
  refused_after_exchange,
  repeated_response,
  repeated_challenge,
  second_connect,
  second_connack,
  code_mismatch,
  client_id_mismatch,
  // The QoS flow audit (flows.hpp): per packet in flow:: bit order, then at the connection's end.
  packet_id_in_use,
  resend_without_dup,
  unknown_packet_id,
  receive_maximum_exceeded,
  keep_alive_late,
  keep_alive_expired,
  pingreq_unanswered,
  unacked_publish,
  incomplete_qos2,
  // The model across connections (fleet.hpp), in fleet:: bit order.
  client_takeover,
  takeover_loop,
  reconnect_storm,
  retained_delivered,
  retained_cleared,
  will_published,
  // Conditions of a connection or a capture.
  decode_error,
  gap,
  resync,
  tls,
  websocket_violation,
  handshake_not_seen,
  handshake_refused,
  handshake_incomplete,
  handshake_abandoned,
  reauthentication_refused,
  response_mismatch,
  no_secret,
  challenge_reused,
  predictable_challenge,
  snaplen,
  damaged_capture,
};

struct FindingInfo {
  FindingId id;
  std::string_view name;      // stable lower-case name: JSON, check rules, expert info "mqttauth.<name>"
  Severity severity;          // the default severity
  std::string_view clause;    // the spec clause that decides it ("" when none); a violation carries its own
  std::string_view sentence;  // one sentence saying what it is
};

const FindingInfo& finding(FindingId id) noexcept;
std::span<const FindingInfo> all_findings() noexcept;
std::optional<FindingId> finding_by_name(std::string_view name) noexcept;
// The finding of a violation's kind (bad_packet_type for a kind that is never a violation).
FindingId violation_finding(ErrorKind kind) noexcept;
// The finding of one anomaly bit of Session (anomaly::unexpected_direction ... anomaly::client_id_mismatch).
std::optional<FindingId> anomaly_finding(std::uint32_t bit) noexcept;
// The finding of one flow:: bit (flow::packet_id_in_use ... flow::pingreq_unanswered).
std::optional<FindingId> flow_finding(std::uint8_t bit) noexcept;
// The finding of one fleet:: bit (fleet::client_takeover ... fleet::will_published).
std::optional<FindingId> fleet_finding(std::uint8_t bit) noexcept;

}  // namespace mqttauth
