// The verification library, shared by the CLI and the Wireshark plugin (beside the codec, which stays
// standard-library only: this part needs OpenSSL): per-client secrets, the reference response (lower-case hex
// HMAC-SHA256(secret, challenge)), and the registry of challenges seen, which tells when one is reused.
#pragma once

#include <cstdint>

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mqttauth {

// Lower-case hex of HMAC-SHA256(key, message) (64 characters).
std::string hmac_sha256_hex(std::string_view key, std::string_view message);
// Base64 (RFC 4648, with padding).
std::string base64(const std::uint8_t* data, std::size_t n);
// The Sec-WebSocket-Accept a server answers to a Sec-WebSocket-Key: base64(SHA-1(key + the RFC 6455 GUID)).
std::string websocket_accept(std::string_view key);
// Constant-time comparison of two strings (time depends on the length only).
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

enum class Verification : unsigned char { not_applicable, verified, mismatch, no_secret };
const char* verification_name(Verification v) noexcept;  // "", "verified", "mismatch", "no_secret"

// Per-client secrets. A client id with '*' (any run of characters) or '?' (one character) is a pattern, the
// way fleets share one secret: "sensor-* s3cret", or "* s3cret" for every client id. An exact client id wins
// over the patterns; among patterns, the first that matches (in the order added) wins.
class Secrets {
 public:
  // Reads "<client-id-or-pattern> <secret>" lines ('#' comments, blank lines ignored). On error returns false
  // with `error` naming the file and line.
  bool load(const std::string& path, std::string& error);
  void add(std::string client_id, std::string secret);
  const std::string* find(const std::string& client_id) const;
  bool empty() const noexcept { return map_.empty() && patterns_.empty(); }
  std::size_t size() const noexcept { return map_.size() + patterns_.size(); }
  // Checks a response to a challenge for a client.
  Verification verify(const std::string& client_id, std::string_view challenge, std::string_view response) const;

 private:
  std::unordered_map<std::string, std::string> map_;
  std::vector<std::pair<std::string, std::string>> patterns_;  // (pattern, secret), in the order added
};

// Whether `text` matches the glob `pattern` ('*' any run of characters, '?' one character, nothing else special).
bool glob_match(std::string_view pattern, std::string_view text) noexcept;

// The challenges seen in a capture: a challenge seen again (in another connection, or frame) can be answered
// with a recorded response (finding challenge_reused).
//
// Bounded: a 64-bit digest of each challenge in a set-associative table of kSets x kWays (4 MiB, made at the
// first challenge), the oldest of a set replaced when it is full. So a reuse is found while the first use is
// among about the last 200,000 challenges (older ones may have been replaced: evicted() counts them), and two
// different challenges are taken for one with a probability of about n / 2^64 each (n: challenges kept), under
// 1e-13 when the table is full.
class ChallengeRegistry {
 public:
  static constexpr std::size_t kSets = 65536, kWays = 4;
  // Where `challenge` was first seen, when that was elsewhere than `where`; remembers it otherwise. An empty
  // challenge is never a reuse.
  std::optional<std::uint64_t> note(std::string_view challenge, std::uint64_t where);
  void clear() noexcept { slots_.clear(); }
  std::uint64_t evicted() const noexcept { return evicted_; }

 private:
  struct Slot {
    std::uint64_t digest = 0;  // 0: empty
    std::uint64_t where = 0;
    std::uint64_t stamp = 0;  // when it was noted (a counter)
  };
  std::vector<Slot> slots_;
  std::uint64_t clock_ = 0, evicted_ = 0;
};

}  // namespace mqttauth
