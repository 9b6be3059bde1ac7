// Honest resynchronisation (mqttauth/boundary.hpp). The property test cuts real streams at every byte offset,
// feeds what follows the cut as a capture that starts mid-stream would (in the stream's own TCP segments),
// and frames from the boundary found: every packet reported must be a true packet of the stream (none
// invented), and the boundary must be the first true one after the cut.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "hex.hpp"
#include "mqttauth/boundary.hpp"
#include "mqttauth/codec.hpp"

using namespace mqttauth;
using mqttauth::test::hex;

namespace {

using Buf = std::vector<std::uint8_t>;

// Deterministic bytes that look like compressed data (a JPEG's body): every value equally likely.
Buf binary(std::size_t n, std::uint32_t seed) {
  Buf b(n);
  std::uint64_t x = 0x9E3779B97F4A7C15ull ^ seed;
  for (auto& v : b) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    v = static_cast<std::uint8_t>(x >> 24);
  }
  return b;
}

Buf text(std::size_t n, char c) { return Buf(n, static_cast<std::uint8_t>(c)); }

struct Stream {
  Buf bytes;
  std::set<std::size_t> starts;  // the true packet boundaries
  std::uint8_t level = 0;
  void add(const Packet& p, std::uint8_t at_level) {
    starts.insert(bytes.size());
    auto b = encode_or_throw(p, at_level);
    bytes.insert(bytes.end(), b.begin(), b.end());
  }
};

Publish publish(std::string_view topic, const Buf& payload, std::uint8_t qos = 0, std::uint16_t id = 0) {
  Publish p;
  p.topic = topic;
  p.qos = qos;
  p.packet_id = id;
  p.payload = Bytes(payload.data(), payload.size());
  return p;
}

// A v5 client: CONNECT, a binary PUBLISH (an image, like the JPEG of the field corpus), a QoS 1 PUBLISH, PINGREQ,
// DISCONNECT.
Stream v5_binary_client(const Buf& jpeg, const Buf& small) {
  Stream s;
  Connect c;
  c.level = kLevel5;
  c.client_id = "cam-7";
  c.keep_alive = 60;
  s.add(c, kLevel5);
  s.add(publish("camera/7/jpeg", jpeg), kLevel5);
  s.add(publish("camera/7/state", small, 1, 7), kLevel5);
  s.add(Pingreq{}, kLevel5);
  s.add(publish("camera/7/jpeg", jpeg, 1, 8), kLevel5);
  s.add(Disconnect{}, kLevel5);
  return s;
}

// A 3.1.1 client with text payloads and subscriptions.
Stream v311_text_client(const Buf& line) {
  Stream s;
  Connect c;
  c.client_id = "meter-01";
  c.username = "meter";
  s.add(c, kLevel311);
  Subscribe sub;
  sub.packet_id = 1;
  sub.subscriptions.push_back(Subscription{"cmd/meter-01/#", 1});
  s.add(sub, kLevel311);
  for (std::uint16_t i = 0; i < 6; ++i)
    s.add(publish("meters/01/reading", line, i % 2, static_cast<std::uint16_t>(10 + i)), kLevel311);
  s.add(Pingreq{}, kLevel311);
  Unsubscribe un;
  un.packet_id = 2;
  un.filters.push_back("cmd/meter-01/#");
  s.add(un, kLevel311);
  s.add(Disconnect{}, kLevel311);
  return s;
}

// A server of the field's scheme: the challenge (custom type 0), CONNACK, then binary PUBLISHes and acks.
Stream custom_server(const Buf& blob) {
  Stream s;
  Authenticate a;
  a.code = 0;
  a.client_id = "dev-0001";
  static const Buf challenge = text(13, '7');
  a.password = Bytes(challenge.data(), challenge.size());
  s.add(a, kLevel311);
  s.add(Connack{}, kLevel311);
  Suback ack;
  ack.packet_id = 1;
  static const Buf codes{1};
  ack.codes = Bytes(codes.data(), codes.size());
  s.add(ack, kLevel311);
  for (std::uint16_t i = 0; i < 4; ++i)
    s.add(publish("cmd/dev-0001/fw", blob, 1, static_cast<std::uint16_t>(i + 1)), kLevel311);
  Puback pa;
  pa.packet_id = 3;
  s.add(pa, kLevel311);
  s.add(Pingresp{}, kLevel311);
  return s;
}

