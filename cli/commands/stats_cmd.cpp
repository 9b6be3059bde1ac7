// mqttauth stats: counts per packet type and direction, top topics, QoS mix, handshake outcomes, decode
// errors, gaps, and the throughput of the analysis itself.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "capture_input.hpp"
#include "topic_filter.hpp"
#include "mqttauth/hash.hpp"
#include "mqttauth/sketch.hpp"
#include "commands.hpp"
#include "output.hpp"

#include <nlohmann/json.hpp>

namespace mqttauth::cli {
namespace {

constexpr std::size_t kTypes = std::variant_size_v<Packet>;
// Messages and payload bytes of one topic (or one client), and when the first and the last were seen.
struct Volume {
  std::uint64_t messages = 0, bytes = 0;
  std::int64_t first_ns = 0, last_ns = 0;
  void add(std::uint64_t n, std::int64_t ts) {
    if (messages == 0 || ts < first_ns) first_ns = ts;
    if (ts > last_ns) last_ns = ts;
    ++messages;
    bytes += n;
  }
  void merge(const Volume& o) {
    if (!o.messages) return;
    if (!messages || o.first_ns < first_ns) first_ns = o.first_ns;
    last_ns = std::max(last_ns, o.last_ns);
    messages += o.messages;
    bytes += o.bytes;
  }
  // Messages per second over the time the topic was active (0 for one message).
  double rate() const {
    return last_ns > first_ns ? static_cast<double>(messages) * 1e9 / static_cast<double>(last_ns - first_ns) : 0.0;
  }
};
// The heaviest topics (or client ids) by messages, with the number of distinct ones: bounded whatever the
// capture's length (sketch.hpp). While fewer than kTableRows keys are seen, every figure is exact.
constexpr std::size_t kTableRows = 16384;
struct VolumeTable {
  TopK<Volume> top{kTableRows};
  // The distinct keys once the table has overflowed (until then they are its rows, and nothing is hashed twice).
  DistinctCount distinct;
  bool overflowed = false;
  // Counts a message of `bytes` for `key` (`hash` = fast_hash(key)): the row it is counted in, or npos.
  std::uint32_t count(std::string_view key, std::uint64_t hash, std::uint64_t bytes, std::int64_t ts) {
    if (!overflowed && top.size() == top.capacity() && !top.find(key, hash)) {
      for (const auto& r : top.rows()) distinct.add_hash(r.hash);
      overflowed = true;
    }
    if (overflowed) distinct.add_hash(hash);
    const std::uint32_t i = top.count(key, hash);
    if (i != TopK<Volume>::npos) top.value(i).add(bytes, ts);
    return i;
  }
  // Another message of a row's key (a row the caller kept).
  void add(std::uint32_t i, std::uint64_t bytes, std::int64_t ts) {
    top.add(i);
    top.value(i).add(bytes, ts);
  }
  // Every key seen, as HyperLogLog registers.
  DistinctCount registers() const {
    if (overflowed) return distinct;
    DistinctCount d;
    for (const auto& r : top.rows()) d.add_hash(r.hash);
    return d;
  }
  std::uint64_t distinct_keys() const { return top.exact() ? top.size() : registers().estimate(); }
  void merge(const VolumeTable& o) {
    DistinctCount d = registers();
    d.merge(o.registers());
    top.merge(o.top, [](Volume& a, const Volume& b) { a.merge(b); });
    distinct = d;
    overflowed = true;
  }
};

// stats shows no keep-alive finding: its analysis leaves that audit out (what it shows is as in every command).
AnalyzerOptions stats_analyzer_options(const CaptureOptions& o) {
  AnalyzerOptions a = analyzer_options(o);
  a.keep_alive_audit = false;
  return a;
}

class StatsSink final : public AnalyzerSink {
 public:
  explicit StatsSink(const std::vector<std::string>& topic_filters = {}) : filter(topic_filters) {}
  TopicFilter filter;  // --topic: only the packets that name a matching topic are counted
  std::array<std::array<std::uint64_t, 3>, kTypes> by_type{};  // [type][c2s, s2c, unknown]
  VolumeTable topics;                                          // PUBLISH per topic, both directions
  VolumeTable talkers;                                         // the clients' PUBLISH per client id
  // The model across connections (Analyzer::fleet()), added after the analysis.
  LatencyTable ack_by_client, ack_by_topic, delivery_by_topic;
  Fleet::Counts fleet;
  // With --threads N > 1 each thread follows a share of the connections: what is across connections (takeovers,
  // wills published, deliveries) is only seen within a share.
  unsigned shards = 1;

 private:
  struct Recent {
    std::uint64_t conn = 0;
    std::string_view topic;  // the key of the row (valid while the row's generation is `gen`)
    std::uint32_t row = 0, gen = 0;
    bool set = false;
  };
  static constexpr std::size_t kRecent = 512;
  std::array<Recent, kRecent> recent_{};
  struct Talker {
    std::uint64_t conn = 0, hash = 0;  // the connection, and the hash of its client id
    std::size_t handshakes = 0;        // ... as of this many handshakes (a second CONNECT may name another)
    std::uint32_t row = 0, gen = 0;    // its row (npos: none yet), valid while the row's generation is `gen`
    bool set = false;
  };
  std::array<Talker, kRecent> talkers_{};

