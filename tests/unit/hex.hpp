// Test helper: byte vectors written as hex with spaces and comments.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mqttauth::test {

// "10 0c  00 04 'MQTT'" -> bytes. Whitespace is ignored; 'text' in single quotes is taken literally;
// "# ..." to the end of a line is a comment.
inline std::vector<std::uint8_t> hex(std::string_view s) {
  std::vector<std::uint8_t> out;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      ++i;
    } else if (c == '#') {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (c == '\'') {
      auto end = s.find('\'', i + 1);
      if (end == std::string_view::npos) throw std::invalid_argument("unterminated quote");
      for (std::size_t k = i + 1; k < end; ++k) out.push_back(static_cast<std::uint8_t>(s[k]));
      i = end + 1;
    } else {
      if (i + 1 >= s.size() || nib(c) < 0 || nib(s[i + 1]) < 0)
        throw std::invalid_argument(std::string("bad hex near: ") + std::string(s.substr(i, 8)));
      out.push_back(static_cast<std::uint8_t>(nib(c) * 16 + nib(s[i + 1])));
      i += 2;
    }
  }
  return out;
}

}  // namespace mqttauth::test
