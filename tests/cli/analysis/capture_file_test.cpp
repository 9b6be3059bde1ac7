// CaptureReader: pcap (µs, ns, either byte order), pcapng (interfaces of different link types, if_tsresol,
// simple packet blocks, unknown blocks, either byte order), and every way a file can be damaged or not be a
// capture at all.
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "cli_helpers.hpp"

using namespace mqttauth;
using namespace mqttauth::cli;
using namespace mqttauth::clitest;
using Status = CaptureReader::Status;

namespace {

// Little / big-endian appenders for building files by hand.
void le16(Buf& b, std::uint16_t x) {
  b.push_back(static_cast<std::uint8_t>(x));
  b.push_back(static_cast<std::uint8_t>(x >> 8));
}
void le32(Buf& b, std::uint32_t x) {
  le16(b, static_cast<std::uint16_t>(x));
  le16(b, static_cast<std::uint16_t>(x >> 16));
}
void be16(Buf& b, std::uint16_t x) {
  b.push_back(static_cast<std::uint8_t>(x >> 8));
  b.push_back(static_cast<std::uint8_t>(x));
}
void be32(Buf& b, std::uint32_t x) {
  be16(b, static_cast<std::uint16_t>(x >> 16));
  be16(b, static_cast<std::uint16_t>(x));
}

// A pcapng file built block by block, in either byte order.
struct Pcapng {
  bool big = false;
  Buf out;
  void u16(Buf& b, std::uint16_t x) const { big ? be16(b, x) : le16(b, x); }
  void u32(Buf& b, std::uint32_t x) const { big ? be32(b, x) : le32(b, x); }
  void block(std::uint32_t type, Buf body) {
    body.resize((body.size() + 3) & ~std::size_t{3}, 0);
    auto total = static_cast<std::uint32_t>(12 + body.size());
    u32(out, type);
    u32(out, total);
    out.insert(out.end(), body.begin(), body.end());
    u32(out, total);
  }
  void shb() {
    Buf b;
    u32(b, 0x1A2B3C4D);
    u16(b, 1);
    u16(b, 0);
    u32(b, 0xFFFFFFFF);
    u32(b, 0xFFFFFFFF);
    block(0x0A0D0D0A, b);
  }
  // tsresol: the if_tsresol byte, or -1 for none (microseconds).
  void idb(std::uint16_t link, int tsresol = -1, std::int64_t tsoffset = 0, std::uint32_t snaplen = 65535) {
    Buf b;
    u16(b, link);
    u16(b, 0);
    u32(b, snaplen);
    if (tsresol >= 0) {
      u16(b, 9);
      u16(b, 1);
      b.push_back(static_cast<std::uint8_t>(tsresol));
      b.resize(b.size() + 3, 0);
    }
    if (tsoffset != 0) {
      u16(b, 14);
      u16(b, 8);
      auto v = static_cast<std::uint64_t>(tsoffset);
      if (big) {
        u32(b, static_cast<std::uint32_t>(v >> 32));
        u32(b, static_cast<std::uint32_t>(v));
      } else {
        u32(b, static_cast<std::uint32_t>(v));
        u32(b, static_cast<std::uint32_t>(v >> 32));
      }
    }
    u16(b, 0);
    u16(b, 0);
    block(1, b);
  }
  void epb(std::uint32_t ifid, std::uint64_t ts_units, const Buf& data, std::uint32_t orig = 0) {
    Buf b;
    u32(b, ifid);
    u32(b, static_cast<std::uint32_t>(ts_units >> 32));
    u32(b, static_cast<std::uint32_t>(ts_units));
    u32(b, static_cast<std::uint32_t>(data.size()));
    u32(b, orig ? orig : static_cast<std::uint32_t>(data.size()));
    b.insert(b.end(), data.begin(), data.end());
    block(6, b);
  }
  void spb(const Buf& data, std::uint32_t orig = 0) {
    Buf b;
    u32(b, orig ? orig : static_cast<std::uint32_t>(data.size()));
    b.insert(b.end(), data.begin(), data.end());
    block(3, b);
  }
};

// A pcap file built by hand (either byte order, µs or ns).
Buf pcap_by_hand(bool big, bool nanos, std::uint32_t link, const std::vector<std::pair<std::uint64_t, Buf>>& recs) {
  Buf b;
  auto u16 = [&](std::uint16_t x) { big ? be16(b, x) : le16(b, x); };
  auto u32 = [&](std::uint32_t x) { big ? be32(b, x) : le32(b, x); };
  u32(nanos ? 0xA1B23C4D : 0xA1B2C3D4);
  u16(2);
  u16(4);
  u32(0);
  u32(0);
  u32(262144);
  u32(link);
  for (const auto& [ts_ns, data] : recs) {
    u32(static_cast<std::uint32_t>(ts_ns / 1000000000));
    u32(static_cast<std::uint32_t>(nanos ? ts_ns % 1000000000 : ts_ns % 1000000000 / 1000));
    u32(static_cast<std::uint32_t>(data.size()));
    u32(static_cast<std::uint32_t>(data.size() + 10));
    b.insert(b.end(), data.begin(), data.end());
  }
  return b;
}

const std::int64_t kT0 = 1700000000LL * 1000000000LL;

}  // namespace

