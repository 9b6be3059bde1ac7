#include "reassembly.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace mqttauth::cli {

const char* gap_reason_name(GapReason r) noexcept {
  switch (r) {
    case GapReason::lost: return "lost";
    case GapReason::snap_length: return "snap_length";
    case GapReason::overflow: return "overflow";
    case GapReason::end: return "end";
  }
  return "unknown";
}

std::int64_t TcpReassembler::unwrap(std::uint32_t seq) const noexcept {
  auto expected = static_cast<std::uint32_t>(isn_ + static_cast<std::uint32_t>(next_));
  auto rel = static_cast<std::int32_t>(seq - expected);
  return static_cast<std::int64_t>(next_) + rel;
}

void TcpReassembler::syn(std::uint32_t seq) {
  if (started_) return;
  started_ = true;
  isn_ = seq + 1;
  next_ = 0;
}

void TcpReassembler::skip_to(std::uint64_t offset, std::uint64_t frame, GapReason why, StreamSink& sink) {
  if (offset <= next_) return;
  // A hole left by a held segment that the snap length cut is reported as such, whatever noticed it.
  if (auto h = snap_holes_.find(next_); h != snap_holes_.end() && h->second >= offset) why = GapReason::snap_length;
  gap_bytes_ += offset - next_;
  sink.on_gap(next_, offset - next_, frame, why);
  next_ = offset;
  // Held data wholly before the new offset is dropped.
  while (!held_.empty() && held_.begin()->first + held_.begin()->second.size() <= next_) {
    held_bytes_ -= held_.begin()->second.size();
    held_.erase(held_.begin());
  }
  while (!snap_holes_.empty() && snap_holes_.begin()->first < next_) snap_holes_.erase(snap_holes_.begin());
}

void TcpReassembler::deliver_held(std::uint64_t frame, StreamSink& sink) {
  while (!held_.empty()) {
    auto it = held_.begin();
    if (it->first > next_) break;
    std::uint64_t end = it->first + it->second.size();
    if (end > next_) {
      auto skip = static_cast<std::size_t>(next_ - it->first);
      std::uint64_t at = next_;
      next_ = end;
      sink.on_data(std::span<const std::uint8_t>(it->second).subspan(skip), at, frame);
    }
    held_bytes_ -= it->second.size();
    held_.erase(it);
  }
}

void TcpReassembler::hold(std::uint64_t off, std::span<const std::uint8_t> bytes) {
  // Held entries never overlap: only the parts of [off, end) not held yet are copied (the first bytes
  // received for an offset win); bytes already held are a retransmission, a conflict when they differ.
  const std::uint64_t end = off + bytes.size();
  auto insert = [&](std::uint64_t b, std::uint64_t e) {
    auto piece = bytes.subspan(static_cast<std::size_t>(b - off), static_cast<std::size_t>(e - b));
    held_.emplace(b, std::vector<std::uint8_t>(piece.begin(), piece.end()));
    held_bytes_ += piece.size();
  };
  auto it = held_.upper_bound(off);
  if (it != held_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second.size() > off) it = prev;
  }
  std::uint64_t cur = off;
  while (cur < end) {
    if (it == held_.end() || it->first >= end) {
      insert(cur, end);
      break;
    }
    if (it->first > cur) insert(cur, it->first);
    const std::uint64_t it_end = it->first + it->second.size();
    const std::uint64_t ob = std::max(cur, it->first), oe = std::min(end, it_end);
    if (oe > ob) {
      retrans_ += oe - ob;
      if (std::memcmp(it->second.data() + (ob - it->first), bytes.data() + (ob - off), oe - ob) != 0) ++conflicts_;
    }
    cur = std::max(cur, it_end);
    ++it;
  }
}

