// Decode throughput on a PUBLISH-heavy IoT stream: ~8 MB of packets built with a fixed-seed RNG (about 90%
// PUBLISH on topics like "site/12/device/3456/telemetry" with 20..500-byte payloads, QoS 0/1, plus PUBACK and
// PINGREQ), decoded packet by packet, and through the Framer in 1460-byte (one TCP segment) chunks; at
// level 4 and at level 5 with a few properties. Plus the field's authenticate packet.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "mqttauth/codec.hpp"
#include "mqttauth/framer.hpp"
#include "mqttauth/session.hpp"

using namespace mqttauth;

namespace {

struct Stream {
  std::vector<std::uint8_t> bytes;
  std::size_t packets = 0;
};

Stream build_stream(std::uint8_t level, std::size_t target = 8u << 20) {
  std::mt19937 rng(20240611u);
  std::uniform_int_distribution<int> kind(0, 99);
  std::uniform_int_distribution<int> site(1, 99);
  std::uniform_int_distribution<int> device(1, 9999);
  std::uniform_int_distribution<std::size_t> payload_size(20, 500);
  std::uniform_int_distribution<int> qos1(0, 2);  // one in three PUBLISHes at QoS 1
  std::uniform_int_distribution<int> printable(32, 126);

  PropertyBuilder v5props;  // what a v5 telemetry PUBLISH typically carries
  v5props.add_int(PropertyId::payload_format_indicator, 1);
  v5props.add_int(PropertyId::message_expiry_interval, 3600);
  v5props.add_string(PropertyId::content_type, "application/json");
  v5props.add_user_property("fw", "2.4.1");

  Stream s;
  s.bytes.reserve(target + 1024);
  std::uint16_t next_id = 1;
  std::vector<std::uint8_t> payload;
  std::string topic;
  while (s.bytes.size() < target) {
    int k = kind(rng);
    Packet p;
    if (k < 90) {
      topic = "site/" + std::to_string(site(rng)) + "/device/" + std::to_string(device(rng)) + "/telemetry";
      payload.resize(payload_size(rng));
      for (auto& b : payload) b = static_cast<std::uint8_t>(printable(rng));
      Publish pub;
      pub.topic = topic;
      pub.qos = qos1(rng) == 0 ? 1 : 0;
      if (pub.qos) {
        pub.packet_id = next_id;
        next_id = static_cast<std::uint16_t>(next_id == 65535 ? 1 : next_id + 1);
      }
      if (level == kLevel5) pub.properties = v5props.properties();
      pub.payload = Bytes(payload);
      p = pub;
    } else if (k < 97) {
      Puback ack;
      ack.packet_id = next_id;
      p = ack;
    } else {
      p = Pingreq{};
    }
    auto r = encode(p, level, s.bytes);
    if (!r) {
      std::fprintf(stderr, "encode failed: %s\n", r.error().message().c_str());
      std::abort();
    }
    ++s.packets;
  }
  return s;
}

const Stream& stream311() {
  static const Stream s = build_stream(kLevel311);
  return s;
}
const Stream& stream5() {
  static const Stream s = build_stream(kLevel5);
  return s;
}

void report(benchmark::State& state, const Stream& s) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(s.bytes.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(s.packets));
  state.counters["packets"] = static_cast<double>(s.packets);
  state.counters["avg_size"] = static_cast<double>(s.bytes.size()) / static_cast<double>(s.packets);
}

// (a) decode() of each packet in sequence, walking by header.packet_size().
void decode_sequential(benchmark::State& state, const Stream& s, std::uint8_t ctx_level) {
  DecodeContext ctx;
  ctx.level = ctx_level;
  const std::span<const std::uint8_t> all(s.bytes);
  for (auto _ : state) {
    std::size_t off = 0, n = 0;
    while (off < all.size()) {
      auto r = decode(all.subspan(off), ctx);
      if (!r) {
        state.SkipWithError(r.error().message().c_str());
        return;
      }
      benchmark::DoNotOptimize(r);
      off += r->header.packet_size();
      ++n;
    }
    benchmark::DoNotOptimize(n);
  }
  report(state, s);
}

// (b) the Framer fed 1460-byte chunks, each frame decoded.
void framer_decode(benchmark::State& state, const Stream& s, std::uint8_t ctx_level) {
  DecodeContext ctx;
  ctx.level = ctx_level;
  const std::span<const std::uint8_t> all(s.bytes);
  constexpr std::size_t kSegment = 1460;
  for (auto _ : state) {
    Framer f;
    std::size_t n = 0;
    for (std::size_t off = 0; off < all.size(); off += kSegment) {
      f.push(all.subspan(off, std::min(kSegment, all.size() - off)));
      for (FrameEvent ev = f.next(); ev.kind != FrameEvent::Kind::need_more; ev = f.next()) {
        if (ev.kind != FrameEvent::Kind::frame) {
          state.SkipWithError("framing failed");
          return;
        }
        auto r = decode(ev.frame.bytes, ctx);
        if (!r) {
          state.SkipWithError(r.error().message().c_str());
          return;
        }
        benchmark::DoNotOptimize(r);
        ++n;
      }
    }
    if (n != s.packets) {
      state.SkipWithError("wrong packet count");
      return;
    }
  }
  report(state, s);
}

