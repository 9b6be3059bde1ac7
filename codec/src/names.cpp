// Names of packets, error kinds and codes.
#include <string>

#include "mqttauth/codec.hpp"

namespace mqttauth {

std::string_view error_kind_name(ErrorKind k) noexcept {
  switch (k) {
    case ErrorKind::need_more: return "need_more";
    case ErrorKind::bad_remaining_length: return "bad_remaining_length";
    case ErrorKind::bad_variable_int: return "bad_variable_int";
    case ErrorKind::reserved_flags: return "reserved_flags";
    case ErrorKind::bad_qos: return "bad_qos";
    case ErrorKind::field_overrun: return "field_overrun";
    case ErrorKind::invalid_utf8: return "invalid_utf8";
    case ErrorKind::trailing_bytes: return "trailing_bytes";
    case ErrorKind::bad_length: return "bad_length";
    case ErrorKind::bad_protocol_name: return "bad_protocol_name";
    case ErrorKind::bad_protocol_level: return "bad_protocol_level";
    case ErrorKind::bad_connect_flags: return "bad_connect_flags";
    case ErrorKind::zero_packet_id: return "zero_packet_id";
    case ErrorKind::empty_payload: return "empty_payload";
    case ErrorKind::bad_topic_name: return "bad_topic_name";
    case ErrorKind::bad_topic_filter: return "bad_topic_filter";
    case ErrorKind::bad_subscription_options: return "bad_subscription_options";
    case ErrorKind::bad_reason_code: return "bad_reason_code";
    case ErrorKind::bad_property_id: return "bad_property_id";
    case ErrorKind::property_not_allowed: return "property_not_allowed";
    case ErrorKind::duplicate_property: return "duplicate_property";
    case ErrorKind::bad_property_value: return "bad_property_value";
    case ErrorKind::packet_too_large: return "packet_too_large";
    case ErrorKind::bad_packet_type: return "bad_packet_type";
    case ErrorKind::encode_too_long: return "encode_too_long";
    case ErrorKind::missing_field: return "missing_field";
  }
  return "unknown";
}

std::string Error::message() const {
  std::string s(error_kind_name(kind));
  s += " at byte ";
  s += std::to_string(offset);
  if (detail && *detail) {
    s += ": ";
    s += detail;
  }
  return s;
}

std::string Violation::message() const {
  std::string s(error_kind_name(kind));
  s += " at byte ";
  s += std::to_string(offset);
  if (rule && *rule) {
    s += " [";
    s += rule;
    s += ']';
  }
  if (detail && *detail) {
    s += ": ";
    s += detail;
  }
  return s;
}

std::string_view packet_name_at(std::size_t index) noexcept {
  static constexpr std::string_view names[] = {
      "connect",     "connack",  "publish", "puback",   "pubrec",     "pubrel", "pubcomp",      "subscribe", "suback",
      "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect", "auth",   "authenticate", "reserved"};
  static_assert(std::size(names) == std::variant_size_v<Packet>);
  return index < std::size(names) ? names[index] : std::string_view{};
}

std::string_view packet_name(const Packet& p) noexcept { return packet_name_at(p.index()); }

// The alternatives Connect .. Disconnect stand in the order of their packet types 1 .. 14.
static_assert(std::is_same_v<std::variant_alternative_t<0, Packet>, Connect> &&
              std::is_same_v<std::variant_alternative_t<2, Packet>, Publish> &&
              std::is_same_v<std::variant_alternative_t<13, Packet>, Disconnect>);

std::uint8_t packet_code(const Packet& p) noexcept {
  if (auto* a = std::get_if<Authenticate>(&p)) return a->code;
  if (auto* r = std::get_if<Reserved>(&p)) return r->code;
  if (std::holds_alternative<Auth>(p)) return 15;
  return static_cast<std::uint8_t>(p.index() + 1);  // Connect .. Disconnect are types 1 .. 14, in order
}

std::string_view connack_return_code_name(std::uint8_t code) noexcept {
  switch (code) {
    case 0: return "Connection Accepted";
    case 1: return "Connection Refused: unacceptable protocol version";
    case 2: return "Connection Refused: identifier rejected";
    case 3: return "Connection Refused: server unavailable";
    case 4: return "Connection Refused: bad user name or password";
    case 5: return "Connection Refused: not authorized";
    default: return {};
  }
}

std::string_view suback_return_code_name(std::uint8_t code) noexcept {
  switch (code) {
    case 0: return "Success - Maximum QoS 0";
    case 1: return "Success - Maximum QoS 1";
    case 2: return "Success - Maximum QoS 2";
    case 0x80: return "Failure";
    default: return {};
  }
}

std::string_view reason_code_name(PacketCode type, std::uint8_t code) noexcept {
  switch (code) {
    case 0x00:
      if (type == PacketCode::disconnect) return "Normal disconnection";
      if (type == PacketCode::suback) return "Granted QoS 0";
      return "Success";
    case 0x01: return type == PacketCode::suback ? "Granted QoS 1" : std::string_view{};
    case 0x02: return type == PacketCode::suback ? "Granted QoS 2" : std::string_view{};
    case 0x04: return type == PacketCode::disconnect ? "Disconnect with Will Message" : std::string_view{};
    case 0x10: return "No matching subscribers";
    case 0x11: return "No subscription existed";
    case 0x18: return "Continue authentication";
    case 0x19: return "Re-authenticate";
    case 0x80: return "Unspecified error";
    case 0x81: return "Malformed Packet";
    case 0x82: return "Protocol Error";
    case 0x83: return "Implementation specific error";
    case 0x84: return "Unsupported Protocol Version";
    case 0x85: return "Client Identifier not valid";
    case 0x86: return "Bad User Name or Password";
    case 0x87: return "Not authorized";
    case 0x88: return "Server unavailable";
    case 0x89: return "Server busy";
    case 0x8A: return "Banned";
    case 0x8B: return "Server shutting down";
    case 0x8C: return "Bad authentication method";
    case 0x8D: return "Keep Alive timeout";
    case 0x8E: return "Session taken over";
    case 0x8F: return "Topic Filter invalid";
    case 0x90: return "Topic Name invalid";
    case 0x91: return "Packet Identifier in use";
    case 0x92: return "Packet Identifier not found";
    case 0x93: return "Receive Maximum exceeded";
    case 0x94: return "Topic Alias invalid";
    case 0x95: return "Packet too large";
    case 0x96: return "Message rate too high";
    case 0x97: return "Quota exceeded";
    case 0x98: return "Administrative action";
    case 0x99: return "Payload format invalid";
    case 0x9A: return "Retain not supported";
    case 0x9B: return "QoS not supported";
    case 0x9C: return "Use another server";
    case 0x9D: return "Server moved";
    case 0x9E: return "Shared Subscriptions not supported";
    case 0x9F: return "Connection rate exceeded";
    case 0xA0: return "Maximum connect time";
    case 0xA1: return "Subscription Identifiers not supported";
    case 0xA2: return "Wildcard Subscriptions not supported";
    default: return {};
  }
}

}  // namespace mqttauth
