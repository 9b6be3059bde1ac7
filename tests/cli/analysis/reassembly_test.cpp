// TcpReassembler: order, retransmissions, overlaps (first bytes received win), wraparound, SYN, mid-stream
// starts, gaps (lost, overflow, snap length, end) and FIN acknowledgements.
#include <algorithm>
#include <span>
#include <string>

#include "cli_helpers.hpp"

using namespace mqttauth;
using namespace mqttauth::cli;
using namespace mqttauth::clitest;

namespace {

Buf str(const std::string& s) { return Buf(s.begin(), s.end()); }

struct Rig {
  TcpReassembler r;
  StreamRecorder sink;
  std::uint32_t isn;
  std::uint64_t frame = 0;
  explicit Rig(std::uint32_t isn_ = 1000, ReassemblyLimits lim = {}) : r(lim), isn(isn_) { r.syn(isn); }
  // Data at stream offset `off` (the SYN took isn).
  void at(std::uint64_t off, const Buf& b, bool fin = false) {
    r.segment(static_cast<std::uint32_t>(isn + 1 + off), b, static_cast<std::uint32_t>(b.size()), fin, ++frame, sink);
  }
  void cut(std::uint64_t off, const Buf& captured, std::uint32_t wire) {
    r.segment(static_cast<std::uint32_t>(isn + 1 + off), captured, wire, false, ++frame, sink);
  }
  void fin(std::uint64_t off) { r.segment(static_cast<std::uint32_t>(isn + 1 + off), {}, 0, true, ++frame, sink); }
  void ack(std::uint64_t off) { r.peer_acked(static_cast<std::uint32_t>(isn + 1 + off), ++frame, sink); }
  void finish() { r.finish(++frame, sink); }
  std::string text() const { return std::string(sink.data.begin(), sink.data.end()); }
};

}  // namespace

TEST(Reassembly, InOrder) {
  Rig g;
  g.at(0, str("hello "));
  g.at(6, str("world"));
  EXPECT_EQ(g.text(), "hello world");
  EXPECT_EQ(g.sink.data_offsets, (std::vector<std::uint64_t>{0, 6}));
  EXPECT_TRUE(g.sink.gaps.empty());
  EXPECT_TRUE(g.sink.tiled);
  EXPECT_EQ(g.r.offset(), 11u);
  EXPECT_EQ(g.r.held_bytes(), 0u);
}

TEST(Reassembly, OutOfOrder) {
  Rig g;
  g.at(10, str("KLMNO"));
  g.at(5, str("FGHIJ"));
  EXPECT_TRUE(g.sink.data.empty());
  EXPECT_EQ(g.r.held_bytes(), 10u);
  g.at(0, str("ABCDE"));
  EXPECT_EQ(g.text(), "ABCDEFGHIJKLMNO");
  EXPECT_TRUE(g.sink.tiled);
  EXPECT_EQ(g.r.held_bytes(), 0u);
  EXPECT_TRUE(g.sink.gaps.empty());
}

TEST(Reassembly, Retransmission) {
  Rig g;
  g.at(0, str("abcdef"));
  g.at(0, str("abcdef"));
  g.at(3, str("defgh"));  // partly old, partly new
  EXPECT_EQ(g.text(), "abcdefgh");
  EXPECT_EQ(g.r.retransmitted_bytes(), 9u);
  // A held segment retransmitted.
  g.at(20, str("xyz"));
  g.at(20, str("xyz"));
  EXPECT_EQ(g.r.held_bytes(), 3u);
  EXPECT_EQ(g.r.retransmitted_bytes(), 12u);
  EXPECT_EQ(g.r.overlap_conflicts(), 0u);
  // A keepalive: one byte before the next expected.
  g.at(7, str("h"));
  EXPECT_EQ(g.text(), "abcdefgh");
}

// The documented policy: the first bytes received for an offset win.
TEST(Reassembly, OverlapInOrderRetransmissionWithOtherBytesIgnored) {
  Rig g;
  g.at(0, str("AAAAAAAAAA"));
  g.at(5, str("bbbbbbbbbb"));
  EXPECT_EQ(g.text(), "AAAAAAAAAAbbbbb");
}

