// The subcommands' input: the options shared by those that read captures, and reading one or more capture
// files in time order into an Analyzer, with the problems of each file reported on stderr by name, frame and
// byte offset, and progress on a terminal.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "analyzer.hpp"
#include "transcript.hpp"

#include <CLI/CLI.hpp>

namespace mqttauth::cli {

struct InputReport {
  int unreadable = 0;  // files that could not be opened or are not captures
  int damaged = 0;     // files truncated or corrupt part-way (what came before was analysed)
  std::uint64_t bytes = 0;
  double seconds = 0;  // wall time of the run
};

class ProgressMeter;

// Shared options of the subcommands that read captures.
struct CaptureOptions {
  std::vector<std::string> files;
  std::vector<int> ports;
  bool no_heuristic = false;
  std::uint32_t max_packet_size = 64u << 20;
  std::size_t max_connections = AnalyzerOptions{}.max_connections;
  std::string dialect = "auto";
  bool strict = false;  // --strict: rule violations are decode errors
  // -j N: the files are independent captures (no connection spans two files), analysed up to N at once, and
  // the results are put together in file order. 0: the files are merged in time order into one analysis.
  unsigned jobs = 0;
  // Without -j: the connections split between this many threads, each reading the whole input (stats).
  // 0: the number of cores, at most kMaxThreads.
  unsigned threads = 1;
  // This reader is shard `shard` of `threads`: only shard 0 reports problems of the input on stderr.
  unsigned shard = 0;
  // --topic: MQTT topic filters (topic_filter.hpp); empty: every topic.
  std::vector<std::string> topics;
  // -j: the progress display that the files read at once share (set by for_each_file).
  std::shared_ptr<ProgressMeter> meter;
  // --tls-keylog: TLS secrets (NSS key log), read once.
  std::shared_ptr<const tls::KeyLog> tls_keys;
  // -i: capture on this interface (libpcap) until Ctrl-C, with --filter or one made from the MQTT ports.
  std::string interface;
  std::string filter;
  // --follow: the one file (or the directory of rotated files) is read as it grows, until Ctrl-C.
  bool follow = false;
  // The input is live (an interface, a followed file, standard input): outputs are written as they come.
  bool live() const { return !interface.empty() || follow || (files.size() == 1 && files[0] == "-"); }
};
inline constexpr unsigned kMaxThreads = 4;

// Adds the options of the subcommands that read captures (files, --port, --dialect, ...) to `sub`.
void add_capture_options(CLI::App* sub, CaptureOptions& cap);
// The check of a capture file argument: an existing path, or "-" (standard input).
CLI::Validator capture_path_check();
// Adds -i, --filter and --follow (add_capture_options includes them).
void add_live_options(CLI::App* sub, CaptureOptions& cap);
// Adds --tls-keylog (add_capture_options includes it).
void add_tls_keylog_option(CLI::App* sub, CaptureOptions& cap);
// Adds --max-connections to a subcommand that reads captures (add_capture_options includes it).
void add_max_connections_option(CLI::App* sub, CaptureOptions& cap);
// Adds --topic to a subcommand (decode, sessions, stats, check); `what` says what it selects there.
void add_topic_option(CLI::App* sub, CaptureOptions& cap, const std::string& what);
// Adds -j/--jobs to a subcommand (decode, sessions, stats).
void add_jobs_option(CLI::App* sub, CaptureOptions& cap);

// Sets the heap up for reading captures (once per process; read_captures() calls it too): freed memory kept
// for reuse, and the heap's first 32 MiB advised for transparent huge pages. Called before the analysis builds
// its tables, so that they lie there too. Not for the broker, which gives memory back as connections go.
void prepare_analysis_heap();
// Leaves what `p` owns to the process's exit instead of destroying it: the state of a finished analysis (an
// Analyzer, a sink) is tens of thousands of blocks, freed one by one for nothing just before the process ends
// (3% of `stats`). Kept reachable from a global, so leak checkers do not count it. Past kMaxLeftToExit objects
// (many files with -j), `p` is left as it is, to be destroyed as usual.
inline constexpr std::size_t kMaxLeftToExit = 64;
bool leave_to_exit(const void* p) noexcept;
template <class T>
void leave_to_exit(std::unique_ptr<T>& p) noexcept {
  if (p && leave_to_exit(static_cast<const void*>(p.get()))) (void)p.release();
}
AnalyzerOptions analyzer_options(const CaptureOptions& o);
Dialect parse_dialect(const std::string& s);

// Feeds every record of every file to `an` (merged by timestamp across files) and finishes it.
// Problems are printed on stderr as "mqttauth: FILE: ...". With -i or --follow, reads until Ctrl-C (SIGINT or
// SIGTERM), then finishes the analysis as at the end of a file; "-" is standard input.
InputReport read_captures(const CaptureOptions& o, Analyzer& an);

// stream_input.cpp: -i and --follow (read_captures calls them).
InputReport read_interface(const CaptureOptions& o, Analyzer& an);
InputReport read_followed(const CaptureOptions& o, Analyzer& an);
// The BPF filter of -i without --filter: TCP on the MQTT ports (1883, 8883, --port).
std::string default_capture_filter(const CaptureOptions& o);
// Ctrl-C (SIGINT) and SIGTERM end a live input cleanly from the moment this is called.
void catch_stop_signals();
bool stop_requested() noexcept;

// -j: calls work(i, options of file i alone) once for every file of `o`, on up to o.jobs threads at once
// (files taken in order as threads come free), with one progress display for all of them. Each call must use
// its own Analyzer and sink.
void for_each_file(const CaptureOptions& o, const std::function<void(std::size_t, const CaptureOptions&)>& work);

// Progress on stderr when it is a terminal: percent, megabytes, rate and the time left, at most twice a second;
// shared by the readers of several files at once (thread-safe).
class ProgressMeter {
 public:
  explicit ProgressMeter(std::uint64_t total_bytes);
  ~ProgressMeter();  // clears the line
  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;
  void add(std::uint64_t bytes);

 private:
  std::uint64_t total_;
  std::atomic<std::uint64_t> done_{0};
  std::atomic<std::int64_t> next_ns_{0};  // steady clock: when to print again
  std::int64_t start_ns_;
  std::atomic<bool> printed_{false};
};
// Warns on stderr when connections were evicted (more than --max-connections open at once).
void report_evictions(const Analyzer::Counters& c, const CaptureOptions& o);
// The transcript of captures (diff, replay). Returns false when a file could not be read (messages on
// stderr); `damaged` counts files truncated or corrupt part-way.
bool transcript_from_captures(const CaptureOptions& o, Transcript& out, int& damaged);
// Adds the counts of `r` to `into` (not the time).
void add_report(InputReport& into, const InputReport& r);

}  // namespace mqttauth::cli
