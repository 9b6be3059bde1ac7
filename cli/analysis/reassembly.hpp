// TCP reassembly of one direction of a connection, with bounded memory.
//
// Policy:
// - In-order data is delivered at once, as a view of the captured segment (no copy).
// - Out-of-order segments are copied and held until the hole before them fills.
// - Overlaps: the first bytes received for an offset win, whether they were delivered at once or held; a
//   retransmission that says something else for bytes already received is ignored (counted in
//   `retransmitted_bytes`; `overlap_conflicts` counts the held bytes it contradicted).
// - A hole becomes a gap (reported with its byte count, and the stream skips it) when the peer has
//   acknowledged past it (the receiver got bytes the capture lost), when the held data exceeds the limits
//   (the oldest holes are given up until it fits), when the snap length cut a segment (at once in order;
//   when the hole is reached for a held segment), or when the direction ends (FIN, RST, end of capture),
//   including bytes missing just before a FIN. The FIN's own sequence number is not a byte: acknowledging
//   it makes no gap.
// - Sequence numbers are unwrapped to 64-bit stream offsets, so wraparound is invisible.
// - A capture that starts mid-stream starts the stream at the first segment seen.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <vector>

namespace mqttauth::cli {

struct ReassemblyLimits {
  std::size_t max_held_bytes = 4u << 20;  // out-of-order bytes held per direction
  std::size_t max_held_segments = 4096;
};

enum class GapReason : std::uint8_t {
  lost,         // the peer acknowledged bytes the capture does not have
  snap_length,  // the capture cut the segment short
  overflow,     // too much out-of-order data held
  end,          // the direction ended (FIN, RST, end of capture) with a hole
};
const char* gap_reason_name(GapReason r) noexcept;

class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // In-order bytes at stream offset `offset`; `frame` is the capture frame that completed them.
  virtual void on_data(std::span<const std::uint8_t> bytes, std::uint64_t offset, std::uint64_t frame) = 0;
  // `bytes` missing at stream offset `offset`, noticed in `frame`.
  virtual void on_gap(std::uint64_t offset, std::uint64_t bytes, std::uint64_t frame, GapReason why) = 0;
};

class TcpReassembler {
 public:
  explicit TcpReassembler(ReassemblyLimits limits = {}) : limits_(limits) {}

  // A SYN seen: the stream starts at seq + 1.
  void syn(std::uint32_t seq);
  // One segment's payload. `wire_len` >= payload.size() (more when the snap length cut it); `fin` when the
  // segment carries FIN.
  void segment(std::uint32_t seq, std::span<const std::uint8_t> payload, std::uint32_t wire_len, bool fin,
               std::uint64_t frame, StreamSink& sink);
  // segment()'s common case without the sink, for a caller that delivers the bytes itself: a segment without
  // FIN that starts at the next stream offset, was captured whole and finds nothing held out of order. Then
  // true, `offset` = its stream offset, and the stream moves past it, as segment() would before calling
  // on_data(payload, offset); otherwise false and nothing changes (call segment()).
  bool take_next(std::uint32_t seq, std::size_t captured, std::uint32_t wire_len, std::uint64_t& offset) noexcept {
    if (!started_ || captured == 0 || wire_len != captured || !held_.empty() ||
        seq != static_cast<std::uint32_t>(isn_ + static_cast<std::uint32_t>(next_)))
      return false;
    offset = next_;
    next_ += captured;
    return true;
  }
  // The peer acknowledged up to `ack`: a hole below it is lost. (Inline for what nearly every segment's
  // acknowledgement is: nothing past what was delivered.)
  void peer_acked(std::uint32_t ack, std::uint64_t frame, StreamSink& sink) {
    if (started_ &&
        static_cast<std::int32_t>(ack - static_cast<std::uint32_t>(isn_ + static_cast<std::uint32_t>(next_))) > 0)
      acked_past(ack, frame, sink);
  }
  // FIN / RST / end of capture: flush what is held, reporting holes as gaps.
  void finish(std::uint64_t frame, StreamSink& sink);

  bool started() const noexcept { return started_; }
  std::uint64_t offset() const noexcept { return next_; }  // next stream offset expected
  std::size_t held_bytes() const noexcept { return held_bytes_; }
  std::uint64_t retransmitted_bytes() const noexcept { return retrans_; }
  std::uint64_t overlap_conflicts() const noexcept { return conflicts_; }
  std::uint64_t gap_bytes() const noexcept { return gap_bytes_; }

 private:
  // Unwraps a 32-bit sequence number to a stream offset near the expected one.
  std::int64_t unwrap(std::uint32_t seq) const noexcept;
  // peer_acked() past the next byte expected.
  void acked_past(std::uint32_t ack, std::uint64_t frame, StreamSink& sink);
  void deliver_held(std::uint64_t frame, StreamSink& sink);
  void skip_to(std::uint64_t offset, std::uint64_t frame, GapReason why, StreamSink& sink);
  void hold(std::uint64_t offset, std::span<const std::uint8_t> bytes);

  ReassemblyLimits limits_;
  bool started_ = false;
  std::uint32_t isn_ = 0;                                    // sequence number of stream offset 0
  std::uint64_t next_ = 0;                                   // stream offset of the next byte to deliver
  std::int64_t fin_at_ = -1;                                 // stream offset of the FIN, once seen
  std::map<std::uint64_t, std::vector<std::uint8_t>> held_;  // out of order, by stream offset; never overlapping
  std::map<std::uint64_t, std::uint64_t> snap_holes_;        // [begin, end) cut off held segments
  std::size_t held_bytes_ = 0;
  std::uint64_t retrans_ = 0, conflicts_ = 0, gap_bytes_ = 0;
};

}  // namespace mqttauth::cli