void BM_Decode_L4(benchmark::State& state) { decode_sequential(state, stream311(), kLevel311); }
void BM_Decode_L4_UnknownLevel(benchmark::State& state) { decode_sequential(state, stream311(), 0); }
void BM_FramerDecode_L4(benchmark::State& state) { framer_decode(state, stream311(), kLevel311); }
void BM_Decode_L5(benchmark::State& state) { decode_sequential(state, stream5(), kLevel5); }
void BM_FramerDecode_L5(benchmark::State& state) { framer_decode(state, stream5(), kLevel5); }

// Framing alone (no decode), for comparison.
void BM_FramerOnly_L4(benchmark::State& state) {
  const Stream& s = stream311();
  const std::span<const std::uint8_t> all(s.bytes);
  for (auto _ : state) {
    Framer f;
    for (std::size_t off = 0; off < all.size(); off += 1460) {
      f.push(all.subspan(off, std::min<std::size_t>(1460, all.size() - off)));
      for (FrameEvent ev = f.next(); ev.kind != FrameEvent::Kind::need_more; ev = f.next())
        benchmark::DoNotOptimize(ev);
    }
  }
  report(state, s);
}

// The field's challenge: 0xF0, CONNECT-like body, 13-digit timestamp as the password.
std::vector<std::uint8_t> field_challenge(std::uint8_t header_byte) {
  return {header_byte, 0x23, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x42, 0x00, 0x00, 0x00,
          0x08,        'd',  'e',  'v',  '-', '0', '0', '0', '1',  0x00, 0x0d, '1',  '7',
          '0',         '0',  '0',  '0',  '0', '0', '0', '0', '1',  '2',  '3'};
}

void authenticate_decode(benchmark::State& state, std::uint8_t header_byte, std::uint8_t ctx_level) {
  const auto bytes = field_challenge(header_byte);
  DecodeContext ctx;
  ctx.level = ctx_level;
  for (auto _ : state) {
    auto r = decode(bytes, ctx);
    benchmark::DoNotOptimize(r);
  }
  auto check = decode(bytes, ctx);
  if (!check || !std::holds_alternative<Authenticate>(check->packet)) state.SkipWithError("not an authenticate");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(bytes.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_DecodeAuthenticate_Type0(benchmark::State& state) { authenticate_decode(state, 0x00, 0); }
void BM_DecodeAuthenticate_Type15_L4(benchmark::State& state) { authenticate_decode(state, 0xF0, kLevel311); }
void BM_DecodeAuthenticate_Type15_Unknown(benchmark::State& state) { authenticate_decode(state, 0xF0, 0); }

// A whole custom handshake through Session::decode (decode + handshake bookkeeping).
void BM_SessionHandshake(benchmark::State& state) {
  Connect c;
  c.client_id = "dev-0001";
  c.keep_alive = 60;
  const auto connect = encode_or_throw(Packet(c), kLevel311);
  const auto challenge = field_challenge(0xF0);
  const auto& response = challenge;  // same shape; the direction makes it the response
  const std::vector<std::uint8_t> connack{0x20, 0x02, 0x00, 0x00};
  std::size_t bytes = connect.size() + challenge.size() + response.size() + connack.size();
  for (auto _ : state) {
    Session s;
    benchmark::DoNotOptimize(s.decode(connect, Direction::c2s, PacketRef{1, 1}));
    benchmark::DoNotOptimize(s.decode(challenge, Direction::s2c, PacketRef{2, 2}));
    benchmark::DoNotOptimize(s.decode(response, Direction::c2s, PacketRef{3, 3}));
    benchmark::DoNotOptimize(s.decode(connack, Direction::s2c, PacketRef{4, 4}));
    benchmark::DoNotOptimize(s.handshakes().front().outcome);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 4);
}

}  // namespace

BENCHMARK(BM_Decode_L4)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Decode_L4_UnknownLevel)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FramerDecode_L4)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FramerOnly_L4)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Decode_L5)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FramerDecode_L5)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeAuthenticate_Type0);
BENCHMARK(BM_DecodeAuthenticate_Type15_L4);
BENCHMARK(BM_DecodeAuthenticate_Type15_Unknown);
BENCHMARK(BM_SessionHandshake);

BENCHMARK_MAIN();