TEST(Reassembly, OverlapHeldBytesWinOverLaterInOrderSegment) {
  Rig g;
  g.at(10, str("HHHHHHHHHH"));      // [10, 20), held
  g.at(0, str("iiiiiiiiiiiiiii"));  // [0, 15): its [10, 15) contradicts what was received first
  EXPECT_EQ(g.text(), "iiiiiiiiiiHHHHHHHHHH");
  EXPECT_TRUE(g.sink.tiled);
  EXPECT_EQ(g.r.held_bytes(), 0u);
}

TEST(Reassembly, OverlapBetweenHeldSegmentsFirstWins) {
  Rig g;
  g.at(10, str("AAAAAAAAAA"));            // [10, 20)
  g.at(5, str("bbbbbbbbbb"));             // [5, 15): only [5, 10) is new
  g.at(15, str("cccccccccc"));            // [15, 25): only [20, 25) is new
  g.at(10, str("dddddddddddddddddddd"));  // [10, 30): only [25, 30) is new
  EXPECT_EQ(g.r.held_bytes(), 25u);
  EXPECT_GE(g.r.overlap_conflicts(), 3u);
  g.at(0, str("eeeee"));
  EXPECT_EQ(g.text(), "eeeeebbbbbAAAAAAAAAAcccccddddd");
  EXPECT_TRUE(g.sink.tiled);
  EXPECT_EQ(g.r.held_bytes(), 0u);
}

TEST(Reassembly, OverlapSameOffsetLongerLaterSegment) {
  Rig g;
  g.at(10, str("AAAAA"));       // [10, 15)
  g.at(10, str("bbbbbbbbbb"));  // [10, 20): only [15, 20) is new
  g.at(0, str("0123456789"));
  EXPECT_EQ(g.text(), "0123456789AAAAAbbbbb");
}

TEST(Reassembly, SequenceWraparound) {
  Rig g(0xFFFFFFF0u);
  Buf all = pattern(100);
  // 10 segments of 10 bytes, out of order around the wrap (offset 15 is sequence number 0).
  for (int i : {1, 0, 3, 2, 5, 4, 9, 6, 8, 7})
    g.at(static_cast<std::uint64_t>(i) * 10, Buf(all.begin() + i * 10, all.begin() + i * 10 + 10));
  EXPECT_EQ(g.sink.data, all);
  EXPECT_TRUE(g.sink.gaps.empty());
  EXPECT_EQ(g.r.offset(), 100u);
  // The acknowledgement of everything, across the wrap: no gap.
  g.ack(100);
  EXPECT_TRUE(g.sink.gaps.empty());
}

TEST(Reassembly, MidStreamStartNearWrap) {
  TcpReassembler r;
  StreamRecorder sink;
  r.segment(0xFFFFFFFBu, str("abcde"), 5, false, 1, sink);
  r.segment(0x00000000u, str("fghij"), 5, false, 2, sink);
  EXPECT_EQ(std::string(sink.data.begin(), sink.data.end()), "abcdefghij");
}

TEST(Reassembly, SynStartsTheStreamAfterIt) {
  TcpReassembler r;
  StreamRecorder sink;
  r.syn(5000);
  EXPECT_TRUE(r.started());
  EXPECT_EQ(r.offset(), 0u);
  r.syn(5000);  // a retransmitted SYN changes nothing
  r.syn(9999);  // nor does a later one on the same stream
  r.segment(5001, str("abc"), 3, false, 1, sink);
  EXPECT_EQ(sink.data_offsets, std::vector<std::uint64_t>{0});
  EXPECT_EQ(std::string(sink.data.begin(), sink.data.end()), "abc");
  // The SYN's acknowledgement by the peer (isn + 1) is no gap.
  r.peer_acked(5001, 2, sink);
  EXPECT_TRUE(sink.gaps.empty());
}

