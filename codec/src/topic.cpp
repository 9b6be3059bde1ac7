#include "mqttauth/topic.hpp"

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "mqttauth/utf8.hpp"

namespace mqttauth {

bool valid_topic_name(std::string_view name) noexcept {
  const std::size_t n = name.size();
  if (n == 0) return false;
  // No '+' or '#': 8 bytes at a time (a third of the instructions of two memchr calls on telemetry topics).
  constexpr std::uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  auto wild = [](std::uint64_t w) {
    const std::uint64_t plus = w ^ (kOnes * '+'), hash = w ^ (kOnes * '#');
    return (((plus - kOnes) & ~plus) | ((hash - kOnes) & ~hash)) & kHigh;  // a byte equal to either
  };
  const char* p = name.data();
  if (n < 8) {
    for (std::size_t i = 0; i < n; ++i)
      if (p[i] == '+' || p[i] == '#') return false;
    return true;
  }
  std::uint64_t w;
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    std::memcpy(&w, p + i, 8);
    if (wild(w)) return false;
  }
  std::memcpy(&w, p + n - 8, 8);  // the last 8 (overlapping what was checked)
  return !wild(w);
}

namespace {

// Whether a byte of s[0, n) is NUL, '+', '#' or not ASCII (exact: no false positives).
bool any_odd_byte(const std::uint8_t* s, std::size_t n) noexcept {
#if defined(__SSE2__)
  if (n >= 16) {
    // Sixteen bytes at a time (SSE2, in every x86-64): a byte equal to NUL, '+' or '#' compares to all ones,
    // a byte past ASCII has its top bit set already; movemask gathers the top bits. A third of the
    // instructions of the word-at-a-time loop below on telemetry topics.
    const __m128i zero = _mm_setzero_si128(), plus = _mm_set1_epi8('+'), hash = _mm_set1_epi8('#');
    auto odd16 = [&](const std::uint8_t* at) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
      const __m128i special = _mm_or_si128(_mm_cmpeq_epi8(v, zero), _mm_cmpeq_epi8(v, plus));
      return _mm_movemask_epi8(_mm_or_si128(special, _mm_or_si128(_mm_cmpeq_epi8(v, hash), v)));
    };
    int mask = 0;
    for (std::size_t i = 0; i + 16 <= n; i += 16) mask |= odd16(s + i);
    mask |= odd16(s + n - 16);  // the last 16 (overlapping what was checked)
    return mask != 0;
  }
#endif
  if (n >= 8) {
    constexpr std::uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
    auto odd = [](std::uint64_t w) {
      const std::uint64_t plus = w ^ (kOnes * '+'), hash = w ^ (kOnes * '#');
      return ((w - kOnes) & ~w) | ((plus - kOnes) & ~plus) | ((hash - kOnes) & ~hash) | w;
    };
    std::uint64_t seen = 0, w;
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
      std::memcpy(&w, s + i, 8);
      seen |= odd(w);
    }
    std::memcpy(&w, s + n - 8, 8);  // the last 8 (overlapping what was checked)
    return ((seen | odd(w)) & kHigh) != 0;
  }
  for (std::size_t i = 0; i < n; ++i)
    if (s[i] == 0 || s[i] == '+' || s[i] == '#' || s[i] >= 0x80) return true;
  return false;
}

}  // namespace

TopicNameCheck check_topic_name(const std::uint8_t* s, std::size_t n) noexcept {
  if (!any_odd_byte(s, n)) return {};
  const std::string_view name(reinterpret_cast<const char*>(s), n);
  return TopicNameCheck{valid_mqtt_utf8(s, n), n == 0 || valid_topic_name(name)};
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
