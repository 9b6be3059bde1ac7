// Robustness over every valid vector: every prefix asks for more bytes; a remaining length that disagrees
// with the fields, or single-byte corruption, gives an error (or another valid packet), never a crash.
#include <gtest/gtest.h>

#include <initializer_list>

#include "decode_util.hpp"
#include "mqttauth/codec.hpp"
#include "vectors.hpp"

using namespace mqttauth;
using namespace mqttauth::test;

namespace {

// `first` with remaining length `body.size()` (minimally encoded) and `body`.
std::vector<std::uint8_t> reframe(std::uint8_t first, std::span<const std::uint8_t> body) {
  std::vector<std::uint8_t> b{first};
  auto n = static_cast<std::uint32_t>(body.size());
  do {
    auto byte = static_cast<std::uint8_t>(n & 0x7Fu);
    n >>= 7;
    if (n) byte |= 0x80u;
    b.push_back(byte);
  } while (n);
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

struct Split {
  std::uint8_t first;
  std::vector<std::uint8_t> body;
};

Split split(const Vector& v) {
  auto h = parse_fixed_header(v.bytes);
  EXPECT_TRUE(h.ok()) << v.name;
  if (!h.ok()) return {};
  return {v.bytes[0], std::vector<std::uint8_t>(v.bytes.begin() + h->size, v.bytes.end())};
}

TEST(Truncation, VectorsAreWholePackets) {
  EXPECT_GE(valid_vectors().size(), 60u);
  for (const auto& v : valid_vectors()) {
    auto r = decode(v.bytes, ctx_for(v));
    ASSERT_TRUE(r.ok()) << v.name << ": " << describe(r);
    EXPECT_EQ(r->header.packet_size(), v.bytes.size()) << v.name;
    EXPECT_EQ(r->level, v.level) << v.name;
  }
}

TEST(Truncation, EveryPrefixNeedsMore) {
  for (const auto& v : valid_vectors()) {
    const std::size_t n = v.bytes.size();
    const std::size_t header = n - parse_fixed_header(v.bytes)->remaining_length;
    for (std::size_t k = 0; k < n; ++k) {
      std::span<const std::uint8_t> prefix(v.bytes.data(), k);
      for (std::uint8_t level : {v.level, std::uint8_t{0}}) {
        auto r = decode(prefix, at_level(level));
        ASSERT_FALSE(r.ok()) << v.name << " prefix " << k << " at level " << int{level};
        EXPECT_EQ(r.error().kind, ErrorKind::need_more) << v.name << " prefix " << k << ": " << describe(r);
        // Within the fixed header: at least one more byte; after it: exactly the whole packet.
        if (k < header) {
          EXPECT_GT(r.error().offset, k) << v.name << " prefix " << k;
          EXPECT_LE(r.error().offset, header) << v.name << " prefix " << k;
        } else {
          EXPECT_EQ(r.error().offset, n) << v.name << " prefix " << k;
        }
      }
    }
  }
}

TEST(Truncation, ParseFixedHeaderOnPrefixes) {
  for (const auto& v : valid_vectors()) {
    auto whole = parse_fixed_header(v.bytes);
    ASSERT_TRUE(whole.ok()) << v.name;
    for (std::size_t k = 0; k < whole->size; ++k) {
      auto r = parse_fixed_header(std::span<const std::uint8_t>(v.bytes.data(), k));
      ASSERT_FALSE(r.ok()) << v.name << " " << k;
      EXPECT_EQ(r.error().kind, ErrorKind::need_more);
    }
    for (std::size_t k = whole->size; k <= v.bytes.size(); ++k) {
      auto r = parse_fixed_header(std::span<const std::uint8_t>(v.bytes.data(), k));
      ASSERT_TRUE(r.ok()) << v.name << " " << k;
      EXPECT_EQ(r->remaining_length, whole->remaining_length);
      EXPECT_EQ(r->byte, v.bytes[0]);
    }
  }
}

// The remaining length says one byte less than the fields need: the decoder reads only that many bytes
// (the last byte is then outside the packet) and must report a malformed packet, not ask for more, unless
// the shorter body is itself a valid packet (PUBLISH payloads, SUBACK / UNSUBACK code lists, ...).
TEST(Truncation, RemainingLengthOneShort) {
  int errors = 0;
  for (const auto& v : valid_vectors()) {
    auto s = split(v);
    if (s.body.empty()) continue;
    auto b = reframe(s.first, std::span<const std::uint8_t>(s.body.data(), s.body.size() - 1));
    b.push_back(s.body.back());  // the byte now outside the packet stays in the buffer
    auto r = decode(b, ctx_for(v));
    if (r.ok()) {
      EXPECT_EQ(r->header.packet_size(), b.size() - 1) << v.name;
    } else {
      ++errors;
      EXPECT_NE(r.error().kind, ErrorKind::need_more) << v.name << ": " << describe(r);
      EXPECT_LT(r.error().offset, b.size()) << v.name << ": " << describe(r);
    }
  }
  EXPECT_GT(errors, 40);
}

// Cutting the body anywhere (with a consistent remaining length) never reads past the packet.
TEST(Truncation, EveryShorterBody) {
  for (const auto& v : valid_vectors()) {
    auto s = split(v);
    for (std::size_t cut = 0; cut < s.body.size(); ++cut) {
      auto b = reframe(s.first, std::span<const std::uint8_t>(s.body.data(), cut));
      for (std::uint8_t level : {v.level, std::uint8_t{0}}) {
        auto r = decode(b, at_level(level));
        if (r.ok()) {
          EXPECT_EQ(r->header.packet_size(), b.size()) << v.name << " cut " << cut;
        } else {
          EXPECT_NE(r.error().kind, ErrorKind::need_more) << v.name << " cut " << cut << ": " << describe(r);
          EXPECT_LE(r.error().offset, b.size()) << v.name << " cut " << cut << ": " << describe(r);
        }
      }
    }
  }
}

// One extra byte inside the packet (remaining length one more): an error, or a valid packet that uses it.
TEST(Truncation, RemainingLengthOneLong) {
  for (const auto& v : valid_vectors()) {
    auto s = split(v);
    for (std::uint8_t extra : {std::uint8_t{0x00}, std::uint8_t{0xFF}}) {
      auto body = s.body;
      body.push_back(extra);
      auto b = reframe(s.first, body);
      auto r = decode(b, ctx_for(v));
      if (r.ok()) {
        EXPECT_EQ(r->header.packet_size(), b.size()) << v.name;
      } else {
        EXPECT_NE(r.error().kind, ErrorKind::need_more) << v.name << ": " << describe(r);
        // (A field that runs off the end is reported at the end: offset == size.)
        EXPECT_LE(r.error().offset, b.size()) << v.name << ": " << describe(r);
      }
    }
  }
  // Packets whose last field is a fixed-size one must refuse the extra byte.
  for (const char* name :
       {"v4/connect_minimal", "v4/connack_rc0", "v4/puback", "v4/unsuback", "v4/disconnect", "v5/connect_props",
        "v5/connack_props", "v5/puback_props", "v5/disconnect_props", "v5/auth_continue", "v3/connect"}) {
    auto s = split(vec(name));
    s.body.push_back(0x00);
    auto b = reframe(s.first, s.body);
    EXPECT_TRUE(fails_with(b, ErrorKind::trailing_bytes, b.size() - 1, ctx_for(vec(name)))) << name;
  }
}

// Single-byte corruption anywhere: no crash; an error offset inside the input; and when the corrupt bytes
// still decode, the packet survives an encode / decode cycle unchanged.
TEST(Truncation, SingleByteCorruption) {
  for (const auto& v : valid_vectors()) {
    for (std::size_t i = 0; i < v.bytes.size(); ++i) {
      const std::uint8_t orig = v.bytes[i];
      for (std::uint8_t x : {std::uint8_t{0x00}, std::uint8_t{0xFF}, std::uint8_t{0x7F}, std::uint8_t{0x80},
                             static_cast<std::uint8_t>(orig ^ 0x01), static_cast<std::uint8_t>(orig + 1),
                             static_cast<std::uint8_t>(orig ^ 0x40)}) {
        auto b = v.bytes;
        b[i] = x;
        for (std::uint8_t level : {v.level, std::uint8_t{0}}) {
          auto r = decode(b, at_level(level));
          if (!r.ok()) {
            if (r.error().kind == ErrorKind::need_more) {
              EXPECT_GT(r.error().offset, b.size()) << v.name << " byte " << i;
            } else {
              EXPECT_LE(r.error().offset, b.size()) << v.name << " byte " << i << ": " << describe(r);
            }
            continue;
          }
          ASSERT_LE(r->header.packet_size(), b.size());
          std::vector<std::uint8_t> out;
          auto e = encode(r->packet, r->level, out);
          ASSERT_TRUE(e.ok()) << v.name << " byte " << i << ": " << e.error().message();
          auto again = decode(out, at_level(r->level));
          ASSERT_TRUE(again.ok()) << v.name << " byte " << i << " = " << int{x} << ": re-encoded "
                                  << packet_name(r->packet) << " does not decode: " << describe(again);
          EXPECT_TRUE(again->packet == r->packet) << v.name << " byte " << i << " = " << int{x};
        }
      }
    }
  }
}

}  // namespace