TEST(Reassembly, MidStreamStartsAtFirstSegment) {
  TcpReassembler r;
  StreamRecorder sink;
  EXPECT_FALSE(r.started());
  r.peer_acked(123, 1, sink);  // nothing to do before the stream started
  r.segment(777777, str("xyz"), 3, false, 2, sink);
  EXPECT_TRUE(r.started());
  EXPECT_EQ(sink.data_offsets, std::vector<std::uint64_t>{0});
  // Data before the first segment seen is not followed.
  r.segment(777770, str("1234567"), 7, false, 3, sink);
  EXPECT_EQ(std::string(sink.data.begin(), sink.data.end()), "xyz");
  // An acknowledgement of bytes before the start is no gap.
  r.peer_acked(777775, 4, sink);
  EXPECT_TRUE(sink.gaps.empty());
}

TEST(Reassembly, LostSegmentReportedWhenPeerAcknowledgesPastIt) {
  Rig g;
  g.at(0, str("aaaaa"));
  // [5, 10) lost.
  g.at(10, str("ccccc"));
  EXPECT_TRUE(g.sink.gaps.empty());
  g.ack(5);  // acknowledges only what was captured: nothing lost yet
  EXPECT_TRUE(g.sink.gaps.empty());
  g.ack(15);
  ASSERT_EQ(g.sink.gaps.size(), 1u);
  EXPECT_EQ(g.sink.gaps[0].offset, 5u);
  EXPECT_EQ(g.sink.gaps[0].bytes, 5u);
  EXPECT_EQ(g.sink.gaps[0].why, GapReason::lost);
  EXPECT_EQ(g.text(), "aaaaaccccc");
  EXPECT_TRUE(g.sink.tiled);
  EXPECT_EQ(g.r.gap_bytes(), 5u);
}

TEST(Reassembly, LostSegmentsSeveralHolesBelowTheAck) {
  Rig g;
  g.at(0, str("aa"));
  g.at(4, str("cc"));
  g.at(8, str("ee"));
  g.at(14, str("gg"));
  g.ack(10);  // holes [2, 4) and [6, 8) are lost; [10, 14) is not acknowledged yet
  ASSERT_EQ(g.sink.gaps.size(), 2u);
  EXPECT_EQ(g.sink.gaps[0].offset, 2u);
  EXPECT_EQ(g.sink.gaps[1].offset, 6u);
  EXPECT_EQ(g.text(), "aaccee");
  EXPECT_EQ(g.r.held_bytes(), 2u);
}

TEST(Reassembly, LostTailAcknowledgedWithNothingHeld) {
  Rig g;
  g.at(0, str("aaaa"));
  g.ack(10);  // the peer got 6 bytes the capture never saw
  ASSERT_EQ(g.sink.gaps.size(), 1u);
  EXPECT_EQ(g.sink.gaps[0].offset, 4u);
  EXPECT_EQ(g.sink.gaps[0].bytes, 6u);
  EXPECT_EQ(g.sink.gaps[0].why, GapReason::lost);
  g.at(10, str("bb"));
  EXPECT_EQ(g.text(), "aaaabb");
}

TEST(Reassembly, OverflowOfHeldBytes) {
  ReassemblyLimits lim;
  lim.max_held_bytes = 1000;
  Rig g(1000, lim);
  g.at(0, str("start"));
  // [5, 100) never arrives; 30 segments of 100 bytes follow.
  Buf all = pattern(3000);
  for (int i = 0; i < 30; ++i) {
    g.at(100 + static_cast<std::uint64_t>(i) * 100, Buf(all.begin() + i * 100, all.begin() + i * 100 + 100));
    ASSERT_LE(g.r.held_bytes(), lim.max_held_bytes);
  }
  ASSERT_FALSE(g.sink.gaps.empty());
  EXPECT_EQ(g.sink.gaps[0].offset, 5u);
  EXPECT_EQ(g.sink.gaps[0].bytes, 95u);
  EXPECT_EQ(g.sink.gaps[0].why, GapReason::overflow);
  EXPECT_EQ(g.sink.gaps.size(), 1u);
  EXPECT_EQ(Buf(g.sink.data.begin() + 5, g.sink.data.end()), all);
  EXPECT_TRUE(g.sink.tiled);
}

