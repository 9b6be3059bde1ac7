#include "capture_input.hpp"

#include "commands.hpp"
#include "output.hpp"
#include "mqttauth/topic.hpp"

#include <malloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <fstream>
#include <cstdio>
#include <memory>
#include <set>
#include <thread>

namespace mqttauth::cli {

Dialect parse_dialect(const std::string& s) {
  if (s == "authenticate") return Dialect::authenticate;
  if (s == "standard") return Dialect::standard;
  return Dialect::auto_detect;
}

AnalyzerOptions analyzer_options(const CaptureOptions& o) {
  AnalyzerOptions a;
  for (int p : o.ports) a.ports.insert(static_cast<std::uint16_t>(p));
  a.any_port = !o.no_heuristic;
  a.max_packet_size = o.max_packet_size;
  a.max_connections = o.max_connections;
  a.dialect = parse_dialect(o.dialect);
  a.strict = o.strict;
  a.shard = o.shard;
  a.shard_count = std::max(o.threads, 1u);
  a.tls_keys = o.tls_keys;
  return a;
}

namespace {

struct Source {
  std::set<std::uint32_t> warned_links;
  std::uint32_t checked_link = 0xFFFFFFFF;  // the link type last found supported (checked once per change)
  CaptureReader reader;
  CaptureRecord rec;
  bool has = false;
  std::string name;
};

void report_problem(Source& s, CaptureReader::Status st, InputReport& r, bool loud) {
  if (st == CaptureReader::Status::truncated || st == CaptureReader::Status::corrupt) {
    ++r.damaged;
    if (loud)
      std::fprintf(stderr, "mqttauth: %s (%s; the %llu frames before it were analysed)\n", s.reader.error().c_str(),
                   st == CaptureReader::Status::truncated ? "truncated capture" : "corrupt capture",
                   static_cast<unsigned long long>(s.rec.frame));
  }
}

}  // namespace

void prepare_analysis_heap() {
  static const bool done = [] {
    // While captures are read, freed memory stays in the heap for the next connection instead of going back to
    // the system at once (a packet's reassembly buffer, a connection's tables): given back and taken again,
    // every page of it faulted in anew, 5% of `stats` on 100 MB. Peak RSS is unchanged; what is kept is what
    // was in use at the peak. (Only here: the broker gives memory back as connections go.)
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    // The first 32 MiB of the heap in transparent huge pages (what glibc's glibc.malloc.hugetlb=1 tunable does,
    // which a program cannot set for itself): the analysis touches its tables all over, and with 4 KiB pages
    // that was a page fault for every page first touched (and more TLB misses). Taken from the top of the heap
    // and given back at once, the range stays advised and the allocations that follow are carved from it (the
    // trim threshold above keeps it). 3,478 -> 566 page faults and about 6% less time for `stats --threads 1`
    // on 100 MB (12 interleaved rounds); peak RSS about 1 MB more (whole 2 MiB pages). A kernel without THP,
    // or with it off, ignores the advice.
    constexpr std::size_t kArena = 32u << 20, kHuge = 2u << 20;
    if (void* p = std::malloc(kArena)) {
      const auto at = reinterpret_cast<std::uintptr_t>(p);
      const std::uintptr_t b = (at + kHuge - 1) & ~std::uintptr_t{kHuge - 1};
      const std::uintptr_t e = (at + kArena) & ~std::uintptr_t{kHuge - 1};
      if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_HUGEPAGE);  // NOLINT(performance-no-int-to-ptr)
      std::free(p);
    }
    return true;
  }();
  (void)done;
}

namespace {
std::array<std::atomic<const void*>, kMaxLeftToExit> left_to_exit{};  // (trivially destroyed: still there at exit)
std::atomic<std::size_t> left_count{0};
}  // namespace

bool leave_to_exit(const void* p) noexcept {
  const std::size_t i = left_count.fetch_add(1, std::memory_order_relaxed);
  if (i >= left_to_exit.size()) return false;
  left_to_exit[i].store(p, std::memory_order_relaxed);
  return true;
}

