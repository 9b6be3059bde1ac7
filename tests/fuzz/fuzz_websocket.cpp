// Fuzz target: the WebSocket layer of MQTT over WebSocket. The first input byte picks the direction and whether
// permessage-deflate was negotiated; the rest is the direction's stream after the opening handshake, fed to the
// codec's deframer whole and in pieces (the next bytes give the piece sizes), which must give the same
// events, and to the CLI's layer (head, frames, zlib inflate), which must never fail or read out of bounds.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "mqttauth/websocket.hpp"
#include "ws_layer.hpp"

namespace {

using mqttauth::ws::Deframer;

// Each event as text: data as 'D' + its bytes ('M' instead for the piece that ends a message), the others as
// 'E' + what they say.
std::vector<std::string> events(Deframer& d) {
  std::vector<std::string> v;
  while (true) {
    auto e = d.next();
    if (e.kind == Deframer::Event::Kind::need_more) return v;
    if (e.payload.size() > 16 * 1024 * 1024) std::abort();
    if (e.kind == Deframer::Event::Kind::data) {
      v.push_back((e.message_end ? "M" : "D") + std::string(e.payload.begin(), e.payload.end()));
      continue;
    }
    std::string s = "E" + std::to_string(static_cast<int>(e.kind)) + ":" + std::to_string(e.offset) + ":" +
                    std::to_string(e.opcode);
    if (e.kind == Deframer::Event::Kind::violation) s += e.detail;
    if (e.kind == Deframer::Event::Kind::control) s += ":" + std::to_string(e.close_code);
    v.push_back(std::move(s));
  }
}

// Consecutive data pieces joined, so that the two feedings compare equal however a payload was cut.
std::vector<std::string> joined(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const auto& s : in) {
    if (s[0] != 'E' && !out.empty() && out.back()[0] == 'D') {
      out.back() += s.substr(1);
      out.back()[0] = s[0];
    } else
      out.push_back(s);
  }
  return out;
}

struct Out final : mqttauth::cli::WsLayer::Out {
  std::size_t bytes = 0;
  void mqtt(std::span<const std::uint8_t> b) override { bytes += b.size(); }
  void violation(const char* rule, const char* detail, std::uint64_t) override {
    if (rule == nullptr || detail == nullptr) std::abort();
  }
  void head(const mqttauth::ws::HttpHead&) override {}
  void control(std::uint8_t, std::uint16_t) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const bool from_client = (data[0] & 1) != 0, deflate = (data[0] & 2) != 0;
  const std::span<const std::uint8_t> stream(data + 1, size - 1);
  (void)mqttauth::ws::parse_http_head(stream);

  Deframer whole(from_client, deflate);
  whole.push(stream);
  const auto a = joined(events(whole));
  Deframer pieces(from_client, deflate);
  std::vector<std::string> b;
  std::size_t at = 0, k = 0;
  while (at < stream.size()) {
    const std::size_t n = std::min<std::size_t>(stream.size() - at, 1 + stream[k++ % stream.size()] % 23);
    pieces.push(stream.subspan(at, n));
    auto part = events(pieces);
    b.insert(b.end(), part.begin(), part.end());
    at += n;
  }
  if (joined(b) != a) std::abort();

  static const std::string kClientHead =
      "GET /mqtt HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
  static const std::string kServerHead =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
  const std::string& head = from_client ? kClientHead : kServerHead;
  mqttauth::cli::WsLayer layer(from_client, deflate);
  Out out;
  layer.feed(std::span(reinterpret_cast<const std::uint8_t*>(head.data()), head.size()), 0, out);
  layer.feed(stream, head.size(), out);
  return 0;
}