TEST(CaptureFile, PcapMicrosecondsRoundTrip) {
  auto path = temp_path("us.pcap");
  {
    PcapWriter w;
    ASSERT_TRUE(w.open(path, kLinkEthernet, false));
    ASSERT_TRUE(w.write(kT0 + 123456789, pattern(60)));
    ASSERT_TRUE(w.write(kT0 + 2000001000, pattern(1514, 3), 9000));
    ASSERT_TRUE(w.close());
  }
  auto r = read_capture(path);
  ASSERT_TRUE(r.opened) << r.open_error;
  EXPECT_EQ(r.format, CaptureReader::Format::pcap);
  EXPECT_EQ(r.status, Status::end) << r.error;
  ASSERT_EQ(r.recs.size(), 2u);
  EXPECT_EQ(r.recs[0].frame, 1u);
  EXPECT_EQ(r.recs[0].ts_ns, kT0 + 123456000);  // microseconds: the nanoseconds are cut
  EXPECT_EQ(r.recs[0].link_type, kLinkEthernet);
  EXPECT_EQ(r.recs[0].data, pattern(60));
  EXPECT_EQ(r.recs[0].orig_len, 60u);
  EXPECT_EQ(r.recs[0].file_offset, 24u);
  EXPECT_EQ(r.recs[1].frame, 2u);
  EXPECT_EQ(r.recs[1].ts_ns, kT0 + 2000001000);
  EXPECT_EQ(r.recs[1].data, pattern(1514, 3));
  EXPECT_EQ(r.recs[1].orig_len, 9000u);
  EXPECT_EQ(r.recs[1].file_offset, 24u + 16 + 60);
}

TEST(CaptureFile, PcapNanosecondsRoundTrip) {
  auto path = temp_path("ns.pcap");
  {
    PcapWriter w;
    ASSERT_TRUE(w.open(path, kLinkRaw, true));
    ASSERT_TRUE(w.write(kT0 + 123456789, pattern(40)));
    ASSERT_TRUE(w.close());
  }
  auto r = read_capture(path);
  ASSERT_TRUE(r.opened) << r.open_error;
  ASSERT_EQ(r.recs.size(), 1u);
  EXPECT_EQ(r.recs[0].ts_ns, kT0 + 123456789);
  EXPECT_EQ(r.recs[0].link_type, kLinkRaw);
}

TEST(CaptureFile, PcapBigEndianByHand) {
  for (bool nanos : {false, true}) {
    auto path = temp_path("be.pcap");
    write_file(path,
               pcap_by_hand(true, nanos, kLinkLinuxSll, {{kT0 + 5000, pattern(33)}, {kT0 + 7000000, pattern(70, 1)}}));
    auto r = read_capture(path);
    ASSERT_TRUE(r.opened) << r.open_error;
    EXPECT_EQ(r.status, Status::end) << r.error;
    ASSERT_EQ(r.recs.size(), 2u);
    EXPECT_EQ(r.recs[0].link_type, kLinkLinuxSll);
    EXPECT_EQ(r.recs[0].ts_ns, kT0 + 5000);
    EXPECT_EQ(r.recs[0].orig_len, 43u);
    EXPECT_EQ(r.recs[0].data, pattern(33));
    EXPECT_EQ(r.recs[1].ts_ns, kT0 + 7000000);
    EXPECT_EQ(r.recs[1].data, pattern(70, 1));
  }
}

