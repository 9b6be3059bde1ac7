#include "live_capture.hpp"

#include <pcap/pcap.h>

namespace mqttauth::cli {

// ------------------------------------------------------------------------------------------ ConnectionEnds

void ConnectionEnds::add(const TcpSegment& seg) {
  bool lower = seg.src < seg.dst;
  auto key = lower ? std::make_pair(seg.src, seg.dst) : std::make_pair(seg.dst, seg.src);
  int side = lower ? 0 : 1, other = 1 - side;
  auto it = conns_.find(key);
  bool syn_only = (seg.flags & (tcpflag::syn | tcpflag::ack)) == tcpflag::syn;
  if (it == conns_.end() || (it->second.ended && syn_only)) {
    if (it != conns_.end()) conns_.erase(it);
    it = conns_.emplace(key, State{}).first;
    ++seen_;
    ++open_;
  }
  State& s = it->second;
  if (s.ended) return;
  if (seg.flags & tcpflag::rst) {
    s.ended = true;
    --open_;
    return;
  }
  // The FIN takes one sequence number after the segment's payload.
  if (seg.flags & tcpflag::fin) s.fin_end[side] = seg.seq + seg.payload_wire_len + 1;
  // An acknowledgement at or past the other side's FIN (sequence numbers compared modulo 2^32).
  if ((seg.flags & tcpflag::ack) && s.fin_end[other] && static_cast<std::int32_t>(seg.ack - *s.fin_end[other]) >= 0)
    s.fin_acked[other] = true;
  if (s.fin_acked[0] && s.fin_acked[1]) {
    s.ended = true;
    --open_;
  }
}

// ------------------------------------------------------------------------------------------ LiveCapture

LiveCapture::~LiveCapture() {
  if (thread_.joinable()) {
    stopping_ = true;
    pcap_breakloop(p_);
    thread_.join();
  }
  if (dumper_) pcap_dump_close(dumper_);
  if (p_) pcap_close(p_);
}

bool LiveCapture::open(const std::string& iface, std::string& error, bool& permission) {
  iface_ = iface;
  permission = false;
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  p_ = pcap_create(iface.c_str(), errbuf);
  if (!p_) {
    error = "cannot capture on interface '" + iface + "': " + errbuf;
    return false;
  }
  pcap_set_snaplen(p_, 262144);
  // Not immediate mode: there each packet takes a ring slot sized for the largest packet of the interface
  // (64 KB on loopback with segmentation offload, 128 KB of memory each), loopback puts every packet in the
  // ring twice (sent and received; libpcap keeps one), and a 16 MB buffer holds about 125 of them: 20 devices
  // connecting at once overflowed it in 15 of 20 runs (measured). In block mode (TPACKET_V3) packets are packed into
  // 256 KB blocks that the kernel hands over when full or 50 ms after their first packet, so a 16 MB buffer
  // holds tens of thousands of small segments, and the 50 ms only delay the moment the last FIN/ACK is seen.
  pcap_set_immediate_mode(p_, 0);
  pcap_set_timeout(p_, 50);
  pcap_set_buffer_size(p_, 16 << 20);
  int rc = pcap_activate(p_);
  if (rc < 0) {
    // PCAP_ERROR has its message in pcap_geterr; the specific codes (no permission, no such device, ...) say
    // what they mean, and pcap_geterr, when set, which call failed ("socket: Operation not permitted").
    std::string detail = pcap_geterr(p_), why = detail;
    if (rc != PCAP_ERROR) {
      why = pcap_statustostr(rc);
      if (!detail.empty() && detail != why) why += " (" + detail + ")";
    }
    permission = rc == PCAP_ERROR_PERM_DENIED;
    error = "cannot capture on interface '" + iface + "': " + why;
    pcap_close(p_);
    p_ = nullptr;
    return false;
  }
  link_ = static_cast<std::uint32_t>(pcap_datalink(p_));
  follow_ = link_supported(link_);
  return true;
}

bool LiveCapture::set_filter(const std::string& expr, std::string& error) {
  bpf_program prog{};
  if (pcap_compile(p_, &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    error = "cannot compile the capture filter '" + expr + "' for interface '" + iface_ + "': " + pcap_geterr(p_);
    return false;
  }
  int rc = pcap_setfilter(p_, &prog);
  pcap_freecode(&prog);
  if (rc != 0) {
    error = "cannot set the capture filter '" + expr + "' on interface '" + iface_ + "': " + pcap_geterr(p_);
    return false;
  }
  return true;
}

bool LiveCapture::start(const std::string& path, std::string& error) {
  path_ = path;
  dumper_ = pcap_dump_open(p_, path.c_str());
  if (!dumper_) {
    error = "cannot write " + path + ": " + pcap_geterr(p_);
    return false;
  }
  thread_ = std::thread([this] { run(); });
  return true;
}

void LiveCapture::on_packet(unsigned char* user, const pcap_pkthdr* h, const unsigned char* bytes) {
  auto* self = reinterpret_cast<LiveCapture*>(user);
  pcap_dump(reinterpret_cast<unsigned char*>(self->dumper_), h, bytes);
  std::optional<TcpSegment> seg;
  if (self->follow_) {
    std::int64_t ts_ns = static_cast<std::int64_t>(h->ts.tv_sec) * 1000000000 + h->ts.tv_usec * 1000;
    ParsedFrame f = self->parser_.parse(self->link_, {bytes, h->caplen}, h->len, ts_ns);
    if (f.skip == FrameSkip::none) seg = f.seg;
  }
  {
    std::lock_guard lock(self->mu_);
    ++self->written_;
    if (seg) self->ends_.add(*seg);
  }
  self->changed_.notify_all();
}

void LiveCapture::run() {
  auto* user = reinterpret_cast<unsigned char*>(this);
  while (!stopping_) {
    // 0: nothing arrived in time; PCAP_ERROR_BREAK: pcap_breakloop, stopping_ is set.
    if (pcap_dispatch(p_, -1, &LiveCapture::on_packet, user) == PCAP_ERROR) {
      thread_error_ = std::string("capture on interface '") + iface_ + "' failed: " + pcap_geterr(p_);
      return;
    }
  }
}

void LiveCapture::drain() {
  // What the kernel has handed over and is not read yet. (A block still being filled is not: stop() only comes
  // here before the last FIN/ACK was seen when the grace period ran out.) On the calling thread, after the
  // capture thread has ended: switching to non-blocking makes libpcap close the descriptor pcap_breakloop
  // writes to, so it must not happen while another thread may still call pcap_breakloop.
  // PCAP_ERROR_BREAK once when pcap_breakloop came after the loop had already seen stopping_.
  if (!thread_error_.empty()) return;
  auto* user = reinterpret_cast<unsigned char*>(this);
  char errbuf[PCAP_ERRBUF_SIZE];
  if (pcap_setnonblock(p_, 1, errbuf) == 0)
    for (int n = 1; n > 0 || n == PCAP_ERROR_BREAK;) n = pcap_dispatch(p_, -1, &LiveCapture::on_packet, user);
}

bool LiveCapture::stop(std::size_t connections, std::chrono::milliseconds grace, std::string& error) {
  {
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, grace, [&] { return ends_.seen() >= connections && ends_.open() == 0; });
  }
  stopping_ = true;
  pcap_breakloop(p_);
  thread_.join();
  drain();
  stats_.written = written_;
  pcap_stat ps{};
  if (pcap_stats(p_, &ps) == 0) {
    stats_.kernel = true;
    stats_.received = ps.ps_recv;
    stats_.dropped = ps.ps_drop;
    stats_.if_dropped = ps.ps_ifdrop;
  }
  bool ok = thread_error_.empty();
  if (!ok) error = thread_error_;
  if (pcap_dump_flush(dumper_) != 0 && ok) {
    error = "cannot write " + path_;
    ok = false;
  }
  pcap_dump_close(dumper_);
  dumper_ = nullptr;
  pcap_close(p_);
  p_ = nullptr;
  return ok;
}

}  // namespace mqttauth::cli
