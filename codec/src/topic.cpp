#include "mqttauth/topic.hpp"

#include <cstring>

namespace mqttauth {

bool valid_topic_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  // memchr is vectorised: a third of the instructions of a byte loop on telemetry topics.
  return !std::memchr(name.data(), '+', name.size()) && !std::memchr(name.data(), '#', name.size());
}

namespace {
bool plain_filter(std::string_view f) noexcept {
  if (f.empty()) return false;
  for (std::size_t i = 0; i < f.size(); ++i) {
    char c = f[i];
    bool level_start = i == 0 || f[i - 1] == '/';
    bool level_end = i + 1 == f.size() || f[i + 1] == '/';
    if (c == '+' && !(level_start && level_end)) return false;
    if (c == '#' && !(level_start && i + 1 == f.size())) return false;
  }
  return true;
}
constexpr std::string_view kShare = "$share/";
}  // namespace

bool is_shared_filter(std::string_view filter, std::uint8_t level) noexcept {
  return level >= 5 && filter.substr(0, kShare.size()) == kShare;
}

bool valid_topic_filter(std::string_view filter, std::uint8_t level) noexcept {
  if (!is_shared_filter(filter, level)) return plain_filter(filter);
  std::string_view rest = filter.substr(kShare.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  std::string_view share = rest.substr(0, slash);
  if (share.find_first_of("+#") != std::string_view::npos) return false;
  return plain_filter(rest.substr(slash + 1));
}

bool topic_matches(std::string_view filter, std::string_view name) noexcept {
  if (!name.empty() && name[0] == '$' && !filter.empty() && (filter[0] == '+' || filter[0] == '#')) return false;
  std::size_t fi = 0, ni = 0;
  while (true) {
    auto fend = filter.find('/', fi);
    std::string_view flevel = filter.substr(fi, fend == std::string_view::npos ? std::string_view::npos : fend - fi);
    if (flevel == "#") return true;  // matches the parent level and everything below
    if (ni > name.size()) return false;
    auto nend = name.find('/', ni);
    std::string_view nlevel = name.substr(ni, nend == std::string_view::npos ? std::string_view::npos : nend - ni);
    if (flevel != "+" && flevel != nlevel) return false;
    bool flast = fend == std::string_view::npos, nlast = nend == std::string_view::npos;
    if (flast || nlast) {
      if (flast && nlast) return true;
      // "a/#" matches "a": the filter has one more level, and it is '#'.
      return nlast && !flast && filter.substr(fend + 1) == "#";
    }
    fi = fend + 1;
    ni = nend + 1;
  }
}

}  // namespace mqttauth
