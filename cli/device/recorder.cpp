#include "recorder.hpp"

#include <algorithm>
#include <chrono>

#include "mqttauth/codec.hpp"

namespace mqttauth::cli {

// A PcapWriter that counts frames and remembers a failed write.
class Recorder::CountingWriter final : public CaptureWriter {
 public:
  bool open(const std::string& path) { return w_.open(path, kLinkEthernet); }
  bool write(std::int64_t ts_ns, std::span<const std::uint8_t> data, std::uint32_t orig_len,
             std::uint32_t interface) override {
    ++frames_;
    bool ok = w_.write(ts_ns, data, orig_len, interface);
    if (!ok) failed_ = true;
    return ok;
  }
  bool close() override { return w_.close() && !failed_; }
  std::uint64_t frames() const { return frames_; }

 private:
  PcapWriter w_;
  std::uint64_t frames_ = 0;
  bool failed_ = false;
};

namespace {

// Initial sequence numbers: fixed per connection so that stable captures repeat.
std::uint32_t client_isn(std::uint64_t n) { return static_cast<std::uint32_t>(0x10000000u + n * 0x00100000u); }
std::uint32_t server_isn(std::uint64_t n) { return static_cast<std::uint32_t>(0x80000000u + n * 0x00100000u); }

}  // namespace

Recorder::Recorder(RecorderOptions opts) : opts_(opts) {
  if (opts_.mss == 0) opts_.mss = 1460;
}

Recorder::~Recorder() {
  try {
    std::string ignored;
    finish(ignored);
  } catch (...) {  // out of memory while writing the last frames: the file stays as written so far
  }
}

std::int64_t Recorder::wall_clock_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool Recorder::open(const std::string& path, std::string& error) {
  std::lock_guard lock(mu_);
  auto w = std::make_unique<CountingWriter>();
  if (!w->open(path)) {
    error = "cannot write " + path;
    return false;
  }
  out_ = std::move(w);
  finished_ = false;
  return true;
}

void Recorder::emit_data(TcpConversation& tcp, bool from_client, std::span<const std::uint8_t> bytes, std::int64_t& ts,
                         std::int64_t step) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    std::size_t n = std::min(opts_.mss, bytes.size() - off);
    tcp.raw_segment(from_client, tcp.next_seq(from_client), bytes.subspan(off, n), ts);
    tcp.lose(from_client, static_cast<std::uint32_t>(n));  // moves the sequence number past the segment
    off += n;
    ts += step;
  }
}

void Recorder::emit_close(TcpConversation& tcp, bool by_client, bool reset, std::int64_t& ts, std::int64_t step) {
  if (reset) {
    tcp.reset(by_client, ts);
    ts += step;
    return;
  }
  const std::uint8_t finack = tcpflag::fin | tcpflag::ack;
  tcp.raw_segment(by_client, tcp.next_seq(by_client), {}, ts, finack);
  tcp.lose(by_client, 1);  // the FIN takes one sequence number
  ts += step;
  tcp.raw_segment(!by_client, tcp.next_seq(!by_client), {}, ts, finack);
  tcp.lose(!by_client, 1);
  ts += step;
  tcp.raw_segment(by_client, tcp.next_seq(by_client), {}, ts, tcpflag::ack);
  ts += step;
}

void Recorder::on_open(std::uint64_t id, const Endpoint& client, const Endpoint& server, std::int64_t ts_ns) {
  std::lock_guard lock(mu_);
  if (finished_ || conns_.count(id)) return;
  ++opened_;
  Conn& c = conns_[id];
  c.client = client;
  c.server = server;
  if (opts_.stable) {
    c.events.push_back(Event{Event::Kind::open, true, false, ts_ns, {}, ++seq_});
    return;
  }
  if (!out_) return;
  c.tcp =
      std::make_unique<TcpConversation>(*out_, LinkSpec{}, client, server, client_isn(opened_), server_isn(opened_));
  c.tcp->handshake(ts_ns);
}

void Recorder::on_data(std::uint64_t id, bool from_client, std::span<const std::uint8_t> bytes, std::int64_t ts_ns) {
  std::lock_guard lock(mu_);
  auto it = conns_.find(id);
  if (finished_ || it == conns_.end() || it->second.closed || bytes.empty()) return;
  Conn& c = it->second;
  if (opts_.stable) {
    Event e{Event::Kind::data, from_client, false, ts_ns, {}, ++seq_};
    e.bytes.reserve(bytes.size());
    e.bytes.assign(bytes.begin(), bytes.end());
    c.events.push_back(std::move(e));
    return;
  }
  if (!c.tcp) return;
  std::int64_t ts = ts_ns;
  emit_data(*c.tcp, from_client, bytes, ts, 1000);
}

