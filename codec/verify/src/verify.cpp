#include "mqttauth/verify.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fstream>

namespace mqttauth {

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
    map_[line.substr(first, sep - first)] = line.substr(sec, end + 1 - sec);
  }
  return true;
}

const std::string* Secrets::find(const std::string& client_id) const {
  auto it = map_.find(client_id);
  return it == map_.end() ? nullptr : &it->second;
}

Verification Secrets::verify(const std::string& client_id, std::string_view challenge,
                             std::string_view response) const {
  const std::string* s = find(client_id);
  if (!s) return Verification::no_secret;
  return constant_time_equal(hmac_sha256_hex(*s, challenge), response) ? Verification::verified
                                                                       : Verification::mismatch;
}

std::optional<std::uint64_t> ChallengeRegistry::note(const std::string& challenge, std::uint64_t where) {
  if (challenge.empty()) return std::nullopt;
  auto [it, inserted] = first_.emplace(challenge, where);
  if (inserted || it->second == where) return std::nullopt;
  return it->second;
}

}  // namespace mqttauth
