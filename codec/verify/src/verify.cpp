#include "mqttauth/verify.hpp"

#include "mqttauth/hash.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fstream>

namespace mqttauth {

std::string base64(const std::uint8_t* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(len > 0 ? static_cast<std::size_t>(len) : 0);
  return out;
}

std::string websocket_accept(std::string_view key) {
  const std::string s = std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";  // RFC 6455 4.2.2
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(s.data(), s.size(), digest, &len, EVP_sha1(), nullptr) != 1) return {};
  return base64(digest, len);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), md, &len);
  static constexpr char hexd[] = "0123456789abcdef";
  std::string out(2 * len, '0');
  for (unsigned i = 0; i < len; ++i) {
    out[2 * i] = hexd[md[i] >> 4];
    out[2 * i + 1] = hexd[md[i] & 15];
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff = static_cast<unsigned char>(diff | (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i])));
  return diff == 0;
}

const char* verification_name(Verification v) noexcept {
  switch (v) {
    case Verification::verified: return "verified";
    case Verification::mismatch: return "mismatch";
    case Verification::no_secret: return "no_secret";
    default: return "";
  }
}

bool Secrets::load(const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = path + ": cannot open the secrets file";
    return false;
  }
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    auto sep = line.find_first_of(" \t", first);
    if (sep == std::string::npos) {
      error = path + ":" + std::to_string(n) + ": expected '<client-id> <secret>'";
      return false;
    }
    auto sec = line.find_first_not_of(" \t", sep);
    if (sec == std::string::npos) {
      error = path + ":" + std::to_string(n) + ": the secret is missing";
      return false;
    }
    auto end = line.find_last_not_of(" \t");
    add(line.substr(first, sep - first), line.substr(sec, end + 1 - sec));
  }
  return true;
}

void Secrets::add(std::string client_id, std::string secret) {
  if (client_id.find_first_of("*?") == std::string::npos) {
    map_[std::move(client_id)] = std::move(secret);
    return;
  }
  for (auto& [pattern, s] : patterns_)
    if (pattern == client_id) {
      s = std::move(secret);  // a later line for the same pattern replaces it, as for a client id
      return;
    }
  patterns_.emplace_back(std::move(client_id), std::move(secret));
}

const std::string* Secrets::find(const std::string& client_id) const {
  if (auto it = map_.find(client_id); it != map_.end()) return &it->second;
  for (const auto& [pattern, secret] : patterns_)
    if (glob_match(pattern, client_id)) return &secret;
  return nullptr;
}

bool glob_match(std::string_view pattern, std::string_view text) noexcept {
  // Iterative matching with one backtrack point (the last '*'): linear in practice, never exponential.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || (pattern[p] != '*' && pattern[p] == text[t]))) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Verification Secrets::verify(const std::string& client_id, std::string_view challenge,
                             std::string_view response) const {
  const std::string* s = find(client_id);
  if (!s) return Verification::no_secret;
  return constant_time_equal(hmac_sha256_hex(*s, challenge), response) ? Verification::verified
                                                                       : Verification::mismatch;
}

std::optional<std::uint64_t> ChallengeRegistry::note(std::string_view challenge, std::uint64_t where) {
  if (challenge.empty()) return std::nullopt;
  if (slots_.empty()) slots_.resize(kSets * kWays);
  const std::uint64_t digest = fast_hash(challenge) | 1u;
  Slot* set = &slots_[(digest >> 17) % kSets * kWays];
  Slot* victim = nullptr;  // an empty way, else the oldest
  for (std::size_t w = 0; w < kWays; ++w) {
    Slot& s = set[w];
    if (s.digest == digest) return s.where == where ? std::nullopt : std::optional<std::uint64_t>(s.where);
    const bool better = !victim || (victim->digest != 0 && (s.digest == 0 || s.stamp < victim->stamp));
    if (better) victim = &s;
  }
  if (victim->digest != 0) ++evicted_;
  *victim = Slot{digest, where, ++clock_};
  return std::nullopt;
}

}  // namespace mqttauth
