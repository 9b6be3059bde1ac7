// Assertion helpers for the packet suites.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "mqttauth/codec.hpp"
#include "vectors.hpp"

namespace mqttauth::test {

inline DecodeContext at_level(std::uint8_t level) {
  DecodeContext c;
  c.level = level;
  return c;
}

inline std::string describe(const Expected<Decoded>& r) {
  if (!r) return "error " + r.error().message();
  return "decoded OK as " + std::string(packet_name(r->packet)) + " (" + std::to_string(r->header.packet_size()) +
         " bytes)";
}

inline std::string describe_violations(const Decoded& d) {
  std::string s;
  for (const Violation& v : d.violations) s += (s.empty() ? "" : "; ") + v.message();
  return s.empty() ? "no violation" : s;
}

// A strict decode fails with exactly this kind at exactly this offset; the default (tolerant) decode either
// fails the same way (the structure cannot be walked) or decodes the packet with exactly that violation.
inline ::testing::AssertionResult fails_with(std::span<const std::uint8_t> b, ErrorKind kind, std::size_t offset,
                                             const DecodeContext& ctx) {
  DecodeContext strict = ctx;
  strict.strict = true;
  auto r = decode(b, strict);
  if (r || r.error().kind != kind || r.error().offset != offset)
    return ::testing::AssertionFailure() << "strict: expected " << error_kind_name(kind) << " at byte " << offset
                                         << ", got " << describe(r);
  DecodeContext tolerant = ctx;
  tolerant.strict = false;
  auto t = decode(b, tolerant);
  if (!t) {
    if (t.error().kind == kind && t.error().offset == offset) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "tolerant: expected " << error_kind_name(kind) << " at byte " << offset
                                         << ", got " << describe(t);
  }
  for (const Violation& v : t->violations)
    if (v.kind == kind && v.offset == offset) {
      if (v.rule == nullptr || *v.rule == 0)
        return ::testing::AssertionFailure() << "the violation names no spec clause: " << v.message();
      return ::testing::AssertionSuccess();
    }
  return ::testing::AssertionFailure() << "tolerant: expected a violation " << error_kind_name(kind) << " at byte "
                                       << offset << ", got " << describe(t) << " with " << describe_violations(*t);
}

// The structure cannot be walked: strict and tolerant decodes fail alike.
inline ::testing::AssertionResult structural_error(std::span<const std::uint8_t> b, ErrorKind kind, std::size_t offset,
                                                   const DecodeContext& ctx) {
  DecodeContext tolerant = ctx;
  tolerant.strict = false;
  auto t = decode(b, tolerant);
  if (!t && t.error().kind == kind && t.error().offset == offset) return fails_with(b, kind, offset, ctx);
  return ::testing::AssertionFailure() << "expected the error " << error_kind_name(kind) << " at byte " << offset
                                       << " in a tolerant decode, got " << describe(t);
}

// Decodes all of `b` (the packet must use every byte) as a T.
template <class T>
T must_decode(std::span<const std::uint8_t> b, const DecodeContext& ctx, std::uint8_t* level_out = nullptr) {
  auto r = decode(b, ctx);
  if (!r) {
    ADD_FAILURE() << describe(r);
    return T{};
  }
  EXPECT_EQ(r->header.packet_size(), b.size()) << "the packet does not span the whole vector";
  if (level_out) *level_out = r->level;
  const T* p = std::get_if<T>(&r->packet);
  if (!p) {
    ADD_FAILURE() << "decoded as " << packet_name(r->packet);
    return T{};
  }
  return *p;
}

// Decodes the shared vector `name` at its level.
template <class T>
T must_decode(const std::string& name) {
  const Vector& v = vec(name);
  return must_decode<T>(v.bytes, ctx_for(v));
}

inline std::vector<Property> props_of(const Properties& p) {
  std::vector<Property> out;
  for (const Property& x : p) out.push_back(x);
  return out;
}

inline std::string_view info_name(PropertyId id) {
  const PropertyInfo* info = property_info(static_cast<std::uint8_t>(id));
  return info ? info->name : std::string_view{};
}

inline Bytes bytes_of(std::string_view s) { return Bytes::of(s); }

}  // namespace mqttauth::test