TEST(CaptureFile, PcapLinkTypeUpperBitsIgnored) {
  // The upper bits of the link type field carry FCS information.
  auto bytes = pcap_by_hand(false, false, 0x10000000u | kLinkEthernet, {{kT0, pattern(20)}});
  auto path = temp_path("fcs.pcap");
  write_file(path, bytes);
  auto r = read_capture(path);
  ASSERT_EQ(r.recs.size(), 1u);
  EXPECT_EQ(r.recs[0].link_type, kLinkEthernet);
}

TEST(CaptureFile, PcapngWriterSeveralInterfacesOfDifferentLinkTypes) {
  auto path = temp_path("multi.pcapng");
  {
    PcapngWriter w;
    ASSERT_TRUE(w.open(path));
    EXPECT_EQ(w.add_interface(kLinkEthernet), 0u);
    EXPECT_EQ(w.add_interface(kLinkLinuxSll2), 1u);
    EXPECT_EQ(w.add_interface(kLinkRaw), 2u);
    ASSERT_TRUE(w.write(kT0 + 1, pattern(54), 0, 0));
    ASSERT_TRUE(w.write(kT0 + 2, pattern(61), 0, 1));  // not a multiple of 4: padded
    ASSERT_TRUE(w.write(kT0 + 3, pattern(40), 1500, 2));
    ASSERT_TRUE(w.close());
  }
  auto r = read_capture(path);
  ASSERT_TRUE(r.opened) << r.open_error;
  EXPECT_EQ(r.format, CaptureReader::Format::pcapng);
  EXPECT_EQ(r.status, Status::end) << r.error;
  ASSERT_EQ(r.recs.size(), 3u);
  EXPECT_EQ(r.recs[0].link_type, kLinkEthernet);
  EXPECT_EQ(r.recs[1].link_type, kLinkLinuxSll2);
  EXPECT_EQ(r.recs[2].link_type, kLinkRaw);
  for (std::uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.recs[i].interface, i);
    EXPECT_EQ(r.recs[i].frame, i + 1);
    EXPECT_EQ(r.recs[i].ts_ns, kT0 + i + 1);  // the writer uses nanosecond resolution
  }
  EXPECT_EQ(r.recs[1].data, pattern(61));
  EXPECT_EQ(r.recs[2].orig_len, 1500u);
}

TEST(CaptureFile, PcapngTimestampResolutions) {
  Pcapng p;
  p.shb();
  p.idb(kLinkEthernet);        // default: microseconds
  p.idb(kLinkLinuxSll2, 3);    // milliseconds
  p.idb(kLinkRaw, 0x80 | 10);  // 2^-10 s
  p.idb(kLinkIpv4, 9, 100);    // nanoseconds, 100 s offset
  p.epb(0, 1700000000123456ull, pattern(10));
  p.epb(1, 1700000000123ull, pattern(11));
  p.epb(2, 1024ull * 1700000000 + 512, pattern(12));
  p.epb(3, 5, pattern(13));
  auto path = temp_path("tsresol.pcapng");
  write_file(path, p.out);
  auto r = read_capture(path);
  ASSERT_EQ(r.status, Status::end) << r.error;
  ASSERT_EQ(r.recs.size(), 4u);
  EXPECT_EQ(r.recs[0].ts_ns, kT0 + 123456000);
  EXPECT_EQ(r.recs[1].ts_ns, kT0 + 123000000);
  EXPECT_EQ(r.recs[2].ts_ns, kT0 + 500000000);
  EXPECT_EQ(r.recs[3].ts_ns, 100LL * 1000000000 + 5);
  EXPECT_EQ(r.recs[1].link_type, kLinkLinuxSll2);
  EXPECT_EQ(r.recs[3].link_type, kLinkIpv4);
}

