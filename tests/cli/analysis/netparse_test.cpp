// FrameParser and Ipv4Defrag: every link type for IPv4 and IPv6, IPv6 extension headers, IPv4 fragments,
// bounded fragment memory, and frames cut at every length.
#include <algorithm>
#include <cstring>

#include "cli_helpers.hpp"

using namespace mqttauth;
using namespace mqttauth::cli;
using namespace mqttauth::clitest;

namespace {

const Endpoint kC4 = ep4(192, 168, 1, 10, 50123), kS4 = ep4(10, 0, 0, 1, 1883);
const Endpoint kC6 = ep6(0x10, 50123), kS6 = ep6(0x01, 1883);

struct LinkCase {
  const char* name;
  LinkSpec link;
  std::size_t header;  // link header length
};

std::vector<LinkCase> link_cases() {
  return {
      {"ethernet", LinkSpec{kLinkEthernet, {}}, 14},
      {"vlan", LinkSpec{kLinkEthernet, {100}}, 18},
      {"qinq", LinkSpec{kLinkEthernet, {10, 20}}, 22},
      {"sll", LinkSpec{kLinkLinuxSll, {}}, 16},
      {"sll2", LinkSpec{kLinkLinuxSll2, {}}, 20},
      {"null", LinkSpec{kLinkNull, {}}, 4},
      {"loop", LinkSpec{kLinkLoop, {}}, 4},
      {"raw", LinkSpec{kLinkRaw, {}}, 0},
  };
}

void expect_segment(const ParsedFrame& pf, const Endpoint& src, const Endpoint& dst, std::uint32_t seq,
                    const Buf& payload) {
  ASSERT_EQ(pf.skip, FrameSkip::none) << pf.why;
  EXPECT_EQ(pf.seg.src, src);
  EXPECT_EQ(pf.seg.dst, dst);
  EXPECT_EQ(pf.seg.seq, seq);
  EXPECT_EQ(Buf(pf.seg.payload.begin(), pf.seg.payload.end()), payload);
  EXPECT_EQ(pf.seg.payload_wire_len, payload.size());
}

ParsedFrame parse(FrameParser& p, std::uint32_t link, const Buf& f, std::uint32_t orig = 0, std::int64_t ts = 0) {
  return p.parse(link, f, orig ? orig : static_cast<std::uint32_t>(f.size()), ts);
}

}  // namespace

TEST(NetParse, EveryLinkTypeIpv4AndIpv6) {
  const Buf payload = mqtt_connect("dev-1");
  for (const auto& lc : link_cases()) {
    for (bool v6 : {false, true}) {
      SCOPED_TRACE(std::string(lc.name) + (v6 ? " IPv6" : " IPv4"));
      const Endpoint& c = v6 ? kC6 : kC4;
      const Endpoint& s = v6 ? kS6 : kS4;
      auto f = build_tcp_frame(lc.link, c, s, 1234567, 89, tcpflag::ack | tcpflag::psh, payload, 7);
      ASSERT_EQ(f.size(), lc.header + (v6 ? 40u : 20u) + 20 + payload.size());
      FrameParser p;
      auto pf = parse(p, lc.link.link_type, f);
      expect_segment(pf, c, s, 1234567, payload);
      EXPECT_EQ(pf.seg.ack, 89u);
      EXPECT_EQ(pf.seg.flags, tcpflag::ack | tcpflag::psh);
    }
  }
}

TEST(NetParse, RawIpLinkTypes228And229) {
  const Buf payload = pattern(30);
  FrameParser p;
  auto f4 = build_tcp_frame(LinkSpec{kLinkRaw, {}}, kC4, kS4, 1, 2, tcpflag::ack, payload);
  expect_segment(parse(p, kLinkIpv4, f4), kC4, kS4, 1, payload);
  auto f6 = build_tcp_frame(LinkSpec{kLinkRaw, {}}, kC6, kS6, 3, 4, tcpflag::ack, payload);
  expect_segment(parse(p, kLinkIpv6, f6), kC6, kS6, 3, payload);
}

