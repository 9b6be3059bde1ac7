#include "reassembly.hpp"

#include <algorithm>

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
  gap_bytes_ += offset - next_;
  sink.on_gap(next_, offset - next_, frame, why);
  next_ = offset;
  // Held data wholly before the new offset is dropped.
  while (!held_.empty() && held_.begin()->first + held_.begin()->second.size() <= next_) {
    held_bytes_ -= held_.begin()->second.size();
    held_.erase(held_.begin());
  }
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

void TcpReassembler::segment(std::uint32_t seq, std::span<const std::uint8_t> payload, std::uint32_t wire_len,
                             bool fin, std::uint64_t frame, StreamSink& sink) {
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

  if (uoff <= next_) {
    if (wire_end <= next_) {
      retrans_ += wire_len;
      return;
    }
    retrans_ += next_ - uoff;
    if (cap_end > next_) {
      auto skip = static_cast<std::size_t>(next_ - uoff);
      std::uint64_t at = next_;
      next_ = cap_end;
      sink.on_data(payload.subspan(skip), at, frame);
    }
    if (wire_end > next_) skip_to(wire_end, frame, GapReason::snap_length, sink);
    deliver_held(frame, sink);
    return;
  }

  // A hole before this segment: hold a copy (the first bytes received for an offset win).
  if (!payload.empty()) {
    auto it = held_.find(uoff);
    if (it == held_.end() || it->second.size() < payload.size()) {
      if (it != held_.end()) {
        ++conflicts_;
        held_bytes_ -= it->second.size();
      }
      held_[uoff].assign(payload.begin(), payload.end());
      held_bytes_ += payload.size();
    } else {
      retrans_ += payload.size();
    }
  }
  // A held segment cut by the snap length leaves a hole after its captured bytes; it becomes a gap when
  // the peer acknowledges past it or the direction ends.
  if (held_bytes_ > limits_.max_held_bytes || held_.size() > limits_.max_held_segments) {
    skip_to(held_.begin()->first, frame, GapReason::overflow, sink);
    deliver_held(frame, sink);
  }
}

void TcpReassembler::peer_acked(std::uint32_t ack, std::uint64_t frame, StreamSink& sink) {
  if (!started_) return;
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
}

void TcpReassembler::finish(std::uint64_t frame, StreamSink& sink) {
  while (!held_.empty()) {
    skip_to(held_.begin()->first, frame, GapReason::end, sink);
    deliver_held(frame, sink);
  }
}

}  // namespace mqttauth::cli
