// mqttauth stats: counts per packet type and direction, top topics, QoS mix, handshake outcomes, decode
// errors, gaps, and the throughput of the analysis itself.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <map>
#include <memory>
#include <thread>
#include <unordered_map>

#include "capture_input.hpp"
#include "commands.hpp"
#include "output.hpp"

namespace mqttauth::cli {
namespace {

constexpr std::size_t kTypes = std::variant_size_v<Packet>;
constexpr std::size_t kMaxTopics = 100000;  // distinct topics counted; the rest go to "(other)"

// Topics are looked up by string_view: no std::string is made per PUBLISH. Eight bytes at a time (libstdc++'s
// byte-wise murmur hash was 3% of stats).
struct TopicHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    std::uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      std::uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      h = (h ^ w) * 0xFF51AFD7ED558CCDull;
      h ^= h >> 32;
    }
    std::uint64_t w = 0;
    std::memcpy(&w, s.data() + i, s.size() - i);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    return static_cast<std::size_t>(h ^ (h >> 29));
  }
};

class StatsSink final : public AnalyzerSink {
 public:
  std::array<std::array<std::uint64_t, 3>, kTypes> by_type{};  // [type][c2s, s2c, unknown]
  std::unordered_map<std::string, std::uint64_t, TopicHash, std::equal_to<>> topics;
  std::uint64_t other_topics = 0;
  std::array<std::uint64_t, 3> qos{};
  std::uint64_t payload_bytes = 0;
  std::map<std::pair<AuthScheme, std::string>, std::uint64_t> outcomes;  // (scheme, outcome) -> count
  std::map<std::string, std::uint64_t> errors;
  std::map<std::string, std::uint64_t> violations;  // by finding name
  std::uint64_t gaps = 0, gap_bytes = 0, resyncs = 0, resync_bytes = 0, connections = 0, tls = 0;
  std::uint64_t weak_challenges = 0;

  void on_packet(const Connection&, Direction dir, const Decoded& d, const Observation&, const PacketMeta&) override {
    ++by_type[d.packet.index()][static_cast<std::size_t>(dir)];
    for (const Violation& v : d.violations) ++violations[std::string(error_kind_name(v.kind))];
    if (const auto* p = std::get_if<Publish>(&d.packet)) {
      ++qos[p->qos & 3u];
      payload_bytes += p->payload.size();
      auto it = topics.find(p->topic);
      if (it != topics.end())
        ++it->second;
      else if (topics.size() < kMaxTopics)
        topics.emplace(std::string(p->topic), 1);
      else
        ++other_topics;
    }
  }
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
    for (const auto& [topic, n] : o.topics) {
      auto it = topics.find(topic);
      if (it != topics.end())
        it->second += n;
      else if (topics.size() < kMaxTopics)
        topics.emplace(topic, n);
      else
        other_topics += n;
    }
    other_topics += o.other_topics;
    for (std::size_t q = 0; q < 3; ++q) qos[q] += o.qos[q];
    for (const auto& [k, n] : o.outcomes) outcomes[k] += n;
    for (const auto& [k, n] : o.errors) errors[k] += n;
    for (const auto& [k, n] : o.violations) violations[k] += n;
    using S = StatsSink;
    add_counts<&S::gaps, &S::gap_bytes, &S::resyncs, &S::resync_bytes, &S::connections, &S::tls, &S::weak_challenges,
               &S::payload_bytes>(*this, o);
  }
  void on_connection_end(const Connection& c) override {
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
};

