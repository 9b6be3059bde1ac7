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
  return "decoded OK as " + std::string(packet_name(r->packet)) + " (" +
         std::to_string(r->header.packet_size()) + " bytes)";
}

// The decode fails with exactly this kind at exactly this offset.
inline ::testing::AssertionResult fails_with(std::span<const std::uint8_t> b, ErrorKind kind, std::size_t offset,
                                             const DecodeContext& ctx) {
  auto r = decode(b, ctx);
  if (!r && r.error().kind == kind && r.error().offset == offset) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected " << error_kind_name(kind) << " at byte " << offset << ", got "
                                       << describe(r);
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
