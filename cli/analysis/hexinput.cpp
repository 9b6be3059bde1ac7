#include "hexinput.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mqttauth::cli {

std::optional<std::vector<std::uint8_t>> parse_hex(std::string_view s, std::string& error) {
  std::vector<std::uint8_t> out;
  out.reserve(s.size() / 2);
  int hi = -1;
  std::size_t hi_at = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    int v = -1;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v = c - 'A' + 10;
    if (v >= 0) {
      // "0x" prefix: a '0' followed by 'x' at a byte boundary.
      if (hi < 0 && c == '0' && i + 1 < s.size() && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        ++i;
        continue;
      }
      if (hi < 0) {
        hi = v;
        hi_at = i;
      } else {
        out.push_back(static_cast<std::uint8_t>(hi * 16 + v));
        hi = -1;
      }
      continue;
    }
    if (c == '#') {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != ':' && c != '-' && c != ',') {
      error = "not a hex digit at character " + std::to_string(i) + ": '" + std::string(1, c) + "'";
      return std::nullopt;
    }
    if (hi >= 0) {
      error = "odd number of hex digits: lone digit at character " + std::to_string(hi_at);
      return std::nullopt;
    }
  }
  if (hi >= 0) {
    error = "odd number of hex digits: lone digit at character " + std::to_string(hi_at);
    return std::nullopt;
  }
  return out;
}

std::optional<std::vector<std::uint8_t>> read_all(const std::string& path, std::string& error) {
  std::FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (!f) {
    error = path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::vector<std::uint8_t> data;
  std::uint8_t buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.insert(data.end(), buf, buf + n);
  bool failed = std::ferror(f);
  if (f != stdin) std::fclose(f);
  if (failed) {
    error = path + ": read error";
    return std::nullopt;
  }
  return data;
}

}  // namespace mqttauth::cli
