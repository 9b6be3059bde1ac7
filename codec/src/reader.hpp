// The one checked reader: every index into packet bytes goes through it. The first failure sticks (later
// reads fail too and keep the first error), so decoders read a run of fields and check once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mqttauth/bytes.hpp"
#include "mqttauth/error.hpp"
#include "mqttauth/utf8.hpp"

namespace mqttauth::detail {

class Reader {
 public:
  // `base` is the offset of data[0] from the start of the packet, so errors report packet offsets.
  Reader(const std::uint8_t* data, std::size_t size, std::size_t base) noexcept : p_(data), size_(size), base_(base) {}

  bool ok() const noexcept { return !failed_; }
  const Error& error() const noexcept { return err_; }
  std::size_t pos() const noexcept { return pos_; }
  std::size_t remaining() const noexcept { return size_ - pos_; }
  bool at_end() const noexcept { return pos_ == size_; }
  std::size_t offset() const noexcept { return base_ + pos_; }  // packet offset of the next byte

  // Where rule violations go: with no sink (or strict), a violation is a failure like any other.
  void tolerate(Violations* sink) noexcept { sink_ = sink; }
  Violations* sink() const noexcept { return sink_; }
  // A reader over other bytes (a property block) that reports violations to the same place.
  Reader child(const std::uint8_t* data, std::size_t size, std::size_t base) const noexcept {
    Reader r(data, size, base);
    r.sink_ = sink_;
    return r;
  }
  // A rule broken at `pos` in a packet whose structure is intact: recorded, and reading goes on (true);
  // or, when strict, the failure (false).
  bool violate(std::size_t pos, ErrorKind kind, const char* rule, const char* detail) noexcept {
    if (failed_) return false;
    if (sink_ == nullptr) return fail_at(pos, kind, detail);
    sink_->add(Violation{kind, static_cast<std::uint32_t>(base_ + pos), rule, detail});
    return true;
  }

  // The same, at an offset counted from the first byte of the packet (the fixed header).
  bool violate_packet(std::size_t packet_offset, ErrorKind kind, const char* rule, const char* detail) noexcept {
    if (failed_) return false;
    if (sink_ == nullptr) {
      failed_ = true;
      err_ = Error{kind, packet_offset, detail};
      return false;
    }
    sink_->add(Violation{kind, static_cast<std::uint32_t>(packet_offset), rule, detail});
    return true;
  }

  bool fail(ErrorKind kind, const char* detail) noexcept { return fail_at(pos_, kind, detail); }
  bool fail_at(std::size_t pos, ErrorKind kind, const char* detail) noexcept {
    if (!failed_) {
      failed_ = true;
      err_ = Error{kind, base_ + pos, detail};
    }
    return false;
  }

  bool u8(std::uint8_t& v, const char* what) noexcept {
    if (failed_) return false;
    if (remaining() < 1) return fail(ErrorKind::field_overrun, what);
    v = p_[pos_++];
    return true;
  }
  bool u16(std::uint16_t& v, const char* what) noexcept {
    if (failed_) return false;
    if (remaining() < 2) return fail(ErrorKind::field_overrun, what);
    v = static_cast<std::uint16_t>((p_[pos_] << 8) | p_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v, const char* what) noexcept {
    if (failed_) return false;
    if (remaining() < 4) return fail(ErrorKind::field_overrun, what);
    v = (std::uint32_t{p_[pos_]} << 24) | (std::uint32_t{p_[pos_ + 1]} << 16) | (std::uint32_t{p_[pos_ + 2]} << 8) |
        std::uint32_t{p_[pos_ + 3]};
    pos_ += 4;
    return true;
  }
  // Variable byte integer, at most 4 bytes; `minimal` rejects non-minimal encodings.
  bool varint(std::uint32_t& v, bool minimal, const char* what) noexcept {
    if (failed_) return false;
    std::size_t start = pos_;
    std::uint32_t value = 0;
    for (unsigned i = 0; i < 4; ++i) {
      if (remaining() < 1) return fail(ErrorKind::field_overrun, what);
      std::uint8_t b = p_[pos_++];
      value |= std::uint32_t{b & 0x7Fu} << (7 * i);
      if ((b & 0x80u) == 0) {
        v = value;
        if (minimal && i > 0 && b == 0)
          return violate(start, ErrorKind::bad_variable_int, "MQTT-1.5.5-1",
                         "variable byte integer not minimally encoded");
        return true;
      }
    }
    return fail_at(start, ErrorKind::bad_variable_int, what);
  }
  bool bytes(std::size_t n, Bytes& out, const char* what) noexcept {
    if (failed_) return false;
    if (remaining() < n) return fail(ErrorKind::field_overrun, what);
    out = Bytes(p_ + pos_, n);
    pos_ += n;
    return true;
  }
  // Two-byte length + bytes.
  bool binary(Bytes& out, const char* what) noexcept {
    std::uint16_t n = 0;
    if (!u16(n, what)) return false;
    return bytes(n, out, what);
  }
  // Two-byte length + UTF-8 text, validated per the spec (well-formed, no U+0000).
  bool utf8(std::string_view& out, const char* what) noexcept {
    std::size_t start = pos_;
    Bytes b;
    if (!binary(b, what)) return false;
    out = b.as_chars();
    if (!valid_mqtt_utf8(b.data(), b.size())) return violate(start, ErrorKind::invalid_utf8, "MQTT-1.5.4-1", what);
    return true;
  }
  Bytes rest() noexcept {
    Bytes b(p_ + pos_, remaining());
    pos_ = size_;
    return b;
  }
  // A sub-reader over the next n bytes (advances this reader past them).
  bool sub(std::size_t n, Reader& out, const char* what) noexcept {
    if (failed_) return false;
    if (remaining() < n) return fail(ErrorKind::field_overrun, what);
    out = child(p_ + pos_, n, base_ + pos_);
    pos_ += n;
    return true;
  }
  // Adopt a sub-reader's failure.
  bool absorb(const Reader& r) noexcept {
    if (r.failed_ && !failed_) {
      failed_ = true;
      err_ = r.err_;
    }
    return !failed_;
  }

 private:
  const std::uint8_t* p_;
  std::size_t size_;
  std::size_t base_;
  std::size_t pos_ = 0;
  bool failed_ = false;
  Error err_{};
  Violations* sink_ = nullptr;
};

}  // namespace mqttauth::detail
