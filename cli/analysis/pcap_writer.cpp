#include "pcap_writer.hpp"

#include <cstring>

namespace mqttauth::cli {
namespace {

void put16(std::vector<std::uint8_t>& v, std::uint16_t x) {
  v.push_back(static_cast<std::uint8_t>(x >> 8));
  v.push_back(static_cast<std::uint8_t>(x));
}
void put32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  put16(v, static_cast<std::uint16_t>(x >> 16));
  put16(v, static_cast<std::uint16_t>(x));
}
void le16(std::vector<std::uint8_t>& v, std::uint16_t x) {
  v.push_back(static_cast<std::uint8_t>(x));
  v.push_back(static_cast<std::uint8_t>(x >> 8));
}
void le32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  le16(v, static_cast<std::uint16_t>(x));
  le16(v, static_cast<std::uint16_t>(x >> 16));
}

std::uint32_t sum16(const std::uint8_t* p, std::size_t n, std::uint32_t acc = 0) {
  for (std::size_t i = 0; i + 1 < n; i += 2) acc += static_cast<std::uint32_t>((p[i] << 8) | p[i + 1]);
  if (n & 1) acc += static_cast<std::uint32_t>(p[n - 1] << 8);
  return acc;
}
std::uint16_t fold(std::uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xFFFF) + (acc >> 16);
  return static_cast<std::uint16_t>(~acc);
}

std::vector<std::uint8_t> tcp_segment(const Endpoint& src, const Endpoint& dst, std::uint32_t seq, std::uint32_t ack,
                                      std::uint8_t flags, std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> t;
  put16(t, src.port);
  put16(t, dst.port);
  put32(t, seq);
  put32(t, ack);
  t.push_back(0x50);  // data offset 5 words
  t.push_back(flags);
  put16(t, 65535);  // window
  put16(t, 0);      // checksum, below
  put16(t, 0);      // urgent pointer
  t.insert(t.end(), payload.begin(), payload.end());
  // Checksum over the pseudo-header and the segment.
  std::uint32_t acc = 0;
  std::size_t alen = src.ip.v6 ? 16 : 4;
  acc = sum16(src.ip.b.data(), alen, acc);
  acc = sum16(dst.ip.b.data(), alen, acc);
  acc += 6;
  acc += static_cast<std::uint32_t>(t.size() & 0xFFFF) + static_cast<std::uint32_t>(t.size() >> 16);
  acc = sum16(t.data(), t.size(), acc);
  std::uint16_t c = fold(acc);
  t[16] = static_cast<std::uint8_t>(c >> 8);
  t[17] = static_cast<std::uint8_t>(c);
  return t;
}

std::vector<std::uint8_t> ipv4(const Endpoint& src, const Endpoint& dst, std::uint16_t id, std::uint16_t frag,
                               std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> ip;
  ip.push_back(0x45);
  ip.push_back(0);
  put16(ip, static_cast<std::uint16_t>(20 + payload.size()));
  put16(ip, id);
  put16(ip, frag);
  ip.push_back(64);
  ip.push_back(6);
  put16(ip, 0);
  ip.insert(ip.end(), src.ip.b.begin(), src.ip.b.begin() + 4);
  ip.insert(ip.end(), dst.ip.b.begin(), dst.ip.b.begin() + 4);
  std::uint16_t c = fold(sum16(ip.data(), 20));
  ip[10] = static_cast<std::uint8_t>(c >> 8);
  ip[11] = static_cast<std::uint8_t>(c);
  ip.insert(ip.end(), payload.begin(), payload.end());
  return ip;
}

std::vector<std::uint8_t> ipv6(const Endpoint& src, const Endpoint& dst, std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> ip;
  put32(ip, 0x60000000u);
  put16(ip, static_cast<std::uint16_t>(payload.size()));
  ip.push_back(6);
  ip.push_back(64);
  ip.insert(ip.end(), src.ip.b.begin(), src.ip.b.end());
  ip.insert(ip.end(), dst.ip.b.begin(), dst.ip.b.end());
  ip.insert(ip.end(), payload.begin(), payload.end());
  return ip;
}