void TcpReassembler::segment(std::uint32_t seq, std::span<const std::uint8_t> payload, std::uint32_t wire_len, bool fin,
                             std::uint64_t frame, StreamSink& sink) {
  if (!started_) {  // mid-stream: the stream starts here
    started_ = true;
    isn_ = seq;
    next_ = 0;
  }
  wire_len = std::max<std::uint32_t>(wire_len, static_cast<std::uint32_t>(payload.size()));
  std::int64_t off = unwrap(seq);
  if (fin && fin_at_ < 0) fin_at_ = off + wire_len;
  if (wire_len == 0) return;
  if (off + static_cast<std::int64_t>(wire_len) <= 0) {  // before the start of what we follow
    retrans_ += wire_len;
    return;
  }
  if (off < 0) {
    auto trim = static_cast<std::size_t>(-off);
    payload = payload.subspan(std::min(trim, payload.size()));
    wire_len -= static_cast<std::uint32_t>(trim);
    off = 0;
  }
  const auto uoff = static_cast<std::uint64_t>(off);
  const std::uint64_t cap_end = uoff + payload.size(), wire_end = uoff + wire_len;

  if (uoff == next_ && held_.empty() && wire_end == cap_end) {  // in order, nothing held: most segments
    next_ = cap_end;
    sink.on_data(payload, uoff, frame);
    return;
  }
  if (uoff <= next_) {
    if (wire_end <= next_) {
      retrans_ += wire_len;
      return;
    }
    retrans_ += next_ - uoff;
    // Deliver the new bytes; where out-of-order data received earlier covers some of them, those held
    // bytes are delivered instead (first wins).
    while (next_ < cap_end) {
      const std::uint64_t limit = held_.empty() ? cap_end : std::min(cap_end, held_.begin()->first);
      if (limit > next_) {
        std::uint64_t at = next_;
        next_ = limit;
        sink.on_data(payload.subspan(static_cast<std::size_t>(at - uoff), static_cast<std::size_t>(limit - at)), at,
                     frame);
      }
      const std::uint64_t before = next_;
      deliver_held(frame, sink);
      if (next_ > before) retrans_ += std::min(next_, cap_end) - before;
      // Held entries always start after next_ here, so each turn delivers at least one byte.
    }
    if (wire_end > next_) skip_to(wire_end, frame, GapReason::snap_length, sink);
    deliver_held(frame, sink);
    return;
  }

  // A hole before this segment: hold a copy.
  if (!payload.empty()) hold(uoff, payload);
  // A held segment cut by the snap length leaves a hole after its captured bytes; it becomes a gap (reported
  // as snap_length) when the peer acknowledges past it or the direction ends.
  if (wire_end > cap_end) {
    snap_holes_[cap_end] = wire_end;
    if (snap_holes_.size() > limits_.max_held_segments) snap_holes_.erase(snap_holes_.begin());
  }
  // Over the limits: give up on the oldest holes until the held data fits again.
  while (!held_.empty() && (held_bytes_ > limits_.max_held_bytes || held_.size() > limits_.max_held_segments)) {
    skip_to(held_.begin()->first, frame, GapReason::overflow, sink);
    deliver_held(frame, sink);
  }
}

void TcpReassembler::acked_past(std::uint32_t ack, std::uint64_t frame, StreamSink& sink) {
  std::int64_t a = unwrap(ack);
  if (fin_at_ >= 0) a = std::min(a, fin_at_);  // the FIN takes a sequence number but no byte
  if (a <= static_cast<std::int64_t>(next_)) return;
  auto acked = static_cast<std::uint64_t>(a);
  // The receiver has every byte below `acked`; those the capture lacks are lost.
  std::uint64_t target = acked;
  if (!held_.empty()) target = std::min(target, held_.begin()->first);
  skip_to(target, frame, GapReason::lost, sink);
  deliver_held(frame, sink);
  // Repeat while held data leaves holes below the acknowledgement.
  while (!held_.empty() && held_.begin()->first < acked && held_.begin()->first > next_) {
    skip_to(held_.begin()->first, frame, GapReason::lost, sink);
    deliver_held(frame, sink);
  }
  if (held_.empty() && acked > next_) skip_to(acked, frame, GapReason::lost, sink);
}

void TcpReassembler::finish(std::uint64_t frame, StreamSink& sink) {
  while (!held_.empty()) {
    skip_to(held_.begin()->first, frame, GapReason::end, sink);
    deliver_held(frame, sink);
  }
  // Bytes sent before the FIN that the capture does not have.
  if (fin_at_ > static_cast<std::int64_t>(next_))
    skip_to(static_cast<std::uint64_t>(fin_at_), frame, GapReason::end, sink);
}

}  // namespace mqttauth::cli
