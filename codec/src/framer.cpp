#include "mqttauth/framer.hpp"

#include <algorithm>

namespace mqttauth {

void Framer::push(std::span<const std::uint8_t> chunk) {
  if (carry_is_frame_) {
    carry_.clear();
    carry_is_frame_ = false;
  }
  if (pos_ < in_.size()) {
    // The caller pushed before draining: keep what is left, in order.
    if (skip_ == 0 && !failed_) {
      carry_.insert(carry_.end(), in_.begin() + static_cast<std::ptrdiff_t>(pos_), in_.end());
      offset_ += in_.size() - pos_;
    }
  }
  in_ = chunk;
  pos_ = 0;
}

void Framer::resync(std::uint64_t offset) {
  carry_.clear();
  carry_is_frame_ = false;
  failed_ = false;
  skip_ = offset > offset_ ? offset - offset_ : 0;
}

void Framer::skip_gap(std::uint64_t bytes) {
  carry_.clear();
  carry_is_frame_ = false;
  offset_ += bytes;
  skip_ -= std::min(skip_, bytes);
}

FrameEvent Framer::next() {
  FrameEvent ev;
  if (carry_is_frame_) {
    carry_.clear();
    carry_is_frame_ = false;
  }
  auto avail = [&] { return in_.size() - pos_; };
  auto consume = [&](std::size_t n) {
    pos_ += n;
    offset_ += n;
  };
  if (failed_) {  // nothing is framed until resync()
    consume(avail());
    return ev;
  }
  if (skip_ > 0) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, avail()));
    consume(n);
    skip_ -= n;
    if (skip_ > 0) return ev;
  }
  if (avail() == 0) return ev;

  auto oversized = [&](const FixedHeader& h, std::uint64_t start, std::size_t held) {
    ev.kind = FrameEvent::Kind::oversized;
    ev.frame.header = h;
    ev.frame.offset = start;
    ev.error = Error{ErrorKind::packet_too_large, static_cast<std::size_t>(start),
                     "packet larger than the maximum packet size; skipped"};
    skip_ = h.packet_size() - held;
    return ev;
  };
  auto framing_error = [&](const Error& e, std::uint64_t start) {
    failed_ = true;
    ev.kind = FrameEvent::Kind::error;
    ev.error = Error{e.kind, static_cast<std::size_t>(start + e.offset), e.detail};
    return ev;
  };

  if (!carry_.empty()) {
    const std::uint64_t start = offset_ - carry_.size();
    // Complete the fixed header one byte at a time (at most 5 bytes).
    auto h = parse_fixed_header(carry_);
    while (!h && h.error().kind == ErrorKind::need_more) {
      if (avail() == 0) return ev;
      carry_.push_back(in_[pos_]);
      consume(1);
      h = parse_fixed_header(carry_);
    }
    if (!h) {
      carry_.clear();
      return framing_error(h.error(), start);
    }
    if (h->packet_size() > max_packet_size_) {
      std::size_t held = carry_.size();
      carry_.clear();
      return oversized(*h, start, held);
    }
    const std::size_t total = h->packet_size();
    const std::size_t take = std::min(total - carry_.size(), avail());
    carry_.insert(carry_.end(), in_.begin() + static_cast<std::ptrdiff_t>(pos_),
                  in_.begin() + static_cast<std::ptrdiff_t>(pos_ + take));
    consume(take);
    if (carry_.size() < total) return ev;
    ev.kind = FrameEvent::Kind::frame;
    ev.frame = Frame{std::span<const std::uint8_t>(carry_), *h, start};
    carry_is_frame_ = true;
    return ev;
  }

  auto rest = in_.subspan(pos_);
  auto h = parse_fixed_header(rest);
  if (!h && h.error().kind != ErrorKind::need_more) return framing_error(h.error(), offset_);
  if (h && h->packet_size() > max_packet_size_) {
    auto start = offset_;
    return oversized(*h, start, 0);
  }
  if (h && h->packet_size() <= rest.size()) {
    ev.kind = FrameEvent::Kind::frame;
    ev.frame = Frame{rest.first(h->packet_size()), *h, offset_};
    consume(h->packet_size());
    return ev;
  }
  // A partial packet (or partial fixed header): hold it.
  carry_.assign(rest.begin(), rest.end());
  consume(rest.size());
  return ev;
}

}  // namespace mqttauth