TEST(CaptureFile, PcapngSimplePacketBlocksAndUnknownBlocks) {
  Pcapng p;
  p.shb();
  p.block(0x0BADBEEF, pattern(17));  // unknown: skipped
  p.idb(kLinkEthernet, -1, 0, 50);   // snap length 50: simple packet blocks have no captured length
  p.block(4, Buf{0, 0, 0, 0});       // name resolution block: skipped
  p.spb(pattern(30));
  p.block(5, pattern(24));  // interface statistics: skipped
  p.spb(pattern(50), 70);   // snap-length cut
  p.epb(0, 7, pattern(5));
  auto path = temp_path("spb.pcapng");
  write_file(path, p.out);
  auto r = read_capture(path);
  ASSERT_EQ(r.status, Status::end) << r.error;
  ASSERT_EQ(r.recs.size(), 3u);
  EXPECT_EQ(r.recs[0].data, pattern(30));
  EXPECT_EQ(r.recs[0].link_type, kLinkEthernet);
  EXPECT_EQ(r.recs[1].data, pattern(50));
  EXPECT_EQ(r.recs[1].orig_len, 70u);
  EXPECT_EQ(r.recs[2].ts_ns, 7000);
  EXPECT_EQ(r.recs[2].frame, 3u);
}

TEST(CaptureFile, PcapngBigEndianAndSecondSection) {
  Pcapng p;
  p.big = true;
  p.shb();
  p.idb(kLinkLoop, 9);
  p.epb(0, 42, pattern(21));
  // A second, little-endian section: its interfaces replace the first section's.
  Pcapng q;
  q.shb();
  q.idb(kLinkLinuxSll);
  q.epb(0, 1, pattern(22));
  auto bytes = concat({p.out, q.out});
  auto path = temp_path("be.pcapng");
  write_file(path, bytes);
  auto r = read_capture(path);
  ASSERT_EQ(r.status, Status::end) << r.error;
  ASSERT_EQ(r.recs.size(), 2u);
  EXPECT_EQ(r.recs[0].link_type, kLinkLoop);
  EXPECT_EQ(r.recs[0].ts_ns, 42);
  EXPECT_EQ(r.recs[0].data, pattern(21));
  EXPECT_EQ(r.recs[1].link_type, kLinkLinuxSll);
  EXPECT_EQ(r.recs[1].ts_ns, 1000);
}

TEST(CaptureFile, PcapngPacketForUndescribedInterfaceIsCorrupt) {
  Pcapng p;
  p.shb();
  p.idb(kLinkEthernet);
  p.epb(0, 1, pattern(8));
  p.epb(3, 2, pattern(8));
  auto path = temp_path("noif.pcapng");
  write_file(path, p.out);
  auto r = read_capture(path);
  EXPECT_EQ(r.recs.size(), 1u);
  EXPECT_EQ(r.status, Status::corrupt);
  EXPECT_NE(r.error.find("interface 3"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("frame 2"), std::string::npos) << r.error;
}

// Cutting a small file at every byte offset: never a crash, the records before the cut delivered, and a
// message naming the frame and byte offset.
TEST(CaptureFile, PcapTruncatedAtEveryOffset) {
  auto path = temp_path("full.pcap");
  {
    PcapWriter w;
    ASSERT_TRUE(w.open(path, kLinkEthernet));
    for (int i = 0; i < 3; ++i) w.write(kT0 + i, pattern(20 + static_cast<std::size_t>(i) * 9));
  }
  const Buf full = read_file(path);
  std::vector<std::size_t> ends;  // where each record ends
  std::size_t at = 24;
  for (int i = 0; i < 3; ++i) {
    at += 16 + 20 + static_cast<std::size_t>(i) * 9;
    ends.push_back(at);
  }
  ASSERT_EQ(at, full.size());
  for (std::size_t cut = 0; cut < full.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    auto cpath = temp_path("cut.pcap");
    write_file(cpath, Buf(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut)));
    auto r = read_capture(cpath);
    if (cut < 24) {
      EXPECT_FALSE(r.opened);
      EXPECT_FALSE(r.open_error.empty());
      EXPECT_NE(r.open_error.find(cpath), std::string::npos) << r.open_error;
      continue;
    }
    ASSERT_TRUE(r.opened) << r.open_error;
    std::size_t whole = 0;
    std::size_t start = 24;
    while (whole < ends.size() && ends[whole] <= cut) start = ends[whole++];
    EXPECT_EQ(r.recs.size(), whole);
    if (cut == start) {
      EXPECT_EQ(r.status, Status::end) << r.error;
    } else {
      EXPECT_EQ(r.status, Status::truncated);
      EXPECT_NE(r.error.find("frame " + std::to_string(whole + 1)), std::string::npos) << r.error;
      EXPECT_NE(r.error.find("byte offset " + std::to_string(start)), std::string::npos) << r.error;
      EXPECT_NE(r.error.find(cpath), std::string::npos) << r.error;
    }
  }
}

