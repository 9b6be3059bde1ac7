// Bounded summaries of unbounded streams, for the tables of a long capture that must not grow with it: the
// heaviest keys (Space-Saving: Metwally, Agrawal and El Abbadi, 2005) and the number of distinct keys
// (HyperLogLog: Flajolet, Fusy, Gandouet and Meunier, 2007). Both merge, so per-file results add up.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mqttauth/hash.hpp"

namespace mqttauth {

// Up to `capacity` keys, those with the largest weights (Filtered Space-Saving: Homem and Carvalho, 2010, over
// Space-Saving). While the table has room every weight is exact. Once it is full, a key without a row is
// counted in a filter bucket (one of 4 x capacity, by its hash) shared with the other keys of that bucket; when
// that count passes the least weight of the table, the key takes the lightest key's row and starts from it:
// what the filter held becomes its `error`, and the key it displaced leaves its weight in its own bucket. So a
// row's weight overestimates its key's true weight by at most its error, a key without a row had at most
// floor() (the least weight), and every key heavier than that has a row; the filter keeps a stream of many light
// keys (a fleet publishing to more topics than there are rows) from taking rows over on every message.
// `V` is what the caller keeps per key (counted from the moment the key got its row); rows are reached by
// index, and an index's key changes only when its row is taken over, which bumps its `generation` (so a caller
// may keep an index and check it later). Keys are hashed with fast_hash(); a caller that has the hash passes it.
template <class V>
class TopK {
 public:
  struct Row {
    std::string key;
    V value{};
    std::uint64_t weight = 0, error = 0;
    std::uint64_t hash = 0;  // fast_hash(key)
    std::uint32_t generation = 0;
  };
  static constexpr std::uint32_t npos = UINT32_MAX;
  // (The rows are reserved, untouched until used; the index grows with them.)
  explicit TopK(std::size_t capacity = 2048) : capacity_(std::max<std::size_t>(capacity, 1)) {
    rows_.reserve(capacity_);
    slots_.assign(16, Slot{});
  }
  TopK(const TopK&) = delete;
  TopK& operator=(const TopK&) = delete;
  TopK(TopK&&) noexcept = default;
  TopK& operator=(TopK&&) noexcept = default;

