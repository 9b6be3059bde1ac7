// MQTT control packets as plain value types. Strings and byte fields are views into the decoded input
// (or into whatever the caller built them from): the input must outlive the packet.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "mqttauth/bytes.hpp"
#include "mqttauth/error.hpp"
#include "mqttauth/properties.hpp"

namespace mqttauth {

// The 4-bit control packet type of the fixed header.
enum class PacketCode : std::uint8_t {
  reserved0 = 0,
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
  auth = 15,
};

// Protocol levels (the "protocol version" byte of CONNECT, without the bridge bit).
inline constexpr std::uint8_t kLevel31 = 3;   // MQTT 3.1, protocol name "MQIsdp"
inline constexpr std::uint8_t kLevel311 = 4;  // MQTT 3.1.1
inline constexpr std::uint8_t kLevel5 = 5;    // MQTT 5.0

struct Will {
  std::uint8_t qos = 0;
  bool retain = false;
  Properties properties;  // v5 will properties
  std::string_view topic;
  Bytes payload;
  friend bool operator==(const Will&, const Will&) = default;
};

// The body shared by CONNECT and the custom authenticate packet.
struct ConnectBody {
  std::string_view protocol_name = "MQTT";
  std::uint8_t level = kLevel311;  // 3, 4 or 5
  bool bridge = false;             // bit 7 of the level byte (mosquitto bridges)
  bool clean = true;               // clean session (3.x) / clean start (5)
  std::uint16_t keep_alive = 0;
  Properties properties;  // v5 only
  std::string_view client_id;
  std::optional<Will> will;
  std::optional<std::string_view> username;
  std::optional<Bytes> password;
  // The connect-flags byte these fields encode to.
  std::uint8_t flags() const noexcept;
  friend bool operator==(const ConnectBody&, const ConnectBody&) = default;
};

struct Connect : ConnectBody {
  friend bool operator==(const Connect&, const Connect&) = default;
};

// The field's challenge-response packet: fixed header 0x00 or 0xF0 and a CONNECT-like body.
// Which of challenge and response it is depends on the direction (see Session).
struct Authenticate : ConnectBody {
  std::uint8_t code = 0;  // 0 or 15
  friend bool operator==(const Authenticate&, const Authenticate&) = default;
};

struct Connack {
  bool session_present = false;
  std::uint8_t code = 0;  // return code (3.x) or reason code (5)
  Properties properties;
  friend bool operator==(const Connack&, const Connack&) = default;
};

struct Publish {
  bool dup = false;
  std::uint8_t qos = 0;
  bool retain = false;
  std::string_view topic;
  std::uint16_t packet_id = 0;  // present when qos > 0
  Properties properties;
  Bytes payload;
  friend bool operator==(const Publish&, const Publish&) = default;
};

// PUBACK, PUBREC, PUBREL, PUBCOMP share one layout.
struct PubResponse {
  std::uint16_t packet_id = 0;
  std::uint8_t reason_code = 0;  // v5; 0 in 3.x
  Properties properties;
  friend bool operator==(const PubResponse&, const PubResponse&) = default;
};
struct Puback : PubResponse {
  friend bool operator==(const Puback&, const Puback&) = default;
};
struct Pubrec : PubResponse {
  friend bool operator==(const Pubrec&, const Pubrec&) = default;
};
struct Pubrel : PubResponse {
  friend bool operator==(const Pubrel&, const Pubrel&) = default;
};
struct Pubcomp : PubResponse {
  friend bool operator==(const Pubcomp&, const Pubcomp&) = default;
};

struct Subscription {
  std::string_view filter;
  std::uint8_t options = 0;  // the raw options byte: QoS in 3.x; QoS, no local, RAP, retain handling in 5
  std::uint8_t qos() const noexcept { return options & 0x03u; }
  bool no_local() const noexcept { return (options & 0x04u) != 0; }
  bool retain_as_published() const noexcept { return (options & 0x08u) != 0; }
  std::uint8_t retain_handling() const noexcept { return (options >> 4) & 0x03u; }
  friend bool operator==(const Subscription&, const Subscription&) = default;
};

struct Subscribe {
  std::uint16_t packet_id = 0;
  Properties properties;
  std::vector<Subscription> subscriptions;
  friend bool operator==(const Subscribe&, const Subscribe&) = default;
};

struct Suback {
  std::uint16_t packet_id = 0;
  Properties properties;
  Bytes codes;  // one return (3.x) / reason (5) code per subscription
  friend bool operator==(const Suback&, const Suback&) = default;
};

struct Unsubscribe {
  std::uint16_t packet_id = 0;
  Properties properties;
  std::vector<std::string_view> filters;
  friend bool operator==(const Unsubscribe&, const Unsubscribe&) = default;
};

struct Unsuback {
  std::uint16_t packet_id = 0;
  Properties properties;
  Bytes codes;  // v5 reason codes; empty in 3.x
  friend bool operator==(const Unsuback&, const Unsuback&) = default;
};

struct Pingreq {
  friend bool operator==(const Pingreq&, const Pingreq&) = default;
};
struct Pingresp {
  friend bool operator==(const Pingresp&, const Pingresp&) = default;
};

struct Disconnect {
  std::uint8_t reason_code = 0;  // v5
  Properties properties;
  friend bool operator==(const Disconnect&, const Disconnect&) = default;
};

// The standard MQTT 5 AUTH packet (type 15 in a level-5 connection).
struct Auth {
  std::uint8_t reason_code = 0;  // 0x00 success, 0x18 continue, 0x19 re-authenticate
  Properties properties;
  friend bool operator==(const Auth&, const Auth&) = default;
};

// Type 0 (or 15) whose body is not an authenticate body: kept raw.
struct Reserved {
  std::uint8_t code = 0;
  std::uint8_t flags = 0;
  Bytes body;
  // When the body started like an authenticate body but failed later: why, with the offset in the packet.
  std::optional<Error> authenticate_error;
  // The error's offset counts from the fixed header, whose length encoding may vary for the same packet:
  // equality compares the packet, and of the error only its kind.
  friend bool operator==(const Reserved& a, const Reserved& b) noexcept {
    return a.code == b.code && a.flags == b.flags && a.body == b.body &&
           a.authenticate_error.has_value() == b.authenticate_error.has_value() &&
           (!a.authenticate_error || a.authenticate_error->kind == b.authenticate_error->kind);
  }
};

using Packet = std::variant<Connect, Connack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe, Suback, Unsubscribe,
                            Unsuback, Pingreq, Pingresp, Disconnect, Auth, Authenticate, Reserved>;

namespace detail {
template <class T, class V>
struct PacketIndex;
template <class T, class... Ts>
struct PacketIndex<T, std::variant<Ts...>> {
  static constexpr std::size_t value = [] {
    constexpr bool same[] = {std::is_same_v<T, Ts>...};
    for (std::size_t i = 0; i < sizeof...(Ts); ++i)
      if (same[i]) return i;
    return sizeof...(Ts);
  }();
  static_assert(value < sizeof...(Ts), "not a Packet alternative");
};
}  // namespace detail

// The index of alternative T in Packet (what Packet::index() is when it holds a T).
template <class T>
inline constexpr std::size_t packet_index = detail::PacketIndex<T, Packet>::value;

// Whether `p` holds any of Ts: one bit test instead of a comparison per type (the session model, the flow audit
// and the fleet model ask this of every packet).
template <class... Ts>
bool holds_any(const Packet& p) noexcept {
  constexpr std::uint32_t mask = ((std::uint32_t{1} << packet_index<Ts>) | ...);
  const std::size_t i = p.index();  // (variant_npos, valueless, is no alternative)
  return i < 32 && ((mask >> i) & 1u) != 0;
}

// The JSON / display name: "connect", ..., "auth", "authenticate", "reserved".
std::string_view packet_name(const Packet& p) noexcept;
// The same by the alternative's index in Packet (0 connect ... 16 reserved); "" past the end.
std::string_view packet_name_at(std::size_t index) noexcept;
// The 4-bit type code the packet is sent with.
std::uint8_t packet_code(const Packet& p) noexcept;

// Names of codes, for display. Empty when the code is not defined for that packet / level.
std::string_view connack_return_code_name(std::uint8_t code) noexcept;           // 3.x
std::string_view reason_code_name(PacketCode type, std::uint8_t code) noexcept;  // 5.0, per packet type
std::string_view suback_return_code_name(std::uint8_t code) noexcept;            // 3.x

}  // namespace mqttauth