InputReport read_captures(const CaptureOptions& o, Analyzer& an) {
  prepare_analysis_heap();
  if (o.live()) Out::set_immediate(true);
  if (!o.interface.empty()) return read_interface(o, an);
  if (o.follow) return read_followed(o, an);
  InputReport r;
  if (o.files.empty()) {
    std::fprintf(stderr, "mqttauth: no input: capture files, '-' for standard input, or -i INTERFACE\n");
    r.unreadable = 1;
    return r;
  }
  const bool loud = o.shard == 0;  // the other shards read the same input: one report is enough
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<Source>> srcs;
  std::uint64_t total_size = 0;
  for (const auto& f : o.files) {
    auto s = std::make_unique<Source>();
    s->name = f;
    if (!s->reader.open(f)) {
      ++r.unreadable;
      if (loud) std::fprintf(stderr, "mqttauth: %s\n", s->reader.error().c_str());
      continue;
    }
    total_size += s->reader.file_size();
    srcs.push_back(std::move(s));
  }
  auto advance = [&](Source& s) {
    auto st = s.reader.next(s.rec);
    if (s.reader.has_secrets()) an.add_tls_secrets(s.reader.take_secrets());
    s.has = st == CaptureReader::Status::record;
    if (!s.has) report_problem(s, st, r, loud);
  };
  for (auto& s : srcs) advance(*s);

  // Progress: this run's own meter, or (-j) the one the files read at once share.
  std::shared_ptr<ProgressMeter> meter = o.meter;
  if (!meter && loud && !o.live() && isatty(STDERR_FILENO)) meter = std::make_shared<ProgressMeter>(total_size);
  std::uint64_t n = 0, reported = 0;
  auto report = [&] {
    std::uint64_t done = 0;
    for (auto& s : srcs) done += s->reader.bytes_read();
    meter->add(done - reported);
    reported = done;
  };
  while (true) {
    // The source whose next record is the earliest (files in the given order on ties).
    Source* best = nullptr;
    for (auto& s : srcs)
      if (s->has && (!best || s->rec.ts_ns < best->rec.ts_ns)) best = s.get();
    if (!best) break;
    if (best->rec.link_type != best->checked_link) {
      if (link_supported(best->rec.link_type)) {
        best->checked_link = best->rec.link_type;
      } else if (loud && best->warned_links.insert(best->rec.link_type).second) {
        std::fprintf(stderr,
                     "mqttauth: %s: frame %llu: link type %u is not supported; frames of that type are skipped\n",
                     best->name.c_str(), static_cast<unsigned long long>(best->rec.frame), best->rec.link_type);
      }
    }
    an.feed(best->rec, best->name);
    advance(*best);
    if (meter && (++n & 0x3FFF) == 0) report();
  }
  if (meter) report();
  an.finish();
  if (o.threads <= 1) report_evictions(an.counters(), o);  // else the caller, for all shards at once
  for (auto& s : srcs) r.bytes += s->reader.bytes_read();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

namespace {
std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

ProgressMeter::ProgressMeter(std::uint64_t total_bytes) : total_(total_bytes), start_ns_(steady_ns()) {
  next_ns_ = start_ns_ + 1'000'000'000;  // nothing for runs under a second
}

ProgressMeter::~ProgressMeter() {
  if (printed_) std::fprintf(stderr, "\r%*s\r", 72, "");
}

void ProgressMeter::add(std::uint64_t bytes) {
  const std::uint64_t done = done_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  const std::int64_t now = steady_ns();
  std::int64_t due = next_ns_.load(std::memory_order_relaxed);
  if (now < due || !next_ns_.compare_exchange_strong(due, now + 500'000'000)) return;  // one thread prints
  const double secs = static_cast<double>(now - start_ns_) / 1e9;
  const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;  // bytes per second
  char eta[32] = "";
  if (rate > 0 && total_ > done) {
    const auto left = static_cast<std::uint64_t>(static_cast<double>(total_ - done) / rate);
    std::snprintf(eta, sizeof eta, "  ETA %llu:%02llu", static_cast<unsigned long long>(left / 60),
                  static_cast<unsigned long long>(left % 60));
  }
  std::fprintf(stderr, "\r%5.1f%%  %llu of %llu MB  %.0f MB/s%s   ",
               total_ ? 100.0 * static_cast<double>(std::min(done, total_)) / static_cast<double>(total_) : 0.0,
               static_cast<unsigned long long>(done >> 20), static_cast<unsigned long long>(total_ >> 20), rate / 1e6,
               eta);
  printed_ = true;
}

void for_each_file(const CaptureOptions& o, const std::function<void(std::size_t, const CaptureOptions&)>& work) {
  const std::size_t files = o.files.size();
  std::shared_ptr<ProgressMeter> meter;
  if (o.shard == 0 && isatty(STDERR_FILENO)) {
    std::uint64_t total = 0;
    for (const auto& f : o.files) {
      struct stat st {};
      if (stat(f.c_str(), &st) == 0 && S_ISREG(st.st_mode)) total += static_cast<std::uint64_t>(st.st_size);
    }
    meter = std::make_shared<ProgressMeter>(total);
  }
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < files;) {
      CaptureOptions one = o;
      one.files = {o.files[i]};
      one.meter = meter;
      work(i, one);
    }
  };
  const std::size_t threads = std::min<std::size_t>(std::max(o.jobs, 1u), files);
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

void report_evictions(const Analyzer::Counters& c, const CaptureOptions& o) {
  if (c.evicted == 0) return;
  std::fprintf(stderr,
               "mqttauth: %llu connections were ended early (end 'evicted'): more than %zu were open at once; "
               "--max-connections raises the limit\n",
               static_cast<unsigned long long>(c.evicted), o.max_connections);
}

void add_report(InputReport& into, const InputReport& r) {
  into.unreadable += r.unreadable;
  into.damaged += r.damaged;
  into.bytes += r.bytes;
}

void add_capture_options(CLI::App* sub, CaptureOptions& cap) {
  sub->add_option("files", cap.files, "Capture files (pcap or pcapng), read in time order; '-': standard input")
      ->check(capture_path_check());
  add_live_options(sub, cap);
  repeatable(sub->add_option("--port", cap.ports, "Also treat this TCP port as MQTT (repeatable; 1883 always)")
                 ->check(CLI::Range(1, 65535)));
  sub->add_flag("--no-heuristic", cap.no_heuristic,
                "Only the MQTT ports, no recognition of connections that open with CONNECT");
  sub->add_option("--dialect", cap.dialect, "Types 0 and 15: auto (the dialect rules), authenticate, standard")
      ->check(CLI::IsMember({"auto", "authenticate", "standard"}));
  sub->add_option("--max-packet-size", cap.max_packet_size, "Larger MQTT packets are reported and skipped")
      ->check(CLI::Range(2u, Limits{}.max_packet_size));
  sub->add_flag("--strict", cap.strict,
                "Conformance: a packet that breaks a rule of the spec is a decode error, not a packet with violations");
  add_max_connections_option(sub, cap);
  add_tls_keylog_option(sub, cap);
}

CLI::Validator capture_path_check() {
  return CLI::Validator([](const std::string& f) { return f == "-" ? std::string() : CLI::ExistingPath(f); }, "PATH");
}

void add_live_options(CLI::App* sub, CaptureOptions& cap) {
  auto* i = sub->add_option("-i,--interface", cap.interface,
                            "Capture on this network interface (libpcap; needs the capture privilege) until Ctrl-C, "
                            "printing as things happen");
  sub->add_option("--filter", cap.filter,
                  "With -i: a BPF capture filter (default: TCP on 1883, 8883 and the --port ports)")
      ->needs(i);
  sub->add_flag("--follow", cap.follow,
                "Read the one capture file as it grows, or a directory of rotated captures (tcpdump -C/-G, "
                "dumpcap ring buffers) file after file in order, until Ctrl-C")
      ->excludes(i);
}

void add_tls_keylog_option(CLI::App* sub, CaptureOptions& cap) {
  sub->add_option_function<std::string>(
         "--tls-keylog",
         [&cap](const std::string& path) {
           std::ifstream in(path, std::ios::binary);
           if (!in) throw CLI::ValidationError("--tls-keylog", "cannot read " + path);
           std::ostringstream text;
           text << in.rdbuf();
           auto keys = std::make_shared<tls::KeyLog>();
           const std::size_t bad = keys->add(text.str());
           if (keys->empty())
             throw CLI::ValidationError("--tls-keylog", path +
                                                            " has no TLS secrets (NSS key log format: "
                                                            "CLIENT_RANDOM / *_TRAFFIC_SECRET lines)");
           if (bad > 0) std::fprintf(stderr, "mqttauth: %s: %zu malformed lines skipped\n", path.c_str(), bad);
           cap.tls_keys = std::move(keys);
         },
         "TLS secrets in the NSS key log format (SSLKEYLOGFILE): MQTT over TLS 1.2/1.3 is decrypted with them "
         "(a pcapng's Decryption Secrets Blocks are used too)")
      ->type_name("FILE");
}

void add_max_connections_option(CLI::App* sub, CaptureOptions& cap) {
  sub->add_option("--max-connections", cap.max_connections,
                  "Captures: open connections followed at once (about 1.5 KB each); beyond it the least recently "
                  "active one ends early, reported as 'evicted'")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 32));
}