std::vector<std::pair<std::string, std::uint64_t>> top_topics(const StatsSink& s, std::size_t n) {
  std::vector<std::pair<std::string, std::uint64_t>> v(s.topics.begin(), s.topics.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (v.size() > n) v.resize(n);
  return v;
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
  w.begin_array("top_topics");
  for (const auto& [t, n] : top_topics(s, top))
    w.begin_object().field("topic", t).field_num("publishes", n).end_object();
  w.end_array();
  w.field_num("distinct_topics", s.topics.size());
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
  w.field_num("mqtt_connections", s.connections).field_num("tls_connections", s.tls);
  w.field_num("tcp_connections", c.connections).field_num("evicted_connections", c.evicted);
  w.field_num("frames", c.frames).field_num("tcp_segments", c.tcp_segments).field_num("malformed_frames", c.malformed);
  w.field_num("bytes_read", r.bytes);
  char b[64];
  std::snprintf(b, sizeof b, "%.6f", r.seconds);
  w.key("seconds").raw_value(b);
  std::snprintf(b, sizeof b, "%.1f", r.seconds > 0 ? static_cast<double>(r.bytes) / 1e6 / r.seconds : 0.0);
  w.key("mb_per_second").raw_value(b);
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
  auto tt = top_topics(s, top);
  std::snprintf(b, sizeof b, "Top topics (%zu distinct)\n", s.topics.size());
  out += b;
  for (const auto& [t, n] : tt) {
    std::snprintf(b, sizeof b, "  %10llu  ", static_cast<unsigned long long>(n));
    out += b;
    append_escaped(out, t);
    out += '\n';
  }
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
  StatsSink sink;
  Analyzer::Counters counters;
  InputReport rep;
  if (o.cap.jobs == 0) {
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
    std::vector<std::unique_ptr<StatsSink>> sinks(threads);
    std::vector<Analyzer::Counters> counts(threads);
    std::vector<InputReport> reps(threads);
    std::shared_ptr<SharedMapping> shared;  // one file: its pages mapped once for all the threads
    if (threads > 1 && o.cap.files.size() == 1) shared = SharedMapping::map(o.cap.files.front(), threads);
    auto work = [&](unsigned i) {
      sinks[i] = std::make_unique<StatsSink>();
      CaptureOptions shard = o.cap;
      shard.shared_map = shared;
      shard.threads = threads;
      shard.shard = i;
      Analyzer an(analyzer_options(shard), *sinks[i]);
      reps[i] = read_captures(shard, an);
      counts[i] = an.counters();
    };
    std::vector<std::thread> pool;  // one thread per shard (shard 0 on this one)
    for (unsigned i = 1; i < threads; ++i) pool.emplace_back(work, i);
    work(0);
    for (auto& t : pool) t.join();
    for (const auto& s : sinks) sink.merge(*s);
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
    for_each_file(n, o.cap.jobs, [&](std::size_t i) {
      sinks[i] = std::make_unique<StatsSink>();
      CaptureOptions one = one_file(o.cap, i);
      Analyzer an(analyzer_options(one), *sinks[i]);
      reps[i] = read_captures(one, an);
      counts[i] = an.counters();
    });
    for (std::size_t i = 0; i < n; ++i) {
      sink.merge(*sinks[i]);
      counters += counts[i];
      add_report(rep, reps[i]);
    }
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  Out out(stdout);
  if (o.format == "jsonl")
    print_json(out.buf(), sink, counters, rep, o.top);
  else
    print_text(out.buf(), sink, counters, rep, o.top);
  out.flush();
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
      "Exit codes: 0 done, 2 usage or unreadable input, 3 truncated or corrupt capture (the rest was analysed).");
  add_capture_options(sub, opt->cap);
  add_jobs_option(sub, opt->cap);
  opt->cap.threads = 0;
  sub->add_option("--threads", opt->cap.threads,
                  "Without -j: split the connections between N threads, each reading the whole input (default: "
                  "the number of cores, at most 4)")
      ->check(CLI::Range(1u, 64u));
  sub->add_option("--format", opt->format, "Output format: text or jsonl (one JSON object)")
      ->check(CLI::IsMember({"text", "jsonl"}));
  sub->add_option("--top", opt->top, "How many topics to list")->check(CLI::Range(1, 100000));
  sub->callback([opt] {
    int rc = run_stats(*opt);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace mqttauth::cli
