#include "ws_layer.hpp"

#include <zlib.h>

namespace mqttauth::cli {

struct WsLayer::Zlib {
  z_stream s{};
  bool ok = false;
  Zlib() { ok = inflateInit2(&s, -15) == Z_OK; }  // raw deflate, any window up to 32 KB (RFC 7692 7.1)
  ~Zlib() {
    if (ok) inflateEnd(&s);
  }
  Zlib(const Zlib&) = delete;
  Zlib& operator=(const Zlib&) = delete;
};

WsLayer::WsLayer(bool from_client, const bool& deflate) : from_client_(from_client), deflate_(deflate) {}
WsLayer::~WsLayer() = default;

void WsLayer::feed(std::span<const std::uint8_t> bytes, std::uint64_t offset, Out& out) {
  if (stage_ == Stage::lost) return;
  if (stage_ == Stage::head) {
    if (head_.empty()) head_offset_ = offset;
    head_.insert(head_.end(), bytes.begin(), bytes.end());
    const ws::HttpHead h = ws::parse_http_head(head_);
    if (h.status == ws::HttpHead::Status::need_more) return;
    if (h.status != ws::HttpHead::Status::complete || !h.upgrade) {
      out.violation("RFC 6455 4.1",
                    from_client_ ? "the client's opening handshake is not an HTTP Upgrade to websocket"
                                 : "the server did not answer the opening handshake with 101 Switching Protocols",
                    head_offset_);
      stage_ = Stage::lost;
      head_.clear();
      return;
    }
    out.head(h);
    stage_ = Stage::frames;  // (the deframer is made with the first frame: the server's 101 says deflate first)
    std::vector<std::uint8_t> rest(head_.begin() + static_cast<std::ptrdiff_t>(h.length), head_.end());
    const std::uint64_t rest_offset = head_offset_ + h.length;
    head_.clear();
    head_.shrink_to_fit();
    if (!rest.empty()) feed(rest, rest_offset, out);
    return;
  }
  if (!deframer_) deframer_ = std::make_unique<ws::Deframer>(from_client_, deflate_);
  deframer_->push(bytes);
  while (true) {
    const ws::Deframer::Event e = deframer_->next();
    using K = ws::Deframer::Event::Kind;
    if (e.kind == K::need_more) return;
    if (e.kind == K::violation) {
      out.violation(e.rule, e.detail, e.offset);
    } else if (e.kind == K::control) {
      out.control(e.opcode, e.close_code);
    } else if (e.compressed) {
      inflate(e.payload, e.message_end, e.offset, out);
    } else if (!e.payload.empty()) {
      out.mqtt(e.payload);
    }
  }
}

void WsLayer::inflate(std::span<const std::uint8_t> in, bool end, std::uint64_t at, Out& out) {
  if (!z_) z_ = std::make_unique<Zlib>();
  if (!z_->ok) skip_message_ = true;
  static const std::uint8_t kTail[4] = {0x00, 0x00, 0xFF, 0xFF};  // removed by the sender (RFC 7692 7.2.1)
  std::uint8_t buf[16384];
  auto run = [&](std::span<const std::uint8_t> src) {
    z_->s.next_in = const_cast<Bytef*>(src.data());  // NOLINT(cppcoreguidelines-pro-type-const-cast): zlib's API
    z_->s.avail_in = static_cast<uInt>(src.size());
    while (z_->s.avail_in > 0 && !skip_message_) {
      z_->s.next_out = buf;
      z_->s.avail_out = sizeof buf;
      const int rc = ::inflate(&z_->s, Z_SYNC_FLUSH);
      const std::size_t made = sizeof buf - z_->s.avail_out;
      if (made > 0) out.mqtt(std::span<const std::uint8_t>(buf, made));
      if (rc == Z_BUF_ERROR && made == 0) break;
      if (rc == Z_STREAM_END) {  // a final block (BFINAL): what follows starts a new deflate stream
        inflateReset(&z_->s);
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        out.violation("RFC 7692 7.2.2", "a compressed message that does not inflate", at);
        skip_message_ = true;
        inflateReset(&z_->s);
      }
    }
  };
  if (!skip_message_) run(in);
  if (end) {
    if (!skip_message_) run(kTail);
    skip_message_ = false;
  }
}

}  // namespace mqttauth::cli