TEST(NetParse, NullLinkAddressFamilies) {
  const Buf payload = pattern(12);
  auto raw4 = build_tcp_frame(LinkSpec{kLinkRaw, {}}, kC4, kS4, 9, 0, tcpflag::ack, payload);
  auto raw6 = build_tcp_frame(LinkSpec{kLinkRaw, {}}, kC6, kS6, 9, 0, tcpflag::ack, payload);
  struct Fam {
    std::uint32_t af;
    bool v6;
  };
  for (Fam fam : {Fam{2, false}, Fam{10, true}, Fam{24, true}, Fam{28, true}, Fam{30, true}}) {
    for (bool big : {false, true}) {
      SCOPED_TRACE("AF " + std::to_string(fam.af) + (big ? " big-endian" : " little-endian"));
      Buf hdr(4);
      std::uint32_t v = big ? __builtin_bswap32(fam.af) : fam.af;
      std::memcpy(hdr.data(), &v, 4);
      auto f = concat({hdr, fam.v6 ? raw6 : raw4});
      FrameParser p;
      expect_segment(parse(p, kLinkNull, f), fam.v6 ? kC6 : kC4, fam.v6 ? kS6 : kS4, 9, payload);
    }
  }
  // An address family that is not IP.
  auto f = concat({Buf{7, 0, 0, 0}, raw4});
  FrameParser p;
  EXPECT_EQ(parse(p, kLinkNull, f).skip, FrameSkip::not_ip);
}

TEST(NetParse, NonIpAndNonTcpAndUnsupported) {
  FrameParser p;
  // ARP over Ethernet.
  Buf arp(42, 0);
  arp[12] = 0x08;
  arp[13] = 0x06;
  EXPECT_EQ(parse(p, kLinkEthernet, arp).skip, FrameSkip::not_ip);
  // UDP: protocol 17 in an otherwise valid IPv4 frame.
  auto f = build_tcp_frame(LinkSpec{kLinkRaw, {}}, kC4, kS4, 1, 1, tcpflag::ack, pattern(8));
  f[9] = 17;
  EXPECT_EQ(parse(p, kLinkRaw, f).skip, FrameSkip::not_tcp);
  EXPECT_EQ(parse(p, 147, f).skip, FrameSkip::unsupported_link);
}

// ------------------------------------------------------------------------------------------ IPv6 extensions

namespace {

// Inserts extension headers (each a next-header byte is patched in) between the IPv6 header and TCP.
Buf with_ext_headers(const Buf& raw6, const std::vector<std::pair<std::uint8_t, Buf>>& exts) {
  // exts: (type, body including the 2 leading bytes) — next-header fields are filled in here.
  Buf ip(raw6.begin(), raw6.begin() + 40);
  Buf tcp(raw6.begin() + 40, raw6.end());
  Buf mid;
  for (std::size_t i = 0; i < exts.size(); ++i) {
    Buf h = exts[i].second;
    h[0] = i + 1 < exts.size() ? exts[i + 1].first : 6;
    mid.insert(mid.end(), h.begin(), h.end());
  }
  ip[6] = exts.empty() ? 6 : exts[0].first;
  auto plen = static_cast<std::uint16_t>(mid.size() + tcp.size());
  ip[4] = static_cast<std::uint8_t>(plen >> 8);
  ip[5] = static_cast<std::uint8_t>(plen);
  return concat({ip, mid, tcp});
}

Buf ext8(std::uint8_t len_units = 0) {  // hop-by-hop / destination options / routing: (len + 1) * 8 bytes
  Buf h((std::size_t{len_units} + 1) * 8, 0);
  h[1] = len_units;
  return h;
}

}  // namespace

