// Finds packet boundaries in one direction of a byte stream fed in arbitrary chunks. A packet that lies
// inside one chunk is returned as a view of that chunk (no copy); one that spans chunks is assembled in an
// internal buffer. A remaining-length field split across chunks is handled like any other split.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "mqttauth/codec.hpp"

namespace mqttauth {

struct Frame {
  std::span<const std::uint8_t> bytes;  // the whole packet, fixed header included
  FixedHeader header;
  std::uint64_t offset = 0;  // stream offset of the first byte
};

struct FrameEvent {
  enum class Kind : std::uint8_t {
    need_more,  // everything fed so far is consumed: push the next chunk
    frame,      // `frame` is a complete packet, valid until the next call to next() or push()
    oversized,  // a packet larger than the maximum: `header` and `offset` describe it; its bytes are skipped
    error,      // the stream cannot be framed (remaining length over 4 bytes) at `offset`: call resync()
  };
  Kind kind = Kind::need_more;
  Frame frame;
  Error error;  // error: the offset is the stream offset
};

class Framer {
 public:
  explicit Framer(std::uint32_t max_packet_size = Limits{}.max_packet_size) noexcept
      : max_packet_size_(max_packet_size) {}

  // Makes `chunk` the input. It must stay valid until next() returns need_more. Any unconsumed part of the
  // previous chunk is kept (copied) first.
  void push(std::span<const std::uint8_t> chunk);
  FrameEvent next();
  // The common case without an event: when nothing is held (no partial packet, nothing to skip, no error, the
  // last chunk drained), the packet that starts at chunk[pos] and lies whole in `chunk` is returned as a view
  // of it, and `pos` and the stream offset move past it, just as push(chunk.subspan(pos)) and next() would.
  // Otherwise (a packet cut at the chunk's end, an oversized or unframeable one, anything held) false, and
  // nothing changes: the caller push()es chunk.subspan(pos) and goes on with next().
  bool next_whole(std::span<const std::uint8_t> chunk, std::size_t& pos, Frame& out) noexcept {
    return holds_nothing() && take_whole(chunk, pos, out);
  }
  // next_whole() in two steps, for taking every whole packet of a chunk: whether nothing is held (which stays
  // so while take_whole() is the only call), then each packet with take_whole() (only while holds_nothing()).
  bool holds_nothing() const noexcept {
    return !carry_is_frame_ && carry_.empty() && skip_ == 0 && !failed_ && pos_ >= in_.size();
  }
  bool take_whole(std::span<const std::uint8_t> chunk, std::size_t& pos, Frame& out) noexcept;

  // After an error, or after a gap in the stream: drop any partial packet and continue at stream offset
  // `offset` (the bytes before it are skipped).
  void resync(std::uint64_t offset);
  // Bytes that the caller skipped without pushing (a capture gap): the stream offset moves on, any partial
  // packet is dropped.
  void skip_gap(std::uint64_t bytes);

  std::uint64_t offset() const noexcept { return offset_; }        // stream offset of the next unread byte
  std::size_t buffered() const noexcept { return carry_.size(); }  // bytes held for a partial packet
  bool failed() const noexcept { return failed_; }
  // Bytes of an oversized packet still to be skipped.
  std::uint64_t skipping() const noexcept { return skip_; }

 private:
  std::uint32_t max_packet_size_;
  std::span<const std::uint8_t> in_;
  std::size_t pos_ = 0;              // next unread byte of in_
  std::vector<std::uint8_t> carry_;  // partial packet, from its first byte
  bool carry_is_frame_ = false;      // carry_ held the frame returned last time
  std::uint64_t offset_ = 0;         // stream offset of in_[pos_]
  std::uint64_t skip_ = 0;
  bool failed_ = false;
};

}  // namespace mqttauth