  // Counts `w` for `key` (`hash` = fast_hash(key)): the row it is counted in, or npos when the table is full
  // and the key has no row yet (it is counted in its filter bucket).
  std::uint32_t count(std::string_view key, std::uint64_t hash, std::uint64_t w = 1) {
    if (const std::uint32_t i = lookup(key, hash); i != npos) {
      add(i, w);
      return i;
    }
    if (rows_.size() < capacity_) {
      const std::uint32_t i = append(key, hash);
      add(i, w);
      return i;
    }
    if (heap_.empty()) make_heap();
    total_ += w;
    ++evictions_;
    std::uint64_t& f = filter_[bucket(hash)];
    f += w;
    if (f <= heap_.front().weight) return npos;  // not heavier than the lightest row: the filter keeps it
    const std::uint32_t i = take_over(key, hash);
    Row& r = rows_[i];
    r.error = f - w;
    r.weight = f;
    heap_[heap_pos_[i]].weight = f;
    sift_down(heap_pos_[i]);
    return i;
  }
  std::uint32_t count(std::string_view key) { return count(key, fast_hash(key), 1); }
  // The row of `key` when it has one.
  std::optional<std::uint32_t> find(std::string_view key, std::uint64_t hash) const {
    if (const std::uint32_t i = lookup(key, hash); i != npos) return i;
    return std::nullopt;
  }
  std::optional<std::uint32_t> find(std::string_view key) const { return find(key, fast_hash(key)); }
  // Adds `w` to a row's weight (a row the caller keeps the index of).
  void add(std::uint32_t i, std::uint64_t w = 1) {
    rows_[i].weight += w;
    total_ += w;
    if (!heap_.empty()) {
      const std::size_t p = heap_pos_[i];
      heap_[p].weight = rows_[i].weight;
      sift_down(p);
    }
  }
  V& value(std::uint32_t i) noexcept { return rows_[i].value; }
  const Row& row(std::uint32_t i) const noexcept { return rows_[i]; }
  const std::vector<Row>& rows() const noexcept { return rows_; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t size() const noexcept { return rows_.size(); }
  std::uint64_t total() const noexcept { return total_; }  // the sum of all weights added (exact)
  // Keys counted without a row of their own at the time (in a filter bucket, or taking a row over): 0 while
  // every key seen has had its own row (all weights exact).
  std::uint64_t evictions() const noexcept { return evictions_; }
  bool exact() const noexcept { return evictions_ == 0; }
  // The most a key without a row may have had: 0 while exact, else the least weight.
  std::uint64_t floor() const noexcept {
    if (evictions_ == 0 || rows_.empty()) return 0;
    if (!heap_.empty()) return heap_.front().weight;
    return std::min_element(rows_.begin(), rows_.end(), [](const Row& a, const Row& b) { return a.weight < b.weight; })
        ->weight;
  }

  // Adds a row of another summary (or of a saved one): the same key's row gains its weight, value and error
  // (`merge(V&, const V&)` adds values), a new key takes a row (the lightest one's when full); used by merge().
  void insert_row(const Row& o, void (*merge_value)(V&, const V&)) {
    const std::uint64_t h = fast_hash(o.key);
    std::uint32_t i = lookup(o.key, h);
    if (i == npos) {
      if (rows_.size() < capacity_) {
        i = append(o.key, h);
      } else {
        if (heap_.empty()) make_heap();
        i = take_over(o.key, h);
        rows_[i].error = rows_[i].weight;
        ++evictions_;
      }
    }
    Row& r = rows_[i];
    r.error += o.error;
    r.weight += o.weight;
    merge_value(r.value, o.value);
    if (!heap_.empty()) {
      heap_[heap_pos_[i]].weight = r.weight;
      sift_down(heap_pos_[i]);
    }
  }
  // The summary of both streams (mergeable summaries: Agarwal et al., 2012): a key missing from one side may
  // have had up to that side's floor there, which is added to its weight and error; then the heaviest
  // `capacity` are kept. Exact when neither side was ever full and the union fits.
  void merge(const TopK& o, void (*merge_value)(V&, const V&)) {
    std::unordered_map<std::string, Row, StringHash, std::equal_to<>> all;
    const std::uint64_t fa = floor(), fb = o.floor();
    for (const Row& r : rows_) all.emplace(r.key, r);
    for (const Row& r : o.rows_) {
      auto [it, fresh] = all.try_emplace(r.key, r);
      if (fresh) {
        it->second.weight += fa;
        it->second.error += fa;
      } else {
        it->second.weight += r.weight;
        it->second.error += r.error;
        merge_value(it->second.value, r.value);
      }
    }
    for (const Row& r : rows_)
      if (o.lookup(r.key, r.hash) == npos) {
        all[r.key].weight += fb;
        all[r.key].error += fb;
      }
    std::vector<Row> v;
    v.reserve(all.size());
    for (auto& kv : all) v.push_back(std::move(kv.second));
    std::sort(v.begin(), v.end(),
              [](const Row& a, const Row& b) { return a.weight != b.weight ? a.weight > b.weight : a.key < b.key; });
    const bool overflow = v.size() > capacity_;
    if (overflow) v.resize(capacity_);
    const std::uint64_t total = total_ + o.total_, ev = evictions_ + o.evictions_ + (overflow ? 1 : 0);
    rows_.clear();
    std::fill(slots_.begin(), slots_.end(), Slot{});
    heap_.clear();
    heap_pos_.clear();
    filter_.clear();  // made again from floor() if the table is counted on
    for (Row& r : v) {
      r.generation = 0;
      const std::uint32_t i = append(r.key, r.hash);
      rows_[i] = std::move(r);
    }
    total_ = total;
    evictions_ = ev;
  }
  // For a summary read back from a saved one: its totals.
  void restore_totals(std::uint64_t total, std::uint64_t evictions) noexcept {
    total_ = total;
    evictions_ = evictions;
  }

 private:
  // The index: open addressing (linear probing, at most half full) over the rows, each slot the row + 1 (0:
  // empty) and the low half of the key's hash, which is also where the key's probe starts.
  struct Slot {
    std::uint32_t row = 0, hash = 0;
  };
  struct HeapEntry {
    std::uint64_t weight;
    std::uint32_t row;
  };
  std::size_t home(std::uint32_t h) const noexcept { return h & (slots_.size() - 1); }
  std::uint32_t lookup(std::string_view key, std::uint64_t hash) const noexcept {
    const auto h = static_cast<std::uint32_t>(hash);
    for (std::size_t p = home(h);; p = (p + 1) & (slots_.size() - 1)) {
      const Slot s = slots_[p];
      if (s.row == 0) return npos;
      if (s.hash == h && rows_[s.row - 1].hash == hash && rows_[s.row - 1].key == key) return s.row - 1;
    }
  }
  void index(std::uint32_t i, std::uint64_t hash) noexcept {
    const auto h = static_cast<std::uint32_t>(hash);
    std::size_t p = home(h);
    while (slots_[p].row != 0) p = (p + 1) & (slots_.size() - 1);
    slots_[p] = Slot{i + 1, h};
  }
  void unindex(std::uint32_t i) noexcept {
    const std::size_t mask = slots_.size() - 1;
    std::size_t p = home(static_cast<std::uint32_t>(rows_[i].hash));
    while (slots_[p].row != i + 1) p = (p + 1) & mask;
    // Backward-shift deletion: a later slot of the same run moves into the hole unless its home lies after it.
    for (std::size_t q = (p + 1) & mask; slots_[q].row != 0; q = (q + 1) & mask) {
      const std::size_t k = home(slots_[q].hash);
      if (((q - k) & mask) >= ((q - p) & mask)) {
        slots_[p] = slots_[q];
        p = q;
      }
    }
    slots_[p] = Slot{};
  }
  std::uint32_t append(std::string_view key, std::uint64_t hash) {
    const auto i = static_cast<std::uint32_t>(rows_.size());
    rows_.push_back(Row{std::string(key), V{}, 0, 0, hash, 0});
    if (2 * rows_.size() > slots_.size()) {  // at most half full: twice the slots, every row indexed again
      slots_.assign(2 * slots_.size(), Slot{});
      for (std::uint32_t r = 0; r + 1 < rows_.size(); ++r) index(r, rows_[r].hash);
    }
    index(i, hash);
    return i;
  }
  // The lightest row, given to `key`: its old key leaves its weight in its filter bucket.
  std::uint32_t take_over(std::string_view key, std::uint64_t hash) {
    const std::uint32_t i = heap_.front().row;
    Row& r = rows_[i];
    unindex(i);
    std::uint64_t& old = filter_[bucket(r.hash)];
    old = std::max(old, r.weight);
    r.key.assign(key);
    r.hash = hash;
    r.value = V{};
    ++r.generation;
    index(i, hash);
    return i;
  }
  std::size_t bucket(std::uint64_t hash) const noexcept { return (hash >> 32) & (filter_.size() - 1); }
  // The min-heap and the filter are made when the table first fills up (most tables never do: no cost per add
  // until then). Every bucket starts from floor(): what a key without a row may have had so far.
  void make_heap() {
    heap_.resize(rows_.size());
    heap_pos_.resize(rows_.size());
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      heap_[i] = HeapEntry{rows_[i].weight, static_cast<std::uint32_t>(i)};
      heap_pos_[i] = static_cast<std::uint32_t>(i);
    }
    for (std::size_t p = heap_.size() / 2; p-- > 0;) sift_down(p);
    std::size_t n = 16;
    while (n < 4 * capacity_) n *= 2;
    filter_.assign(n, floor());
  }
  void sift_down(std::size_t p) noexcept {
    const std::size_t n = heap_.size();
    const HeapEntry e = heap_[p];
    while (true) {
      const std::size_t l = 2 * p + 1;
      if (l >= n) break;
      std::size_t m = l;
      if (l + 1 < n && heap_[l + 1].weight < heap_[l].weight) m = l + 1;
      if (heap_[m].weight >= e.weight) break;
      heap_[p] = heap_[m];
      heap_pos_[heap_[p].row] = static_cast<std::uint32_t>(p);
      p = m;
    }
    heap_[p] = e;
    heap_pos_[e.row] = static_cast<std::uint32_t>(p);
  }