TEST(NetParse, Ipv6ExtensionHeadersBeforeTcp) {
  const Buf payload = mqtt_connect("v6-ext");
  auto raw6 = build_tcp_frame(LinkSpec{kLinkRaw, {}}, kC6, kS6, 77, 0, tcpflag::ack, payload);
  Buf frag(8, 0);  // fragment header, offset 0, M = 0: an atomic fragment
  Buf ah(16, 0);   // authentication header: (2 + 2) * 4 = 16 bytes
  ah[1] = 2;
  const std::vector<std::vector<std::pair<std::uint8_t, Buf>>> chains = {
      {{0, ext8()}},                               // hop-by-hop
      {{60, ext8(1)}},                             // destination options, 16 bytes
      {{43, ext8()}},                              // routing
      {{0, ext8()}, {43, ext8(2)}, {60, ext8()}},  // all three
      {{0, ext8()}, {44, frag}},                   // atomic fragment
      {{51, ah}, {60, ext8()}},                    // authentication header
  };
  for (std::size_t i = 0; i < chains.size(); ++i) {
    SCOPED_TRACE("chain " + std::to_string(i));
    auto f = with_ext_headers(raw6, chains[i]);
    FrameParser p;
    expect_segment(parse(p, kLinkRaw, f), kC6, kS6, 77, payload);
  }
  // A real IPv6 fragment is not reassembled.
  Buf frag_more(8, 0);
  frag_more[3] = 1;  // M = 1
  FrameParser p;
  EXPECT_EQ(parse(p, kLinkRaw, with_ext_headers(raw6, {{44, frag_more}})).skip, FrameSkip::not_tcp);
  // An extension header claiming more bytes than there are.
  auto over = with_ext_headers(raw6, {{60, ext8()}});
  over[41] = 200;
  EXPECT_EQ(parse(p, kLinkRaw, over).skip, FrameSkip::malformed);
}

// ------------------------------------------------------------------------------------------ IPv4 fragments

namespace {

struct FragFixture {
  Buf payload = pattern(1000, 5);
  std::vector<Buf> frags;
  explicit FragFixture(std::size_t frag_payload = 200, std::uint16_t id = 4242) {
    frags = build_fragmented_tcp(LinkSpec{kLinkEthernet, {}}, kC4, kS4, 31337, 1, tcpflag::ack | tcpflag::psh, payload,
                                 id, frag_payload);
  }
};

}  // namespace

TEST(NetParse, Ipv4FragmentsInOrder) {
  FragFixture fx;
  ASSERT_EQ(fx.frags.size(), 6u);  // 1020 bytes of TCP in 200-byte fragments
  FrameParser p;
  for (std::size_t i = 0; i + 1 < fx.frags.size(); ++i)
    EXPECT_EQ(parse(p, kLinkEthernet, fx.frags[i]).skip, FrameSkip::fragment_pending) << i;
  expect_segment(parse(p, kLinkEthernet, fx.frags.back()), kC4, kS4, 31337, fx.payload);
  EXPECT_EQ(p.defrag().pending(), 0u);
  EXPECT_EQ(p.defrag().held_bytes(), 0u);
}

TEST(NetParse, Ipv4FragmentsOutOfOrder) {
  FragFixture fx;
  std::vector<std::size_t> order{3, 5, 0, 4, 1, 2};
  FrameParser p;
  for (std::size_t k = 0; k < order.size(); ++k) {
    auto pf = parse(p, kLinkEthernet, fx.frags[order[k]]);
    if (k + 1 < order.size())
      EXPECT_EQ(pf.skip, FrameSkip::fragment_pending) << k;
    else
      expect_segment(pf, kC4, kS4, 31337, fx.payload);
  }
}

