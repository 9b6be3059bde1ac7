#include "mqttauth/properties.hpp"

#include <array>

#include "reader.hpp"

namespace mqttauth {
namespace {

constexpr std::uint16_t bit(PropertyContext c) { return static_cast<std::uint16_t>(1u << static_cast<unsigned>(c)); }
using C = PropertyContext;
using T = PropertyType;
using I = PropertyId;

constexpr std::uint16_t kAcks = bit(C::puback) | bit(C::pubrec) | bit(C::pubrel) | bit(C::pubcomp);
constexpr std::uint16_t kAll = 0x3FFF;

// The property table of MQTT 5.0 section 2.2.2.2.
constexpr PropertyInfo kTable[] = {
    {I::payload_format_indicator, T::byte, "Payload Format Indicator", "payload_format_indicator",
     bit(C::publish) | bit(C::will), false},
    {I::message_expiry_interval, T::four_byte_int, "Message Expiry Interval", "message_expiry_interval",
     bit(C::publish) | bit(C::will), false},
    {I::content_type, T::utf8, "Content Type", "content_type", bit(C::publish) | bit(C::will), false},
    {I::response_topic, T::utf8, "Response Topic", "response_topic", bit(C::publish) | bit(C::will), false},
    {I::correlation_data, T::binary, "Correlation Data", "correlation_data", bit(C::publish) | bit(C::will), false},
    // Repeatable in PUBLISH; the decoder allows only one in SUBSCRIBE.
    {I::subscription_identifier, T::var_int, "Subscription Identifier", "subscription_identifier",
     bit(C::publish) | bit(C::subscribe), true},
    {I::session_expiry_interval, T::four_byte_int, "Session Expiry Interval", "session_expiry_interval",
     bit(C::connect) | bit(C::connack) | bit(C::disconnect), false},
    {I::assigned_client_identifier, T::utf8, "Assigned Client Identifier", "assigned_client_identifier",
     bit(C::connack), false},
    {I::server_keep_alive, T::two_byte_int, "Server Keep Alive", "server_keep_alive", bit(C::connack), false},
    {I::authentication_method, T::utf8, "Authentication Method", "authentication_method",
     bit(C::connect) | bit(C::connack) | bit(C::auth), false},
    {I::authentication_data, T::binary, "Authentication Data", "authentication_data",
     bit(C::connect) | bit(C::connack) | bit(C::auth), false},
    {I::request_problem_information, T::byte, "Request Problem Information", "request_problem_information",
     bit(C::connect), false},
    {I::will_delay_interval, T::four_byte_int, "Will Delay Interval", "will_delay_interval", bit(C::will), false},
    {I::request_response_information, T::byte, "Request Response Information", "request_response_information",
     bit(C::connect), false},
    {I::response_information, T::utf8, "Response Information", "response_information", bit(C::connack), false},
    {I::server_reference, T::utf8, "Server Reference", "server_reference", bit(C::connack) | bit(C::disconnect), false},
    {I::reason_string, T::utf8, "Reason String", "reason_string",
     bit(C::connack) | kAcks | bit(C::suback) | bit(C::unsuback) | bit(C::disconnect) | bit(C::auth), false},
    {I::receive_maximum, T::two_byte_int, "Receive Maximum", "receive_maximum", bit(C::connect) | bit(C::connack),
     false},
    {I::topic_alias_maximum, T::two_byte_int, "Topic Alias Maximum", "topic_alias_maximum",
     bit(C::connect) | bit(C::connack), false},
    {I::topic_alias, T::two_byte_int, "Topic Alias", "topic_alias", bit(C::publish), false},
    {I::maximum_qos, T::byte, "Maximum QoS", "maximum_qos", bit(C::connack), false},
    {I::retain_available, T::byte, "Retain Available", "retain_available", bit(C::connack), false},
    {I::user_property, T::utf8_pair, "User Property", "user_property", kAll, true},
    {I::maximum_packet_size, T::four_byte_int, "Maximum Packet Size", "maximum_packet_size",
     bit(C::connect) | bit(C::connack), false},
    {I::wildcard_subscription_available, T::byte, "Wildcard Subscription Available", "wildcard_subscription_available",
     bit(C::connack), false},
    {I::subscription_identifier_available, T::byte, "Subscription Identifier Available",
     "subscription_identifier_available", bit(C::connack), false},
    {I::shared_subscription_available, T::byte, "Shared Subscription Available", "shared_subscription_available",
     bit(C::connack), false},
};

constexpr auto kIndex = [] {
  std::array<std::int8_t, 256> idx{};
  for (auto& v : idx) v = -1;
  for (std::size_t i = 0; i < std::size(kTable); ++i)
    idx[static_cast<std::uint8_t>(kTable[i].id)] = static_cast<std::int8_t>(i);
  return idx;
}();

}  // namespace

const PropertyInfo* property_info(std::uint8_t id) noexcept {
  auto i = kIndex[id];
  return i < 0 ? nullptr : &kTable[static_cast<std::uint8_t>(i)];
}

// Reads the property at pos_ of an already validated block. Invalid data (never produced by the decoder)
// ends the iteration.
void Properties::iterator::load() noexcept {
  if (pos_ >= raw_.size()) {
    pos_ = raw_.size();
    return;
  }
  detail::Reader r(raw_.data() + pos_, raw_.size() - pos_, 0);
  std::uint32_t id = 0;
  r.varint(id, false, "property identifier");
  const PropertyInfo* info = id <= 0xFF ? property_info(static_cast<std::uint8_t>(id)) : nullptr;
  if (!r.ok() || info == nullptr) {
    pos_ = raw_.size();
    return;
  }
  cur_ = Property{};
  cur_.id = info->id;
  cur_.type = info->type;
  switch (info->type) {
    case PropertyType::byte: {
      std::uint8_t v = 0;
      r.u8(v, "");
      cur_.number = v;
      break;
    }
    case PropertyType::two_byte_int: {
      std::uint16_t v = 0;
      r.u16(v, "");
      cur_.number = v;
      break;
    }
    case PropertyType::four_byte_int: r.u32(cur_.number, ""); break;
    case PropertyType::var_int: r.varint(cur_.number, false, ""); break;
    case PropertyType::utf8: {
      Bytes b;
      r.binary(b, "");
      cur_.text = b.as_chars();
      break;
    }
    case PropertyType::binary: r.binary(cur_.binary, ""); break;
    case PropertyType::utf8_pair: {
      Bytes k, v;
      r.binary(k, "");
      r.binary(v, "");
      cur_.text = k.as_chars();
      cur_.value = v.as_chars();
      break;
    }
  }
  if (!r.ok()) {
    pos_ = raw_.size();
    return;
  }
  next_ = pos_ + r.pos();
}

std::optional<Property> Properties::find(PropertyId id) const noexcept {
  for (const auto& p : *this)
    if (p.id == id) return p;
  return std::nullopt;
}

std::size_t Properties::count() const noexcept {
  std::size_t n = 0;
  for (auto it = begin(); it != end(); ++it) ++n;
  return n;
}

namespace {
void put_varint(std::vector<std::uint8_t>& b, std::uint32_t v) {
  do {
    auto byte = static_cast<std::uint8_t>(v & 0x7Fu);
    v >>= 7;
    if (v) byte |= 0x80u;
    b.push_back(byte);
  } while (v);
}
void put_str(std::vector<std::uint8_t>& b, const std::uint8_t* d, std::size_t n) {
  b.push_back(static_cast<std::uint8_t>((n >> 8) & 0xFFu));
  b.push_back(static_cast<std::uint8_t>(n & 0xFFu));
  b.insert(b.end(), d, d + n);
}
}  // namespace

PropertyBuilder& PropertyBuilder::add_int(PropertyId id, std::uint32_t v) {
  const PropertyInfo* info = property_info(static_cast<std::uint8_t>(id));
  put_varint(buf_, static_cast<std::uint8_t>(id));
  switch (info ? info->type : PropertyType::four_byte_int) {
    case PropertyType::byte: buf_.push_back(static_cast<std::uint8_t>(v)); break;
    case PropertyType::two_byte_int:
      buf_.push_back(static_cast<std::uint8_t>(v >> 8));
      buf_.push_back(static_cast<std::uint8_t>(v));
      break;
    case PropertyType::var_int: put_varint(buf_, v); break;
    default:
      for (int s = 24; s >= 0; s -= 8) buf_.push_back(static_cast<std::uint8_t>(v >> s));
  }
  return *this;
}

PropertyBuilder& PropertyBuilder::add_string(PropertyId id, std::string_view v) {
  put_varint(buf_, static_cast<std::uint8_t>(id));
  put_str(buf_, reinterpret_cast<const std::uint8_t*>(v.data()), v.size());
  return *this;
}

PropertyBuilder& PropertyBuilder::add_binary(PropertyId id, Bytes v) {
  put_varint(buf_, static_cast<std::uint8_t>(id));
  put_str(buf_, v.data(), v.size());
  return *this;
}

PropertyBuilder& PropertyBuilder::add_user_property(std::string_view k, std::string_view v) {
  put_varint(buf_, static_cast<std::uint8_t>(PropertyId::user_property));
  put_str(buf_, reinterpret_cast<const std::uint8_t*>(k.data()), k.size());
  put_str(buf_, reinterpret_cast<const std::uint8_t*>(v.data()), v.size());
  return *this;
}

}  // namespace mqttauth
