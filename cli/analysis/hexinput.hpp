// Reading byte streams given as hex text or as binary files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mqttauth::cli {

// Hex digits with optional whitespace, ':' or '-' separators and "0x" prefixes; '#' starts a comment that
// runs to the end of the line. On failure returns nullopt and sets `error` (with the character offset).
std::optional<std::vector<std::uint8_t>> parse_hex(std::string_view text, std::string& error);

// The whole content of a file, or of standard input for "-". nullopt and `error` set on failure.
std::optional<std::vector<std::uint8_t>> read_all(const std::string& path, std::string& error);

}  // namespace mqttauth::cli