  std::size_t capacity_;
  std::vector<Row> rows_;
  std::vector<Slot> slots_;              // the index of rows_ by key
  std::vector<HeapEntry> heap_;          // a min-heap of the rows by weight
  std::vector<std::uint32_t> heap_pos_;  // per row: its place in heap_
  std::vector<std::uint64_t> filter_;    // the filter buckets (once full)
  std::uint64_t total_ = 0, evictions_ = 0;
};

// The number of distinct keys, estimated in 4 KiB (HyperLogLog with 4,096 registers: a standard error of
// 1.04 / sqrt(4096) = 1.6%; linear counting while small, where it is near exact).
class DistinctCount {
 public:
  static constexpr std::size_t kRegisters = 4096;
  void add(std::string_view key) noexcept { add_hash(fast_hash(key)); }
  void add_hash(std::uint64_t h) noexcept {
    h = (h ^ (h >> 31)) * 0x94D049BB133111EBull;  // fast_hash's low bits are used twice: mixed again
    h ^= h >> 29;
    const std::size_t i = h & (kRegisters - 1);
    const auto rank = static_cast<std::uint8_t>(std::countl_zero((h >> 12) | 1u) - 11);
    if (rank > regs_[i]) regs_[i] = rank;
  }
  void merge(const DistinctCount& o) noexcept {
    for (std::size_t i = 0; i < kRegisters; ++i) regs_[i] = std::max(regs_[i], o.regs_[i]);
  }
  std::uint64_t estimate() const noexcept {
    double sum = 0;
    std::size_t zeros = 0;
    for (std::uint8_t r : regs_) {
      sum += std::ldexp(1.0, -static_cast<int>(r));
      zeros += r == 0 ? 1 : 0;
    }
    constexpr double m = kRegisters;
    const double raw = (0.7213 / (1 + 1.079 / m)) * m * m / sum;
    if (raw <= 2.5 * m && zeros > 0)
      return static_cast<std::uint64_t>(std::llround(m * std::log(m / static_cast<double>(zeros))));
    return static_cast<std::uint64_t>(std::llround(raw));
  }
  const std::array<std::uint8_t, kRegisters>& registers() const noexcept { return regs_; }
  std::array<std::uint8_t, kRegisters>& registers() noexcept { return regs_; }

 private:
  std::array<std::uint8_t, kRegisters> regs_{};
};

}  // namespace mqttauth
