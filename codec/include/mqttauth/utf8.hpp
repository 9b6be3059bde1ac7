// UTF-8 validation as MQTT requires it (RFC 3629 well-formed: no overlong forms, no surrogates, nothing
// above U+10FFFF) with an ASCII fast path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace mqttauth {

namespace detail {
// Validates from `i` on, allowing or refusing U+0000.
inline bool utf8_tail(const std::uint8_t* s, std::size_t n, std::size_t i, bool allow_nul) noexcept {
  while (i < n) {
    // ASCII fast path: 8 bytes at a time.
    while (i + 8 <= n) {
      std::uint64_t w;
      std::memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ull) break;
      if (!allow_nul && ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull)) return false;
      i += 8;
    }
    if (i >= n) break;
    if (i + 8 > n && n >= 8) {  // fewer than 8 left: the last 8 at once (overlapping) when they are ASCII
      std::uint64_t w;
      std::memcpy(&w, s + n - 8, 8);
      if (!(w & 0x8080808080808080ull) && (allow_nul || !((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull)))
        return true;
    }
    std::uint8_t c = s[i];
    if (c < 0x80) {
      if (c == 0 && !allow_nul) return false;
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return false;  // continuation byte, C0/C1 (overlong) or F5..FF
    }
    if (n - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      std::uint8_t cc = s[i + k];
      if ((cc & 0xC0u) != 0x80u) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return false;
    if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return false;
    i += len;
  }
  return true;
}
}  // namespace detail

// Well-formed UTF-8 and no U+0000: the rule for MQTT UTF-8 encoded strings [MQTT-1.5.3-1, -2].
inline bool valid_mqtt_utf8(const std::uint8_t* s, std::size_t n) noexcept { return detail::utf8_tail(s, n, 0, false); }
// Well-formed UTF-8 (U+0000 allowed): whether a binary value can be shown as text.
inline bool valid_utf8(const std::uint8_t* s, std::size_t n) noexcept { return detail::utf8_tail(s, n, 0, true); }

}  // namespace mqttauth
