// Brute-force limiting of authentication: failed authentications counted per key (a client id, or a source
// address), and a key locked out for a while after too many. Sans-I/O like the core: the clock is passed in.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "broker/broker.hpp"

namespace mqttauth::cli::broker {

using TimeMs = std::int64_t;  // a monotonic clock in milliseconds

// The failures of one kind of key. A key's count is forgotten `window` after its last failure (and not before
// its lockout ends). From the `threshold`-th failure on, each failure locks the key out for `lockout`, doubled
// with every further failure, at most `max_lockout`. Bounded: at most `max_entries` keys; a new key makes room
// by evicting the key whose last failure is the oldest. Keys longer than kMaxKeyBytes are kept as their hash.
class FailureTable {
 public:
  static constexpr std::size_t kMaxKeyBytes = 64;
  // A client id can be 65535 bytes long: long keys are kept as a 64-digit hash so that an entry stays small.
  static std::string key_of(std::string_view key);

  // threshold 0: nothing is counted, nothing is locked out.
  FailureTable(std::uint32_t threshold, const AuthLimitConfig& cfg);

  // When `key` is locked out at `now`: the end of its lockout.
  std::optional<TimeMs> locked_until(std::string_view key, TimeMs now) const;

  struct Failure {
    std::uint32_t failures = 0;  // within the window, this one included
    TimeMs lockout_ms = 0;       // the lockout this failure starts (0: under the threshold)
  };
  // Counts a failure of `key` at `now`.
  Failure fail(std::string_view key, TimeMs now);
  // Forgets `key` (a successful authentication).
  void forget(std::string_view key);

  std::uint32_t threshold() const noexcept { return threshold_; }
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct Entry {
    std::uint32_t failures = 0;
    TimeMs last = 0;                       // the last failure
    TimeMs locked_until = 0;               // 0: not locked out
    std::list<std::string>::iterator pos;  // in order_
  };
  bool expired(const Entry& e, TimeMs now) const noexcept;

  std::uint32_t threshold_;
  AuthLimitConfig cfg_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> order_;  // keys by last failure, oldest first
};

// The (client id, source address) pairs that authenticated successfully lately, at most `max_entries` (the
// least recently successful pair is forgotten first). A client id locked out by failures from elsewhere is
// still let in from such an address: an attacker who fails with a device's client id on purpose cannot lock
// the device out, unless it shares the device's address (NAT). A failure from a trusted pair removes it, so
// an attacker behind the device's address gets no exemption either.
class TrustedSources {
 public:
  explicit TrustedSources(std::size_t max_entries) : max_(std::max<std::size_t>(max_entries, 1)) {}
  void add(std::string_view client_id, std::string_view source);
  bool contains(std::string_view client_id, std::string_view source) const;
  void remove(std::string_view client_id, std::string_view source);
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  static std::string key_of(std::string_view client_id, std::string_view source);
  std::size_t max_;
  std::unordered_map<std::string, std::list<std::string>::iterator> entries_;
  std::list<std::string> order_;  // least recently successful first
};

}  // namespace mqttauth::cli::broker
