// Fuzz target: the TCP reassembler fed segments in any order, with overlaps, duplicates, gaps and
// wraparound. Every segment carries the true bytes of the stream (byte i is a function of i), so whatever
// is delivered must be those bytes, in order, without overlap.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "reassembly.hpp"

namespace {

std::uint8_t byte_at(std::uint64_t i) { return static_cast<std::uint8_t>((i * 131u + (i >> 8) * 7u) & 0xFFu); }

struct Check final : mqttauth::cli::StreamSink {
  std::uint64_t next = 0;
  void on_data(std::span<const std::uint8_t> b, std::uint64_t off, std::uint64_t) override {
    if (off != next) std::abort();
    for (std::size_t i = 0; i < b.size(); ++i)
      if (b[i] != byte_at(off + i)) std::abort();
    next = off + b.size();
  }
  void on_gap(std::uint64_t off, std::uint64_t n, std::uint64_t, mqttauth::cli::GapReason) override {
    if (off != next || n == 0) std::abort();
    next = off + n;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mqttauth::cli;
  if (size < 5) return 0;
  ReassemblyLimits lim;
  lim.max_held_bytes = 256u + data[0] * 16u;
  lim.max_held_segments = 1u + data[1] % 32u;
  TcpReassembler r(lim);
  const std::uint32_t isn = 0xFFFFFF00u + data[2];  // near wraparound
  Check sink;
  std::vector<std::uint8_t> payload;
  const bool syn = data[3] & 1;
  if (syn) r.syn(isn - 1);
  std::uint64_t frame = 0;
  for (std::size_t i = 4; i + 4 <= size; i += 4) {
    // offset (0..4095), length (0..511), flags
    std::uint32_t off = static_cast<std::uint32_t>((data[i] << 4) | (data[i + 1] >> 4));
    std::uint32_t len = static_cast<std::uint32_t>(((data[i + 1] & 0x0Fu) << 5) | (data[i + 2] >> 3));
    std::uint8_t fl = data[i + 3];
    std::uint32_t cut = (fl & 0x80u) ? len / 2 : len;  // snap length cut
    payload.resize(cut);
    for (std::uint32_t k = 0; k < cut; ++k) payload[k] = byte_at(off + k);
    ++frame;
    // A mid-stream start begins the stream at the first segment seen: make that one offset 0.
    if (!syn && !r.started() && !(fl & 0x40u)) {
      off = 0;
      for (std::uint32_t k = 0; k < cut; ++k) payload[k] = byte_at(k);
    }
    if (fl & 0x40u)
      r.peer_acked(isn + off, frame, sink);
    else
      r.segment(isn + off, payload, len, (fl & 0x20u) != 0, frame, sink);
    if (r.held_bytes() > lim.max_held_bytes + 512u) std::abort();
  }
  r.finish(frame, sink);
  if (r.held_bytes() != 0) std::abort();
  return 0;
}
