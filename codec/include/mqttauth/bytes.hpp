// A non-owning view of bytes that compares by content (std::span does not compare at all).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace mqttauth {

class Bytes {
 public:
  constexpr Bytes() noexcept = default;
  constexpr Bytes(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}
  Bytes(std::span<const std::uint8_t> s) noexcept : data_(s.data()), size_(s.size()) {}     // NOLINT
  Bytes(const std::vector<std::uint8_t>& v) noexcept : data_(v.data()), size_(v.size()) {}  // NOLINT
  // View the bytes of a string (test and builder convenience).
  static Bytes of(std::string_view s) noexcept { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

  constexpr const std::uint8_t* data() const noexcept { return data_; }
  constexpr std::size_t size() const noexcept { return size_; }
  constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr const std::uint8_t* begin() const noexcept { return data_; }
  constexpr const std::uint8_t* end() const noexcept { return data_ + size_; }
  constexpr std::uint8_t operator[](std::size_t i) const noexcept { return data_[i]; }
  std::span<const std::uint8_t> span() const noexcept { return {data_, size_}; }
  std::string_view as_chars() const noexcept { return {reinterpret_cast<const char*>(data_), size_}; }
  Bytes subview(std::size_t pos, std::size_t n) const noexcept { return {data_ + pos, n}; }

  friend bool operator==(const Bytes& a, const Bytes& b) noexcept {
    return a.size_ == b.size_ && (a.size_ == 0 || std::memcmp(a.data_, b.data_, a.size_) == 0);
  }

 private:
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace mqttauth