TEST(NetParse, Ipv4FragmentsDuplicate) {
  FragFixture fx;
  FrameParser p;
  for (std::size_t i = 0; i + 1 < fx.frags.size(); ++i) {
    EXPECT_EQ(parse(p, kLinkEthernet, fx.frags[i]).skip, FrameSkip::fragment_pending);
    EXPECT_EQ(parse(p, kLinkEthernet, fx.frags[i]).skip, FrameSkip::fragment_pending);
  }
  expect_segment(parse(p, kLinkEthernet, fx.frags.back()), kC4, kS4, 31337, fx.payload);
  // A late duplicate of an already completed datagram starts a new (incomplete) one, nothing more.
  EXPECT_EQ(parse(p, kLinkEthernet, fx.frags[0]).skip, FrameSkip::fragment_pending);
}

TEST(NetParse, Ipv4FragmentsOverlapping) {
  // The same datagram cut two ways (200- and 104-byte fragments), fed interleaved: the pieces overlap.
  FragFixture a(200), b(104);
  FrameParser p;
  std::optional<ParsedFrame> done;
  std::size_t fed = 0;
  for (std::size_t i = 0; i < std::max(a.frags.size(), b.frags.size()) && !done; ++i) {
    for (const auto* set : {&b.frags, &a.frags}) {
      if (i >= set->size() || done) continue;
      auto pf = parse(p, kLinkEthernet, (*set)[i]);
      ++fed;
      if (pf.skip == FrameSkip::none) done = pf;
    }
  }
  ASSERT_TRUE(done);
  expect_segment(*done, kC4, kS4, 31337, a.payload);
}

TEST(NetParse, Ipv4OverlapWithDifferentBytesFirstWins) {
  // A fragment that repeats bytes already received with other content: the first bytes received win, as in
  // TCP reassembly (an attacker's later overlapping fragment cannot rewrite what was seen).
  FragFixture fx;
  FrameParser p;
  Buf evil = fx.frags[1];
  for (std::size_t i = 14 + 20; i < evil.size(); ++i) evil[i] ^= 0xFF;
  EXPECT_EQ(parse(p, kLinkEthernet, fx.frags[1]).skip, FrameSkip::fragment_pending);
  EXPECT_EQ(parse(p, kLinkEthernet, evil).skip, FrameSkip::fragment_pending);
  for (std::size_t i : {0u, 2u, 3u, 4u})
    EXPECT_EQ(parse(p, kLinkEthernet, fx.frags[i]).skip, FrameSkip::fragment_pending);
  expect_segment(parse(p, kLinkEthernet, fx.frags[5]), kC4, kS4, 31337, fx.payload);
}

