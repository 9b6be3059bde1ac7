// Fuzz target: the Framer fed in random chunks must find the same packets as when fed the whole stream at
// once, and the Session must digest whatever decodes, in either direction.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "mqttauth/framer.hpp"
#include "mqttauth/session.hpp"

namespace {

struct Seen {
  std::vector<std::uint8_t> bytes;
  std::uint64_t offset;
  int kind;
  bool operator==(const Seen&) const = default;
};

std::vector<Seen> frames(std::span<const std::uint8_t> s, std::span<const std::uint8_t> cuts, std::uint32_t max) {
  using namespace mqttauth;
  Framer f(max);
  std::vector<Seen> out;
  std::size_t pos = 0, ci = 0;
  while (pos < s.size()) {
    std::size_t n = cuts.empty() ? s.size() : 1 + cuts[ci++ % cuts.size()] % 97;
    n = std::min(n, s.size() - pos);
    f.push(s.subspan(pos, n));
    pos += n;
    for (FrameEvent ev = f.next(); ev.kind != FrameEvent::Kind::need_more; ev = f.next()) {
      if (ev.kind == FrameEvent::Kind::frame)
        out.push_back({std::vector<std::uint8_t>(ev.frame.bytes.begin(), ev.frame.bytes.end()), ev.frame.offset, 0});
      else
        out.push_back({{},
                       ev.kind == FrameEvent::Kind::oversized ? ev.frame.offset : ev.error.offset,
                       static_cast<int>(ev.kind)});
    }
    if (f.buffered() > max) std::abort();  // held bytes stay below the maximum packet size
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mqttauth;
  if (size < 4) return 0;
  const std::size_t ncuts = data[0] % 16;
  const std::uint32_t max = 16u + data[1] * 4u;
  if (size < 2 + ncuts) return 0;
  std::span<const std::uint8_t> cuts(data + 2, ncuts), stream(data + 2 + ncuts, size - 2 - ncuts);
  auto whole = frames(stream, {}, max);
  auto chunked = frames(stream, cuts, max);
  if (whole != chunked) std::abort();
  // Every packet through a session, directions from the stream itself.
  Session s;
  std::uint64_t n = 0;
  for (const auto& f : whole) {
    if (f.kind != 0) continue;
    auto dir = static_cast<Direction>(f.bytes.empty() ? 2 : f.bytes[0] % 3);
    s.decode(f.bytes, dir, PacketRef{++n, static_cast<std::int64_t>(n) * 1000});
  }
  s.finish();
  return 0;
}
