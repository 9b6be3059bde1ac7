// Fuzz target: single-packet decode at every level and dialect, and decode(encode(p)) == p for every packet
// the codec accepts. The first byte chooses the context.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "mqttauth/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mqttauth;
  if (size < 1) return 0;
  const std::uint8_t sel = data[0];
  static constexpr std::uint8_t levels[] = {0, 3, 4, 5};
  DecodeContext ctx;
  ctx.level = levels[sel & 3u];
  ctx.dialect = static_cast<Dialect>((sel >> 2) % 3);
  ctx.lenient_vbi = (sel & 0x20u) != 0;
  if (sel & 0x40u) ctx.limits.max_packet_size = 64;
  std::span<const std::uint8_t> in(data + 1, size - 1);
  auto r = decode(in, ctx);
  if (!r) {
    if (r.error().kind == ErrorKind::need_more && r.error().offset <= in.size())
      std::abort();  // needs more than it has
    return 0;
  }
  if (r->header.packet_size() > in.size()) std::abort();
  // The packet re-encodes, and the encoding decodes to the same packet.
  std::vector<std::uint8_t> out;
  auto e = encode(r->packet, r->level, out);
  if (!e) return 0;  // a field the format cannot carry (not reachable from decoded input, but allowed)
  DecodeContext again = ctx;
  again.level = r->level;
  again.limits = Limits{};
  auto d = decode(out, again);
  if (!d || !(d->packet == r->packet)) std::abort();
  return 0;
}
