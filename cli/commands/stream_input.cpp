// Live inputs of the subcommands that read captures: an interface (-i, libpcap) and a capture file or a
// directory of rotated capture files that is still being written (--follow). Both run until Ctrl-C (or
// SIGTERM), feeding one Analyzer, so that connections carry across rotated files; then the analysis finishes
// as at the end of a file and the command prints its totals.
#include <dirent.h>
#include <pcap/pcap.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "capture_input.hpp"

namespace mqttauth::cli {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<pcap_t*> g_pcap{nullptr};

extern "C" void on_stop_signal(int) {
  g_stop.store(true);
  if (pcap_t* p = g_pcap.load()) pcap_breakloop(p);
}

constexpr auto kPoll = std::chrono::milliseconds(200);  // how often a followed file is looked at again

}  // namespace

void catch_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() noexcept { return g_stop.load(); }

std::string default_capture_filter(const CaptureOptions& o) {
  std::vector<int> ports = {1883, 8883};
  for (int p : o.ports)
    if (std::find(ports.begin(), ports.end(), p) == ports.end()) ports.push_back(p);
  std::string f;
  for (int p : ports) f += (f.empty() ? "tcp port " : " or tcp port ") + std::to_string(p);
  return f;
}

// --- -i ---

namespace {

struct LiveContext {
  Analyzer* an;
  std::string name;  // the interface, as the analysis names the "file"
  std::uint32_t link = 0;
  std::uint64_t frame = 0, bytes = 0;
  bool nanos = false;
  bool warned_link = false;
};

void on_live_packet(unsigned char* user, const pcap_pkthdr* h, const unsigned char* bytes) {
  auto* ctx = reinterpret_cast<LiveContext*>(user);
  CaptureRecord rec;
  rec.frame = ++ctx->frame;
  rec.ts_ns = static_cast<std::int64_t>(h->ts.tv_sec) * 1'000'000'000 +
              static_cast<std::int64_t>(h->ts.tv_usec) * (ctx->nanos ? 1 : 1000);
  rec.link_type = ctx->link;
  rec.orig_len = h->len;
  rec.data = std::span<const std::uint8_t>(bytes, h->caplen);
  ctx->bytes += h->caplen;
  ctx->an->feed(rec, ctx->name);
}

}  // namespace

InputReport read_interface(const CaptureOptions& o, Analyzer& an) {
  InputReport r;
  const auto t0 = std::chrono::steady_clock::now();
  const std::string& iface = o.interface;
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_create(iface.c_str(), errbuf);
  if (!p) {
    std::fprintf(stderr, "mqttauth: cannot capture on interface '%s': %s\n", iface.c_str(), errbuf);
    r.unreadable = 1;
    return r;
  }
  pcap_set_snaplen(p, 262144);
  // Block mode with a 50 ms timeout (what `capture --live` found to keep up on loopback): packets reach the
  // analysis within 50 ms, and a 16 MB kernel buffer holds tens of thousands of small segments.
  pcap_set_immediate_mode(p, 0);
  pcap_set_timeout(p, 50);
  pcap_set_buffer_size(p, 16 << 20);
  const bool nanos = pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO) == 0;
  const int rc = pcap_activate(p);
  if (rc < 0) {
    std::string why = pcap_geterr(p);
    if (rc != PCAP_ERROR) {
      const std::string what = pcap_statustostr(rc);
      why = why.empty() || why == what ? what : what + " (" + why + ")";
    }
    std::fprintf(stderr, "mqttauth: cannot capture on interface '%s': %s\n", iface.c_str(), why.c_str());
    if (rc == PCAP_ERROR_PERM_DENIED || why.find("ermitted") != std::string::npos)
      std::fprintf(stderr,
                   "mqttauth: capturing needs the CAP_NET_RAW and CAP_NET_ADMIN capabilities: run it as root, or "
                   "once 'setcap cap_net_raw,cap_net_admin=eip \"$(command -v mqttauth)\"'; or capture with "
                   "tcpdump and pipe it in: tcpdump -i %s -w - 'tcp port 1883' | mqttauth ... -\n",
                   iface.c_str());
    pcap_close(p);
    r.unreadable = 1;
    return r;
  }
  const std::string filter = o.filter.empty() ? default_capture_filter(o) : o.filter;
  bpf_program prog{};
  if (pcap_compile(p, &prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0 || pcap_setfilter(p, &prog) != 0) {
    std::fprintf(stderr, "mqttauth: interface '%s': the capture filter '%s' is not valid: %s\n", iface.c_str(),
                 filter.c_str(), pcap_geterr(p));
    pcap_freecode(&prog);
    pcap_close(p);
    r.unreadable = 1;
    return r;
  }
  pcap_freecode(&prog);
  LiveContext ctx{&an, iface, static_cast<std::uint32_t>(pcap_datalink(p)), 0, 0, nanos, false};
  const bool loud = o.shard == 0;
  if (!link_supported(ctx.link) && loud)
    std::fprintf(stderr, "mqttauth: interface '%s': link type %u is not supported; nothing will be analysed\n",
                 iface.c_str(), ctx.link);
  if (loud)
    std::fprintf(stderr, "mqttauth: capturing on '%s' (filter '%s'); Ctrl-C ends and prints the totals\n",
                 iface.c_str(), filter.c_str());
  catch_stop_signals();
  g_pcap.store(p);
  std::string failure;
  while (!stop_requested()) {
    const int n = pcap_dispatch(p, -1, on_live_packet, reinterpret_cast<unsigned char*>(&ctx));
    if (n == PCAP_ERROR) {
      failure = pcap_geterr(p);
      break;
    }
  }
  g_pcap.store(nullptr);
  pcap_stat ps{};
  const bool have_stats = pcap_stats(p, &ps) == 0;
  pcap_close(p);
  an.finish();
  if (o.threads <= 1) report_evictions(an.counters(), o);
  r.bytes = ctx.bytes;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (loud) {
    if (!failure.empty())
      std::fprintf(stderr, "mqttauth: capture on interface '%s' failed: %s\n", iface.c_str(), failure.c_str());
    std::fprintf(stderr, "mqttauth: %s: %llu packets captured", iface.c_str(),
                 static_cast<unsigned long long>(ctx.frame));
    if (have_stats) std::fprintf(stderr, ", %u dropped by the kernel, %u by the interface", ps.ps_drop, ps.ps_ifdrop);
    std::fprintf(stderr, "; %llu TCP connections, %llu MQTT, in %.1f s\n",
                 static_cast<unsigned long long>(an.counters().connections),
                 static_cast<unsigned long long>(an.counters().mqtt_connections), r.seconds);
  }
  if (!failure.empty()) r.damaged = 1;
  return r;
}

