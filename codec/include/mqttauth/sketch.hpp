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

// Up to `capacity` keys, those with the largest weights. While the table has room every weight is exact. Once
// full, a new key takes the row of the key with the least weight and starts from that weight, which becomes
// its `error`: a row's weight overestimates its key's true weight by at most its error, and every key whose
// true weight is more than total / capacity has a row. `V` is what the caller keeps per key (counted from the
// moment the key got its row); rows are reached by index, and an index's key changes only when its row is
// taken over, which bumps its `generation` (so a caller may keep an index and check it later).
template <class V>
class TopK {
 public:
  struct Row {
    std::string key;
    V value{};
    std::uint64_t weight = 0, error = 0;
    std::uint32_t generation = 0;
  };
  // (The rows are reserved at once, untouched until used: the index holds views of their keys.)
  explicit TopK(std::size_t capacity = 2048) : capacity_(std::max<std::size_t>(capacity, 1)) {
    rows_.reserve(capacity_);
  }
  TopK(const TopK&) = delete;
  TopK& operator=(const TopK&) = delete;
  TopK(TopK&&) noexcept = default;
  TopK& operator=(TopK&&) noexcept = default;

  // The row of `key`, made (or taken over from the lightest key) when it has none.
  std::uint32_t row_of(std::string_view key) {
    if (auto it = index_.find(key); it != index_.end()) return it->second;
    if (rows_.size() < capacity_) {
      const auto i = static_cast<std::uint32_t>(rows_.size());
      rows_.push_back(Row{std::string(key), V{}, 0, 0, 0});
      index_.emplace(rows_.back().key, i);
      return i;
    }
    if (heap_.empty()) make_heap();
    const std::uint32_t i = heap_.front();  // the lightest
    Row& r = rows_[i];
    index_.erase(r.key);
    r.key.assign(key);
    r.value = V{};
    r.error = r.weight;
    ++r.generation;
    ++evictions_;
    index_.emplace(r.key, i);
    return i;
  }
  // The row of `key` when it has one.
  std::optional<std::uint32_t> find(std::string_view key) const {
    if (auto it = index_.find(key); it != index_.end()) return it->second;
    return std::nullopt;
  }
  // Adds `w` to a row's weight.
  void add(std::uint32_t i, std::uint64_t w = 1) {
    rows_[i].weight += w;
    total_ += w;
    if (!heap_.empty()) sift_down(heap_pos_[i]);
  }
  V& value(std::uint32_t i) noexcept { return rows_[i].value; }
  const Row& row(std::uint32_t i) const noexcept { return rows_[i]; }
  const std::vector<Row>& rows() const noexcept { return rows_; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t size() const noexcept { return rows_.size(); }
  std::uint64_t total() const noexcept { return total_; }  // the sum of all weights added (exact)
  // Rows taken over: 0 while every key seen has its own row (all weights exact).
  std::uint64_t evictions() const noexcept { return evictions_; }
  bool exact() const noexcept { return evictions_ == 0; }
  // The most a key without a row may have had: 0 while exact, else the least weight.
  std::uint64_t floor() const noexcept {
    if (evictions_ == 0 || rows_.empty()) return 0;
    if (!heap_.empty()) return rows_[heap_.front()].weight;
    return std::min_element(rows_.begin(), rows_.end(), [](const Row& a, const Row& b) { return a.weight < b.weight; })
        ->weight;
  }

  // Adds a row of another summary (or of a saved one): the same key's row gains its weight, value and error
  // (`merge(V&, const V&)` adds values); used by merge().
  void insert_row(const Row& o, void (*merge_value)(V&, const V&)) {
    auto it = index_.find(o.key);
    if (it != index_.end()) {
      Row& r = rows_[it->second];
      r.weight += o.weight;
      r.error += o.error;
      merge_value(r.value, o.value);
      if (!heap_.empty()) sift_down(heap_pos_[it->second]);
      return;
    }
    const std::uint32_t i = row_of(o.key);
    Row& r = rows_[i];
    r.error += o.error;
    r.weight += o.weight;
    merge_value(r.value, o.value);
    if (!heap_.empty()) sift_down(heap_pos_[i]);
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
      if (!o.index_.count(r.key)) {
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
    index_.clear();
    heap_.clear();
    heap_pos_.clear();
    for (Row& r : v) {
      const auto i = static_cast<std::uint32_t>(rows_.size());
      r.generation = 0;
      rows_.push_back(std::move(r));
      index_.emplace(rows_.back().key, i);
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
  // The min-heap is made when the table first fills up (most tables never do: no cost per add until then).
  void make_heap() {
    heap_.resize(rows_.size());
    heap_pos_.resize(rows_.size());
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      heap_[i] = static_cast<std::uint32_t>(i);
      heap_pos_[i] = i;
    }
    for (std::size_t p = heap_.size() / 2; p-- > 0;) sift_down(p);
  }
  bool less(std::uint32_t a, std::uint32_t b) const noexcept { return rows_[a].weight < rows_[b].weight; }
  void swap_at(std::size_t a, std::size_t b) noexcept {
    std::swap(heap_[a], heap_[b]);
    heap_pos_[heap_[a]] = a;
    heap_pos_[heap_[b]] = b;
  }
  void sift_down(std::size_t p) noexcept {
    const std::size_t n = heap_.size();
    while (true) {
      std::size_t m = p;
      const std::size_t l = 2 * p + 1, r = l + 1;
      if (l < n && less(heap_[l], heap_[m])) m = l;
      if (r < n && less(heap_[r], heap_[m])) m = r;
      if (m == p) return;
      swap_at(p, m);
      p = m;
    }
  }

  std::size_t capacity_;
  std::vector<Row> rows_;
  std::vector<std::uint32_t> heap_;    // row indexes, a min-heap by weight
  std::vector<std::size_t> heap_pos_;  // per row: its place in heap_
  std::unordered_map<std::string_view, std::uint32_t, StringHash, std::equal_to<>> index_;  // keys: rows_' strings
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
