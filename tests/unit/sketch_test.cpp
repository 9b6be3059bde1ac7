// The bounded summaries of long captures (sketch.hpp): the heaviest keys and the number of distinct keys,
// exact while small, within their documented bounds beyond, and mergeable; and the byte scans of every
// PUBLISH (the hash they use, topic names, UTF-8), checked against their definitions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "mqttauth/sketch.hpp"
#include "mqttauth/topic.hpp"
#include "mqttauth/utf8.hpp"

using namespace mqttauth;

namespace {

struct Count {
  std::uint64_t n = 0;
};
void add_count(Count& a, const Count& b) { a.n += b.n; }

void feed(TopK<Count>& t, const std::string& key, std::uint64_t times = 1) {
  for (std::uint64_t i = 0; i < times; ++i) {
    const auto r = t.count(key);
    if (r != TopK<Count>::npos) ++t.value(r).n;
  }
}

std::map<std::string, std::uint64_t> weights(const TopK<Count>& t) {
  std::map<std::string, std::uint64_t> m;
  for (const auto& r : t.rows()) m[r.key] = r.weight;
  return m;
}

}  // namespace

TEST(TopK, ExactWhileTheKeysFit) {
  TopK<Count> t(8);
  for (int i = 0; i < 8; ++i) feed(t, "k" + std::to_string(i), static_cast<std::uint64_t>(i) + 1);
  EXPECT_TRUE(t.exact());
  EXPECT_EQ(t.total(), 36u);
  for (const auto& r : t.rows()) {
    EXPECT_EQ(r.weight, std::stoull(r.key.substr(1)) + 1);
    EXPECT_EQ(r.error, 0u);
    EXPECT_EQ(r.value.n, r.weight);
  }
}

TEST(TopK, HeavyKeysAreKeptAndOverestimatedByAtMostTheirError) {
  // A skewed stream (Zipf-like) of 5,000 keys through 64 rows: every key above total / 64 is kept, every
  // row's weight is at least the key's true count and at most that plus its error.
  TopK<Count> t(64);
  std::map<std::string, std::uint64_t> truth;
  std::mt19937_64 rng(7);
  std::uint64_t total = 0;
  for (int i = 0; i < 200000; ++i) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    const auto k = static_cast<int>(std::pow(5000.0, u));  // heavy at small k
    const std::string key = "t/" + std::to_string(k);
    feed(t, key);
    ++truth[key];
    ++total;
  }
  EXPECT_FALSE(t.exact());
  EXPECT_EQ(t.total(), total);
  const auto w = weights(t);
  for (const auto& [k, n] : truth) {
    if (n > total / 64) {
      EXPECT_TRUE(w.count(k)) << k << " " << n;
    }
  }
  for (const auto& r : t.rows()) {
    EXPECT_GE(r.weight, truth[r.key]) << r.key;
    EXPECT_LE(r.weight - r.error, truth[r.key]) << r.key;
    EXPECT_LE(r.value.n, truth[r.key]) << r.key;  // counted since the key got its row
  }
}

TEST(TopK, MergeOfPartsIsTheWholeWhenItFits) {
  TopK<Count> a(100), b(100), whole(100);
  for (int i = 0; i < 60; ++i) {
    const std::string k = "k" + std::to_string(i);
    feed(i % 2 ? a : b, k, static_cast<std::uint64_t>(i) + 1);
    feed(a, "shared", 2);
    feed(whole, k, static_cast<std::uint64_t>(i) + 1);
    feed(whole, "shared", 2);
  }
  a.merge(b, add_count);
  EXPECT_TRUE(a.exact());
  EXPECT_EQ(a.total(), whole.total());
  EXPECT_EQ(weights(a), weights(whole));
  // Beyond the capacity the merge keeps the heaviest and says it is no longer exact.
  TopK<Count> c(10), d(10);
  for (int i = 0; i < 10; ++i) feed(c, "c" + std::to_string(i), 100);
  for (int i = 0; i < 10; ++i) feed(d, "d" + std::to_string(i), static_cast<std::uint64_t>(i) + 1);
  c.merge(d, add_count);
  EXPECT_FALSE(c.exact());
  EXPECT_EQ(c.size(), 10u);
  for (const auto& r : c.rows()) EXPECT_EQ(r.key[0], 'c');
}

TEST(DistinctCount, WithinFivePercentAndMergeable) {
  for (std::uint64_t n : {10ull, 1000ull, 100000ull}) {
    DistinctCount d, half1, half2;
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::string k = "devices/sensor-" + std::to_string(i) + "/telemetry";
      d.add(k);
      d.add(k);  // repeats count once
      (i % 2 ? half1 : half2).add(k);
    }
    const double e = static_cast<double>(d.estimate());
    EXPECT_NEAR(e, static_cast<double>(n), 0.05 * static_cast<double>(n) + 1) << n;
    half1.merge(half2);
    EXPECT_EQ(half1.estimate(), d.estimate()) << n;
  }
}

