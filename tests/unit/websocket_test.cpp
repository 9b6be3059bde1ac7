// The WebSocket layer (codec/websocket.hpp): the opening handshake's heads, and the deframer on frames built
// here byte by byte from RFC 6455 §5.2 (masking, 16- and 64-bit lengths, fragmentation, control frames between
// fragments, MQTT packets across frames and several in one), fed whole and one byte at a time.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mqttauth/websocket.hpp"

using namespace mqttauth::ws;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes of(std::string_view s) { return Bytes(s.begin(), s.end()); }

struct FrameSpec {
  bool fin = true;
  std::uint8_t opcode = 2;
  bool mask = true;
  std::uint8_t rsv = 0;  // 1: RSV1 (0x40, permessage-deflate's), 2: RSV2, 3: RSV3
  int ext = -1;          // force a 16-bit (2) or 64-bit (8) length field
};

Bytes frame(const Bytes& payload, FrameSpec s = {}) {
  Bytes f;
  const auto rsv_bit = static_cast<std::uint8_t>(s.rsv == 0 ? 0 : 0x80 >> s.rsv);
  f.push_back(static_cast<std::uint8_t>((s.fin ? 0x80 : 0) | rsv_bit | s.opcode));
  const std::uint64_t n = payload.size();
  const int ext = s.ext >= 0 ? s.ext : n < 126 ? 0 : n <= 0xFFFF ? 2 : 8;
  const std::uint8_t m = s.mask ? 0x80 : 0;
  if (ext == 0) f.push_back(static_cast<std::uint8_t>(m | n));
  if (ext == 2)
    f.insert(f.end(),
             {static_cast<std::uint8_t>(m | 126), static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
  if (ext == 8) {
    f.push_back(static_cast<std::uint8_t>(m | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
  }
  const std::uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (s.mask) f.insert(f.end(), key, key + 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    f.push_back(static_cast<std::uint8_t>(payload[i] ^ (s.mask ? key[i & 3] : 0)));
  return f;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes all;
  for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
  return all;
}

struct Seen {
  Bytes data;                       // every data payload, in order
  std::vector<std::string> events;  // "data:N", "end", "ping:N", "close:CODE", "violation:RULE"
};

Seen run(Deframer& d) {
  Seen s;
  while (true) {
    auto e = d.next();
    using K = Deframer::Event::Kind;
    if (e.kind == K::need_more) break;
    if (e.kind == K::data) {
      s.data.insert(s.data.end(), e.payload.begin(), e.payload.end());
      if (e.message_end) s.events.push_back("end");
    } else if (e.kind == K::control) {
      s.events.push_back(std::string(opcode_name(e.opcode)) + ":" +
                         std::to_string(e.opcode == 8 ? e.close_code : e.payload.size()));
    } else {
      s.events.push_back(std::string("violation:") + e.rule + "@" + std::to_string(e.offset));
    }
  }
  return s;
}

// The same stream fed whole and one byte at a time gives the same payload and events.
Seen feed(const Bytes& stream, bool from_client, bool deflate = false) {
  Deframer whole(from_client, deflate);
  whole.push(stream);
  Seen a = run(whole);
  Deframer bytewise(from_client, deflate);
  Seen b;
  for (std::uint8_t byte : stream) {
    bytewise.push(std::span(&byte, 1));
    Seen part = run(bytewise);
    b.data.insert(b.data.end(), part.data.begin(), part.data.end());
    b.events.insert(b.events.end(), part.events.begin(), part.events.end());
  }
  EXPECT_EQ(a.data, b.data);
  EXPECT_EQ(a.events, b.events);
  return a;
}

}  // namespace

TEST(WebSocketHandshake, RequestAndResponseHeads) {
  const Bytes req =
      of("GET /mqtt HTTP/1.1\r\nHost: localhost:9001\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
         "\x10");
  auto h = parse_http_head(req);
  ASSERT_EQ(h.status, HttpHead::Status::complete);
  EXPECT_TRUE(h.request);
  EXPECT_TRUE(h.upgrade);
  EXPECT_EQ(h.path, "/mqtt");
  EXPECT_EQ(h.length, req.size() - 1);
  EXPECT_TRUE(names_mqtt(h.subprotocols));
  // Need more until the blank line; not HTTP at all for MQTT's own first byte.
  EXPECT_EQ(parse_http_head(Bytes(req.begin(), req.begin() + 40)).status, HttpHead::Status::need_more);
  EXPECT_EQ(parse_http_head(of("GE")).status, HttpHead::Status::need_more);
  EXPECT_EQ(parse_http_head(of("\x10\x0c")).status, HttpHead::Status::not_http);
  EXPECT_EQ(parse_http_head(of("GET / HTTP/1.1\r\nX: y\r\n"), 20).status, HttpHead::Status::too_long);

  auto r = parse_http_head(of(
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: upgrade\r\n"
      "sec-websocket-protocol: mqttv3.1\r\n"
      "sec-websocket-extensions: permessage-deflate; server_no_context_takeover; server_max_window_bits=10\r\n\r\n"));
  ASSERT_EQ(r.status, HttpHead::Status::complete);
  EXPECT_FALSE(r.request);
  EXPECT_EQ(r.status_code, 101);
  EXPECT_TRUE(r.upgrade);
  EXPECT_TRUE(names_mqtt(r.subprotocols));
  const Deflate d = parse_deflate(r.extensions);
  EXPECT_TRUE(d.on);
  EXPECT_TRUE(d.server_no_context_takeover);
  EXPECT_FALSE(d.client_no_context_takeover);
  EXPECT_EQ(d.server_max_window_bits, 10);
  EXPECT_EQ(d.client_max_window_bits, 15);
  EXPECT_FALSE(parse_deflate("x-webkit-deflate-frame").on);
  auto refused = parse_http_head(of("HTTP/1.1 400 Bad Request\r\nUpgrade: websocket\r\n\r\n"));
  EXPECT_FALSE(refused.upgrade);

  EXPECT_TRUE(names_mqtt("wamp, MQTT"));
  EXPECT_FALSE(names_mqtt("mqttx"));
  EXPECT_FALSE(names_mqtt(""));
}

TEST(WebSocketDeframer, MaskedFramesPacketsAcrossAndWithinFrames) {
  // Two MQTT packets: a PINGREQ and a PUBLISH split over three frames, the first also holding the PINGREQ; a
  // ping between the fragments (allowed, RFC 6455 5.4), then a 300-byte payload with a 16-bit length and one
  // with a (non-minimal, flagged) 64-bit one.
  const Bytes pingreq{0xC0, 0x00};
  const Bytes publish{0x30, 0x0b, 0x00, 0x03, 'a', '/', 'b', 'h', 'e', 'l', 'l', 'o', '!'};
  const Bytes part1 = cat({pingreq, Bytes(publish.begin(), publish.begin() + 4)});
  const Bytes part2(publish.begin() + 4, publish.begin() + 7), part3(publish.begin() + 7, publish.end());
  const Bytes big(300, 0x5A);
  const Bytes stream =
      cat({frame(part1, {.fin = false}), frame(of("hi"), {.opcode = 9}), frame(part2, {.fin = false, .opcode = 0}),
           frame(part3, {.opcode = 0}), frame(big), frame(of("xy"), {.ext = 8})});
  const Seen s = feed(stream, true);
  EXPECT_EQ(s.data, cat({pingreq, publish, big, of("xy")}));
  const std::size_t last = stream.size() - (2 + 8 + 4 + 2);
  EXPECT_EQ(s.events, (std::vector<std::string>{"ping:2", "end", "end",
                                                "violation:RFC 6455 5.2@" + std::to_string(last), "end"}));
}

TEST(WebSocketDeframer, ViolationsAreReportedAndTheStreamGoesOn) {
  // Server side: a masked frame; a text frame (MQTT-6.0.0-1); a continuation with nothing in progress; a
  // fragmented ping; RSV1 without deflate; a reserved opcode (passed over); then a close with code 1000, and a
  // frame after it.
  const Bytes a = frame(of("A"), {.mask = true});
  const Bytes b = frame(of("B"), {.opcode = 1, .mask = false});
  const Bytes c = frame(of("C"), {.opcode = 0, .mask = false});
  const Bytes d = frame(of("p"), {.fin = false, .opcode = 9, .mask = false});
  const Bytes e = frame(of("E"), {.mask = false, .rsv = 1});
  const Bytes f = frame(of("zzz"), {.opcode = 3, .mask = false});
  const Bytes g = frame(Bytes{0x03, 0xE8}, {.opcode = 8, .mask = false});
  const Bytes h = frame(of("H"), {.mask = false});
  const Seen s = feed(cat({a, b, c, d, e, f, g, h}), false);
  EXPECT_EQ(s.data, of("ABCEH"));  // every data frame's payload: decoded as sent
  auto v = [&](const char* rule, std::size_t offset) {
    return std::string("violation:") + rule + "@" + std::to_string(offset);
  };
  const std::size_t ob = a.size(), oc = ob + b.size(), od = oc + c.size(), oe = od + d.size(), of_ = oe + e.size(),
                    og = of_ + f.size(), oh = og + g.size();
  EXPECT_EQ(s.events, (std::vector<std::string>{v("RFC 6455 5.1", 0), "end",      // masked server frame
                                                v("MQTT-6.0.0-1", ob), "end",     // text
                                                v("RFC 6455 5.4", oc), "end",     // continuation without a message
                                                v("RFC 6455 5.5", od), "ping:1",  // fragmented control frame
                                                v("RFC 6455 5.2", oe), "end",     // RSV1 without deflate
                                                v("RFC 6455 5.2", of_),  // reserved opcode: payload passed over
                                                "close:1000",            //
                                                v("RFC 6455 5.5.1", oh), "end"}));  // after the close
}

TEST(WebSocketDeframer, DeflateMarksCompressedMessagesAndClientFramesMustBeMasked) {
  const Bytes comp = frame(of("\xf2\x48\xcd\xc9\xc9\x07\x00"), {.rsv = 1});  // RSV1 on the first frame: fine
  Deframer d(true, true);
  d.push(comp);
  auto e = d.next();
  ASSERT_EQ(e.kind, Deframer::Event::Kind::data);
  EXPECT_TRUE(e.compressed);
  EXPECT_TRUE(e.message_end);
  // RSV1 on a continuation frame is not allowed even with deflate.
  const Seen s =
      feed(cat({frame(of("a"), {.fin = false, .rsv = 1}), frame(of("b"), {.opcode = 0, .rsv = 1})}), true, true);
  ASSERT_EQ(s.events.size(), 2u);
  EXPECT_EQ(s.events[0].rfind("violation:RFC 7692 6.1@", 0), 0u) << s.events[0];
  // RSV3 (0x10) is not permessage-deflate's bit: a violation, and the payload is not taken as compressed.
  Deframer d3(true, true);
  d3.push(frame(of("z"), {.rsv = 3}));
  const auto v3 = d3.next();
  EXPECT_EQ(v3.kind, Deframer::Event::Kind::violation);
  EXPECT_STREQ(v3.rule, "RFC 6455 5.2");
  const auto data3 = d3.next();
  EXPECT_FALSE(data3.compressed);
  // An unmasked client frame.
  const Seen u = feed(frame(of("x"), {.mask = false}), true);
  EXPECT_EQ(u.events.front(), "violation:RFC 6455 5.1@0");
  EXPECT_EQ(u.data, of("x"));
}

TEST(WebSocketFrames, EncodedFramesReadBackAtEveryLengthEncoding) {
  const std::array<std::uint8_t, 4> key{0x11, 0x22, 0x33, 0x44};
  for (std::size_t n : {0u, 125u, 126u, 65535u, 65536u}) {
    Bytes payload(n);
    for (std::size_t i = 0; i < n; ++i) payload[i] = static_cast<std::uint8_t>(i * 7);
    for (bool masked : {true, false}) {
      const Bytes f = encode_frame(2, payload, true, masked ? std::optional(key) : std::nullopt);
      EXPECT_EQ(f.size(), n + 2 + (n < 126 ? 0 : n <= 0xFFFF ? 2 : 8) + (masked ? 4 : 0)) << n;
      const Seen s = feed(f, masked);
      EXPECT_EQ(s.data, payload) << n;
      EXPECT_EQ(s.events, std::vector<std::string>{"end"}) << n;  // no violation: minimal lengths, masked as due
    }
  }
  const auto h = parse_http_head(of("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: abc=\r\n\r\n"));
  EXPECT_EQ(h.accept, "abc=");
  EXPECT_EQ(parse_http_head(of("GET / HTTP/1.1\r\nSec-WebSocket-Key: k==\r\n\r\n")).key, "k==");
}