void Recorder::on_close(std::uint64_t id, bool by_client, bool reset, std::int64_t ts_ns) {
  std::lock_guard lock(mu_);
  auto it = conns_.find(id);
  if (finished_ || it == conns_.end() || it->second.closed) return;
  Conn& c = it->second;
  c.closed = true;
  if (opts_.stable) {
    c.events.push_back(Event{Event::Kind::close, by_client, reset, ts_ns, {}, ++seq_});
    return;
  }
  if (!c.tcp) return;
  std::int64_t ts = ts_ns;
  emit_close(*c.tcp, by_client, reset, ts, 1000);
  c.tcp.reset();
}

// Stable mode: connections in id order (or their events interleaved as they happened); per direction the bytes
// are cut at MQTT packet boundaries.
void Recorder::write_stable_locked() {
  std::int64_t ts = opts_.start_ns;
  const std::int64_t step = opts_.step_ns > 3000 ? opts_.step_ns : 3000;
  struct Writer {
    std::unique_ptr<TcpConversation> tcp;
    std::vector<std::uint8_t> pending[2];  // [1] from the client, [0] from the server
  };
  std::vector<Writer> writers;
  std::vector<std::pair<Writer*, Event*>> order;
  writers.reserve(conns_.size());
  std::uint64_t n = 0;
  for (auto& [id, c] : conns_) {
    ++n;
    Endpoint client = c.client, srv = c.server;
    client.port = static_cast<std::uint16_t>(opts_.client_port_base + n);
    srv.port = opts_.server_port;
    writers.push_back(
        Writer{std::make_unique<TcpConversation>(*out_, LinkSpec{}, client, srv, client_isn(n), server_isn(n)), {}});
    for (auto& e : c.events) order.emplace_back(&writers.back(), &e);
  }
  if (opts_.interleave)
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& a, const auto& b) { return a.second->seq < b.second->seq; });
  auto flush_packets = [&](Writer& w, bool from_client, bool all) {
    auto& buf = w.pending[from_client ? 1 : 0];
    std::size_t at = 0;
    while (at < buf.size()) {
      std::span<const std::uint8_t> rest(buf.data() + at, buf.size() - at);
      auto h = parse_fixed_header(rest);
      std::size_t take = 0;
      if (h.ok()) {
        if (h->packet_size() <= rest.size()) take = h->packet_size();
      } else if (h.error().kind != ErrorKind::need_more) {
        take = rest.size();  // not MQTT framing: the rest as it is
      }
      if (take == 0) {
        if (!all) break;
        take = rest.size();
      }
      emit_data(*w.tcp, from_client, rest.subspan(0, take), ts, step);
      at += take;
    }
    buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(at));
  };
  for (std::size_t i = 0; i < order.size(); ++i) {
    Writer& w = *order[i].first;
    Event& e = *order[i].second;
    switch (e.kind) {
      case Event::Kind::open:
        w.tcp->handshake(ts);
        ts += step;
        break;
      case Event::Kind::data: {
        auto& buf = w.pending[e.client ? 1 : 0];
        buf.insert(buf.end(), e.bytes.begin(), e.bytes.end());
        flush_packets(w, e.client, false);
        break;
      }
      case Event::Kind::close:
        flush_packets(w, true, true);
        flush_packets(w, false, true);
        emit_close(*w.tcp, e.client, e.reset, ts, step);
        break;
    }
    // A connection's last event: what is still held goes out (in id order, where the writer used to).
    if (i + 1 == order.size() || order[i + 1].first != &w) {
      if (!opts_.interleave) {
        flush_packets(w, true, true);
        flush_packets(w, false, true);
      }
    }
  }
  for (auto& w : writers) {
    flush_packets(w, true, true);
    flush_packets(w, false, true);
  }
  for (auto& [id, c] : conns_) c.events.clear();
}

bool Recorder::finish(std::string& error) {
  std::lock_guard lock(mu_);
  if (finished_ || !out_) return true;
  finished_ = true;
  if (opts_.stable) write_stable_locked();
  for (auto& [id, c] : conns_) c.tcp.reset();
  bool ok = out_->close();
  if (!ok) error = "writing the capture failed";
  return ok;
}

std::uint64_t Recorder::frames() const {
  std::lock_guard lock(mu_);
  return out_ ? out_->frames() : 0;
}

std::size_t Recorder::connections() const {
  std::lock_guard lock(mu_);
  return conns_.size();
}

}  // namespace mqttauth::cli