void add_topic_option(CLI::App* sub, CaptureOptions& cap, const std::string& what) {
  repeatable(
      sub->add_option("--topic", cap.topics, "MQTT topic filter ('+' one level, '#' the rest; repeatable): " + what)
          ->check(
              [](const std::string& f) {
                return valid_topic_filter(f, 5) ? std::string() : "'" + f + "' is not a valid topic filter";
              },
              "FILTER"));
}

void add_jobs_option(CLI::App* sub, CaptureOptions& cap) {
  auto* j = sub->add_option("-j,--jobs", cap.jobs,
                            "Read the files as independent captures, N at once, results in file order (without -j the "
                            "files are merged in time order and connections may span them)")
                ->check(CLI::Range(1u, 1024u));
  for (const char* live : {"--interface", "--follow"})
    if (auto* opt = sub->get_option_no_throw(live)) j->excludes(opt);
}

bool transcript_from_captures(const CaptureOptions& o, Transcript& out, int& damaged) {
  prepare_analysis_heap();
  TranscriptSink sink;
  Analyzer an(analyzer_options(o), sink);
  InputReport r = read_captures(o, an);
  damaged = r.damaged;
  if (r.unreadable) return false;
  for (std::size_t i = 0; i < o.files.size(); ++i) out.source += (i ? " " : "") + o.files[i];
  sink.take(out);
  return true;
}

}  // namespace mqttauth::cli