 public:
  // The fleet model's results of an analysis that has read its input: its counts, and its latency tables,
  // taken over whole while this sink's are empty (a run's only analysis: no copy), else added.
  void add_fleet(Analyzer& an) {
    using C = Fleet::Counts;
    add_counts<&C::takeovers, &C::takeover_loops, &C::reconnect_storms, &C::retained_delivered, &C::retained_cleared,
               &C::wills_fired, &C::wills_published, &C::deliveries, &C::bounds_hit>(fleet, an.fleet().counts());
    Fleet::LatencyTables t = an.take_latency_tables();
    if (filter.empty() && ack_by_client.keys().empty() && ack_by_topic.keys().empty() &&
        delivery_by_topic.keys().empty()) {
      ack_by_client = std::move(t.ack_by_client);
      ack_by_topic = std::move(t.ack_by_topic);
      delivery_by_topic = std::move(t.delivery_by_topic);
      return;
    }
    ack_by_client.merge(t.ack_by_client);
    if (filter.empty()) {
      ack_by_topic.merge(t.ack_by_topic);
      delivery_by_topic.merge(t.delivery_by_topic);
    } else {  // the topics of the filter only
      for (const auto& [k, v] : t.ack_by_topic.keys())
        if (filter.matches(k)) ack_by_topic.merge_key(k, v);
      for (const auto& [k, v] : t.delivery_by_topic.keys())
        if (filter.matches(k)) delivery_by_topic.merge_key(k, v);
    }
  }
  std::array<std::uint64_t, 3> qos{};
  std::uint64_t payload_bytes = 0;
  std::map<std::pair<AuthScheme, std::string>, std::uint64_t> outcomes;  // (scheme, outcome) -> count
  std::map<std::string, std::uint64_t> errors;
  std::map<std::string, std::uint64_t> violations;  // by finding name
  std::uint64_t gaps = 0, gap_bytes = 0, resyncs = 0, resync_bytes = 0, connections = 0, tls = 0;
  std::uint64_t weak_challenges = 0;

  void on_packet(const Connection& c, Direction dir, const Decoded& d, const Observation& ob,
                 const PacketMeta& m) override {
    if (!filter.empty() && !filter.matches(d.packet)) return;
    ++by_type[d.packet.index()][static_cast<std::size_t>(dir)];
    for (const Violation& v : d.violations) ++violations[std::string(error_kind_name(v.kind))];
    if (const auto* p = std::get_if<Publish>(&d.packet)) {
      ++qos[p->qos & 3u];
      const std::uint64_t bytes = p->payload.size();
      payload_bytes += bytes;
      // A device publishes to the same topic again and again: the last topic of each connection (by a small
      // direct-mapped cache) is compared instead of looked up.
      // (One entry per connection and direction: a device's telemetry and the commands it is sent alternate.)
      const std::uint64_t key = c.id * 2 + (dir == Direction::c2s ? 1 : 0);
      Recent& r = recent_[key & (kRecent - 1)];
      if (r.set && r.conn == key && topics.top.row(r.row).generation == r.gen && r.topic == p->topic) {
        topics.add(r.row, bytes, m.ts_ns);
      } else {
        const std::uint32_t i = topics.count(p->topic, ob.topic_hash_of(*p), bytes, m.ts_ns);
        r.set = i != TopK<Volume>::npos;
        if (r.set) {
          r.conn = key;
          r.row = i;
          r.gen = topics.top.row(i).generation;
          r.topic = topics.top.row(i).key;
        }
      }
      if (dir == Direction::c2s) {
        // The client's row by the same kind of cache, by connection (its handshakes are not read again: they
        // are far away in memory, and it was 6% of the time).
        const auto& hs = c.session->handshakes();
        auto client_id = [&] {
          return hs.empty() ? std::string_view("(unknown)") : std::string_view(hs.back().client_id);
        };
        const std::size_t n = hs.size();
        Talker& t = talkers_[c.id & (kRecent - 1)];
        if (!t.set || t.conn != c.id || t.handshakes != n) {
          t.hash = fast_hash(client_id());
          t.conn = c.id;
          t.handshakes = n;
          t.row = TopK<Volume>::npos;
          t.set = true;
        }
        if (t.row != TopK<Volume>::npos && talkers.top.row(t.row).generation == t.gen) {
          talkers.add(t.row, bytes, m.ts_ns);
        } else {
          t.row = talkers.count(client_id(), t.hash, bytes, m.ts_ns);
          if (t.row != TopK<Volume>::npos) t.gen = talkers.top.row(t.row).generation;
        }
      }
    }
  }
  void on_connection_end(const Connection& c) override { end_connection(c); }
  void on_error(const Connection&, Direction, const Error& e, const PacketMeta&) override {
    ++errors[std::string(error_kind_name(e.kind))];
  }
  void on_gap(const Connection&, Direction, std::uint64_t, std::uint64_t bytes, const PacketMeta&, GapReason) override {
    ++gaps;
    gap_bytes += bytes;
  }
  void on_resync(const Connection&, Direction, std::uint64_t, std::uint64_t skipped, const PacketMeta&) override {
    ++resyncs;
    resync_bytes += skipped;
  }
  void on_tls(const Connection&) override { ++tls; }
  // -j: the counts of another file's analysis added to these.
  void merge(const StatsSink& o) {
    for (std::size_t t = 0; t < kTypes; ++t)
      for (std::size_t d = 0; d < 3; ++d) by_type[t][d] += o.by_type[t][d];
    topics.merge(o.topics);
    talkers.merge(o.talkers);
    ack_by_client.merge(o.ack_by_client);
    ack_by_topic.merge(o.ack_by_topic);
    delivery_by_topic.merge(o.delivery_by_topic);
    using C = Fleet::Counts;
    add_counts<&C::takeovers, &C::takeover_loops, &C::reconnect_storms, &C::retained_delivered, &C::retained_cleared,
               &C::wills_fired, &C::wills_published, &C::deliveries, &C::bounds_hit>(fleet, o.fleet);
    for (std::size_t q = 0; q < 3; ++q) qos[q] += o.qos[q];
    for (const auto& [k, n] : o.outcomes) outcomes[k] += n;
    for (const auto& [k, n] : o.errors) errors[k] += n;
    for (const auto& [k, n] : o.violations) violations[k] += n;
    using S = StatsSink;
    add_counts<&S::gaps, &S::gap_bytes, &S::resyncs, &S::resync_bytes, &S::connections, &S::tls, &S::weak_challenges,
               &S::payload_bytes>(*this, o);
  }
  void end_connection(const Connection& c) {
    ++connections;
    if (!c.session || c.session->handshakes().empty()) {
      ++outcomes[{AuthScheme::none, "unseen"}];
      return;
    }
    const Handshake& h = c.session->handshakes().back();
    ++outcomes[{h.scheme, std::string(outcome_name(h.outcome))}];
    if (h.scheme != AuthScheme::none && h.challenge_pkt &&
        classify_challenge(h.challenge, h.challenge_pkt->ts_ns) != ChallengeWeakness::none)
      ++weak_challenges;
  }
};

struct StatsOptions {
  CaptureOptions cap;
  std::string format = "text";
  std::size_t top = 10;
  bool merge = false;  // the files are outputs of stats --format jsonl, added up
};

// The n largest rows of a table by messages (then bytes, then name).
std::vector<const TopK<Volume>::Row*> top_of(const VolumeTable& t, std::size_t n) {
  std::vector<const TopK<Volume>::Row*> v;
  v.reserve(t.top.size());
  for (const auto& r : t.top.rows()) v.push_back(&r);
  const auto by_weight = [](const auto* a, const auto* b) {
    if (a->weight != b->weight) return a->weight > b->weight;
    if (a->value.bytes != b->value.bytes) return a->value.bytes > b->value.bytes;
    return a->key < b->key;
  };
  const std::size_t k = std::min(n, v.size());
  std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end(), by_weight);
  v.resize(k);
  return v;
}

// The n keys of a latency table with the most samples.
std::vector<std::pair<std::string, const LatencySamples*>> top_latency(const LatencyTable& t, std::size_t n) {
  std::vector<std::pair<std::string, const LatencySamples*>> v;
  for (const auto& [k, s] : t.keys()) v.emplace_back(k, &s);
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second->count() != b.second->count() ? a.second->count() > b.second->count() : a.first < b.first;
  });
  if (v.size() > n) v.resize(n);
  return v;
}

