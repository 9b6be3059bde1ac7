// The one error type of the codec: a kind, the byte offset where it was found, and a short static detail.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace mqttauth {

enum class ErrorKind : std::uint8_t {
  need_more,                 // the input ends before the packet does (not malformed: feed more bytes)
  bad_remaining_length,      // variable byte integer longer than 4 bytes, or not minimally encoded (v5)
  bad_variable_int,          // same, inside the packet (properties, subscription identifier)
  reserved_flags,            // fixed-header flag bits that the spec fixes have another value
  bad_qos,                   // QoS 3, or DUP set on a QoS 0 PUBLISH
  field_overrun,             // a length field points past the end of the packet
  invalid_utf8,              // ill-formed UTF-8, or U+0000, where the spec requires a UTF-8 string
  trailing_bytes,            // bytes left after the last field of the packet
  bad_length,                // remaining length not allowed for this packet type
  bad_protocol_name,         // not "MQTT" / "MQIsdp", or it does not match the level
  bad_protocol_level,        // a level other than 3, 4 or 5
  bad_connect_flags,         // reserved bit, will QoS/retain without will, password without username (3.1.1)
  zero_packet_id,            // packet identifier 0 where a non-zero one is required
  empty_payload,             // SUBSCRIBE / UNSUBSCRIBE / SUBACK / UNSUBACK without entries
  bad_topic_name,            // empty topic name, or one with wildcards
  bad_topic_filter,          // wildcard misplaced, empty filter, bad shared-subscription name
  bad_subscription_options,  // reserved bits, QoS 3 or retain handling 3
  bad_reason_code,           // a return / reason code the packet type does not allow
  bad_property_id,           // unknown property identifier
  property_not_allowed,      // a known property in a packet type that does not allow it
  duplicate_property,        // a property that may appear once appears twice
  bad_property_value,        // a property value out of its allowed range
  packet_too_large,          // larger than the configured maximum packet size
  bad_packet_type,           // a packet type that cannot be decoded in this context (type 0 is forbidden)
  encode_too_long,           // encoder: a string, list or packet exceeds what the format can carry
  missing_field,             // a field the spec requires is absent (a v5 CONNACK without property length)
};

// Stable lower-case name of an error kind (used in JSON output).
std::string_view error_kind_name(ErrorKind kind) noexcept;

struct Error {
  ErrorKind kind = ErrorKind::need_more;
  std::size_t offset = 0;   // byte offset from the start of the packet (or stream, for the framer)
  const char* detail = "";  // static text naming the field, never owned

  // Human-readable one-liner: "<kind> at byte <offset>: <detail>".
  std::string message() const;
  friend bool operator==(const Error& a, const Error& b) noexcept { return a.kind == b.kind && a.offset == b.offset; }
};

// A rule the spec makes, broken in a packet whose structure is intact: the packet is decoded in full and the
// violation rides along with it (a strict decode turns the first one into the Error instead).
// (No default member initialisers: Violations holds an array of them that is only read up to its count, and
// decoding every packet must not pay for clearing it.)
struct Violation {
  ErrorKind kind;
  std::uint32_t offset;  // from the first byte of the fixed header
  const char* rule;      // the spec clause, "MQTT-3.3.1-4" where the spec numbers it, else its section
  const char* detail;    // static text naming the field
  // "<kind> at byte <offset> [<rule>]: <detail>"
  std::string message() const;
  friend bool operator==(const Violation& a, const Violation& b) noexcept {
    return a.kind == b.kind && a.offset == b.offset;
  }
};

// The violations of one packet, without allocation: the first kMax are kept, all are counted. Copying costs
// what is held (nothing, for the packets that break no rule).
class Violations {
 public:
  static constexpr std::size_t kMax = 6;
  Violations() noexcept {}  // NOLINT: the array is read only up to n_
  Violations(const Violations& o) noexcept : n_(o.n_), total_(o.total_) {
    for (std::size_t i = 0; i < n_; ++i) v_[i] = o.v_[i];
  }
  Violations& operator=(const Violations& o) noexcept {
    if (this == &o) return *this;
    n_ = o.n_;
    total_ = o.total_;
    for (std::size_t i = 0; i < n_; ++i) v_[i] = o.v_[i];
    return *this;
  }
  void add(const Violation& v) noexcept {
    if (n_ < kMax) v_[n_++] = v;
    if (total_ < 0xFFFF) ++total_;
  }
  bool empty() const noexcept { return n_ == 0; }
  std::size_t size() const noexcept { return n_; }
  std::size_t total() const noexcept { return total_; }  // kept and dropped
  const Violation* begin() const noexcept { return v_; }
  const Violation* end() const noexcept { return v_ + n_; }
  const Violation& operator[](std::size_t i) const noexcept { return v_[i]; }
  void clear() noexcept { n_ = 0, total_ = 0; }

 private:
  std::uint8_t n_ = 0;
  std::uint16_t total_ = 0;
  Violation v_[kMax];
};

// A value or an Error, without exceptions (C++20 has no std::expected).
template <class T>
class Expected {
 public:
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Expected(Error error) : v_(std::in_place_index<1>, error) {}         // NOLINT: implicit by design
  // The value built in place from `args` (no move of a temporary).
  template <class... A>
  explicit Expected(std::in_place_t, A&&... args) : v_(std::in_place_index<0>, std::forward<A>(args)...) {}

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  // The accessors do not check (like std::optional's operator*): test ok() first. They never throw, so the
  // noexcept decoders cannot end in std::terminate through them.
  T& value() & noexcept {
    assert(ok());
    return *std::get_if<0>(&v_);
  }
  const T& value() const& noexcept {
    assert(ok());
    return *std::get_if<0>(&v_);
  }
  T&& value() && noexcept {
    assert(ok());
    return std::move(*std::get_if<0>(&v_));
  }
  T& operator*() & noexcept { return value(); }
  const T& operator*() const& noexcept { return value(); }
  T* operator->() noexcept { return &value(); }
  const T* operator->() const noexcept { return &value(); }
  const Error& error() const noexcept {
    assert(!ok());
    return *std::get_if<1>(&v_);
  }

 private:
  std::variant<T, Error> v_;
};

}  // namespace mqttauth