TEST(Reassembly, OverflowWithManyHolesStaysBounded) {
  ReassemblyLimits lim;
  lim.max_held_bytes = 4096;
  lim.max_held_segments = 16;
  Rig g(1, lim);
  // Every other 1000-byte block: a hole before each.
  for (std::uint64_t i = 1; i < 200; i += 2) {
    g.at(i * 1000, pattern(1000, static_cast<std::uint8_t>(i)));
    ASSERT_LE(g.r.held_bytes(), lim.max_held_bytes);
  }
  for (const auto& gap : g.sink.gaps) EXPECT_EQ(gap.why, GapReason::overflow);
  EXPECT_TRUE(g.sink.tiled);
}

TEST(Reassembly, FinishWithHolesReportsEnd) {
  Rig g;
  g.at(0, str("aa"));
  g.at(5, str("dd"));
  g.at(9, str("ff"));
  g.finish();
  ASSERT_EQ(g.sink.gaps.size(), 2u);
  EXPECT_EQ(g.sink.gaps[0].offset, 2u);
  EXPECT_EQ(g.sink.gaps[0].bytes, 3u);
  EXPECT_EQ(g.sink.gaps[0].why, GapReason::end);
  EXPECT_EQ(g.sink.gaps[1].offset, 7u);
  EXPECT_EQ(g.sink.gaps[1].why, GapReason::end);
  EXPECT_EQ(g.text(), "aaddff");
  EXPECT_EQ(g.r.held_bytes(), 0u);
}

TEST(Reassembly, FinishWithBytesMissingBeforeTheFin) {
  Rig g;
  g.at(0, str("aaaa"));
  // [4, 10) lost, then the FIN.
  g.fin(10);
  EXPECT_TRUE(g.sink.gaps.empty());
  g.finish();
  ASSERT_EQ(g.sink.gaps.size(), 1u);
  EXPECT_EQ(g.sink.gaps[0].offset, 4u);
  EXPECT_EQ(g.sink.gaps[0].bytes, 6u);
  EXPECT_EQ(g.sink.gaps[0].why, GapReason::end);
}

TEST(Reassembly, SnapLengthCutInOrder) {
  Rig g;
  g.cut(0, pattern(100), 1000);
  ASSERT_EQ(g.sink.gaps.size(), 1u);
  EXPECT_EQ(g.sink.gaps[0].offset, 100u);
  EXPECT_EQ(g.sink.gaps[0].bytes, 900u);
  EXPECT_EQ(g.sink.gaps[0].why, GapReason::snap_length);
  g.at(1000, str("next"));
  EXPECT_EQ(g.sink.data.size(), 104u);
  EXPECT_TRUE(g.sink.tiled);
}

TEST(Reassembly, SnapLengthCutHeldSegment) {
  Rig g;
  g.cut(10, pattern(20), 200);  // held, its [30, 210) was cut
  g.at(210, str("zz"));
  g.at(0, pattern(10, 9));  // fills the first hole
  EXPECT_EQ(g.sink.data.size(), 30u);
  ASSERT_TRUE(g.sink.gaps.empty());
  g.ack(212);
  ASSERT_EQ(g.sink.gaps.size(), 1u);
  EXPECT_EQ(g.sink.gaps[0].offset, 30u);
  EXPECT_EQ(g.sink.gaps[0].bytes, 180u);
  EXPECT_EQ(g.sink.gaps[0].why, GapReason::snap_length);
  EXPECT_EQ(g.sink.data.size(), 32u);
}

TEST(Reassembly, FinAcknowledgementMakesNoGap) {
  {
    SCOPED_TRACE("FIN on the last data segment");
    Rig g;
    g.at(0, str("bye"), true);
    g.ack(4);  // the FIN takes sequence number 3
    g.finish();
    EXPECT_TRUE(g.sink.gaps.empty());
    EXPECT_EQ(g.text(), "bye");
  }
  {
    SCOPED_TRACE("FIN alone");
    Rig g;
    g.at(0, str("bye"));
    g.fin(3);
    g.ack(4);
    g.finish();
    EXPECT_TRUE(g.sink.gaps.empty());
  }
  {
    SCOPED_TRACE("FIN without data, mid-stream");
    TcpReassembler r;
    StreamRecorder sink;
    r.segment(500, {}, 0, true, 1, sink);
    r.peer_acked(501, 2, sink);
    r.finish(3, sink);
    EXPECT_TRUE(sink.gaps.empty());
  }
  {
    SCOPED_TRACE("FIN after a held segment");
    Rig g;
    g.at(0, str("ab"));
    g.at(4, str("ef"), true);  // [2, 4) lost, FIN at 6
    g.ack(7);
    ASSERT_EQ(g.sink.gaps.size(), 1u);
    EXPECT_EQ(g.sink.gaps[0].bytes, 2u);
    EXPECT_EQ(g.text(), "abef");
    g.finish();
    EXPECT_EQ(g.sink.gaps.size(), 1u);
  }
}

