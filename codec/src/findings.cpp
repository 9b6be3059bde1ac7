#include "mqttauth/findings.hpp"

#include <array>

namespace mqttauth {
namespace {

using F = FindingId;
using S = Severity;

constexpr std::array<FindingInfo, 61> kFindings{{
    {F::reserved_flags, "reserved_flags", S::warning, "2.1.3", "Flag bits that the spec fixes have another value."},
    {F::bad_qos, "bad_qos", S::error, "MQTT-3.3.1-4", "A PUBLISH with QoS 3, or with DUP set at QoS 0."},
    {F::invalid_utf8, "invalid_utf8", S::warning, "MQTT-1.5.4-1",
     "A string the spec requires to be UTF-8 is ill-formed or holds U+0000."},
    {F::trailing_bytes, "trailing_bytes", S::warning, "2.1.4", "Bytes after the last field of the packet."},
    {F::bad_length, "bad_length", S::warning, "2.1.4", "A remaining length this packet type does not allow."},
    {F::bad_protocol_name, "bad_protocol_name", S::warning, "MQTT-3.1.2-1",
     "The protocol name does not match the protocol level."},
    {F::bad_connect_flags, "bad_connect_flags", S::warning, "3.1.2.3", "The connect flags break a rule of the spec."},
    {F::zero_packet_id, "zero_packet_id", S::warning, "MQTT-2.2.1-3",
     "Packet identifier 0 where a non-zero one is required."},
    {F::empty_payload, "empty_payload", S::warning, "MQTT-3.8.3-2",
     "A SUBSCRIBE, UNSUBSCRIBE, SUBACK or UNSUBACK without entries."},
    {F::bad_topic_name, "bad_topic_name", S::warning, "MQTT-3.3.2-2", "An empty topic name, or one with wildcards."},
    {F::bad_topic_filter, "bad_topic_filter", S::warning, "4.7.1",
     "A topic filter with a misplaced wildcard, or empty."},
    {F::bad_subscription_options, "bad_subscription_options", S::warning, "MQTT-3.8.3-5",
     "Subscription options with reserved bits, QoS 3 or retain handling 3."},
    {F::bad_reason_code, "bad_reason_code", S::warning, "", "A return or reason code the packet type does not allow."},
    {F::property_not_allowed, "property_not_allowed", S::warning, "2.2.2.2",
     "A property in a packet type that does not allow it."},
    {F::duplicate_property, "duplicate_property", S::warning, "2.2.2.2",
     "A property that may appear once appears more than once."},
    {F::bad_property_value, "bad_property_value", S::warning, "2.2.2.2", "A property value outside its allowed range."},
    {F::bad_variable_int, "bad_variable_int", S::warning, "MQTT-1.5.5-1",
     "A variable byte integer that is not minimally encoded."},
    {F::bad_remaining_length, "bad_remaining_length", S::warning, "MQTT-1.5.5-1",
     "A remaining length that is not minimally encoded."},
    {F::missing_field, "missing_field", S::warning, "3.2.2.3.1",
     "A field the spec requires is absent (read as empty)."},
    {F::bad_packet_type, "bad_packet_type", S::error, "2.1.2",
     "Packet type 0 is forbidden, and its body is not the custom authenticate body."},
    {F::unexpected_direction, "unexpected_direction", S::error, "",
     "A handshake packet was sent in the direction its role does not allow."},
    {F::unexpected_state, "unexpected_state", S::error, "",
     "A handshake packet outside the CONNECT / CONNACK exchange."},
    {F::challenge_without_response, "challenge_without_response", S::warning, "",
     "The device never answered the challenge."},
    {F::refused_after_exchange, "refused_after_exchange", S::info, "",
     "The server refused the device after the challenge and the response."},
    {F::repeated_response, "repeated_response", S::error, "", "The device answered the challenge more than once."},
    {F::repeated_challenge, "repeated_challenge", S::error, "",
     "The server sent a second challenge before the response."},
    {F::second_connect, "second_connect", S::error, "MQTT-3.1.0-2", "A second CONNECT on one connection."},
    {F::second_connack, "second_connack", S::error, "", "A second CONNACK on one connection."},
    {F::code_mismatch, "code_mismatch", S::error, "",
     "The response uses the other custom packet type than the challenge (0 and 15)."},
    {F::client_id_mismatch, "client_id_mismatch", S::error, "",
     "The response's client id is not the one the device connected with."},
    {F::packet_id_in_use, "packet_id_in_use", S::error, "MQTT-2.3.1-2",
     "A new PUBLISH uses a packet identifier whose flow is still in progress."},
    {F::resend_without_dup, "resend_without_dup", S::error, "MQTT-3.3.1-1",
     "A PUBLISH sent again before its acknowledgement without the DUP flag."},
    {F::unknown_packet_id, "unknown_packet_id", S::warning, "4.3",
     "An acknowledgement (PUBACK, PUBREC, PUBREL, PUBCOMP) of a packet identifier with no flow in progress."},
    {F::receive_maximum_exceeded, "receive_maximum_exceeded", S::error, "MQTT-3.3.4-7",
     "More QoS 1 and 2 PUBLISH unacknowledged than the receiver's Receive Maximum."},
    {F::keep_alive_late, "keep_alive_late", S::info, "MQTT-3.1.2-23",
     "The client sent nothing for longer than its keep-alive (plus a second): a late PINGREQ."},
    {F::keep_alive_expired, "keep_alive_expired", S::warning, "MQTT-3.1.2-24",
     "The client was silent for over 1.5 times its keep-alive and the server had not closed the connection."},
    {F::pingreq_unanswered, "pingreq_unanswered", S::warning, "MQTT-3.12.4-1",
     "A PINGREQ that got no PINGRESP (before the next PINGREQ, or before the connection ended)."},
    {F::unacked_publish, "unacked_publish", S::warning, "4.3",
     "A QoS 1 or 2 PUBLISH never acknowledged before the connection ended."},
    {F::incomplete_qos2, "incomplete_qos2", S::warning, "4.3.3",
     "A QoS 2 exchange left half-way when the connection ended: PUBREC without PUBREL, or PUBREL without PUBCOMP."},
    {F::client_takeover, "client_takeover", S::warning, "MQTT-3.1.4-2",
     "The server accepted a connection whose client id was connected elsewhere: the older one is taken over."},
    {F::takeover_loop, "takeover_loop", S::error, "",
     "One client id taken over again and again from two or more addresses: devices sharing a client id."},
    {F::reconnect_storm, "reconnect_storm", S::warning, "",
     "Many connections of one client id in a short time (5 within 60 seconds by default)."},
    {F::retained_delivered, "retained_delivered", S::info, "MQTT-3.3.1-8",
     "The server sent a retained message because of a new subscription."},
    {F::retained_cleared, "retained_cleared", S::info, "MQTT-3.3.1-10",
     "A zero-byte retained PUBLISH: the topic's retained message is removed."},
    {F::will_published, "will_published", S::info, "MQTT-3.1.2-8",
     "The server published the will of a connection that closed without DISCONNECT."},
    {F::decode_error, "decode_error", S::error, "", "A packet whose structure cannot be walked; it is skipped."},
    {F::gap, "gap", S::warning, "", "Bytes missing from the capture."},
    {F::resync, "resync", S::warning, "", "Bytes passed over to find the next packet boundary."},
    {F::tls, "tls", S::info, "", "TLS on an MQTT port: encrypted, not decoded."},
    {F::websocket_violation, "websocket_violation", S::warning, "RFC 6455",
     "A WebSocket frame breaks RFC 6455, RFC 7692 or MQTT's rules for WebSocket (binary frames only)."},
    {F::handshake_not_seen, "handshake_not_seen", S::info, "", "The capture starts after the handshake."},
    {F::handshake_refused, "handshake_refused", S::warning, "",
     "The server refused the connection (CONNACK code not 0)."},
    {F::handshake_incomplete, "handshake_incomplete", S::warning, "", "The capture ends during the handshake."},
    {F::handshake_abandoned, "handshake_abandoned", S::warning, "", "The connection closed during the handshake."},
    {F::reauthentication_refused, "reauthentication_refused", S::warning, "4.12.1",
     "The server refused an MQTT 5 re-authentication and disconnected."},
    {F::response_mismatch, "response_mismatch", S::warning, "", "The response does not match the configured secret."},
    {F::no_secret, "no_secret", S::info, "", "The client id has no secret in the secrets file."},
    {F::challenge_reused, "challenge_reused", S::warning, "",
     "The same challenge was seen before: a recorded response can be replayed."},
    {F::predictable_challenge, "predictable_challenge", S::info, "",
     "The challenge is predictable (a timestamp, a counter, or short)."},
    {F::snaplen, "snaplen", S::info, "", "The packet was cut short by the capture's snapshot length."},
    {F::damaged_capture, "damaged_capture", S::error, "", "The capture file is truncated or corrupt."},
}};

constexpr bool in_order() {
  for (std::size_t i = 0; i < kFindings.size(); ++i)
    if (static_cast<std::size_t>(kFindings[i].id) != i) return false;
  return static_cast<std::size_t>(F::damaged_capture) + 1 == kFindings.size();
}
static_assert(in_order(), "kFindings must list every FindingId once, in order");

}  // namespace

std::string_view severity_name(Severity s) noexcept {
  switch (s) {
    case Severity::error: return "error";
    case Severity::warning: return "warning";
    default: return "info";
  }
}

const FindingInfo& finding(FindingId id) noexcept { return kFindings[static_cast<std::size_t>(id)]; }
std::span<const FindingInfo> all_findings() noexcept { return kFindings; }

std::optional<FindingId> finding_by_name(std::string_view name) noexcept {
  for (const auto& f : kFindings)
    if (f.name == name) return f.id;
  return std::nullopt;
}

FindingId violation_finding(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::reserved_flags: return F::reserved_flags;
    case ErrorKind::bad_qos: return F::bad_qos;
    case ErrorKind::invalid_utf8: return F::invalid_utf8;
    case ErrorKind::trailing_bytes: return F::trailing_bytes;
    case ErrorKind::bad_length: return F::bad_length;
    case ErrorKind::bad_protocol_name: return F::bad_protocol_name;
    case ErrorKind::bad_connect_flags: return F::bad_connect_flags;
    case ErrorKind::zero_packet_id: return F::zero_packet_id;
    case ErrorKind::empty_payload: return F::empty_payload;
    case ErrorKind::bad_topic_name: return F::bad_topic_name;
    case ErrorKind::bad_topic_filter: return F::bad_topic_filter;
    case ErrorKind::bad_subscription_options: return F::bad_subscription_options;
    case ErrorKind::bad_reason_code: return F::bad_reason_code;
    case ErrorKind::property_not_allowed: return F::property_not_allowed;
    case ErrorKind::duplicate_property: return F::duplicate_property;
    case ErrorKind::bad_property_value: return F::bad_property_value;
    case ErrorKind::bad_variable_int: return F::bad_variable_int;
    case ErrorKind::bad_remaining_length: return F::bad_remaining_length;
    case ErrorKind::missing_field: return F::missing_field;
    default: return F::bad_packet_type;
  }
}

std::optional<FindingId> fleet_finding(std::uint8_t bit) noexcept {
  for (unsigned i = 0; i <= 5; ++i)
    if (bit == (1u << i)) return static_cast<FindingId>(static_cast<unsigned>(F::client_takeover) + i);
  return std::nullopt;
}

std::optional<FindingId> flow_finding(std::uint8_t bit) noexcept {
  for (unsigned i = 0; i <= 6; ++i)
    if (bit == (1u << i)) return static_cast<FindingId>(static_cast<unsigned>(F::packet_id_in_use) + i);
  return std::nullopt;
}

std::optional<FindingId> anomaly_finding(std::uint32_t bit) noexcept {
  for (unsigned i = 0; i <= 9; ++i)
    if (bit == (1u << i)) return static_cast<FindingId>(static_cast<unsigned>(F::unexpected_direction) + i);
  return std::nullopt;
}

}  // namespace mqttauth