std::vector<std::uint8_t> wrap(const LinkSpec& link, bool v6, std::vector<std::uint8_t> ip) {
  std::vector<std::uint8_t> f;
  f.reserve(32 + 4 * link.vlans.size() + ip.size());
  const std::uint16_t ethertype = v6 ? 0x86DD : 0x0800;
  switch (link.link_type) {
    case kLinkEthernet: {
      const std::uint8_t macs[12] = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
      for (std::uint8_t m : macs) f.push_back(m);
      for (std::size_t i = 0; i < link.vlans.size(); ++i) {
        put16(f, i == 0 && link.vlans.size() > 1 ? 0x88A8 : 0x8100);
        put16(f, link.vlans[i]);
      }
      put16(f, ethertype);
      break;
    }
    case kLinkLinuxSll:
      put16(f, 0);  // packet type: to us
      put16(f, 1);  // ARPHRD_ETHER
      put16(f, 6);  // address length
      for (int i = 0; i < 8; ++i) f.push_back(i == 0 ? 0x02 : 0);
      put16(f, ethertype);
      break;
    case kLinkLinuxSll2:
      put16(f, ethertype);
      put16(f, 0);     // reserved
      put32(f, 1);     // interface index
      put16(f, 1);     // ARPHRD_ETHER
      f.push_back(0);  // packet type
      f.push_back(6);  // address length
      for (int i = 0; i < 8; ++i) f.push_back(i == 0 ? 0x02 : 0);
      break;
    case kLinkNull: le32(f, v6 ? 30u : 2u); break;  // host byte order (little-endian writer)
    case kLinkLoop: put32(f, v6 ? 30u : 2u); break;
    default: break;  // raw IP
  }
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

}  // namespace

std::vector<std::uint8_t> build_tcp_frame(const LinkSpec& link, const Endpoint& src, const Endpoint& dst,
                                          std::uint32_t seq, std::uint32_t ack, std::uint8_t flags,
                                          std::span<const std::uint8_t> payload, std::uint16_t ip_id) {
  auto seg = tcp_segment(src, dst, seq, ack, flags, payload);
  auto ip = src.ip.v6 ? ipv6(src, dst, seg) : ipv4(src, dst, ip_id, 0x4000 /* DF */, seg);
  return wrap(link, src.ip.v6, std::move(ip));
}

std::vector<std::vector<std::uint8_t>> build_fragmented_tcp(const LinkSpec& link, const Endpoint& src,
                                                            const Endpoint& dst, std::uint32_t seq, std::uint32_t ack,
                                                            std::uint8_t flags, std::span<const std::uint8_t> payload,
                                                            std::uint16_t ip_id, std::size_t frag_payload) {
  auto seg = tcp_segment(src, dst, seq, ack, flags, payload);
  std::vector<std::vector<std::uint8_t>> frames;
  frag_payload = std::max<std::size_t>(8, frag_payload & ~std::size_t{7});
  for (std::size_t off = 0; off < seg.size(); off += frag_payload) {
    std::size_t n = std::min(frag_payload, seg.size() - off);
    bool more = off + n < seg.size();
    auto fo = static_cast<std::uint16_t>((more ? 0x2000u : 0u) | ((off / 8) & 0x1FFFu));
    frames.push_back(wrap(link, false, ipv4(src, dst, ip_id, fo, std::span<const std::uint8_t>(seg).subspan(off, n))));
  }
  return frames;
}

// ------------------------------------------------------------------------------------------ pcap

bool PcapWriter::open(const std::string& path, std::uint32_t link_type, bool nanos, std::uint32_t snaplen) {
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) return false;
  nanos_ = nanos;
  std::vector<std::uint8_t> h;
  le32(h, nanos ? 0xA1B23C4Du : 0xA1B2C3D4u);
  le16(h, 2);
  le16(h, 4);
  le32(h, 0);
  le32(h, 0);
  le32(h, snaplen);
  le32(h, link_type);
  return std::fwrite(h.data(), 1, h.size(), f_) == h.size();
}

bool PcapWriter::write(std::int64_t ts_ns, std::span<const std::uint8_t> data, std::uint32_t orig_len, std::uint32_t) {
  if (!f_) return false;
  std::vector<std::uint8_t> h;
  le32(h, static_cast<std::uint32_t>(ts_ns / 1000000000));
  le32(h, static_cast<std::uint32_t>(nanos_ ? ts_ns % 1000000000 : (ts_ns % 1000000000) / 1000));
  le32(h, static_cast<std::uint32_t>(data.size()));
  le32(h, orig_len ? orig_len : static_cast<std::uint32_t>(data.size()));
  return std::fwrite(h.data(), 1, h.size(), f_) == h.size() &&
         std::fwrite(data.data(), 1, data.size(), f_) == data.size();
}

bool PcapWriter::close() {
  if (!f_) return true;
  bool ok = std::fclose(f_) == 0;
  f_ = nullptr;
  return ok;
}

// ------------------------------------------------------------------------------------------ pcapng

void PcapngWriter::block(std::uint32_t type, const std::vector<std::uint8_t>& body) {
  std::vector<std::uint8_t> b;
  std::uint32_t padded = static_cast<std::uint32_t>((body.size() + 3) & ~std::size_t{3});
  std::uint32_t total = 12 + padded;
  le32(b, type);
  le32(b, total);
  b.insert(b.end(), body.begin(), body.end());
  b.resize(8 + padded, 0);
  le32(b, total);
  std::fwrite(b.data(), 1, b.size(), f_);
}