// take_next() (the analyzer's way for most segments: the bytes delivered by the caller) then segment() for what
// it leaves gives what segment() alone gives: the same bytes at the same offsets, the same gaps, the same state.
TEST(Reassembly, TakeNextGivesWhatSegmentGives) {
  std::uint32_t lcg = 7;
  auto next = [&] { return (lcg = lcg * 1664525u + 1013904223u) >> 8; };
  std::size_t taken = 0, left = 0;
  for (int round = 0; round < 300; ++round) {
    SCOPED_TRACE(round);
    const std::uint32_t isn = round % 3 == 0 ? 0xFFFFFF00u + next() % 200 : next();  // some wrap around
    const bool syn = round % 5 != 0;                                                 // else a mid-stream start
    TcpReassembler a, b;
    StreamRecorder sa, sb;
    if (syn) {
      a.syn(isn);
      b.syn(isn);
    }
    std::uint64_t sent = 0;  // stream bytes sent so far
    std::uint64_t frame = 0;
    for (int k = 0; k < 60; ++k) {
      ++frame;
      const std::uint32_t r = next() % 100;
      std::uint64_t off = sent;
      if (r < 10 && sent > 0) off = sent - 1 - next() % std::min<std::uint64_t>(sent, 40);  // a retransmission
      if (r >= 10 && r < 20) off = sent + 1 + next() % 30;                                  // ahead: a hole
      const std::size_t n = next() % 50;
      Buf bytes(n);
      for (auto& c : bytes) c = static_cast<std::uint8_t>('a' + next() % 26);
      const std::size_t captured = r >= 20 && r < 25 && n > 0 ? n - 1 - next() % n : n;  // a snap length cut
      const bool fin = r == 99;
      const auto seq = static_cast<std::uint32_t>(isn + (syn ? 1 : 0) + off);
      const std::span<const std::uint8_t> payload(bytes.data(), captured);
      const auto wire = static_cast<std::uint32_t>(n);
      a.segment(seq, payload, wire, fin, frame, sa);
      std::uint64_t at = 0;
      if (!fin && b.take_next(seq, captured, wire, at)) {
        ++taken;
        sb.on_data(payload, at, frame);
      } else {
        ++left;
        b.segment(seq, payload, wire, fin, frame, sb);
      }
      if (r >= 90 && r < 95) {  // the peer acknowledges what was sent
        a.peer_acked(static_cast<std::uint32_t>(isn + (syn ? 1 : 0) + sent), ++frame, sa);
        b.peer_acked(static_cast<std::uint32_t>(isn + (syn ? 1 : 0) + sent), frame, sb);
      }
      sent = std::max<std::uint64_t>(sent, off + n);
      ASSERT_EQ(a.offset(), b.offset());
      ASSERT_EQ(a.held_bytes(), b.held_bytes());
      ASSERT_EQ(a.retransmitted_bytes(), b.retransmitted_bytes());
    }
    a.finish(++frame, sa);
    b.finish(frame, sb);
    EXPECT_EQ(sa.data, sb.data);
    EXPECT_EQ(sa.data_offsets, sb.data_offsets);
    ASSERT_EQ(sa.gaps.size(), sb.gaps.size());
    for (std::size_t i = 0; i < sa.gaps.size(); ++i) {
      EXPECT_EQ(sa.gaps[i].offset, sb.gaps[i].offset);
      EXPECT_EQ(sa.gaps[i].bytes, sb.gaps[i].bytes);
      EXPECT_EQ(sa.gaps[i].why, sb.gaps[i].why);
    }
  }
  EXPECT_GT(taken, 3000u);  // both ways are exercised
  EXPECT_GT(left, 3000u);
}