// --- --follow ---

namespace {

// A file of a directory of rotated captures, ordered by when it was last written, then by name with the
// numbers in it compared as numbers (tcpdump -C's cap, cap1, cap2, ..., cap10).
struct Rotated {
  std::string path;
  std::int64_t mtime_ns = 0;
  std::string name;
};

bool natural_less(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      std::size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      std::string na = a.substr(i, ie - i), nb = b.substr(j, je - j);
      na.erase(0, std::min(na.find_first_not_of('0'), na.size()));
      nb.erase(0, std::min(nb.find_first_not_of('0'), nb.size()));
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

bool rotated_before(const Rotated& a, const Rotated& b) {
  if (a.mtime_ns != b.mtime_ns) return a.mtime_ns < b.mtime_ns;
  return natural_less(a.name, b.name);
}

std::int64_t mtime_of(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// The capture files of `dir` (regular files not starting with '.'), oldest first.
std::vector<Rotated> list_rotated(const std::string& dir) {
  std::vector<Rotated> v;
  DIR* d = opendir(dir.c_str());
  if (!d) return v;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    Rotated r{dir + "/" + e->d_name, 0, e->d_name};
    struct stat st {};
    if (stat(r.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    r.mtime_ns = mtime_of(st);
    v.push_back(std::move(r));
  }
  closedir(d);
  std::sort(v.begin(), v.end(), rotated_before);
  return v;
}

void pause_a_moment() {
  for (auto waited = std::chrono::milliseconds(0); waited < kPoll && !stop_requested();
       waited += std::chrono::milliseconds(20))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

}  // namespace

namespace {

// What follows one file or one directory: the analysis, the report, what was read last.
struct Follower {
  const CaptureOptions& o;
  Analyzer& an;
  InputReport& r;
  std::string target;
  bool directory = false;
  bool loud = true;
  std::optional<Rotated> done;  // the last file of the directory read to its end
  std::uint64_t files = 0;

  // The next file to read: the one given, or the oldest of the directory written after the last one read.
  std::optional<Rotated> next_file() const {
    if (!directory) return Rotated{target, 0, target};
    for (auto& f : list_rotated(target))
      if (!done || rotated_before(*done, f)) return f;
    return std::nullopt;
  }
  bool newer_than(const Rotated& f) const {
    if (!directory) return false;
    for (const auto& g : list_rotated(target))
      if (rotated_before(f, g) && g.path != f.path) return true;
    return false;
  }
  // Opens `f` once it has its header (tcpdump creates a file before it writes one). False when it is not a
  // capture (reported) or on Ctrl-C.
  bool open(const Rotated& f, CaptureReader& reader) {
    while (!stop_requested()) {
      CaptureReader attempt;
      if (attempt.open(f.path)) return reader.open(f.path);
      struct stat now {};
      const bool empty = stat(f.path.c_str(), &now) == 0 && now.st_size < 64;
      if (!empty || newer_than(f)) {
        if (loud) std::fprintf(stderr, "mqttauth: %s\n", attempt.error().c_str());
        ++r.unreadable;
        return false;
      }
      pause_a_moment();
    }
    return false;
  }
  void feed(const CaptureRecord& rec, const std::string& path, std::uint32_t& warned_link) {
    if (!link_supported(rec.link_type) && rec.link_type != warned_link && loud) {
      warned_link = rec.link_type;
      std::fprintf(stderr, "mqttauth: %s: frame %llu: link type %u is not supported; frames of that type are skipped\n",
                   path.c_str(), static_cast<unsigned long long>(rec.frame), rec.link_type);
    }
    an.feed(rec, path);
  }
  // Reads `f` to its end, waiting for more at the end of what is there until a newer file appears (a
  // directory) or Ctrl-C.
  void read(Rotated f, CaptureReader& reader) {
    CaptureRecord rec;
    std::uint32_t warned_link = 0xFFFFFFFF;
    while (true) {
      const auto s = reader.next(rec);
      if (reader.has_secrets()) an.add_tls_secrets(reader.take_secrets());
      if (s == CaptureReader::Status::record) {
        feed(rec, f.path, warned_link);
        continue;
      }
      if (s == CaptureReader::Status::corrupt) {
        if (loud)
          std::fprintf(stderr, "mqttauth: %s (corrupt capture; what came before was analysed)\n",
                       reader.error().c_str());
        ++r.damaged;
        break;
      }
      struct stat now {};
      if (stat(f.path.c_str(), &now) == 0) f.mtime_ns = mtime_of(now);
      if (newer_than(f)) {
        // Rotated: what was written before the new file appeared is read, then the next file.
        reader.resume();
        const auto last = reader.next(rec);
        if (last == CaptureReader::Status::record) {
          feed(rec, f.path, warned_link);
          continue;
        }
        if (last == CaptureReader::Status::truncated) {
          if (loud)
            std::fprintf(stderr, "mqttauth: %s (truncated capture; the frames before it were analysed)\n",
                         reader.error().c_str());
          ++r.damaged;
        }
        break;
      }
      if (stop_requested()) {
        if (s == CaptureReader::Status::truncated && loud)
          std::fprintf(stderr, "mqttauth: %s (still being written: its last record is incomplete)\n",
                       reader.error().c_str());
        break;
      }
      pause_a_moment();
      reader.resume();
    }
    done = f;
    r.bytes += reader.bytes_read();
  }
};

}  // namespace

InputReport read_followed(const CaptureOptions& o, Analyzer& an) {
  InputReport r;
  const auto t0 = std::chrono::steady_clock::now();
  const bool loud = o.shard == 0;
  if (o.files.size() != 1) {
    std::fprintf(stderr, "mqttauth: --follow takes one capture file or one directory of rotated captures\n");
    r.unreadable = 1;
    return r;
  }
  Follower fw{o, an, r, o.files[0], false, true, std::nullopt, 0};
  struct stat st {};
  fw.directory = stat(fw.target.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  fw.loud = loud;
  catch_stop_signals();
  if (loud)
    std::fprintf(stderr, "mqttauth: following %s%s; Ctrl-C ends and prints the totals\n",
                 fw.directory ? "the captures in " : "", fw.target.c_str());
  while (!stop_requested()) {
    const auto f = fw.next_file();
    if (!f) {
      pause_a_moment();
      continue;
    }
    CaptureReader reader;
    if (fw.open(*f, reader)) {
      ++fw.files;
      fw.read(*f, reader);
    } else {
      fw.done = *f;
    }
    if (!fw.directory) break;
  }
  an.finish();
  if (o.threads <= 1) report_evictions(an.counters(), o);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (loud)
    std::fprintf(stderr, "mqttauth: %s: %llu file%s, %llu frames; %llu TCP connections, %llu MQTT, in %.1f s\n",
                 fw.target.c_str(), static_cast<unsigned long long>(fw.files), fw.files == 1 ? "" : "s",
                 static_cast<unsigned long long>(an.counters().frames),
                 static_cast<unsigned long long>(an.counters().connections),
                 static_cast<unsigned long long>(an.counters().mqtt_connections), r.seconds);
  return r;
}

}  // namespace mqttauth::cli
