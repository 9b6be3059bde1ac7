#include "mqttauth/framer.hpp"

#include <algorithm>

namespace mqttauth {

namespace {
// Room for a partial packet of `total` bytes of which `have` are held: the whole packet, but at most 8 times what
// came (so a peer announcing a huge packet does not get the memory for it before sending it). A large PUBLISH
// spans dozens of segments: growing by doubling copied it about twice more and freed as many blocks.
void make_room(std::vector<std::uint8_t>& carry, std::size_t total, std::size_t have) {
  if (carry.capacity() < total) carry.reserve(std::min(total, std::max(carry.capacity() * 2, have * 8)));
}
// Drops the frame returned last time from the front of the carry buffer; bytes after it stay held.
void drop_front_frame(std::vector<std::uint8_t>& carry) {
  auto h = parse_fixed_header(carry);
  std::size_t n = h ? std::min(h->packet_size(), carry.size()) : carry.size();
  carry.erase(carry.begin(), carry.begin() + static_cast<std::ptrdiff_t>(n));
}
}  // namespace

void Framer::push(std::span<const std::uint8_t> chunk) {
  if (carry_is_frame_) {
    drop_front_frame(carry_);
    carry_is_frame_ = false;
  }
  if (pos_ < in_.size()) {
    // The caller pushed before draining: keep what is left, in order (after skipping what is to be skipped).
    auto rest = in_.subspan(pos_);
    if (skip_ > 0 && !failed_) {
      auto n = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, rest.size()));
      skip_ -= n;
      offset_ += n;
      rest = rest.subspan(n);
    }
    carry_.insert(carry_.end(), rest.begin(), rest.end());
    offset_ += rest.size();
  }
  in_ = chunk;
  pos_ = 0;
}

void Framer::resync(std::uint64_t offset) {
  // carry_ holds the stream bytes just before offset_: a resync point among them is replayed from there, so
  // the result does not depend on how the stream was chunked. Bytes before them are gone.
  const std::uint64_t held_from = offset_ - carry_.size();
  if (offset >= offset_) {
    carry_.clear();
    skip_ = offset - offset_;
  } else if (offset >= held_from) {
    carry_.erase(carry_.begin(), carry_.begin() + static_cast<std::ptrdiff_t>(offset - held_from));
    skip_ = 0;
  } else {
    carry_.clear();
    skip_ = 0;
  }
  carry_is_frame_ = false;
  failed_ = false;
}

void Framer::skip_gap(std::uint64_t bytes) {
  carry_.clear();
  carry_is_frame_ = false;
  offset_ += bytes;
  skip_ -= std::min(skip_, bytes);
}

bool Framer::take_whole(std::span<const std::uint8_t> chunk, std::size_t& pos, Frame& out) noexcept {
  const std::size_t n = chunk.size() - pos;
  if (n < 2) return false;
  const std::uint8_t* p = chunk.data() + pos;
  FixedHeader h;
  if ((p[1] & 0x80u) == 0) {  // a one- or two-byte remaining length: most packets
    h.byte = p[0];
    h.remaining_length = p[1];
    h.size = 2;
  } else if (n >= 3 && (p[2] & 0x80u) == 0) {
    h.byte = p[0];
    h.remaining_length = (p[1] & 0x7Fu) | (std::uint32_t{p[2]} << 7);
    h.size = 3;
  } else {
    auto parsed = parse_fixed_header(chunk.subspan(pos, n));
    if (!parsed) return false;
    h = *parsed;
  }
  const std::size_t size = h.packet_size();
  if (size > max_packet_size_ || size > n) return false;
  out.bytes = std::span<const std::uint8_t>(p, size);
  out.header = h;
  out.offset = offset_;
  offset_ += size;
  pos += size;
  return true;
}

FrameEvent Framer::next() {
  FrameEvent ev;
  if (carry_is_frame_) {
    drop_front_frame(carry_);
    carry_is_frame_ = false;
  }
  auto avail = [&] { return in_.size() - pos_; };
  auto consume = [&](std::size_t n) {
    pos_ += n;
    offset_ += n;
  };
  if (failed_) {  // nothing is framed until resync()
    carry_.clear();
    consume(avail());
    return ev;
  }
  if (skip_ > 0) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, avail()));
    consume(n);
    skip_ -= n;
    if (skip_ > 0) return ev;
  }
  if (carry_.empty() && avail() == 0) return ev;

  // (The helpers fill `ev` and every path returns `ev` itself: the event is built in the caller's slot, not
  // copied there field by field; that copy stalled on the stores just made, 5% of `stats`.)
  auto oversized = [&](const FixedHeader& h, std::uint64_t start, std::size_t held) {
    ev.kind = FrameEvent::Kind::oversized;
    ev.frame.header = h;
    ev.frame.offset = start;
    ev.error = Error{ErrorKind::packet_too_large, static_cast<std::size_t>(start),
                     "packet larger than the maximum packet size; skipped"};
    skip_ = h.packet_size() - held;
  };
  auto framing_error = [&](const Error& e, std::uint64_t start) {
    failed_ = true;
    ev.kind = FrameEvent::Kind::error;
    ev.error = Error{e.kind, static_cast<std::size_t>(start + e.offset), e.detail};
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
      framing_error(h.error(), start);  // carry_ is kept for a resync() inside it
      return ev;
    }
    const std::size_t total = h->packet_size();
    if (total > max_packet_size_) {
      // carry_ can hold the whole packet and more after a push() before draining or a resync() replay.
      const std::size_t held = std::min(carry_.size(), total);
      carry_.erase(carry_.begin(), carry_.begin() + static_cast<std::ptrdiff_t>(held));
      oversized(*h, start, held);
      return ev;
    }
    if (carry_.size() < total) {
      const std::size_t take = std::min(total - carry_.size(), avail());
      make_room(carry_, total, carry_.size() + take);
      carry_.insert(carry_.end(), in_.begin() + static_cast<std::ptrdiff_t>(pos_),
                    in_.begin() + static_cast<std::ptrdiff_t>(pos_ + take));
      consume(take);
      if (carry_.size() < total) return ev;
    }
    // The frame is the front of carry_ (anything after it stays held for the next call).
    ev.kind = FrameEvent::Kind::frame;
    ev.frame = Frame{std::span<const std::uint8_t>(carry_).first(total), *h, start};
    carry_is_frame_ = true;
    return ev;
  }

  auto rest = in_.subspan(pos_);
  auto h = parse_fixed_header(rest);
  if (!h && h.error().kind != ErrorKind::need_more) {
    framing_error(h.error(), offset_);
    return ev;
  }
  if (h && h->packet_size() > max_packet_size_) {
    oversized(*h, offset_, 0);
    return ev;
  }
  if (h && h->packet_size() <= rest.size()) {
    ev.kind = FrameEvent::Kind::frame;
    ev.frame.bytes = rest.first(h->packet_size());
    ev.frame.header = *h;
    ev.frame.offset = offset_;
    consume(h->packet_size());
    return ev;
  }
  // A partial packet (or partial fixed header): hold it, with room for more of it (make_room).
  if (h) make_room(carry_, h->packet_size(), rest.size());
  carry_.assign(rest.begin(), rest.end());
  consume(rest.size());
  return ev;
}

}  // namespace mqttauth