TEST(TopK, ManyLightKeysDoNotTakeTheRowsOverOnEveryMessage) {
  // A fleet publishing to more topics than there are rows: 20,000 light keys (5 messages each) around 5 heavy
  // ones (2,000 each), through 64 rows. Plain Space-Saving gives a row to each light key in turn (a row taken
  // over per message); the filter keeps them out until one is heavier than the lightest row.
  TopK<Count> t(64);
  std::map<std::string, std::uint64_t> truth;
  std::mt19937_64 rng(11);
  std::vector<std::string> stream;
  for (int k = 0; k < 20000; ++k)
    for (int i = 0; i < 5; ++i) stream.push_back("light/" + std::to_string(k));
  for (int k = 0; k < 5; ++k)
    for (int i = 0; i < 2000; ++i) stream.push_back("heavy/" + std::to_string(k));
  std::shuffle(stream.begin(), stream.end(), rng);
  for (const auto& key : stream) {
    feed(t, key);
    ++truth[key];
  }
  EXPECT_FALSE(t.exact());
  EXPECT_EQ(t.total(), stream.size());
  std::uint64_t taken_over = 0;
  for (const auto& r : t.rows()) {
    taken_over += r.generation;
    EXPECT_GE(r.weight, truth[r.key]) << r.key;
    EXPECT_LE(r.weight - r.error, truth[r.key]) << r.key;
  }
  EXPECT_LT(taken_over, stream.size() / 10);  // (Space-Saving alone: about one per light message, 90%)
  // Every key heavier than the floor has a row; the heavy ones are found, each within 5% of its count.
  const auto w = weights(t);
  for (const auto& [k, n] : truth) {
    if (n > t.floor()) {
      EXPECT_TRUE(w.count(k)) << k << " " << n;
    }
  }
  for (int k = 0; k < 5; ++k) {
    const std::string key = "heavy/" + std::to_string(k);
    ASSERT_TRUE(w.count(key)) << key;
    EXPECT_LE(w.at(key), 2100u) << key;
  }
}

TEST(FastHash, TheLastBytesLoadedInPiecesHashAsTheBytewiseDefinition) {
  // fast_hash() loads a key's last n % 8 bytes with fixed-size (overlapping) loads; the value must stay that of
  // its definition (the bytes copied into a zeroed word), which saved summaries (stats merge_state) depend on.
  auto reference = [](std::string_view s) {
    std::uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      std::uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      h = (h ^ w) * 0xFF51AFD7ED558CCDull;
      h ^= h >> 32;
    }
    std::uint64_t w = 0;
    for (std::size_t k = 0; i + k < s.size(); ++k) w |= std::uint64_t{static_cast<unsigned char>(s[i + k])} << (8 * k);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    return h ^ (h >> 29);
  };
  std::mt19937_64 rng(3);
  for (std::size_t n = 0; n <= 40; ++n)
    for (int t = 0; t < 20; ++t) {
      std::string s(n, '\0');
      for (char& c : s) c = static_cast<char>(rng());
      EXPECT_EQ(fast_hash(s), reference(s)) << n;
    }
  EXPECT_EQ(fast_hash("devices/sensor-016938/telemetry"), reference("devices/sensor-016938/telemetry"));
}

TEST(TopicName, WildcardsAnywhereAreFoundWhateverTheLength) {
  for (std::size_t n = 1; n <= 40; ++n) {
    std::string s(n, 'a');
    EXPECT_TRUE(valid_topic_name(s)) << n;
    for (std::size_t at = 0; at < n; ++at)
      for (char w : {'+', '#'}) {
        std::string t = s;
        t[at] = w;
        EXPECT_FALSE(valid_topic_name(t)) << n << " " << at << " " << w;
      }
  }
  EXPECT_FALSE(valid_topic_name(""));
  EXPECT_TRUE(valid_topic_name(std::string("a\x80+b", 2)));  // (a view that stops before the '+')
}

TEST(Utf8, TheShortTailOfALongStringIsCheckedAsTheRest) {
  for (std::size_t n = 8; n <= 24; ++n)
    for (std::size_t at = 0; at < n; ++at) {
      std::string s(n, 'a');
      s[at] = '\0';
      EXPECT_FALSE(valid_mqtt_utf8(reinterpret_cast<const std::uint8_t*>(s.data()), s.size())) << n << " " << at;
      EXPECT_TRUE(valid_utf8(reinterpret_cast<const std::uint8_t*>(s.data()), s.size())) << n << " " << at;
      s[at] = '\xC3';  // a lead byte with no continuation
      EXPECT_FALSE(valid_utf8(reinterpret_cast<const std::uint8_t*>(s.data()), s.size())) << n << " " << at;
      if (at + 1 < n) {
        s[at + 1] = '\xA9';  // U+00E9
        EXPECT_TRUE(valid_mqtt_utf8(reinterpret_cast<const std::uint8_t*>(s.data()), s.size())) << n << " " << at;
      }
    }
}