std::string ms(std::int64_t ns) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3f", static_cast<double>(ns) / 1e6);
  return b;
}

void latency_json(JsonWriter& w, const LatencySamples& s) {
  w.field_num("count", s.count());
  w.key("p50_ms").raw_value(ms(s.percentile(50)));
  w.key("p90_ms").raw_value(ms(s.percentile(90)));
  w.key("p99_ms").raw_value(ms(s.percentile(99)));
  w.key("max_ms").raw_value(ms(s.max()));
  if (!s.exact()) w.field("percentiles", "sampled");
}

void latency_table_json(JsonWriter& w, const char* name, const char* key_name, const LatencyTable& t, std::size_t top,
                        const LatencySamples& all) {
  w.key(name).begin_object();
  w.key("all").begin_object();
  latency_json(w, all);
  w.end_object();
  w.begin_array("top");
  for (const auto& [k, s] : top_latency(t, top)) {
    w.begin_object().field(key_name, k);
    latency_json(w, *s);
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

void latency_text(std::string& out, const char* title, const char* key_title, const LatencyTable& t, std::size_t top) {
  char b[256];
  std::snprintf(b, sizeof b, "\n%s\n  %-28s %8s %10s %10s %10s %10s\n", title, key_title, "count", "p50 ms", "p90 ms",
                "p99 ms", "max ms");
  out += b;
  if (t.all().count() == 0) {
    out += "  none\n";
    return;
  }
  auto row = [&](std::string_view key, const LatencySamples& s) {
    std::string k(key.substr(0, 28));
    std::snprintf(b, sizeof b, "  %-28s %8llu %10s %10s %10s %10s%s\n", k.c_str(),
                  static_cast<unsigned long long>(s.count()), ms(s.percentile(50)).c_str(),
                  ms(s.percentile(90)).c_str(), ms(s.percentile(99)).c_str(), ms(s.max()).c_str(),
                  s.exact() ? "" : "  (sampled)");
    out += b;
  };
  row("(all)", t.all());
  for (const auto& [k, s] : top_latency(t, top)) row(k, *s);
}

// --- the state that `stats --merge` adds up ---
// Beside the figures above (which it reads back): the whole top-k tables with their distinct-count registers,
// and the latency samples (overall, and of the kStateLatencyKeys keys with the most). See the README: counts
// add up exactly; top-k rows, distinct counts and percentiles are the documented approximations.
constexpr std::size_t kStateLatencyKeys = 64;
constexpr int kStateVersion = 1;

void samples_json(JsonWriter& w, const LatencySamples& s) {
  w.begin_array().num(s.count()).num_signed(s.min()).num_signed(s.max());
  const __int128 sum = s.sum();
  w.num_signed(sum > INT64_MAX ? INT64_MAX : sum < INT64_MIN ? INT64_MIN : static_cast<std::int64_t>(sum));
  w.begin_array();
  for (std::int64_t v : s.kept()) w.num_signed(v);
  w.end_array().end_array();
}

void write_state(JsonWriter& w, const StatsSink& s) {
  w.key("merge_state").begin_object().field_num("version", kStateVersion);
  auto table = [&](const char* name, const VolumeTable& t) {
    w.key(name).begin_object();
    w.field_num("total", t.top.total()).field_num("evictions", t.top.evictions());
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(2 * DistinctCount::kRegisters);
    const DistinctCount regs = t.registers();
    for (std::uint8_t r : regs.registers()) {
      hex += kHex[r >> 4];
      hex += kHex[r & 15];
    }
    w.field("distinct", hex);
    w.begin_array("rows");
    for (const auto& r : t.top.rows()) {
      w.begin_array().str(r.key).num(r.weight).num(r.error).num(r.value.messages).num(r.value.bytes);
      w.num_signed(r.value.first_ns).num_signed(r.value.last_ns).end_array();
    }
    w.end_array().end_object();
  };
  table("topics", s.topics);
  table("talkers", s.talkers);
  w.key("latency").begin_object();
  auto latency = [&](const char* name, const LatencyTable& t, const LatencySamples& all) {
    w.key(name).begin_object().key("all");
    samples_json(w, all);
    w.begin_array("keys");
    for (const auto& [k, v] : top_latency(t, kStateLatencyKeys)) {
      w.begin_array().str(k);
      samples_json(w, *v);
      w.end_array();
    }
    w.end_array().end_object();
  };
  latency("ack_by_client", s.ack_by_client, s.ack_by_client.all());
  latency("ack_by_topic", s.ack_by_topic, s.ack_by_client.all());
  latency("delivery_by_topic", s.delivery_by_topic, s.delivery_by_topic.all());
  w.end_object().end_object();
}

// One `stats --format jsonl` output read back into `s` and the counters (added to what they hold). Returns an
// error message, empty on success.
std::string read_state(const std::string& text, StatsSink& s, Analyzer::Counters& c, InputReport& r) {
  using nlohmann::json;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "not a JSON object (the output of stats --format jsonl)";
  if (!j.contains("merge_state") || !j["merge_state"].is_object())
    return "no merge_state (the output of stats --format jsonl of mqttauth 0.x before --merge?)";
  const json& st = j["merge_state"];
  if (st.value("version", 0) != kStateVersion) return "merge_state version " + st.value("version", json()).dump();
  try {
    // A count must be a whole number from 0 up (nlohmann would wrap -5 round to 2^64 - 5).
    auto whole = [](const json& v) {
      if (!v.is_number_unsigned()) throw std::runtime_error("a count is not a whole number from 0 up: " + v.dump());
      return v.get<std::uint64_t>();
    };
    auto u64 = [&](const json& o, const char* k) { return o.contains(k) ? whole(o.at(k)) : 0; };
    for (std::size_t t = 0; t < kTypes; ++t) {
      const std::string name(packet_name_at(t));
      if (!j["packets"].contains(name)) continue;
      const json& p = j["packets"][name];
      s.by_type[t][0] += u64(p, "c2s");
      s.by_type[t][1] += u64(p, "s2c");
      s.by_type[t][2] += u64(p, "unknown");
    }
    for (std::size_t q = 0; q < 3; ++q) s.qos[q] += u64(j["qos"], std::to_string(q).c_str());
    s.payload_bytes += u64(j, "payload_bytes");
    for (const json& h : j["handshakes"]) {
      const std::string auth = h.at("auth").get<std::string>();
      AuthScheme scheme = AuthScheme::none;
      for (auto a : {AuthScheme::none, AuthScheme::custom0, AuthScheme::custom15, AuthScheme::v5})
        if (scheme_name(a) == auth) scheme = a;
      s.outcomes[{scheme, h.at("outcome").get<std::string>()}] += u64(h, "connections");
    }
    using S = StatsSink;
    using F = Fleet::Counts;
    using A = Analyzer::Counters;
    for (const auto& [k, m] : {std::pair{"weak_challenges", &S::weak_challenges},
                               {"gaps", &S::gaps},
                               {"gap_bytes", &S::gap_bytes},
                               {"resyncs", &S::resyncs},
                               {"resync_bytes", &S::resync_bytes},
                               {"mqtt_connections", &S::connections},
                               {"tls_connections", &S::tls}})
      s.*m += u64(j, k);
    for (const auto& [k, v] : j["decode_errors"].items()) s.errors[k] += v.get<std::uint64_t>();
    for (const auto& [k, v] : j["violations"].items()) s.violations[k] += v.get<std::uint64_t>();
    const json& f = j["fleet"];
    s.shards = std::max<unsigned>(s.shards, static_cast<unsigned>(u64(f, "threads_splitting_connections")));
    for (const auto& [k, m] : {std::pair{"takeovers", &F::takeovers},
                               {"takeover_loops", &F::takeover_loops},
                               {"reconnect_storms", &F::reconnect_storms},
                               {"wills_fired", &F::wills_fired},
                               {"wills_published", &F::wills_published},
                               {"retained_delivered", &F::retained_delivered},
                               {"retained_cleared", &F::retained_cleared},
                               {"deliveries", &F::deliveries},
                               {"bounds_hit", &F::bounds_hit}})
      s.fleet.*m += u64(f, k);
    for (const auto& [k, m] : {std::pair{"tcp_connections", &A::connections},
                               {"evicted_connections", &A::evicted},
                               {"frames", &A::frames},
                               {"tcp_segments", &A::tcp_segments},
                               {"malformed_frames", &A::malformed}})
      c.*m += u64(j, k);
    r.bytes += u64(j, "bytes_read");
    r.seconds += j.value("seconds", 0.0);
    auto table = [&](const json& o, VolumeTable& into) {
      VolumeTable t;
      for (const json& row : o.at("rows")) {
        TopK<Volume>::Row x;
        x.key = row.at(0).get<std::string>();
        x.weight = whole(row.at(1));
        x.error = whole(row.at(2));
        x.value.messages = whole(row.at(3));
        x.value.bytes = whole(row.at(4));
        x.value.first_ns = row.at(5).get<std::int64_t>();
        x.value.last_ns = row.at(6).get<std::int64_t>();
        t.top.insert_row(x, [](Volume& a, const Volume& b) { a.merge(b); });
      }
      t.top.restore_totals(u64(o, "total"), u64(o, "evictions"));
      const std::string hex = o.at("distinct").get<std::string>();
      if (hex.size() != 2 * DistinctCount::kRegisters) throw std::runtime_error("distinct: wrong length");
      auto nib = [](char ch) { return static_cast<std::uint8_t>(ch <= '9' ? ch - '0' : ch - 'a' + 10); };
      for (std::size_t i = 0; i < DistinctCount::kRegisters; ++i)
        t.distinct.registers()[i] = static_cast<std::uint8_t>(nib(hex[2 * i]) << 4 | nib(hex[2 * i + 1]));
      t.overflowed = true;
      into.merge(t);
    };
    table(st.at("topics"), s.topics);
    table(st.at("talkers"), s.talkers);
    auto samples = [](const json& a, std::uint32_t capacity) {
      std::vector<std::int64_t> kept = a.at(4).get<std::vector<std::int64_t>>();
      return LatencySamples::restore(capacity, a.at(0).get<std::uint64_t>(), a.at(1).get<std::int64_t>(),
                                     a.at(2).get<std::int64_t>(), a.at(3).get<std::int64_t>(), std::move(kept));
    };
    auto latency = [&](const json& o, LatencyTable& into) {
      std::vector<std::pair<std::string, LatencySamples>> keys;
      for (const json& k : o.at("keys")) keys.emplace_back(k.at(0).get<std::string>(), samples(k.at(1), 256));
      into.restore(samples(o.at("all"), 4096), keys);
    };
    const json& l = st.at("latency");
    latency(l.at("ack_by_client"), s.ack_by_client);
    latency(l.at("ack_by_topic"), s.ack_by_topic);
    latency(l.at("delivery_by_topic"), s.delivery_by_topic);
  } catch (const std::exception& e) {
    return std::string("malformed merge_state or figures: ") + e.what();
  }
  return {};
}

void print_json(std::string& out, const StatsSink& s, const Analyzer::Counters& c, const InputReport& r,
                std::size_t top) {
  JsonWriter w(out);
  w.begin_object();
  w.key("packets").begin_object();
  std::uint64_t total = 0;
  for (std::size_t t = 0; t < kTypes; ++t) {
    auto sum = s.by_type[t][0] + s.by_type[t][1] + s.by_type[t][2];
    if (!sum) continue;
    total += sum;
    w.key(packet_name_at(t)).begin_object();
    w.field_num("c2s", s.by_type[t][0]).field_num("s2c", s.by_type[t][1]).field_num("unknown", s.by_type[t][2]);
    w.field_num("total", sum);
    w.end_object();
  }
  w.end_object();
  w.field_num("packets_total", total);
  // The top rows of a volume table: key, publishes, payload bytes, rate.
  auto volumes = [&](const char* array, const char* key_name, const VolumeTable& t) {
    w.begin_array(array);
    for (const auto* row : top_of(t, top)) {
      w.begin_object().field(key_name, row->key);
      w.field_num("publishes", row->weight).field_num("payload_bytes", row->value.bytes);
      if (row->error) w.field_num("publishes_error", row->error);  // publishes is at most this much over
      char b[32];
      std::snprintf(b, sizeof b, "%.3f", row->value.rate());
      w.key("per_second").raw_value(b);
      w.end_object();
    }
    w.end_array();
  };
  volumes("top_topics", "topic", s.topics);
  w.field_num("distinct_topics", s.topics.distinct_keys());
  if (!s.topics.top.exact()) w.field_bool("distinct_topics_estimated", true);
  volumes("top_talkers", "client_id", s.talkers);
  w.field_num("distinct_talkers", s.talkers.distinct_keys());
  if (!s.talkers.top.exact()) w.field_bool("distinct_talkers_estimated", true);
  w.key("latency").begin_object();
  latency_table_json(w, "ack_by_client", "client_id", s.ack_by_client, top, s.ack_by_client.all());
  latency_table_json(w, "ack_by_topic", "topic", s.ack_by_topic, top, s.ack_by_client.all());
  latency_table_json(w, "delivery_by_topic", "topic", s.delivery_by_topic, top, s.delivery_by_topic.all());
  w.end_object();
  w.key("fleet").begin_object();
  w.field_num("threads_splitting_connections", s.shards);
  w.field_num("takeovers", s.fleet.takeovers).field_num("takeover_loops", s.fleet.takeover_loops);
  w.field_num("reconnect_storms", s.fleet.reconnect_storms).field_num("wills_fired", s.fleet.wills_fired);
  w.field_num("wills_published", s.fleet.wills_published).field_num("retained_delivered", s.fleet.retained_delivered);
  w.field_num("retained_cleared", s.fleet.retained_cleared).field_num("deliveries", s.fleet.deliveries);
  w.field_num("bounds_hit", s.fleet.bounds_hit);
  w.end_object();
  w.key("qos").begin_object().field_num("0", s.qos[0]).field_num("1", s.qos[1]).field_num("2", s.qos[2]).end_object();
  w.field_num("payload_bytes", s.payload_bytes);
  w.begin_array("handshakes");
  for (const auto& [k, n] : s.outcomes)
    w.begin_object()
        .field("auth", scheme_name(k.first))
        .field("outcome", k.second)
        .field_num("connections", n)
        .end_object();
  w.end_array();
  w.field_num("weak_challenges", s.weak_challenges);
  w.key("decode_errors").begin_object();
  for (const auto& [k, n] : s.errors) w.field_num(k, n);
  w.end_object();
  w.key("violations").begin_object();
  for (const auto& [k, n] : s.violations) w.field_num(k, n);
  w.end_object();
  w.field_num("gaps", s.gaps).field_num("gap_bytes", s.gap_bytes).field_num("resyncs", s.resyncs);
  w.field_num("resync_bytes", s.resync_bytes);
  w.field_num("mqtt_connections", s.connections).field_num("tls_connections", s.tls);
  w.field_num("tcp_connections", c.connections).field_num("evicted_connections", c.evicted);
  w.field_num("frames", c.frames).field_num("tcp_segments", c.tcp_segments).field_num("malformed_frames", c.malformed);
  w.field_num("bytes_read", r.bytes);
  char b[64];
  std::snprintf(b, sizeof b, "%.6f", r.seconds);
  w.key("seconds").raw_value(b);
  std::snprintf(b, sizeof b, "%.1f", r.seconds > 0 ? static_cast<double>(r.bytes) / 1e6 / r.seconds : 0.0);
  w.key("mb_per_second").raw_value(b);
  write_state(w, s);
  w.end_object();
  out += '\n';
}

void print_text(std::string& out, const StatsSink& s, const Analyzer::Counters& c, const InputReport& r,
                std::size_t top) {
  char b[256];
  out += "Packets            c2s        s2c    unknown      total\n";
  std::uint64_t total = 0;
  for (std::size_t t = 0; t < kTypes; ++t) {
    auto sum = s.by_type[t][0] + s.by_type[t][1] + s.by_type[t][2];
    if (!sum) continue;
    total += sum;
    std::snprintf(b, sizeof b, "  %-13s %10llu %10llu %10llu %10llu\n", std::string(packet_name_at(t)).c_str(),
                  static_cast<unsigned long long>(s.by_type[t][0]), static_cast<unsigned long long>(s.by_type[t][1]),
                  static_cast<unsigned long long>(s.by_type[t][2]), static_cast<unsigned long long>(sum));
    out += b;
  }
  std::snprintf(b, sizeof b, "  %-13s %43llu\n\n", "all", static_cast<unsigned long long>(total));
  out += b;
  auto volumes = [&](const VolumeTable& t, const char* what) {
    std::snprintf(b, sizeof b, "  %10s %12s %10s  %s\n", "messages", "bytes", "per s", what);
    out += b;
    for (const auto* row : top_of(t, top)) {
      std::snprintf(b, sizeof b, "  %s%9llu %12llu %10.3f  ", row->error ? "~" : " ",
                    static_cast<unsigned long long>(row->weight), static_cast<unsigned long long>(row->value.bytes),
                    row->value.rate());
      out += b;
      append_escaped(out, row->key);
      out += '\n';
    }
    if (!t.top.exact())
      out += "  (more than " + std::to_string(kTableRows) +
             " keys: the heaviest are kept, '~' marks a count that may be over by what it inherited)\n";
  };
  std::snprintf(b, sizeof b, "Top topics (%s%llu distinct)\n", s.topics.top.exact() ? "" : "about ",
                static_cast<unsigned long long>(s.topics.distinct_keys()));
  out += b;
  volumes(s.topics, "topic");
  std::snprintf(b, sizeof b, "\nTop talkers (%s%llu clients publishing)\n", s.talkers.top.exact() ? "" : "about ",
                static_cast<unsigned long long>(s.talkers.distinct_keys()));
  out += b;
  volumes(s.talkers, "client id");
  std::uint64_t pubs = s.qos[0] + s.qos[1] + s.qos[2];
  auto pct = [&](std::uint64_t n) { return pubs ? 100.0 * static_cast<double>(n) / static_cast<double>(pubs) : 0.0; };
  std::snprintf(b, sizeof b, "\nQoS mix  0: %llu (%.1f%%)  1: %llu (%.1f%%)  2: %llu (%.1f%%)\n",
                static_cast<unsigned long long>(s.qos[0]), pct(s.qos[0]), static_cast<unsigned long long>(s.qos[1]),
                pct(s.qos[1]), static_cast<unsigned long long>(s.qos[2]), pct(s.qos[2]));
  out += b;
  out += "\nHandshakes\n";
  if (s.outcomes.empty()) out += "  none\n";
  for (const auto& [k, n] : s.outcomes) {
    std::snprintf(b, sizeof b, "  %-9s %-11s %8llu\n", std::string(scheme_name(k.first)).c_str(), k.second.c_str(),
                  static_cast<unsigned long long>(n));
    out += b;
  }
  if (s.weak_challenges) {
    std::snprintf(b, sizeof b, "  predictable challenges (timestamp / counter): %llu\n",
                  static_cast<unsigned long long>(s.weak_challenges));
    out += b;
  }
  latency_text(out, "PUBLISH to acknowledgement (the clients' QoS 1/2 PUBLISH)", "client id", s.ack_by_client, top);
  latency_text(out, "Delivery (a client's PUBLISH to the server's PUBLISH to another client)", "topic",
               s.delivery_by_topic, top);
  const auto& f = s.fleet;
  std::snprintf(b, sizeof b,
                "\nAcross connections: %llu takeovers (%llu loops), %llu reconnect storms, %llu wills fired (%llu "
                "published), %llu retained sent on subscribe, %llu cleared\n",
                static_cast<unsigned long long>(f.takeovers), static_cast<unsigned long long>(f.takeover_loops),
                static_cast<unsigned long long>(f.reconnect_storms), static_cast<unsigned long long>(f.wills_fired),
                static_cast<unsigned long long>(f.wills_published),
                static_cast<unsigned long long>(f.retained_delivered),
                static_cast<unsigned long long>(f.retained_cleared));
  out += b;
  if (s.shards > 1) {
    std::snprintf(b, sizeof b,
                  "  (the connections were split between %u threads: takeovers, wills and deliveries between two "
                  "of them are not seen; --threads 1 sees all)\n",
                  s.shards);
    out += b;
  }
  out += "\nDecode errors\n";
  if (s.errors.empty()) out += "  none\n";
  for (const auto& [k, n] : s.errors) {
    std::snprintf(b, sizeof b, "  %-24s %8llu\n", k.c_str(), static_cast<unsigned long long>(n));
    out += b;
  }
  if (!s.violations.empty()) {
    out += "\nRule violations (packets decoded in full)\n";
    for (const auto& [k, n] : s.violations) {
      std::snprintf(b, sizeof b, "  %-24s %8llu\n", k.c_str(), static_cast<unsigned long long>(n));
      out += b;
    }
  }
  std::snprintf(b, sizeof b, "\nGaps: %llu (%llu bytes missing), resynchronised %llu times (%llu bytes skipped)\n",
                static_cast<unsigned long long>(s.gaps), static_cast<unsigned long long>(s.gap_bytes),
                static_cast<unsigned long long>(s.resyncs), static_cast<unsigned long long>(s.resync_bytes));
  out += b;
  std::snprintf(b, sizeof b, "Connections: %llu MQTT, %llu TLS on MQTT ports, %llu TCP in all\n",
                static_cast<unsigned long long>(s.connections), static_cast<unsigned long long>(s.tls),
                static_cast<unsigned long long>(c.connections));
  out += b;
  std::snprintf(b, sizeof b, "Input: %llu frames, %llu TCP segments, %llu malformed frames, %.1f MB\n",
                static_cast<unsigned long long>(c.frames), static_cast<unsigned long long>(c.tcp_segments),
                static_cast<unsigned long long>(c.malformed), static_cast<double>(r.bytes) / 1e6);
  out += b;
  std::snprintf(b, sizeof b, "Analysis: %.3f s, %.1f MB/s, %.0f packets/s\n", r.seconds,
                r.seconds > 0 ? static_cast<double>(r.bytes) / 1e6 / r.seconds : 0.0,
                r.seconds > 0 ? static_cast<double>(total) / r.seconds : 0.0);
  out += b;
}

int run_stats(const StatsOptions& o) {
  prepare_analysis_heap();  // before the tables are made
  // The totals: the one share's sink itself when there is one (no copy of its tables), else the shares added up.
  std::unique_ptr<StatsSink> total;
  auto add_up = [&](std::vector<std::unique_ptr<StatsSink>>& parts) {
    if (parts.size() == 1) {
      total = std::move(parts.front());
      return;
    }
    total = std::make_unique<StatsSink>(o.cap.topics);
    for (const auto& s : parts) total->merge(*s);
  };
  Analyzer::Counters counters;
  InputReport rep;
  if (o.merge) {
    total = std::make_unique<StatsSink>();
    total->shards = 0;
    for (const auto& path : o.cap.files) {
      std::ifstream in(path, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      const std::string err = in ? read_state(text.str(), *total, counters, rep) : "cannot read it";
      if (!err.empty()) {
        std::fprintf(stderr, "mqttauth stats: %s: %s\n", path.c_str(), err.c_str());
        return kExitUsage;
      }
    }
    total->shards = std::max(total->shards, 1u);
  } else if (o.cap.jobs == 0) {
    // The connections split between threads that each read the whole input (reading is a small part of
    // the work); the counts are added up.
    unsigned threads = o.cap.threads;
    if (threads == 0) threads = std::clamp(std::thread::hardware_concurrency(), 1u, kMaxThreads);
    // Every thread opens and reads the input itself: a pipe (or any other input that is not a regular file)
    // would hand each of them a different part of the stream. Such inputs are read by one thread.
    for (const auto& f : o.cap.files) {
      struct stat st {};
      if (stat(f.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) threads = 1;
    }
    if (o.cap.live()) threads = 1;  // an interface or a followed file is read once
    std::vector<std::unique_ptr<StatsSink>> sinks(threads);
    std::vector<Analyzer::Counters> counts(threads);
    std::vector<InputReport> reps(threads);
    auto work = [&](unsigned i) {
      sinks[i] = std::make_unique<StatsSink>(o.cap.topics);
      CaptureOptions shard = o.cap;
      shard.threads = threads;
      shard.shard = i;
      auto an = std::make_unique<Analyzer>(stats_analyzer_options(shard), *sinks[i]);
      reps[i] = read_captures(shard, *an);
      counts[i] = an->counters();
      sinks[i]->add_fleet(*an);
      leave_to_exit(an);
    };
    std::vector<std::thread> pool;  // one thread per shard (shard 0 on this one)
    for (unsigned i = 1; i < threads; ++i) pool.emplace_back(work, i);
    work(0);
    for (auto& t : pool) t.join();
    add_up(sinks);
    total->shards = threads;
    counters = Analyzer::merge_shards(counts);
    if (threads > 1) report_evictions(counters, o.cap);
    rep = reps.front();  // every shard read the same input
    for (const auto& r : reps) rep.seconds = std::max(rep.seconds, r.seconds);
  } else {
    // -j: each file on its own; the counts are added up in file order.
    auto t0 = std::chrono::steady_clock::now();
    const std::size_t n = o.cap.files.size();
    std::vector<std::unique_ptr<StatsSink>> sinks(n);
    std::vector<Analyzer::Counters> counts(n);
    std::vector<InputReport> reps(n);
    for_each_file(o.cap, [&](std::size_t i, const CaptureOptions& one) {
      sinks[i] = std::make_unique<StatsSink>(o.cap.topics);
      Analyzer an(stats_analyzer_options(one), *sinks[i]);
      reps[i] = read_captures(one, an);
      counts[i] = an.counters();
      sinks[i]->add_fleet(an);
    });
    add_up(sinks);
    for (std::size_t i = 0; i < n; ++i) {
      counters += counts[i];
      add_report(rep, reps[i]);
    }
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  Out out(stdout);
  if (o.format == "jsonl")
    print_json(out.buf(), *total, counters, rep, o.top);
  else
    print_text(out.buf(), *total, counters, rep, o.top);
  out.flush();
  leave_to_exit(total);
  if (rep.unreadable) return kExitUsage;
  if (rep.damaged) return kExitDamaged;
  return kExitOk;
}

}  // namespace

void setup_stats(CLI::App& app) {
  auto opt = std::make_shared<StatsOptions>();
  auto* sub = app.add_subcommand("stats", "Counts per packet type and direction, topics, QoS, handshakes, errors");
  sub->footer(
      "Examples:\n"
      "  mqttauth stats capture.pcapng\n"
      "  mqttauth stats --format jsonl --top 20 *.pcap\n"
      "  mqttauth stats --format jsonl gw1.pcap > gw1.json; ...; mqttauth stats --merge gw1.json gw2.json\n"
      "Exit codes: 0 done, 2 usage or unreadable input, 3 truncated or corrupt capture (the rest was analysed).");
  add_capture_options(sub, opt->cap);
  add_topic_option(sub, opt->cap,
                   "count only the packets that name a matching topic (the per-client latency is over all topics)");
  add_jobs_option(sub, opt->cap);
  opt->cap.threads = 0;
  sub->add_option("--threads", opt->cap.threads,
                  "Without -j: split the connections between N threads, each reading the whole input (default: "
                  "the number of cores, at most 4)")
      ->check(CLI::Range(1u, 64u));
  sub->add_option("--format", opt->format, "Output format: text or jsonl (one JSON object)")
      ->check(CLI::IsMember({"text", "jsonl"}));
  sub->add_option("--top", opt->top, "How many topics to list")->check(CLI::Range(1, 100000));
  sub->add_flag("--merge", opt->merge,
                "The files are outputs of 'stats --format jsonl' (of separate captures): print them added up "
                "(counts exact; top-k rows, distinct counts and percentiles approximate, see the README)");
  sub->callback([opt] {
    int rc = run_stats(*opt);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace mqttauth::cli