bool PcapngWriter::open(const std::string& path) {
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) return false;
  std::vector<std::uint8_t> shb;
  le32(shb, 0x1A2B3C4D);
  le16(shb, 1);
  le16(shb, 0);
  le32(shb, 0xFFFFFFFF);  // section length unknown
  le32(shb, 0xFFFFFFFF);
  block(0x0A0D0D0A, shb);
  return true;
}

std::uint32_t PcapngWriter::add_interface(std::uint32_t link_type, std::uint32_t snaplen) {
  std::vector<std::uint8_t> idb;
  le16(idb, static_cast<std::uint16_t>(link_type));
  le16(idb, 0);
  le32(idb, snaplen);
  le16(idb, 9);  // if_tsresol: 10^-9
  le16(idb, 1);
  idb.push_back(9);
  idb.resize(idb.size() + 3, 0);
  le16(idb, 0);  // opt_endofopt
  le16(idb, 0);
  block(1, idb);
  return ifaces_++;
}

bool PcapngWriter::write(std::int64_t ts_ns, std::span<const std::uint8_t> data, std::uint32_t orig_len,
                         std::uint32_t interface) {
  if (!f_) return false;
  std::vector<std::uint8_t> epb;
  auto ts = static_cast<std::uint64_t>(ts_ns);
  le32(epb, interface);
  le32(epb, static_cast<std::uint32_t>(ts >> 32));
  le32(epb, static_cast<std::uint32_t>(ts));
  le32(epb, static_cast<std::uint32_t>(data.size()));
  le32(epb, orig_len ? orig_len : static_cast<std::uint32_t>(data.size()));
  epb.insert(epb.end(), data.begin(), data.end());
  block(6, epb);
  return !std::ferror(f_);
}

bool PcapngWriter::close() {
  if (!f_) return true;
  bool ok = std::fclose(f_) == 0;
  f_ = nullptr;
  return ok;
}

// ------------------------------------------------------------------------------------------ conversation

TcpConversation::TcpConversation(CaptureWriter& out, LinkSpec link, Endpoint client, Endpoint server,
                                 std::uint32_t client_isn, std::uint32_t server_isn)
    : out_(out), link_(std::move(link)), c_(client), s_(server), cseq_(client_isn), sseq_(server_isn) {}

void TcpConversation::handshake(std::int64_t ts) {
  out_.write(ts, build_tcp_frame(link_, c_, s_, cseq_, 0, tcpflag::syn, {}, ip_id_++));
  out_.write(ts + 1000, build_tcp_frame(link_, s_, c_, sseq_, cseq_ + 1, tcpflag::syn | tcpflag::ack, {}, ip_id_++));
  ++cseq_;
  ++sseq_;
  out_.write(ts + 2000, build_tcp_frame(link_, c_, s_, cseq_, sseq_, tcpflag::ack, {}, ip_id_++));
}

void TcpConversation::send(bool from_client, std::span<const std::uint8_t> payload, std::int64_t ts, std::size_t mss) {
  std::size_t off = 0;
  do {
    std::size_t n = std::min(mss, payload.size() - off);
    raw_segment(from_client, from_client ? cseq_ : sseq_, payload.subspan(off, n), ts);
    (from_client ? cseq_ : sseq_) += static_cast<std::uint32_t>(n);
    off += n;
    ts += 10000;
  } while (off < payload.size());
}

void TcpConversation::raw_segment(bool from_client, std::uint32_t seq, std::span<const std::uint8_t> payload,
                                  std::int64_t ts, std::uint8_t flags) {
  const Endpoint& src = from_client ? c_ : s_;
  const Endpoint& dst = from_client ? s_ : c_;
  std::uint32_t ack = from_client ? sseq_ : cseq_;
  out_.write(ts, build_tcp_frame(link_, src, dst, seq, ack, flags, payload, ip_id_++));
}

void TcpConversation::close(std::int64_t ts) {
  out_.write(ts, build_tcp_frame(link_, c_, s_, cseq_, sseq_, tcpflag::fin | tcpflag::ack, {}, ip_id_++));
  ++cseq_;
  out_.write(ts + 1000, build_tcp_frame(link_, s_, c_, sseq_, cseq_, tcpflag::fin | tcpflag::ack, {}, ip_id_++));
  ++sseq_;
  out_.write(ts + 2000, build_tcp_frame(link_, c_, s_, cseq_, sseq_, tcpflag::ack, {}, ip_id_++));
}

void TcpConversation::reset(bool from_client, std::int64_t ts) {
  raw_segment(from_client, from_client ? cseq_ : sseq_, {}, ts, tcpflag::rst | tcpflag::ack);
}

}  // namespace mqttauth::cli
