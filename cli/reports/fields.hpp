// One walk over a decoded packet's fields: which fields each packet type has, and when (a packet id only with
// QoS > 0, reason codes only at level 5 but in AUTH, ...), decided once here. The formats (text, JSON Lines,
// CSV, transcript) print a PacketFields in their own order and style and never look at the packet's type.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "mqttauth/codec.hpp"
#include "mqttauth/session.hpp"

namespace mqttauth::cli {

struct PacketFields {
  const Decoded* decoded = nullptr;      // the header, the level and the violations
  bool v5 = false;                       // read at level 5
  Role role = Role::none;                // an authenticate packet or AUTH: challenge or response
  bool typed_by_code = false;            // authenticate and reserved: the type code is part of what the packet is
  const ConnectBody* connect = nullptr;  // CONNECT and authenticate (their properties are in it)
  // PUBLISH.
  std::optional<std::string_view> topic;
  std::uint8_t qos = 0;
  bool retain = false, dup = false;
  std::optional<Bytes> payload;
  std::optional<std::uint16_t> packet_id;
  // CONNACK, the acknowledgements, DISCONNECT, AUTH.
  std::optional<bool> session_present;
  std::optional<std::uint8_t> return_code;  // CONNACK at level 3 and 4
  std::optional<std::uint8_t> reason_code;  // CONNACK, PUBACK .. PUBCOMP, DISCONNECT at level 5; AUTH
  std::string_view code_name;               // the name of a CONNACK, DISCONNECT or AUTH code
  // SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK.
  const std::vector<Subscription>* subscriptions = nullptr;
  const std::vector<std::string_view>* filters = nullptr;
  std::optional<Bytes> codes;              // SUBACK; UNSUBACK at level 5
  const Properties* properties = nullptr;  // the packet's own (not CONNECT's, not a will's)
  const Reserved* reserved = nullptr;      // a reserved type: flags, body, why it is not authenticate
};

// Inline: each format keeps only the fields it prints (this runs once per packet on the output path).
inline PacketFields packet_fields(const Decoded& d, const Observation& obs) {
  PacketFields f;
  f.decoded = &d;
  f.v5 = d.level == kLevel5;
  std::visit(
      [&f, &obs](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (requires { p.properties; } && !std::is_base_of_v<ConnectBody, T>) f.properties = &p.properties;
        if constexpr (std::is_base_of_v<ConnectBody, T>) {
          f.connect = &p;
          if constexpr (std::is_same_v<T, Authenticate>) {
            f.typed_by_code = true;
            f.role = obs.role;
          }
        } else if constexpr (std::is_same_v<T, Connack>) {
          f.session_present = p.session_present;
          (f.v5 ? f.reason_code : f.return_code) = p.code;
          f.code_name = f.v5 ? reason_code_name(PacketCode::connack, p.code) : connack_return_code_name(p.code);
        } else if constexpr (std::is_same_v<T, Publish>) {
          f.topic = p.topic;
          f.qos = p.qos;
          f.retain = p.retain;
          f.dup = p.dup;
          if (p.qos > 0) f.packet_id = p.packet_id;
          f.payload = p.payload;
        } else if constexpr (std::is_base_of_v<PubResponse, T>) {
          f.packet_id = p.packet_id;
          if (f.v5) f.reason_code = p.reason_code;
        } else if constexpr (std::is_same_v<T, Subscribe>) {
          f.packet_id = p.packet_id;
          f.subscriptions = &p.subscriptions;
        } else if constexpr (std::is_same_v<T, Suback>) {
          f.packet_id = p.packet_id;
          f.codes = p.codes;
        } else if constexpr (std::is_same_v<T, Unsubscribe>) {
          f.packet_id = p.packet_id;
          f.filters = &p.filters;
        } else if constexpr (std::is_same_v<T, Unsuback>) {
          f.packet_id = p.packet_id;
          if (f.v5) f.codes = p.codes;
        } else if constexpr (std::is_same_v<T, Disconnect>) {
          if (f.v5) {
            f.reason_code = p.reason_code;
            f.code_name = reason_code_name(PacketCode::disconnect, p.reason_code);
          }
        } else if constexpr (std::is_same_v<T, Auth>) {
          f.role = obs.role;
          f.reason_code = p.reason_code;
          f.code_name = reason_code_name(PacketCode::auth, p.reason_code);
        } else if constexpr (std::is_same_v<T, Reserved>) {
          f.reserved = &p;
          f.typed_by_code = true;
        }
      },
      d.packet);
  return f;
}

}  // namespace mqttauth::cli