TEST(NetParse, Ipv4FragmentFloodStaysBounded) {
  Ipv4Defrag::Limits lim;
  lim.max_datagrams = 16;
  lim.max_bytes = 64 * 1024;
  lim.timeout_ns = 1'000'000'000;
  FrameParser p;
  p.defrag() = Ipv4Defrag(lim);
  // Many datagrams that never complete (first fragments only).
  for (std::uint16_t id = 0; id < 5000; ++id) {
    FragFixture fx(200, id);
    EXPECT_EQ(parse(p, kLinkEthernet, fx.frags[0], 0, id).skip, FrameSkip::fragment_pending);
    ASSERT_LE(p.defrag().pending(), lim.max_datagrams);
    ASSERT_LE(p.defrag().held_bytes(), lim.max_bytes);
  }
  EXPECT_GT(p.defrag().dropped(), 0u);
  // The same fragment over and over (with room in the table): memory must not grow with the count.
  FrameParser q;
  FragFixture one(8, 999);
  for (int i = 0; i < 100000; ++i) parse(q, kLinkEthernet, one.frags[3], 0, 10000);
  EXPECT_EQ(q.defrag().pending(), 1u);
  EXPECT_EQ(q.defrag().held_ranges(), 1u);
  EXPECT_LE(q.defrag().held_bytes(), 64u);
  // Tiny disjoint fragments of one datagram (every other 8-byte piece), fed many times: bounded too.
  FragFixture tiny(8, 1000);
  for (int round = 0; round < 50; ++round)
    for (std::size_t i = 0; i < tiny.frags.size(); i += 2) parse(q, kLinkEthernet, tiny.frags[i], 0, 10000);
  EXPECT_LE(q.defrag().held_ranges(), 1u + (tiny.frags.size() + 1) / 2);
  // After the timeout, a new datagram still goes through.
  FragFixture later(200, 7);
  std::optional<ParsedFrame> done;
  for (const auto& f : later.frags) {
    auto pf = parse(p, kLinkEthernet, f, 0, 50'000'000'000);
    if (pf.skip == FrameSkip::none) done = pf;
  }
  ASSERT_TRUE(done);
  expect_segment(*done, kC4, kS4, 31337, later.payload);
}

TEST(NetParse, Ipv4FragmentBeyond64KIsDropped) {
  FragFixture fx;
  Buf f = fx.frags[1];
  // Offset 8184 * 8 = 65472 with 200 bytes: beyond the largest datagram.
  f[14 + 6] = 0x3F;
  f[14 + 7] = 0xF8;
  FrameParser p;
  EXPECT_EQ(parse(p, kLinkEthernet, f).skip, FrameSkip::fragment_pending);
  EXPECT_EQ(p.defrag().pending(), 0u);
  EXPECT_EQ(p.defrag().dropped(), 1u);
}

// ------------------------------------------------------------------------------------------ cut frames

TEST(NetParse, TruncatedHeadersAtEveryLengthAreMalformed) {
  const Buf payload = pattern(40);
  for (const auto& lc : link_cases()) {
    for (bool v6 : {false, true}) {
      SCOPED_TRACE(std::string(lc.name) + (v6 ? " IPv6" : " IPv4"));
      auto f = build_tcp_frame(lc.link, v6 ? kC6 : kC4, v6 ? kS6 : kS4, 5, 6, tcpflag::ack, payload);
      const std::size_t headers = lc.header + (v6 ? 40u : 20u) + 20u;
      for (std::size_t n = 0; n < f.size(); ++n) {
        Buf cut(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(n));
        FrameParser p;
        auto pf = parse(p, lc.link.link_type, cut, static_cast<std::uint32_t>(f.size()));
        if (n < headers) {
          EXPECT_EQ(pf.skip, FrameSkip::malformed) << n;
          EXPECT_STRNE(pf.why, "") << n;
        } else {
          // Cut by the snap length inside the payload: the segment with what was captured.
          ASSERT_EQ(pf.skip, FrameSkip::none) << n;
          EXPECT_EQ(pf.seg.payload.size(), n - headers);
          EXPECT_EQ(pf.seg.payload_wire_len, payload.size());
        }
      }
    }
  }
}

TEST(NetParse, CorruptHeaderFieldsAreMalformed) {
  auto f = build_tcp_frame(LinkSpec{kLinkRaw, {}}, kC4, kS4, 5, 6, tcpflag::ack, pattern(40));
  FrameParser p;
  {
    Buf b = f;
    b[0] = 0x44;  // IHL 16 bytes
    EXPECT_EQ(parse(p, kLinkRaw, b).skip, FrameSkip::malformed);
  }
  {
    Buf b = f;
    b[0] = 0x4F;  // IHL 60 bytes: fits the frame, but the total length says 80
    b[2] = 0;
    b[3] = 40;
    EXPECT_EQ(parse(p, kLinkRaw, b).skip, FrameSkip::malformed);
  }
  {
    Buf b = f;
    b[20 + 12] = 0x40;  // TCP data offset 16 bytes
    EXPECT_EQ(parse(p, kLinkRaw, b).skip, FrameSkip::malformed);
  }
  {
    Buf b = build_tcp_frame(LinkSpec{kLinkRaw, {}}, kC4, kS4, 5, 6, tcpflag::ack, pattern(8));
    b[20 + 12] = 0xF0;  // TCP data offset 60 bytes, more than the 28-byte segment
    EXPECT_EQ(parse(p, kLinkRaw, b).skip, FrameSkip::malformed);
  }
  {
    Buf b = f;
    b[0] = 0x75;  // IP version 7
    EXPECT_EQ(parse(p, kLinkRaw, b).skip, FrameSkip::malformed);
  }
}

TEST(NetParse, EthernetPaddingIsNotPayload) {
  // A pure ACK padded to the 60-byte Ethernet minimum.
  auto f = build_tcp_frame(LinkSpec{kLinkEthernet, {}}, kC4, kS4, 5, 6, tcpflag::ack, {});
  ASSERT_EQ(f.size(), 54u);
  f.resize(60, 0);
  FrameParser p;
  auto pf = parse(p, kLinkEthernet, f);
  ASSERT_EQ(pf.skip, FrameSkip::none);
  EXPECT_TRUE(pf.seg.payload.empty());
  EXPECT_EQ(pf.seg.payload_wire_len, 0u);
}

TEST(NetParse, SnapLengthCutSegment) {
  const Buf payload = pattern(1400);
  for (bool v6 : {false, true}) {
    auto f = build_tcp_frame(LinkSpec{kLinkEthernet, {}}, v6 ? kC6 : kC4, v6 ? kS6 : kS4, 5, 6, tcpflag::ack, payload);
    const auto orig = static_cast<std::uint32_t>(f.size());
    f.resize(128);
    FrameParser p;
    auto pf = parse(p, kLinkEthernet, f, orig);
    ASSERT_EQ(pf.skip, FrameSkip::none);
    EXPECT_EQ(pf.seg.payload_wire_len, 1400u);
    EXPECT_GT(pf.seg.payload_wire_len, pf.seg.payload.size());
    EXPECT_EQ(pf.seg.payload.size(), 128u - 14 - (v6 ? 40 : 20) - 20);
  }
}

TEST(NetParse, EndpointStrings) {
  EXPECT_EQ(kC4.str(), "192.168.1.10:50123");
  EXPECT_EQ(kS6.str(), "[fd00::1]:1883");
}

TEST(NetParse, EndpointFormatEdgeValues) {
  EXPECT_EQ(ep4(0, 0, 0, 0, 0).str(), "0.0.0.0:0");
  EXPECT_EQ(ep4(255, 255, 255, 255, 65535).str(), "255.255.255.255:65535");
  EXPECT_EQ(ep4(9, 10, 99, 100, 9).str(), "9.10.99.100:9");
  Endpoint v6;
  v6.ip.v6 = true;
  for (std::size_t i = 0; i < 16; ++i) v6.ip.b[i] = static_cast<std::uint8_t>(0xF0 + i % 16);  // no :: run
  v6.port = 65535;
  const std::string s = v6.str();
  EXPECT_EQ(s, "[f0f1:f2f3:f4f5:f6f7:f8f9:fafb:fcfd:feff]:65535");
  EXPECT_LE(s.size(), Endpoint::kTextMax);
}

// The analyzer reads Ethernet / IPv4 / TCP frames through quick_ipv4_tcp and everything else through
// FrameParser::parse: where the fast path takes a frame, both must give the same segment. Checked on every
// frame of the bundled captures, on each of them with every header byte mutated, and on frames the fast
// path must leave to the parser.
namespace {

void expect_same(const TcpSegment& a, const TcpSegment& b) {
  EXPECT_EQ(a.src, b.src);
  EXPECT_EQ(a.dst, b.dst);
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.ack, b.ack);
  EXPECT_EQ(a.flags, b.flags);
  EXPECT_EQ(a.window, b.window);
  EXPECT_EQ(a.payload.data(), b.payload.data());
  EXPECT_EQ(a.payload.size(), b.payload.size());
  EXPECT_EQ(a.payload_wire_len, b.payload_wire_len);
}

// Fast path and parser on one frame: the fast path takes only what the parser reads as a TCP segment.
// Returns whether the fast path took it.
bool compare_paths(std::uint32_t link, const Buf& f) {
  TcpSegment quick;
  FrameParser p;
  ParsedFrame full = p.parse(link, f, static_cast<std::uint32_t>(f.size()), 0);
  if (!quick_ipv4_tcp(link, f, quick)) return false;
  EXPECT_EQ(full.skip, FrameSkip::none) << full.why;
  if (full.skip == FrameSkip::none) expect_same(quick, full.seg);
  return true;
}

}  // namespace

