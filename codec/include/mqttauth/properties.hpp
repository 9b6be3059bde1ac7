// MQTT 5 properties: identifiers, spec names and types, a zero-copy view over a validated property block,
// and a builder that writes one.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "mqttauth/bytes.hpp"

namespace mqttauth {

enum class PropertyId : std::uint8_t {
  payload_format_indicator = 0x01,
  message_expiry_interval = 0x02,
  content_type = 0x03,
  response_topic = 0x08,
  correlation_data = 0x09,
  subscription_identifier = 0x0B,
  session_expiry_interval = 0x11,
  assigned_client_identifier = 0x12,
  server_keep_alive = 0x13,
  authentication_method = 0x15,
  authentication_data = 0x16,
  request_problem_information = 0x17,
  will_delay_interval = 0x18,
  request_response_information = 0x19,
  response_information = 0x1A,
  server_reference = 0x1C,
  reason_string = 0x1F,
  receive_maximum = 0x21,
  topic_alias_maximum = 0x22,
  topic_alias = 0x23,
  maximum_qos = 0x24,
  retain_available = 0x25,
  user_property = 0x26,
  maximum_packet_size = 0x27,
  wildcard_subscription_available = 0x28,
  subscription_identifier_available = 0x29,
  shared_subscription_available = 0x2A,
};

enum class PropertyType : std::uint8_t { byte, two_byte_int, four_byte_int, var_int, utf8, binary, utf8_pair };

// Where a property block sits; each property allows a set of these.
enum class PropertyContext : std::uint8_t {
  connect,
  connack,
  publish,
  will,
  puback,
  pubrec,
  pubrel,
  pubcomp,
  subscribe,
  suback,
  unsubscribe,
  unsuback,
  disconnect,
  auth,
};

struct PropertyInfo {
  PropertyId id;
  PropertyType type;
  std::string_view name;       // the spec's name, e.g. "Payload Format Indicator"
  std::string_view json_name;  // snake_case, e.g. "payload_format_indicator"
  std::uint16_t contexts;      // bit (1 << PropertyContext)
  bool repeatable;             // may appear more than once in one block
};

// nullptr for an unknown identifier.
const PropertyInfo* property_info(std::uint8_t id) noexcept;
inline bool property_allowed(const PropertyInfo& info, PropertyContext ctx) noexcept {
  return (info.contexts >> static_cast<unsigned>(ctx)) & 1u;
}

struct Property {
  PropertyId id{};
  PropertyType type{};
  std::uint32_t number = 0;  // byte, two/four byte and variable integers
  std::string_view text;     // utf8; the key of a utf8_pair
  std::string_view value;    // the value of a utf8_pair
  Bytes binary;              // binary data
  friend bool operator==(const Property&, const Property&) = default;
};

// A view of an encoded, already validated property block (the bytes after the property-length field).
// Compares by content, iterates without allocating.
class Properties {
 public:
  Properties() noexcept = default;
  explicit Properties(Bytes raw) noexcept : raw_(raw) {}

  Bytes raw() const noexcept { return raw_; }
  bool empty() const noexcept { return raw_.empty(); }

  class iterator {
   public:
    using value_type = Property;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(Bytes raw, std::size_t pos) noexcept : raw_(raw), pos_(pos) { load(); }
    const Property& operator*() const noexcept { return cur_; }
    const Property* operator->() const noexcept { return &cur_; }
    iterator& operator++() noexcept {
      pos_ = next_;
      load();
      return *this;
    }
    iterator operator++(int) noexcept {
      auto t = *this;
      ++*this;
      return t;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.pos_ == b.pos_; }

   private:
    void load() noexcept;
    Bytes raw_;
    std::size_t pos_ = 0, next_ = 0;
    Property cur_;
  };
  iterator begin() const noexcept { return {raw_, 0}; }
  iterator end() const noexcept { return {raw_, raw_.size()}; }

  // First property with this identifier.
  std::optional<Property> find(PropertyId id) const noexcept;
  std::size_t count() const noexcept;

  friend bool operator==(const Properties& a, const Properties& b) noexcept { return a.raw_ == b.raw_; }

 private:
  Bytes raw_;
};

// Builds a property block in an owned buffer. properties() views that buffer: keep the builder alive.
class PropertyBuilder {
 public:
  PropertyBuilder& add_int(PropertyId id, std::uint32_t value);  // by the identifier's spec type
  PropertyBuilder& add_string(PropertyId id, std::string_view value);
  PropertyBuilder& add_binary(PropertyId id, Bytes value);
  PropertyBuilder& add_user_property(std::string_view key, std::string_view value);
  Properties properties() const noexcept { return Properties(Bytes(buf_)); }

 private:
  std::vector<std::uint8_t> buf_;
};

}  // namespace mqttauth
