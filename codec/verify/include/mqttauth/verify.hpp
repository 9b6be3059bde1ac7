// The verification library, shared by the CLI and the Wireshark plugin (beside the codec, which stays
// standard-library only: this part needs OpenSSL): per-client secrets, the reference response (lower-case hex
// HMAC-SHA256(secret, challenge)), and the registry of challenges seen, which tells when one is reused.
#pragma once

#include <cstdint>

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mqttauth {

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

// The challenges seen in a capture: a challenge seen again (in another connection, or frame) can be answered
// with a recorded response (finding challenge_reused).
class ChallengeRegistry {
 public:
  // Where `challenge` was first seen, when that was elsewhere than `where`; remembers it otherwise. An empty
  // challenge is never a reuse.
  std::optional<std::uint64_t> note(const std::string& challenge, std::uint64_t where);
  void clear() noexcept { first_.clear(); }

 private:
  std::unordered_map<std::string, std::uint64_t> first_;
};

}  // namespace mqttauth
