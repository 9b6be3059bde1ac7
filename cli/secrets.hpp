// Per-client secrets and the reference response: lower-case hex HMAC-SHA256(secret, challenge).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mqttauth::cli {

// Lower-case hex of HMAC-SHA256(key, message) (64 characters).
std::string hmac_sha256_hex(std::string_view key, std::string_view message);
// Constant-time comparison of two strings (time depends on the length only).
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

enum class Verification : unsigned char { not_applicable, verified, mismatch, no_secret };
const char* verification_name(Verification v) noexcept;  // "", "verified", "mismatch", "no_secret"

class Secrets {
 public:
  // Reads "<client-id> <secret>" lines ('#' comments, blank lines ignored). On error returns false with
  // `error` naming the file and line.
  bool load(const std::string& path, std::string& error);
  void add(std::string client_id, std::string secret) { map_[std::move(client_id)] = std::move(secret); }
  const std::string* find(const std::string& client_id) const;
  bool empty() const noexcept { return map_.empty(); }
  std::size_t size() const noexcept { return map_.size(); }
  // Checks a response to a challenge for a client.
  Verification verify(const std::string& client_id, std::string_view challenge, std::string_view response) const;

 private:
  std::unordered_map<std::string, std::string> map_;
};

}  // namespace mqttauth::cli