TEST(NetParse, FastPathAgreesWithTheParser) {
  std::size_t frames = 0, quick = 0, mutated = 0;
  for (const char* name : {"field-handshakes.pcap", "field-anomalies.pcap", "loopback-mixed.pcap",
                           "loopback-large-payload.pcap", "loopback-v5-reauth.pcap"}) {
    cli::CaptureReader rd;
    ASSERT_TRUE(rd.open(std::string(MQTTAUTH_SOURCE_DIR) + "/captures/" + name)) << rd.error();
    cli::CaptureRecord rec;
    while (rd.next(rec) == cli::CaptureReader::Status::record) {
      const Buf f(rec.data.begin(), rec.data.end());
      ++frames;
      quick += compare_paths(rec.link_type, f);
      // Every byte of the Ethernet, IPv4 and TCP headers set to a few telling values, and the frame cut short.
      for (std::size_t i = 0; i < std::min<std::size_t>(f.size(), 14 + 60 + 60); ++i) {
        for (int v : {0x00, 0x01, 0x06, 0x08, 0x20, 0x45, 0x4F, 0x50, 0xF0, 0xFF}) {
          Buf m = f;
          m[i] = static_cast<std::uint8_t>(v);
          mutated += compare_paths(rec.link_type, m);
        }
        compare_paths(rec.link_type, Buf(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(i)));
      }
    }
  }
  EXPECT_GT(frames, 500u);
  EXPECT_GT(quick, frames / 2);  // the field captures also hold Linux cooked and VLAN frames
  EXPECT_GT(mutated, 1000u);
}

