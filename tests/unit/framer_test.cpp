// The stream framer: the same frames (bytes, header, stream offsets), in order, however the stream is cut
// into chunks; oversized packets skipped; framing errors, resync() and capture gaps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "hex.hpp"
#include "mqttauth/codec.hpp"
#include "mqttauth/framer.hpp"

using namespace mqttauth;
using mqttauth::test::hex;

namespace {

using ByteVec = std::vector<std::uint8_t>;
using Kind = FrameEvent::Kind;

// What the framer reported, copied out (frame bytes are only valid until the next call).
struct Event {
  Kind kind = Kind::need_more;
  ByteVec bytes;
  std::uint8_t header_byte = 0;
  std::uint32_t remaining_length = 0;
  std::uint8_t header_size = 0;
  std::uint64_t offset = 0;  // frame / oversized: stream offset of the packet; error: the error's offset
  ErrorKind error = ErrorKind::need_more;
  friend bool operator==(const Event&, const Event&) = default;
};

std::ostream& operator<<(std::ostream& os, const Event& e) {
  static const char* names[] = {"need_more", "frame", "oversized", "error"};
  os << names[static_cast<int>(e.kind)] << "@" << e.offset << " hdr=" << int{e.header_byte} << "/" << e.remaining_length
     << "/" << int{e.header_size} << " bytes=" << e.bytes.size();
  if (e.kind == Kind::error || e.kind == Kind::oversized) os << " err=" << error_kind_name(e.error);
  return os;
}

Event frame_event(const ByteVec& stream, std::uint64_t offset) {
  auto rest = std::span<const std::uint8_t>(stream).subspan(static_cast<std::size_t>(offset));
  auto h = parse_fixed_header(rest);
  EXPECT_TRUE(h.ok());
  Event e;
  e.kind = Kind::frame;
  e.bytes.assign(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(h->packet_size()));
  e.header_byte = h->byte;
  e.remaining_length = h->remaining_length;
  e.header_size = h->size;
  e.offset = offset;
  return e;
}

Event oversized_event(const ByteVec& stream, std::uint64_t offset) {
  Event e = frame_event(stream, offset);
  e.kind = Kind::oversized;
  e.bytes.clear();
  e.error = ErrorKind::packet_too_large;
  return e;
}

// The frames a stream of well-formed packets holds, by walking the fixed headers.
std::vector<Event> expected_frames(const ByteVec& stream) {
  std::vector<Event> out;
  std::uint64_t at = 0;
  while (at < stream.size()) {
    out.push_back(frame_event(stream, at));
    at += out.back().bytes.size();
  }
  return out;
}

struct RunOptions {
  std::uint32_t max_packet_size = Limits{}.max_packet_size;
  // Called on an error event; returns the offset to resync() to (nullopt: do not resync).
  std::function<std::optional<std::uint64_t>(const Event&)> on_error;
  // Take whole packets with next_whole() before each push(), as the capture analyzer does.
  bool whole_first = false;
};

struct RunResult {
  std::vector<Event> events;  // need_more events left out
  std::size_t max_buffered = 0;
  std::uint64_t end_offset = 0;
  std::size_t whole_frames = 0;  // frames that next_whole() gave
};

// Feeds `stream` cut at `sizes` (the last chunk takes the rest). Each chunk lives in its own buffer that is
// scribbled over once next() returns need_more, so a frame that kept pointing into an old chunk shows.
RunResult run(const ByteVec& stream, const std::vector<std::size_t>& sizes, const RunOptions& opt = {}) {
  Framer f(opt.max_packet_size);
  RunResult res;
  std::size_t at = 0;
  std::size_t i = 0;
  while (at < stream.size()) {
    std::size_t n = i < sizes.size() ? std::min(sizes[i], stream.size() - at) : stream.size() - at;
    ++i;
    ByteVec chunk(stream.begin() + static_cast<std::ptrdiff_t>(at),
                  stream.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
    std::span<const std::uint8_t> in(chunk);
    if (opt.whole_first) {
      std::size_t pos = 0;
      Frame fr;
      while (f.next_whole(in, pos, fr)) {
        ++res.whole_frames;
        Event e;
        e.kind = Kind::frame;
        e.bytes.assign(fr.bytes.begin(), fr.bytes.end());
        e.header_byte = fr.header.byte;
        e.remaining_length = fr.header.remaining_length;
        e.header_size = fr.header.size;
        e.offset = fr.offset;
        EXPECT_EQ(fr.bytes.data(), in.data() + pos - fr.bytes.size());  // a view of the chunk
        EXPECT_EQ(f.offset(), fr.offset + fr.bytes.size());
        res.events.push_back(e);
      }
      in = in.subspan(pos);
    }
    f.push(in);
    for (int guard = 0;; ++guard) {
      if (guard > 100000) {
        ADD_FAILURE() << "framer does not return need_more";
        return res;
      }
      FrameEvent ev = f.next();
      res.max_buffered = std::max(res.max_buffered, f.buffered());
      if (ev.kind == Kind::need_more) break;
      Event e;
      e.kind = ev.kind;
      e.header_byte = ev.frame.header.byte;
      e.remaining_length = ev.frame.header.remaining_length;
      e.header_size = ev.frame.header.size;
      e.offset = ev.frame.offset;
      if (ev.kind == Kind::frame) {
        e.bytes.assign(ev.frame.bytes.begin(), ev.frame.bytes.end());
        EXPECT_EQ(e.bytes.size(), ev.frame.header.packet_size());
      } else {
        e.error = ev.error.kind;
      }
      if (ev.kind == Kind::oversized) {
        EXPECT_TRUE(ev.frame.bytes.empty());
        EXPECT_EQ(ev.error.offset, ev.frame.offset);
      }
      if (ev.kind == Kind::error) {
        e.offset = ev.error.offset;
        e.header_byte = 0;
        e.remaining_length = 0;
        e.header_size = 0;
        EXPECT_TRUE(f.failed());
      }
      res.events.push_back(e);
      if (ev.kind == Kind::error && opt.on_error)
        if (auto to = opt.on_error(e)) f.resync(*to);
    }
    std::fill(chunk.begin(), chunk.end(), std::uint8_t{0xEE});
  }
  res.end_offset = f.offset();
  return res;
}

std::vector<std::size_t> whole() { return {}; }
std::vector<std::size_t> bytewise(std::size_t n) { return std::vector<std::size_t>(n, 1); }
std::vector<std::size_t> random_sizes(std::size_t total, std::size_t max_chunk, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> d(1, max_chunk);
  std::vector<std::size_t> out;
  for (std::size_t sum = 0; sum < total;) {
    out.push_back(d(rng));
    sum += out.back();
  }
  return out;
}

void append(ByteVec& stream, const Packet& p, std::uint8_t level = kLevel311) {
  auto b = encode_or_throw(p, level);
  stream.insert(stream.end(), b.begin(), b.end());
}

ByteVec payload_of(std::size_t n, std::uint8_t seed = 0) {
  ByteVec v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(seed + i * 7);
  return v;
}

// A PUBLISH of exactly `total` bytes (fixed header included) on topic "t/x". (130 bytes cannot be done:
// a 128-byte body needs a 2-byte remaining length.)
ByteVec publish_of_size(std::size_t total, std::uint8_t qos = 0) {
  Publish p;
  p.topic = "t/x";
  p.qos = qos;
  p.packet_id = qos ? 7 : 0;
  const std::size_t fixed = 2 + 3 + (qos ? 2u : 0u);  // topic and packet id
  auto len_bytes = [](std::size_t body) -> std::size_t {
    return body < 128 ? 1 : body < 16384 ? 2 : body < 2097152 ? 3 : 4;
  };
  std::size_t hdr = 2;
  for (int i = 0; i < 4 && 1 + len_bytes(total - hdr) != hdr; ++i) hdr = 1 + len_bytes(total - hdr);
  ByteVec payload = payload_of(total - hdr - fixed);
  p.payload = Bytes(payload);
  auto out = encode_or_throw(Packet(p), kLevel311);
  EXPECT_EQ(out.size(), total);
  return out;
}

// A short session: CONNECT, CONNACK, the custom authenticate, PUBLISHes of several sizes (1- and 2-byte
// remaining lengths), PUBACK, PINGREQ, PINGRESP, an empty-payload PUBLISH, DISCONNECT.
ByteVec small_stream() {
  ByteVec s;
  Connect c;
  c.client_id = "dev-0001";
  c.keep_alive = 60;
  append(s, Packet(c));
  append(s, Packet(Connack{}));
  auto auth = hex("f0 23 00 04 'MQTT' 04 42 00 00 00 08 'dev-0001' 00 0d '1700000000123'");
  s.insert(s.end(), auth.begin(), auth.end());
  auto p1 = publish_of_size(40);
  s.insert(s.end(), p1.begin(), p1.end());
  auto p2 = publish_of_size(200, 1);  // remaining length 197: two bytes c5 01
  s.insert(s.end(), p2.begin(), p2.end());
  Puback ack;
  ack.packet_id = 7;
  append(s, Packet(ack));
  append(s, Packet(Pingreq{}));
  append(s, Packet(Pingresp{}));
  auto p3 = publish_of_size(131);  // remaining length 128: the smallest two-byte length
  s.insert(s.end(), p3.begin(), p3.end());
  Publish empty;
  empty.topic = "e";
  append(s, Packet(empty));
  append(s, Packet(Disconnect{}));
  return s;
}

std::string where(const std::vector<std::size_t>& sizes) {
  std::ostringstream os;
  os << "chunks:";
  for (std::size_t i = 0; i < sizes.size() && i < 12; ++i) os << ' ' << sizes[i];
  if (sizes.size() > 12) os << " ...";
  return os.str();
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// The same frames however the stream is chunked.

TEST(Framer, SmallStreamLayout) {
  auto s = small_stream();
  auto frames = expected_frames(s);
  ASSERT_EQ(frames.size(), 11u);
  EXPECT_EQ(frames[2].header_byte, 0xF0);
  EXPECT_EQ(frames[4].bytes.size(), 200u);
  EXPECT_EQ(frames[4].header_size, 3u);
  EXPECT_EQ(frames[4].remaining_length, 197u);
  EXPECT_EQ(frames[8].remaining_length, 128u);
  EXPECT_EQ(frames[8].header_size, 3u);
}

TEST(Framer, WholeStream) {
  auto s = small_stream();
  auto r = run(s, whole());
  EXPECT_EQ(r.events, expected_frames(s));
  EXPECT_EQ(r.end_offset, s.size());
  EXPECT_EQ(r.max_buffered, 0u);  // every packet lies inside the one chunk: nothing is copied
}

TEST(Framer, FramesInsideAChunkAreViewsOfIt) {
  auto s = small_stream();
  Framer f;
  f.push(s);
  std::uint64_t expect_offset = 0;
  for (FrameEvent ev = f.next(); ev.kind != Kind::need_more; ev = f.next()) {
    ASSERT_EQ(ev.kind, Kind::frame);
    EXPECT_EQ(ev.frame.bytes.data(), s.data() + ev.frame.offset);
    EXPECT_EQ(ev.frame.offset, expect_offset);
    expect_offset += ev.frame.bytes.size();
    EXPECT_EQ(f.offset(), expect_offset);
  }
  EXPECT_EQ(f.offset(), s.size());
  EXPECT_EQ(f.buffered(), 0u);
}

// Decoding a frame with the header the framer parsed gives what decoding its bytes alone gives (the analyzer's
// path), at every protocol level; a header that claims more bytes than there are is need_more, not a read past
// the end.
TEST(Framer, FrameHeaderDecodesAsTheBytesDo) {
  auto s = small_stream();
  Framer f;
  f.push(s);
  int n = 0;
  for (FrameEvent ev = f.next(); ev.kind != Kind::need_more; ev = f.next(), ++n) {
    ASSERT_EQ(ev.kind, Kind::frame);
    for (std::uint8_t level : {std::uint8_t{0}, kLevel31, kLevel311, kLevel5}) {
      DecodeContext ctx;
      ctx.level = level;
      auto a = decode(ev.frame.bytes, ctx);
      auto b = decode(ev.frame.bytes, ev.frame.header, ctx);
      ASSERT_EQ(a.ok(), b.ok()) << "frame " << n << " level " << int{level};
      if (!a) {
        EXPECT_EQ(a.error().kind, b.error().kind);
        EXPECT_EQ(a.error().offset, b.error().offset);
        continue;
      }
      EXPECT_EQ(a->packet, b->packet);
      EXPECT_EQ(a->level, b->level);
      EXPECT_EQ(a->header.packet_size(), b->header.packet_size());
      EXPECT_EQ(a->violations.total(), b->violations.total());
    }
  }
  EXPECT_EQ(n, 11);
  FixedHeader longer{0x30, 100, 2};
  auto r = decode(std::span<const std::uint8_t>(s).first(10), longer, DecodeContext{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::need_more);
}

TEST(Framer, OneByteAtATime) {
  auto s = small_stream();
  auto r = run(s, bytewise(s.size()));
  EXPECT_EQ(r.events, expected_frames(s));
  EXPECT_EQ(r.end_offset, s.size());
  EXPECT_LE(r.max_buffered, 200u);
}

TEST(Framer, TwoChunksSplitAtEveryPosition) {
  auto s = small_stream();
  auto want = expected_frames(s);
  for (std::size_t k = 0; k <= s.size(); ++k) {
    auto r = run(s, {k});
    ASSERT_EQ(r.events, want) << "split at " << k;
    ASSERT_EQ(r.end_offset, s.size()) << "split at " << k;
  }
}

TEST(Framer, ThreeChunksSplitAtManyPositions) {
  auto s = small_stream();
  auto want = expected_frames(s);
  for (std::size_t a = 0; a <= s.size(); a += 3)
    for (std::size_t b = 0; a + b <= s.size(); b += 5) ASSERT_EQ(run(s, {a, b}).events, want) << a << "+" << b;
}

TEST(Framer, RandomChunkSizes) {
  auto s = small_stream();
  // Make it longer and add packets with 3-byte remaining lengths.
  ByteVec big = s;
  for (int i = 0; i < 5; ++i) {
    auto p = publish_of_size(20000 + static_cast<std::size_t>(i) * 1000, static_cast<std::uint8_t>(i % 2));
    big.insert(big.end(), p.begin(), p.end());
    big.insert(big.end(), s.begin(), s.end());
  }
  auto want = expected_frames(big);
  for (std::uint32_t seed : {1u, 2u, 42u, 12345u}) {
    for (std::size_t max_chunk : {3u, 17u, 1460u, 70000u}) {
      auto sizes = random_sizes(big.size(), max_chunk, seed);
      auto r = run(big, sizes);
      ASSERT_EQ(r.events, want) << "seed " << seed << " max chunk " << max_chunk << " " << where(sizes);
      EXPECT_EQ(r.end_offset, big.size());
      EXPECT_LE(r.max_buffered, 25000u);
    }
  }
}

TEST(Framer, FourByteRemainingLength) {
  ByteVec s = hex("c0 00");
  auto p = publish_of_size(2100000);  // remaining length > 2097151
  s.insert(s.end(), p.begin(), p.end());
  s.insert(s.end(), {0xd0, 0x00});
  auto want = expected_frames(s);
  ASSERT_EQ(want.size(), 3u);
  EXPECT_EQ(want[1].header_size, 5u);
  EXPECT_EQ(run(s, whole()).events, want);
  EXPECT_EQ(run(s, random_sizes(s.size(), 65536, 7)).events, want);
  EXPECT_EQ(run(s, {3, 1, 1, 1, 1, 100}).events, want);  // the 4-byte length split byte by byte
}

TEST(Framer, RemainingLengthSplitAcrossChunks) {
  // The 200-byte PUBLISH: 0x32, then remaining length c5 01 (197).
  auto p = publish_of_size(200, 1);
  ASSERT_EQ(p[0], 0x32);
  ASSERT_EQ(p[1], 0xc5);
  ASSERT_EQ(p[2], 0x01);
  ByteVec s = hex("c0 00");
  s.insert(s.end(), p.begin(), p.end());
  s.insert(s.end(), {0xd0, 0x00});
  auto want = expected_frames(s);
  // Cut after the type byte, and between the two length bytes, then in the body.
  for (const auto& sizes :
       std::vector<std::vector<std::size_t>>{{3}, {4}, {3, 1}, {4, 1}, {3, 1, 1}, {2, 2, 1, 1, 50}}) {
    auto r = run(s, sizes);
    EXPECT_EQ(r.events, want) << where(sizes);
  }
  // Step by step: the framer holds the partial header and reports need_more.
  Framer f;
  f.push(std::span<const std::uint8_t>(s).first(4));  // PINGREQ + 0x32 0xc5
  auto ev = f.next();
  ASSERT_EQ(ev.kind, Kind::frame);
  EXPECT_EQ(ev.frame.header.byte, 0xc0);
  EXPECT_EQ(f.next().kind, Kind::need_more);
  EXPECT_EQ(f.buffered(), 2u);
  EXPECT_EQ(f.offset(), 4u);
  f.push(std::span<const std::uint8_t>(s).subspan(4, 1));  // 0x01
  EXPECT_EQ(f.next().kind, Kind::need_more);
  EXPECT_EQ(f.buffered(), 3u);
  f.push(std::span<const std::uint8_t>(s).subspan(5));
  ev = f.next();
  ASSERT_EQ(ev.kind, Kind::frame);
  EXPECT_EQ(ev.frame.offset, 2u);
  EXPECT_EQ(ev.frame.header.remaining_length, 197u);
  EXPECT_EQ(ev.frame.header.size, 3u);
  EXPECT_TRUE(std::equal(ev.frame.bytes.begin(), ev.frame.bytes.end(), p.begin(), p.end()));
  ev = f.next();
  ASSERT_EQ(ev.kind, Kind::frame);
  EXPECT_EQ(ev.frame.offset, 202u);
  EXPECT_EQ(f.next().kind, Kind::need_more);
  EXPECT_EQ(f.buffered(), 0u);
}

TEST(Framer, PushBeforeDrainingKeepsTheRest) {
  // push() documents that an unconsumed part of the previous chunk is kept: push after the first frame.
  auto s = small_stream();
  auto want = expected_frames(s);
  for (std::size_t k = 1; k < s.size(); ++k) {
    Framer f;
    std::vector<Event> got;
    auto record = [&](const FrameEvent& ev) {
      Event e;
      e.kind = ev.kind;
      e.bytes.assign(ev.frame.bytes.begin(), ev.frame.bytes.end());
      e.header_byte = ev.frame.header.byte;
      e.remaining_length = ev.frame.header.remaining_length;
      e.header_size = ev.frame.header.size;
      e.offset = ev.frame.offset;
      got.push_back(e);
    };
    ByteVec first(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(k));
    ByteVec second(s.begin() + static_cast<std::ptrdiff_t>(k), s.end());
    f.push(first);
    auto ev = f.next();  // at most one event, then push without draining
    if (ev.kind != Kind::need_more) record(ev);
    f.push(second);
    std::fill(first.begin(), first.end(), std::uint8_t{0xEE});
    for (ev = f.next(); ev.kind != Kind::need_more; ev = f.next()) record(ev);
    ASSERT_EQ(got, want) << "first chunk " << k;
    EXPECT_EQ(f.offset(), s.size());
    EXPECT_EQ(f.buffered(), 0u);
  }
}

// ---------------------------------------------------------------------------------------------------
// Oversized packets.

namespace {
// PINGREQ, a 200-byte PUBLISH, a 40-byte PUBLISH, PINGRESP.
ByteVec stream_with_large_publish() {
  ByteVec s = hex("c0 00");
  auto big = publish_of_size(200, 1);
  s.insert(s.end(), big.begin(), big.end());
  auto small = publish_of_size(40);
  s.insert(s.end(), small.begin(), small.end());
  s.insert(s.end(), {0xd0, 0x00});
  return s;
}
}  // namespace

TEST(Framer, OversizedPacketIsReportedAndSkipped) {
  auto s = stream_with_large_publish();
  std::vector<Event> want{frame_event(s, 0), oversized_event(s, 2), frame_event(s, 202), frame_event(s, 242)};
  EXPECT_EQ(want[1].header_byte, 0x32);
  EXPECT_EQ(want[1].remaining_length, 197u);
  RunOptions opt;
  opt.max_packet_size = 100;
  auto check = [&](const std::vector<std::size_t>& sizes) {
    auto r = run(s, sizes, opt);
    EXPECT_EQ(r.events, want) << where(sizes);
    EXPECT_EQ(r.end_offset, s.size());
    EXPECT_LE(r.max_buffered, 100u) << where(sizes);
  };
  check(whole());
  check(bytewise(s.size()));
  for (std::size_t k = 0; k <= s.size(); ++k) check({k});
  for (std::uint32_t seed = 0; seed < 20; ++seed) check(random_sizes(s.size(), 30, seed));
}

TEST(Framer, PacketOfExactlyTheMaximumIsFramed) {
  auto s = stream_with_large_publish();
  RunOptions opt;
  opt.max_packet_size = 200;
  EXPECT_EQ(run(s, whole(), opt).events, expected_frames(s));
  EXPECT_EQ(run(s, bytewise(s.size()), opt).events, expected_frames(s));
  opt.max_packet_size = 199;
  auto r = run(s, bytewise(s.size()), opt);
  ASSERT_EQ(r.events.size(), 4u);
  EXPECT_EQ(r.events[1].kind, Kind::oversized);
}

TEST(Framer, OversizedPacketSpanningManyChunks) {
  ByteVec s = hex("c0 00");
  auto big = publish_of_size(50000, 1);
  s.insert(s.end(), big.begin(), big.end());
  auto tail = small_stream();
  s.insert(s.end(), tail.begin(), tail.end());

  std::vector<Event> want{frame_event(s, 0), oversized_event(s, 2)};
  for (auto& e : expected_frames(tail)) {
    e.offset += 50002;
    want.push_back(e);
  }
  RunOptions opt;
  opt.max_packet_size = 1000;
  for (std::size_t chunk : {1u, 7u, 100u, 1460u, 4096u}) {
    auto r = run(s, std::vector<std::size_t>(s.size() / chunk + 1, chunk), opt);
    EXPECT_EQ(r.events, want) << "chunk " << chunk;
    EXPECT_LE(r.max_buffered, 1000u) << "chunk " << chunk;
  }

  // Watch skipping() count down while the packet streams past.
  Framer f(1000);
  std::span<const std::uint8_t> all(s);
  f.push(all.first(100));
  EXPECT_EQ(f.next().kind, Kind::frame);
  auto ev = f.next();
  ASSERT_EQ(ev.kind, Kind::oversized);
  EXPECT_EQ(ev.frame.offset, 2u);
  EXPECT_EQ(ev.frame.header.packet_size(), 50000u);
  EXPECT_EQ(ev.error.kind, ErrorKind::packet_too_large);
  EXPECT_EQ(ev.error.offset, 2u);
  EXPECT_EQ(f.next().kind, Kind::need_more);
  EXPECT_EQ(f.skipping(), 50000u - 98u);
  EXPECT_EQ(f.buffered(), 0u);
  std::size_t at = 100;
  for (; at + 1000 <= 50002; at += 1000) {
    f.push(all.subspan(at, 1000));
    EXPECT_EQ(f.next().kind, Kind::need_more);
    EXPECT_EQ(f.skipping(), 50002u - (at + 1000));
    EXPECT_EQ(f.buffered(), 0u);
  }
  f.push(all.subspan(at));
  ev = f.next();
  ASSERT_EQ(ev.kind, Kind::frame);
  EXPECT_EQ(ev.frame.offset, 50002u);
  EXPECT_EQ(f.skipping(), 0u);
}

// ---------------------------------------------------------------------------------------------------
// Framing errors and resync.

namespace {
// PINGREQ, a 40-byte PUBLISH, then a fixed header with 5 remaining-length bytes (f0 80 80 80 c0), then
// 00, then a PINGREQ at `good` and the small stream.
struct BadStream {
  ByteVec bytes;
  std::uint64_t bad = 0;   // offset of the bad fixed header
  std::uint64_t good = 0;  // offset of the first good packet after it
};
BadStream bad_stream() {
  BadStream b;
  b.bytes = hex("c0 00");
  auto p = publish_of_size(40);
  b.bytes.insert(b.bytes.end(), p.begin(), p.end());
  b.bad = b.bytes.size();
  auto garbage = hex("f0 80 80 80 c0 00");
  b.bytes.insert(b.bytes.end(), garbage.begin(), garbage.end());
  b.good = b.bytes.size();
  auto tail = small_stream();
  b.bytes.insert(b.bytes.end(), tail.begin(), tail.end());
  return b;
}
}  // namespace

TEST(Framer, FiveByteRemainingLengthIsAnErrorThenResync) {
  auto b = bad_stream();
  std::vector<Event> want{frame_event(b.bytes, 0), frame_event(b.bytes, 2)};
  Event err;
  err.kind = Kind::error;
  err.offset = b.bad + 1;  // the remaining length field
  err.error = ErrorKind::bad_remaining_length;
  want.push_back(err);
  for (std::uint64_t at = b.good; at < b.bytes.size();) {
    want.push_back(frame_event(b.bytes, at));
    at += want.back().bytes.size();
  }
  RunOptions opt;
  opt.on_error = [&](const Event& e) -> std::optional<std::uint64_t> {
    EXPECT_EQ(e.offset, b.bad + 1);
    return b.good;
  };
  auto check = [&](const std::vector<std::size_t>& sizes) {
    auto r = run(b.bytes, sizes, opt);
    EXPECT_EQ(r.events, want) << where(sizes);
    EXPECT_EQ(r.end_offset, b.bytes.size());
  };
  check(whole());
  check(bytewise(b.bytes.size()));
  for (std::size_t k = 0; k <= b.bytes.size(); ++k) check({k});
  for (std::uint32_t seed = 0; seed < 20; ++seed) check(random_sizes(b.bytes.size(), 9, seed));
}

// next_whole() before push() (the analyzer's fast path) gives the same events as push() and next() alone,
// however the stream is cut, with oversized packets and a framing error and resync among them.
TEST(Framer, NextWholeGivesWhatPushAndNextGive) {
  auto compare = [](const ByteVec& s, const std::vector<std::size_t>& sizes, RunOptions opt) {
    auto plain = run(s, sizes, opt);
    opt.whole_first = true;
    auto fast = run(s, sizes, opt);
    EXPECT_EQ(fast.events, plain.events) << where(sizes);
    EXPECT_EQ(fast.end_offset, plain.end_offset) << where(sizes);
    return fast.whole_frames;
  };
  auto small = small_stream();
  const auto want = expected_frames(small);
  // A whole stream in one chunk: every packet by the fast path.
  EXPECT_EQ(compare(small, whole(), {}), want.size());
  std::size_t fast_total = 0;
  for (std::uint32_t seed = 0; seed < 30; ++seed)
    for (std::size_t max_chunk : {1u, 5u, 40u, 300u})
      fast_total += compare(small, random_sizes(small.size(), max_chunk, seed), {});
  EXPECT_GT(fast_total, 0u);
  // Packets with 3- and 4-byte remaining lengths (the fast path's general header case).
  ByteVec big = small;
  for (std::size_t size : {200u, 20000u, 2100000u}) {
    auto p = publish_of_size(size);
    big.insert(big.end(), p.begin(), p.end());
    big.insert(big.end(), small.begin(), small.end());
  }
  EXPECT_EQ(compare(big, whole(), {}), expected_frames(big).size());
  for (std::uint32_t seed = 0; seed < 5; ++seed) compare(big, random_sizes(big.size(), 70000, seed), {});
  // Oversized packets are left to next(), which reports and skips them.
  auto large = stream_with_large_publish();
  RunOptions capped;
  capped.max_packet_size = 100;
  EXPECT_EQ(compare(large, whole(), capped), 1u);  // the packet before the oversized one
  for (std::size_t k = 0; k <= large.size(); ++k) compare(large, {k}, capped);
  for (std::uint32_t seed = 0; seed < 20; ++seed) compare(large, random_sizes(large.size(), 30, seed), capped);
  // A five-byte remaining length, then resync() to the next good packet.
  auto b = bad_stream();
  RunOptions resync;
  resync.on_error = [&](const Event&) -> std::optional<std::uint64_t> { return b.good; };
  for (std::size_t k = 0; k <= b.bytes.size(); ++k) compare(b.bytes, {k}, resync);
  for (std::uint32_t seed = 0; seed < 20; ++seed) compare(b.bytes, random_sizes(b.bytes.size(), 9, seed), resync);
}

TEST(Framer, ResyncInsideTheBadHeader) {
  // Resume 3 bytes after the error: "80 c0 00" is not it, but resync(bad + 4) lands on "c0 00", a PINGREQ.
  auto b = bad_stream();
  std::vector<Event> want{frame_event(b.bytes, 0), frame_event(b.bytes, 2)};
  Event err;
  err.kind = Kind::error;
  err.offset = b.bad + 1;
  err.error = ErrorKind::bad_remaining_length;
  want.push_back(err);
  for (std::uint64_t at = b.bad + 4; at < b.bytes.size();) {
    want.push_back(frame_event(b.bytes, at));
    at += want.back().bytes.size();
  }
  ASSERT_EQ(want[3].header_byte, 0xc0);
  RunOptions opt;
  opt.on_error = [&](const Event& e) -> std::optional<std::uint64_t> { return e.offset + 3; };
  auto check = [&](const std::vector<std::size_t>& sizes) {
    auto r = run(b.bytes, sizes, opt);
    EXPECT_EQ(r.events, want) << where(sizes);
  };
  check(whole());
  check(bytewise(b.bytes.size()));
  for (std::size_t k = 0; k <= b.bytes.size(); ++k) check({k});
  for (std::uint32_t seed = 0; seed < 20; ++seed) check(random_sizes(b.bytes.size(), 5, seed));
}

TEST(Framer, NothingIsFramedAfterAnErrorUntilResync) {
  auto b = bad_stream();
  Framer f;
  std::span<const std::uint8_t> all(b.bytes);
  f.push(all.first(static_cast<std::size_t>(b.bad) + 8));
  EXPECT_EQ(f.next().kind, Kind::frame);
  EXPECT_EQ(f.next().kind, Kind::frame);
  auto ev = f.next();
  ASSERT_EQ(ev.kind, Kind::error);
  EXPECT_EQ(ev.error.kind, ErrorKind::bad_remaining_length);
  EXPECT_EQ(ev.error.offset, b.bad + 1);
  EXPECT_TRUE(f.failed());
  EXPECT_EQ(f.next().kind, Kind::need_more);
  f.push(all.subspan(static_cast<std::size_t>(b.bad) + 8, 100));
  EXPECT_EQ(f.next().kind, Kind::need_more);
  EXPECT_TRUE(f.failed());
  EXPECT_EQ(f.offset(), b.bad + 108);  // the bytes were consumed, unframed

  // Resync to the next packet boundary: framing continues there.
  std::uint64_t boundary = b.good;
  while (boundary < b.bad + 108) boundary += frame_event(b.bytes, boundary).bytes.size();
  f.resync(boundary);
  EXPECT_FALSE(f.failed());
  EXPECT_EQ(f.skipping(), boundary - (b.bad + 108));
  f.push(all.subspan(static_cast<std::size_t>(b.bad) + 108));
  ev = f.next();
  ASSERT_EQ(ev.kind, Kind::frame);
  EXPECT_EQ(ev.frame.offset, boundary);
  EXPECT_TRUE(
      std::equal(ev.frame.bytes.begin(), ev.frame.bytes.end(), all.begin() + static_cast<std::ptrdiff_t>(boundary)));
}

TEST(Framer, ErrorAtTheVeryStart) {
  auto s = hex("30 ff ff ff ff 7f  c0 00");
  for (const auto& sizes : std::vector<std::vector<std::size_t>>{{}, {1}, {2}, {5}, {6}, bytewise(s.size())}) {
    RunOptions opt;
    opt.on_error = [](const Event&) -> std::optional<std::uint64_t> { return 6; };
    auto r = run(s, sizes, opt);
    ASSERT_EQ(r.events.size(), 2u) << where(sizes);
    EXPECT_EQ(r.events[0].kind, Kind::error);
    EXPECT_EQ(r.events[0].offset, 1u);
    EXPECT_EQ(r.events[1], frame_event(s, 6));
  }
}

TEST(Framer, PushAfterEachEventWithoutDraining) {
  // One next() per push: the framer's backlog grows and is worked off from its own buffer. Frames, oversized
  // packets, errors and resyncs (also to an offset inside the held bytes) must come out as when draining.
  struct Case {
    const char* name;
    ByteVec stream;
    RunOptions opt;
  };
  auto b = bad_stream();
  std::vector<Case> cases;
  cases.push_back({"small", small_stream(), {}});
  cases.push_back({"oversized", stream_with_large_publish(), {}});
  cases.back().opt.max_packet_size = 100;
  cases.push_back({"resync to good", b.bytes, {}});
  cases.back().opt.on_error = [&](const Event&) -> std::optional<std::uint64_t> { return b.good; };
  cases.push_back({"resync inside", b.bytes, {}});
  cases.back().opt.on_error = [](const Event& e) -> std::optional<std::uint64_t> { return e.offset + 3; };
  for (const auto& c : cases) {
    auto want = run(c.stream, whole(), c.opt).events;
    for (std::size_t chunk : {1u, 2u, 7u, 30u, 64u}) {
      Framer f(c.opt.max_packet_size);
      std::vector<Event> got;
      auto step = [&](bool drain) {
        for (;;) {
          FrameEvent ev = f.next();
          if (ev.kind == Kind::need_more) return;
          Event e;
          e.kind = ev.kind;
          e.bytes.assign(ev.frame.bytes.begin(), ev.frame.bytes.end());
          e.header_byte = ev.frame.header.byte;
          e.remaining_length = ev.frame.header.remaining_length;
          e.header_size = ev.frame.header.size;
          e.offset = ev.kind == Kind::error ? ev.error.offset : ev.frame.offset;
          if (ev.kind != Kind::frame) e.error = ev.error.kind;
          if (ev.kind == Kind::error) e.header_byte = e.header_size = 0, e.remaining_length = 0;
          got.push_back(e);
          if (ev.kind == Kind::error && c.opt.on_error)
            if (auto to = c.opt.on_error(e)) f.resync(*to);
          if (!drain) return;
        }
      };
      ByteVec prev;
      for (std::size_t at = 0; at < c.stream.size(); at += chunk) {
        ByteVec cur(c.stream.begin() + static_cast<std::ptrdiff_t>(at),
                    c.stream.begin() + static_cast<std::ptrdiff_t>(std::min(at + chunk, c.stream.size())));
        f.push(cur);
        std::fill(prev.begin(), prev.end(), std::uint8_t{0xEE});  // push() copied what it still needs
        prev.swap(cur);
        step(false);
      }
      step(true);
      EXPECT_EQ(got, want) << c.name << ", chunk " << chunk;
      EXPECT_EQ(f.offset(), c.stream.size()) << c.name << ", chunk " << chunk;
      EXPECT_EQ(f.buffered(), 0u) << c.name << ", chunk " << chunk;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Capture gaps.

TEST(Framer, SkipGapDropsThePartialPacketAndMovesTheOffset) {
  auto s = small_stream();
  auto frames = expected_frames(s);
  // Feed up to the middle of the 200-byte PUBLISH (frame 4), lose the rest of it, continue at frame 5.
  const std::uint64_t start4 = frames[4].offset, start5 = frames[5].offset;
  Framer f;
  std::span<const std::uint8_t> all(s);
  f.push(all.first(static_cast<std::size_t>(start4) + 50));
  for (int i = 0; i < 4; ++i) {
    auto ev = f.next();
    ASSERT_EQ(ev.kind, Kind::frame);
    EXPECT_EQ(ev.frame.offset, frames[static_cast<std::size_t>(i)].offset);
  }
  EXPECT_EQ(f.next().kind, Kind::need_more);
  EXPECT_EQ(f.buffered(), 50u);
  f.skip_gap(start5 - (start4 + 50));
  EXPECT_EQ(f.buffered(), 0u);
  EXPECT_EQ(f.offset(), start5);
  f.push(all.subspan(static_cast<std::size_t>(start5)));
  for (std::size_t i = 5; i < frames.size(); ++i) {
    auto ev = f.next();
    ASSERT_EQ(ev.kind, Kind::frame);
    EXPECT_EQ(ev.frame.offset, frames[i].offset);
    EXPECT_TRUE(
        std::equal(ev.frame.bytes.begin(), ev.frame.bytes.end(), frames[i].bytes.begin(), frames[i].bytes.end()));
  }
  EXPECT_EQ(f.next().kind, Kind::need_more);
  EXPECT_EQ(f.offset(), s.size());
}

TEST(Framer, SkipGapDuringAnOversizedSkip) {
  ByteVec s = hex("c0 00");
  auto big = publish_of_size(5000);
  s.insert(s.end(), big.begin(), big.end());
  s.insert(s.end(), {0xd0, 0x00});
  std::span<const std::uint8_t> all(s);
  Framer f(1000);
  f.push(all.first(1000));
  EXPECT_EQ(f.next().kind, Kind::frame);
  EXPECT_EQ(f.next().kind, Kind::oversized);
  EXPECT_EQ(f.next().kind, Kind::need_more);
  EXPECT_EQ(f.skipping(), 5002u - 1000u);
  f.skip_gap(3000);  // lost bytes 1000..3999, still inside the oversized packet
  EXPECT_EQ(f.offset(), 4000u);
  EXPECT_EQ(f.skipping(), 1002u);
  f.push(all.subspan(4000));
  auto ev = f.next();
  ASSERT_EQ(ev.kind, Kind::frame);
  EXPECT_EQ(ev.frame.offset, 5002u);
  EXPECT_EQ(ev.frame.header.byte, 0xd0);
  EXPECT_EQ(f.next().kind, Kind::need_more);
}

TEST(Framer, SkipGapAtAPacketBoundary) {
  auto s = small_stream();
  auto frames = expected_frames(s);
  Framer f;
  std::span<const std::uint8_t> all(s);
  f.push(all.first(static_cast<std::size_t>(frames[3].offset)));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.next().kind, Kind::frame);
  EXPECT_EQ(f.next().kind, Kind::need_more);
  f.skip_gap(frames[5].offset - frames[3].offset);  // two whole packets lost
  f.push(all.subspan(static_cast<std::size_t>(frames[5].offset)));
  auto ev = f.next();
  ASSERT_EQ(ev.kind, Kind::frame);
  EXPECT_EQ(ev.frame.offset, frames[5].offset);
}

// ---------------------------------------------------------------------------------------------------
// Memory.

TEST(Framer, BufferedStaysBoundedByTheMaximumPacketSize) {
  // Random packets up to 3000 bytes, a limit of 2048: larger ones are skipped, never buffered.
  std::mt19937 rng(99);
  std::uniform_int_distribution<std::size_t> size(7, 3000);
  ByteVec s;
  std::vector<Event> want;
  for (int i = 0; i < 300; ++i) {
    auto n = size(rng);
    if (n == 130) n = 131;
    auto p = publish_of_size(n, static_cast<std::uint8_t>(i % 2));
    want.push_back(n > 2048 ? oversized_event(p, 0) : frame_event(p, 0));
    want.back().offset = s.size();
    s.insert(s.end(), p.begin(), p.end());
  }
  RunOptions opt;
  opt.max_packet_size = 2048;
  for (std::size_t max_chunk : {1u, 100u, 1460u, 9000u}) {
    auto r = run(s, random_sizes(s.size(), max_chunk, 5), opt);
    EXPECT_EQ(r.events, want) << "max chunk " << max_chunk;
    EXPECT_LE(r.max_buffered, 2048u) << "max chunk " << max_chunk;
  }
}

TEST(Framer, EmptyChunksAreHarmless) {
  auto s = small_stream();
  Framer f;
  std::vector<Event> got;
  std::span<const std::uint8_t> all(s);
  for (std::size_t at = 0; at < s.size(); at += 10) {
    f.push({});
    EXPECT_EQ(f.next().kind, Kind::need_more);
    f.push(all.subspan(at, std::min<std::size_t>(10, s.size() - at)));
    for (auto ev = f.next(); ev.kind != Kind::need_more; ev = f.next()) {
      ASSERT_EQ(ev.kind, Kind::frame);
      got.push_back(frame_event(s, ev.frame.offset));
    }
  }
  EXPECT_EQ(got, expected_frames(s));
}