TEST(CaptureFile, PcapngTruncatedAtEveryOffset) {
  auto path = temp_path("full.pcapng");
  {
    PcapngWriter w;
    ASSERT_TRUE(w.open(path));
    w.add_interface(kLinkEthernet);
    w.add_interface(kLinkRaw);
    for (std::uint32_t i = 0; i < 3; ++i) w.write(kT0 + i, pattern(20 + i * 9), 0, i % 2);
  }
  const Buf full = read_file(path);
  // Block boundaries, and the end of each packet block.
  std::vector<std::size_t> bounds{0}, pkt_ends;
  for (std::size_t at = 0; at < full.size();) {
    std::uint32_t type, len;
    std::memcpy(&type, &full[at], 4);
    std::memcpy(&len, &full[at + 4], 4);
    at += len;
    bounds.push_back(at);
    if (type == 6) pkt_ends.push_back(at);
  }
  ASSERT_EQ(bounds.back(), full.size());
  ASSERT_EQ(pkt_ends.size(), 3u);
  for (std::size_t cut = 0; cut < full.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    auto cpath = temp_path("cut.pcapng");
    write_file(cpath, Buf(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut)));
    auto r = read_capture(cpath);
    if (cut < 4) {
      EXPECT_FALSE(r.opened);
      EXPECT_FALSE(r.open_error.empty());
      continue;
    }
    ASSERT_TRUE(r.opened) << r.open_error;
    std::size_t whole = 0;
    while (whole < pkt_ends.size() && pkt_ends[whole] <= cut) ++whole;
    EXPECT_EQ(r.recs.size(), whole);
    std::size_t block_start = 0;
    for (auto b : bounds)
      if (b <= cut) block_start = b;
    if (block_start == cut) {
      EXPECT_EQ(r.status, Status::end) << r.error;
    } else {
      EXPECT_EQ(r.status, Status::truncated) << r.error;
      EXPECT_NE(r.error.find("byte offset " + std::to_string(block_start)), std::string::npos) << r.error;
      EXPECT_NE(r.error.find("frame " + std::to_string(whole + 1)), std::string::npos) << r.error;
    }
  }
}

TEST(CaptureFile, PcapngCorruptBlockLength) {
  for (std::uint32_t bad : {0u, 8u, 13u, 0xFFFFFFF0u}) {
    SCOPED_TRACE(bad);
    Pcapng p;
    p.shb();
    p.idb(kLinkEthernet);
    p.epb(0, 1, pattern(16));
    const std::size_t where = p.out.size();
    p.epb(0, 2, pattern(16));
    p.epb(0, 3, pattern(16));
    std::memcpy(&p.out[where + 4], &bad, 4);
    auto path = temp_path("badlen.pcapng");
    write_file(path, p.out);
    auto r = read_capture(path);
    EXPECT_EQ(r.recs.size(), 1u);
    EXPECT_EQ(r.status, Status::corrupt);
    EXPECT_NE(r.error.find("byte offset " + std::to_string(where)), std::string::npos) << r.error;
  }
}

