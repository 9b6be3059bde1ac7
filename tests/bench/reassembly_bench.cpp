// Benchmarks of TCP reassembly and of the capture pipeline behind it (Google Benchmark).
//
//   reassembly_bench                              full runs
//   reassembly_bench --benchmark_min_time=0.01    the ctest smoke run
//
// TcpReassembler alone: 1 MiB per iteration in 1460-byte segments, delivered in order (the common case: a
// view of each segment, no copy), with every second pair swapped (each early segment is copied and held),
// and with every segment sent twice (retransmissions). Analyzer: link, IP and TCP parsing, the connection
// table, reassembly, MQTT framing and decoding of a capture built in memory (many connections interleaved,
// PUBLISH packets of 300 bytes, and of 20 KB over many segments).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "analyzer.hpp"
#include "mqttauth/codec.hpp"
#include "pcap_writer.hpp"
#include "reassembly.hpp"

using namespace mqttauth;
using namespace mqttauth::cli;

namespace {

constexpr std::size_t kSegment = 1460;
constexpr std::size_t kStreamBytes = 1 << 20;

struct CountingSink final : StreamSink {
  std::uint64_t bytes = 0, gaps = 0;
  void on_data(std::span<const std::uint8_t> b, std::uint64_t, std::uint64_t) override { bytes += b.size(); }
  void on_gap(std::uint64_t, std::uint64_t, std::uint64_t, GapReason) override { ++gaps; }
};

struct Seg {
  std::uint32_t seq;
  std::span<const std::uint8_t> data;
};

const std::vector<std::uint8_t>& stream_bytes() {
  static const std::vector<std::uint8_t> s = [] {
    std::vector<std::uint8_t> v(kStreamBytes);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint8_t>(i * 131u);
    return v;
  }();
  return s;
}

enum class Order { in_order, swapped_pairs, retransmitted };

std::vector<Seg> segments(Order order, std::uint32_t isn) {
  const auto& s = stream_bytes();
  std::vector<Seg> v;
  for (std::size_t off = 0; off < s.size(); off += kSegment) {
    const std::size_t n = std::min(kSegment, s.size() - off);
    Seg g{isn + static_cast<std::uint32_t>(off), std::span<const std::uint8_t>(s).subspan(off, n)};
    v.push_back(g);
    if (order == Order::retransmitted) v.push_back(g);
  }
  if (order == Order::swapped_pairs)
    for (std::size_t i = 0; i + 1 < v.size(); i += 2) std::swap(v[i], v[i + 1]);
  return v;
}

void BM_Reassembly(benchmark::State& state, Order order) {
  // Near the top of the sequence space: the stream wraps around.
  const std::uint32_t isn = 0xFFFF0000u;
  const auto segs = segments(order, isn);
  for (auto _ : state) {
    TcpReassembler r;
    CountingSink sink;
    r.syn(isn - 1);
    std::uint64_t frame = 0;
    for (const auto& g : segs)
      r.segment(g.seq, g.data, static_cast<std::uint32_t>(g.data.size()), false, ++frame, sink);
    r.finish(frame, sink);
    if (sink.bytes != kStreamBytes || sink.gaps != 0) state.SkipWithError("stream not reassembled");
    benchmark::DoNotOptimize(sink.bytes);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kStreamBytes));
}
BENCHMARK_CAPTURE(BM_Reassembly, in_order, Order::in_order);
BENCHMARK_CAPTURE(BM_Reassembly, swapped_pairs, Order::swapped_pairs);
BENCHMARK_CAPTURE(BM_Reassembly, retransmitted, Order::retransmitted);

// Frames kept in memory, as a capture file would hold them.
struct MemoryCapture final : CaptureWriter {
  struct Frame {
    std::int64_t ts;
    std::vector<std::uint8_t> data;
  };
  std::vector<Frame> frames;
  std::uint64_t bytes = 0;
  bool write(std::int64_t ts, std::span<const std::uint8_t> d, std::uint32_t, std::uint32_t) override {
    frames.push_back({ts, std::vector<std::uint8_t>(d.begin(), d.end())});
    bytes += d.size();
    return true;
  }
  bool close() override { return true; }
};

// `conns` connections, interleaved packet by packet: CONNECT, CONNACK, then PUBLISH QoS 0 packets of
// `payload` bytes from the client.
const MemoryCapture& capture(std::size_t conns, std::size_t publishes, std::size_t payload) {
  static std::vector<std::pair<std::size_t, MemoryCapture>> cache;
  const std::size_t key = conns * 1000003 + publishes * 1009 + payload;
  for (auto& [k, c] : cache)
    if (k == key) return c;
  auto& cap = cache.emplace_back(key, MemoryCapture{}).second;
  std::vector<std::unique_ptr<TcpConversation>> tcs;
  std::int64_t ts = 1'700'000'000'000'000'000;
  for (std::size_t i = 0; i < conns; ++i) {
    Endpoint c, s;
    c.ip.b = {10, 0, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)};
    c.port = static_cast<std::uint16_t>(40000 + i);
    s.ip.b = {192, 168, 0, 1};
    s.port = 1883;
    tcs.push_back(std::make_unique<TcpConversation>(cap, LinkSpec{}, c, s));
    tcs.back()->handshake(ts += 1000);
    Connect con;
    con.client_id = "bench";
    tcs.back()->send(true, encode_or_throw(con, kLevel311), ts += 1000);
    tcs.back()->send(false, encode_or_throw(Connack{}, kLevel311), ts += 1000);
  }
  std::vector<std::uint8_t> body(payload, 'x');
  Publish p;
  p.topic = "devices/bench/telemetry";
  p.payload = Bytes(body);
  const auto pkt = encode_or_throw(p, kLevel311);
  for (std::size_t n = 0; n < publishes; ++n)
    for (auto& tc : tcs) tc->send(true, pkt, ts += 1000);
  for (auto& tc : tcs) tc->close(ts += 1000);
  return cap;
}

struct NullSink final : AnalyzerSink {
  std::uint64_t packets = 0;
  void on_packet(const Connection&, Direction, const Decoded&, const Observation&, const PacketMeta&) override {
    ++packets;
  }
};

void BM_Analyzer(benchmark::State& state) {
  const auto conns = static_cast<std::size_t>(state.range(0));
  const auto payload = static_cast<std::size_t>(state.range(1));
  const std::size_t publishes = std::max<std::size_t>(1, (256u << 10) / (conns * payload));
  const MemoryCapture& cap = capture(conns, publishes, payload);
  const std::string file = "memory";
  for (auto _ : state) {
    NullSink sink;
    Analyzer an(AnalyzerOptions{}, sink);
    CaptureRecord rec;
    rec.link_type = kLinkEthernet;
    for (const auto& f : cap.frames) {
      ++rec.frame;
      rec.ts_ns = f.ts;
      rec.data = f.data;
      rec.orig_len = static_cast<std::uint32_t>(f.data.size());
      an.feed(rec, file);
    }
    an.finish();
    if (sink.packets != conns * (2 + publishes)) state.SkipWithError("packets missing");
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(cap.bytes));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(cap.frames.size()));
}
BENCHMARK(BM_Analyzer)->Args({1, 300})->Args({64, 300})->Args({64, 20000});

}  // namespace

BENCHMARK_MAIN();