TEST(NetParse, FastPathLeavesTheRestToTheParser) {
  const Buf payload = mqtt_connect("dev-1");
  TcpSegment seg;
  // VLAN-tagged, IPv6, another link type: not taken.
  LinkSpec vlan{kLinkEthernet, {100}};
  EXPECT_FALSE(quick_ipv4_tcp(kLinkEthernet, build_tcp_frame(vlan, kC4, kS4, 1, 2, tcpflag::ack, payload), seg));
  EXPECT_FALSE(quick_ipv4_tcp(kLinkEthernet, build_tcp_frame(LinkSpec{}, kC6, kS6, 1, 2, tcpflag::ack, payload), seg));
  EXPECT_FALSE(quick_ipv4_tcp(
      kLinkLinuxSll, build_tcp_frame(LinkSpec{kLinkLinuxSll, {}}, kC4, kS4, 1, 2, tcpflag::ack, payload), seg));
  // A fragment, and a TSO frame (IPv4 total length 0): the parser's business.
  auto frags = build_fragmented_tcp(LinkSpec{}, kC4, kS4, 1, 2, tcpflag::ack, Buf(100, 'x'), 9, 48);
  ASSERT_GE(frags.size(), 2u);
  for (const auto& f : frags) EXPECT_FALSE(quick_ipv4_tcp(kLinkEthernet, f, seg));
  Buf tso = build_tcp_frame(LinkSpec{}, kC4, kS4, 1, 2, tcpflag::ack, payload);
  tso[14 + 2] = tso[14 + 3] = 0;
  EXPECT_FALSE(quick_ipv4_tcp(kLinkEthernet, tso, seg));
  // The plain frame is taken.
  EXPECT_TRUE(quick_ipv4_tcp(kLinkEthernet, build_tcp_frame(LinkSpec{}, kC4, kS4, 1, 2, tcpflag::ack, payload), seg));
  EXPECT_EQ(seg.src, kC4);
  EXPECT_EQ(seg.payload.size(), payload.size());
}