// What a capture that starts at `cut` reports: the boundary found (absolute offset), or none.
std::optional<std::size_t> resync_at(const Stream& s, std::size_t cut, Direction dir, std::size_t segment) {
  BoundaryOptions o;
  o.dir = dir;
  o.at_start = true;
  Buf held;
  std::size_t scan = 0, dropped = 0;
  // The stream's own segments: boundaries at multiples of `segment`.
  std::size_t from = cut;
  while (true) {
    const bool last = from >= s.bytes.size();
    if (!last) {
      std::size_t to = std::min(s.bytes.size(), (from / segment + 1) * segment);
      held.insert(held.end(), s.bytes.begin() + static_cast<std::ptrdiff_t>(from),
                  s.bytes.begin() + static_cast<std::ptrdiff_t>(to));
      from = to;
    }
    o.end_of_stream = last;
    o.at_start = dropped == 0;
    auto r = find_boundary(held, scan, o);
    if (r.kind == BoundarySearch::Kind::found) return cut + dropped + r.pos;
    if (last) return std::nullopt;
    scan = r.pos;
    if (held.size() > 2 * o.window) {  // as the analyzer bounds its buffer
      std::size_t n = std::max(scan + 1, held.size() - o.window);
      held.erase(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(n));
      dropped += n;
      scan = 0;
    }
  }
}

// Frames the stream from `at` as the framer would and checks each packet start is a true one.
::testing::AssertionResult frames_truly(const Stream& s, std::size_t at) {
  std::size_t pos = at;
  while (pos < s.bytes.size()) {
    if (!s.starts.count(pos)) return ::testing::AssertionFailure() << "invented packet at " << pos;
    auto h = parse_fixed_header(std::span<const std::uint8_t>(s.bytes).subspan(pos));
    if (!h) return ::testing::AssertionFailure() << "unframeable at " << pos;
    pos += h->packet_size();
  }
  return ::testing::AssertionSuccess();
}

void cut_everywhere(const Stream& s, Direction dir, std::size_t segment) {
  std::size_t checked = 0, missed = 0;
  for (std::size_t cut = 0; cut < s.bytes.size(); ++cut) {
    auto next = s.starts.lower_bound(cut);
    auto found = resync_at(s, cut, dir, segment);
    if (next == s.starts.end()) {  // a cut inside the last packet: nothing to find
      ++checked;
      EXPECT_FALSE(found.has_value()) << "cut " << cut << ": invented a packet at " << *found;
      continue;
    }
    ASSERT_TRUE(found.has_value()) << "cut " << cut << ": no boundary found";
    ASSERT_EQ(*found, *next) << "cut " << cut << ": not the first true boundary";
    ASSERT_TRUE(frames_truly(s, *found)) << "cut " << cut;
    ++checked;
    missed += *found != *next;
  }
  EXPECT_EQ(checked, s.bytes.size());
  EXPECT_EQ(missed, 0u);
}

