#include "broker/limiter.hpp"

#include <algorithm>

#include "mqttauth/verify.hpp"

namespace mqttauth::cli::broker {

FailureTable::FailureTable(std::uint32_t threshold, const AuthLimitConfig& cfg) : threshold_(threshold), cfg_(cfg) {
  cfg_.max_entries = std::max<std::size_t>(cfg_.max_entries, 1);
}

std::string FailureTable::key_of(std::string_view key) {
  if (key.size() <= kMaxKeyBytes) return std::string(key);
  return hmac_sha256_hex("mqttauth-limiter", key);
}

bool FailureTable::expired(const Entry& e, TimeMs now) const noexcept {
  return now >= std::max(e.last + cfg_.window.count(), e.locked_until);
}

std::optional<TimeMs> FailureTable::locked_until(std::string_view key, TimeMs now) const {
  if (threshold_ == 0) return std::nullopt;
  auto it = entries_.find(key_of(key));
  if (it == entries_.end() || it->second.locked_until <= now) return std::nullopt;
  return it->second.locked_until;
}

FailureTable::Failure FailureTable::fail(std::string_view key, TimeMs now) {
  if (threshold_ == 0) return {};
  // Drop what has expired, oldest first (the order is by last failure, so this stops at the first live one).
  while (!order_.empty()) {
    auto oldest = entries_.find(order_.front());
    if (!expired(oldest->second, now)) break;
    entries_.erase(oldest);
    order_.pop_front();
  }
  std::string k = key_of(key);
  auto it = entries_.find(k);
  if (it != entries_.end() && expired(it->second, now)) {
    it->second.failures = 0;
    it->second.locked_until = 0;
  }
  if (it == entries_.end()) {
    if (entries_.size() >= cfg_.max_entries) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
    order_.push_back(k);
    it = entries_.emplace(std::move(k), Entry{}).first;
    it->second.pos = std::prev(order_.end());
  } else {
    order_.splice(order_.end(), order_, it->second.pos);  // now the most recent
  }
  Entry& e = it->second;
  ++e.failures;
  e.last = now;
  Failure out;
  out.failures = e.failures;
  if (e.failures >= threshold_) {
    // lockout, 2 x lockout, 4 x lockout, ... up to max_lockout (the shift is bounded: no overflow).
    unsigned doublings = std::min<std::uint32_t>(e.failures - threshold_, 30);
    out.lockout_ms = std::min<TimeMs>(cfg_.lockout.count() << doublings, cfg_.max_lockout.count());
    e.locked_until = now + out.lockout_ms;
  }
  return out;
}

void FailureTable::forget(std::string_view key) {
  auto it = entries_.find(key_of(key));
  if (it == entries_.end()) return;
  order_.erase(it->second.pos);
  entries_.erase(it);
}

// The pair as one key: the client id as FailureTable keeps it, a NUL, the address.
std::string TrustedSources::key_of(std::string_view client_id, std::string_view source) {
  std::string k = FailureTable::key_of(client_id);
  k += '\0';
  k += source;
  return k;
}

void TrustedSources::add(std::string_view client_id, std::string_view source) {
  std::string k = key_of(client_id, source);
  if (auto it = entries_.find(k); it != entries_.end()) {
    order_.splice(order_.end(), order_, it->second);  // now the most recent
    return;
  }
  if (entries_.size() >= max_) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
  order_.push_back(k);
  entries_.emplace(std::move(k), std::prev(order_.end()));
}

void TrustedSources::remove(std::string_view client_id, std::string_view source) {
  auto it = entries_.find(key_of(client_id, source));
  if (it == entries_.end()) return;
  order_.erase(it->second);
  entries_.erase(it);
}

bool TrustedSources::contains(std::string_view client_id, std::string_view source) const {
  return entries_.count(key_of(client_id, source)) > 0;
}

}  // namespace mqttauth::cli::broker