TEST(CaptureFile, PcapngBadByteOrderMagicIsCorrupt) {
  Pcapng p;
  p.shb();
  p.out[8] = 0x55;
  auto path = temp_path("bom.pcapng");
  write_file(path, p.out);
  auto r = read_capture(path);
  ASSERT_TRUE(r.opened);
  EXPECT_EQ(r.status, Status::corrupt);
  EXPECT_NE(r.error.find("byte-order magic"), std::string::npos) << r.error;
}

TEST(CaptureFile, PcapngCapturedLengthBeyondItsBlock) {
  Pcapng p;
  p.shb();
  p.idb(kLinkEthernet);
  const std::size_t where = p.out.size();
  p.epb(0, 1, pattern(16));
  std::uint32_t cap = 1000;
  std::memcpy(&p.out[where + 8 + 12], &cap, 4);
  auto path = temp_path("caplen.pcapng");
  write_file(path, p.out);
  auto r = read_capture(path);
  EXPECT_TRUE(r.recs.empty());
  EXPECT_EQ(r.status, Status::corrupt);
}

TEST(CaptureFile, PcapAbsurdRecordLength) {
  auto bytes = pcap_by_hand(false, false, kLinkEthernet, {{kT0, pattern(20)}, {kT0 + 1, pattern(20)}});
  std::uint32_t absurd = 0xFFFFFFF0u;
  std::memcpy(&bytes[24 + 36 + 8], &absurd, 4);
  auto path = temp_path("absurd.pcap");
  write_file(path, bytes);
  auto r = read_capture(path);
  ASSERT_TRUE(r.opened);
  EXPECT_EQ(r.recs.size(), 1u);
  EXPECT_EQ(r.status, Status::corrupt);
  EXPECT_NE(r.error.find("4294967280"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("frame 2"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("byte offset 60"), std::string::npos) << r.error;
}

TEST(CaptureFile, EmptyFile) {
  auto path = temp_path("empty.pcap");
  write_file(path, {});
  auto r = read_capture(path);
  EXPECT_FALSE(r.opened);
  EXPECT_NE(r.open_error.find(path), std::string::npos);
  EXPECT_NE(r.open_error.find("empty"), std::string::npos) << r.open_error;
}

TEST(CaptureFile, TextFileIsNotACapture) {
  auto path = temp_path("notes.txt");
  std::string text = "this is a text file, not a capture\n";
  write_file(path, Buf(text.begin(), text.end()));
  auto r = read_capture(path);
  EXPECT_FALSE(r.opened);
  EXPECT_NE(r.open_error.find("not a capture file"), std::string::npos) << r.open_error;
}

TEST(CaptureFile, ShortTextFileIsNotACapture) {
  auto path = temp_path("ab.txt");
  write_file(path, Buf{'a', 'b'});
  auto r = read_capture(path);
  EXPECT_FALSE(r.opened);
  EXPECT_NE(r.open_error.find("not a capture file"), std::string::npos) << r.open_error;
}

TEST(CaptureFile, Directory) {
  auto path = temp_path("dir");
  ASSERT_EQ(mkdir(path.c_str(), 0700), 0);
  auto r = read_capture(path);
  EXPECT_FALSE(r.opened);
  EXPECT_NE(r.open_error.find("directory"), std::string::npos) << r.open_error;
}

TEST(CaptureFile, MissingFile) {
  auto path = temp_dir() + "/does-not-exist.pcap";
  auto r = read_capture(path);
  EXPECT_FALSE(r.opened);
  EXPECT_NE(r.open_error.find(path), std::string::npos);
  EXPECT_NE(r.open_error.find("No such file"), std::string::npos) << r.open_error;
}

TEST(CaptureFile, LargeRecordsAcrossBufferRefills) {
  // Records larger than, and straddling, the reader's 1 MB read size.
  auto path = temp_path("big.pcap");
  {
    PcapWriter w;
    ASSERT_TRUE(w.open(path, kLinkRaw, true, 4u << 20));
    for (int i = 0; i < 5; ++i)
      w.write(kT0 + i, pattern(700000 + static_cast<std::size_t>(i), static_cast<std::uint8_t>(i)));
  }
  auto r = read_capture(path);
  ASSERT_EQ(r.status, Status::end) << r.error;
  ASSERT_EQ(r.recs.size(), 5u);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(r.recs[static_cast<std::size_t>(i)].data,
              pattern(700000 + static_cast<std::size_t>(i), static_cast<std::uint8_t>(i)));
}

namespace {

// A pcap of `n` records of 10,000 bytes each (about n * 10 KB).
std::string many_records(const std::string& stem, int n) {
  auto path = temp_path(stem);
  PcapWriter w;
  EXPECT_TRUE(w.open(path, kLinkRaw, true));
  for (int i = 0; i < n; ++i) w.write(kT0 + i, pattern(10000, static_cast<std::uint8_t>(i)));
  return path;
}

}  // namespace

TEST(CaptureFile, AFileThatGrowsIsReadOnAfterResume) {
  // 1 MB of records (the reader's block), then what a capture still being written appends: whole records, then
  // one cut in the middle (truncated until the rest of it arrives).
  const auto path = many_records("grows.pcap", 100);
  CaptureReader r;
  ASSERT_TRUE(r.open(path)) << r.error();
  CaptureRecord rec;
  std::size_t count = 0;
  auto read_all = [&] {
    Status st;
    while ((st = r.next(rec)) == Status::record) {
      EXPECT_EQ(Buf(rec.data.begin(), rec.data.end()), pattern(10000, static_cast<std::uint8_t>(count))) << count;
      ++count;
    }
    return st;
  };
  EXPECT_EQ(read_all(), Status::end) << r.error();
  EXPECT_EQ(count, 100u);
  const std::uint64_t before = r.bytes_read();
  auto append = [&](const Buf& bytes) {
    std::FILE* f = std::fopen(path.c_str(), "ab");
    ASSERT_NE(f, nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  };
  Buf more;
  for (int i = 100; i < 151; ++i) {
    le32(more, 1700000000u);
    le32(more, static_cast<std::uint32_t>(i));
    le32(more, 10000);
    le32(more, 10000);
    auto body = pattern(10000, static_cast<std::uint8_t>(i));
    more.insert(more.end(), body.begin(), body.end());
  }
  const std::size_t cut = more.size() - 5000;  // inside the last record
  append(Buf(more.begin(), more.begin() + static_cast<std::ptrdiff_t>(cut)));
  r.resume();
  EXPECT_EQ(read_all(), Status::truncated);
  EXPECT_EQ(count, 150u);
  append(Buf(more.begin() + static_cast<std::ptrdiff_t>(cut), more.end()));
  r.resume();
  EXPECT_EQ(read_all(), Status::end) << r.error();
  EXPECT_EQ(count, 151u);
  EXPECT_EQ(r.bytes_read(), before + more.size());
}

TEST(CaptureFile, AFileCutShortWhileItIsReadIsReportedNotACrash) {
  // Another program truncates the capture while it is read (it is mapped: the pages past the new end are gone,
  // and touching them raises SIGBUS). The reader stops with `truncated`, saying so; the records wholly before
  // the cut come through intact; at most the one record that straddles the cut comes with its tail zeroed (the
  // rest of the file's last page reads as zeros).
  for (const std::size_t cut : {std::size_t{1000000}, std::size_t{1003520}, std::size_t{3000017}}) {
    const auto path = many_records("cut.pcap", 1000);  // about 10 MB: more than one mapped window
    CaptureReader r;
    ASSERT_TRUE(r.open(path)) << r.error();
    CaptureRecord rec;
    std::size_t count = 0, intact = 0;
    Status st;
    while ((st = r.next(rec)) == Status::record) {
      if (count == 50) {
        ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(cut)), 0);
      }
      if (Buf(rec.data.begin(), rec.data.end()) == pattern(10000, static_cast<std::uint8_t>(count))) ++intact;
      ++count;
    }
    const std::size_t whole = (cut - 24) / 10016;  // records that end at or before the cut
    EXPECT_EQ(st, Status::truncated) << cut;
    EXPECT_NE(r.error().find("cut short while it was being read"), std::string::npos) << r.error();
    EXPECT_GE(intact, whole) << cut;
    EXPECT_LE(count, whole + 1) << cut;
    EXPECT_GE(count, whole) << cut;
  }
}