TEST(Boundary, CutEverywhereV5BinaryPayloads) {
  // (Every cut scans up to the next boundary: 6 KB images keep the test quick; the 35 KB case is below.)
  const Buf jpeg = binary(6'000, 1), small = binary(40, 2);
  cut_everywhere(v5_binary_client(jpeg, small), Direction::c2s, 1448);
}

TEST(Boundary, CutEverywhere311Text) {
  const Buf line = text(300, 'v');
  cut_everywhere(v311_text_client(line), Direction::c2s, 536);
}

TEST(Boundary, CutEverywhereCustomServerBinary) {
  const Buf blob = binary(3'000, 3);
  cut_everywhere(custom_server(blob), Direction::s2c, 1448);
}

TEST(Boundary, LargePublishAtTheStartIsWaitedFor) {
  // The capture starts exactly at a 35 KB PUBLISH: nothing inside it is taken for a packet, and the
  // PUBLISH is found once it is complete and the DISCONNECT after it ends the stream.
  const Buf jpeg = binary(35'000, 4);
  Stream s;
  s.add(publish("topicX", jpeg), kLevel5);
  s.add(Disconnect{}, kLevel5);
  for (std::size_t seg : {std::size_t{1448}, std::size_t{16384}, std::size_t{65535}}) {
    auto found = resync_at(s, 0, Direction::c2s, seg);
    ASSERT_TRUE(found);
    EXPECT_EQ(*found, 0u) << "segments of " << seg;
  }
}

TEST(Boundary, TypeZeroAndReservedAreNoEvidence) {
  // A reserved type-0 packet followed by PINGREQs: the boundary is the first PINGREQ, never the type 0.
  auto b = hex("00 03 01 02 03  C0 00  C0 00  C0 00");
  BoundaryOptions o;
  o.dir = Direction::c2s;
  auto r = find_boundary(b, 0, o);
  ASSERT_EQ(r.kind, BoundarySearch::Kind::found);
  EXPECT_EQ(r.pos, 5u);
  EXPECT_FALSE(plausible_first_byte(0x00, Direction::unknown, 0));
  EXPECT_FALSE(plausible_first_byte(0x20, Direction::c2s, 4));      // CONNACK from the client
  EXPECT_FALSE(plausible_first_byte(0x36, Direction::unknown, 4));  // QoS 3
  EXPECT_FALSE(plausible_first_byte(0x80, Direction::c2s, 4));      // SUBSCRIBE with flags 0
  EXPECT_TRUE(plausible_first_byte(0x82, Direction::c2s, 4));
}

TEST(Boundary, NothingFollowsADisconnect) {
  // "E0 00" inside data followed by more bytes is not a DISCONNECT.
  auto b = hex("E0 00  C0 00  C0 00");
  BoundaryOptions o;
  o.dir = Direction::c2s;
  auto r = find_boundary(b, 0, o);
  ASSERT_EQ(r.kind, BoundarySearch::Kind::found);
  EXPECT_EQ(r.pos, 2u);
}

TEST(Boundary, OnePacketWaitsUnlessAtTheEnd) {
  auto b = hex("30 05 00 01 't' 'x' 'y'");
  BoundaryOptions o;
  o.dir = Direction::c2s;
  auto r = find_boundary(b, 0, o);
  EXPECT_EQ(r.kind, BoundarySearch::Kind::wait);
  EXPECT_EQ(r.pos, 0u);
  o.end_of_stream = true;
  r = find_boundary(b, 0, o);
  EXPECT_EQ(r.kind, BoundarySearch::Kind::found);
  // Where a capture started, a whole packet that ends with the segment is taken at once.
  o.end_of_stream = false;
  o.at_start = true;
  r = find_boundary(b, 0, o);
  EXPECT_EQ(r.kind, BoundarySearch::Kind::found);
}

TEST(Boundary, Probes) {
  EXPECT_EQ(looks_like_connect(hex("10 0c 00 04 'MQTT' 04")), std::optional<bool>(true));
  EXPECT_EQ(looks_like_connect(hex("10 0c 00 04 'MQ'")), std::nullopt);
  EXPECT_EQ(looks_like_connect(hex("10 0c 00 04 'AMQP'")), std::optional<bool>(false));
  EXPECT_EQ(looks_like_connect(hex("30 02 00 00")), std::optional<bool>(false));
  EXPECT_TRUE(looks_like_tls(hex("16 03 01 00 a5")));
  EXPECT_FALSE(looks_like_tls(hex("16 04")));
}

}  // namespace
