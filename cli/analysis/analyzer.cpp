#include "analyzer.hpp"

#include "mqttauth/boundary.hpp"
#include "mqttauth/websocket.hpp"
#include "tls_layer.hpp"
#include "ws_layer.hpp"

#include <algorithm>
#include <iterator>
#include <optional>
#include <variant>
#include <cstring>

namespace mqttauth::cli {

const char* end_reason_name(EndReason r) noexcept {
  switch (r) {
    case EndReason::fin: return "fin";
    case EndReason::rst: return "rst";
    case EndReason::capture_end: return "capture_end";
    case EndReason::evicted: return "evicted";
    default: return "open";
  }
}

// One direction of a connection: reassembly, then (for MQTT) framing and decoding.
struct Analyzer::Dir final : StreamSink {
  Analyzer* an = nullptr;
  Conn* conn = nullptr;
  Direction dir = Direction::unknown;
  TcpReassembler tcp;
  Framer framer;
  std::vector<std::uint8_t> pending;  // first bytes, until the connection's kind is decided
  std::uint64_t pending_offset = 0;
  bool resyncing = false;
  bool start_unknown = false;  // the stream starts at an unknown position (no SYN, or a gap while undecided)
  bool quiet_resync = false;   // finding a boundary at once after a start_unknown is not reported
  bool rstart = false;         // rbuf[0] is the first byte of a mid-stream start
  struct Mark {
    std::size_t pos;  // where in rbuf the bytes of this capture frame start
    std::uint64_t frame;
    std::int64_t ts;
  };
  std::vector<Mark> rmarks;        // the frames rbuf's bytes came in (packets found later keep their frame)
  std::vector<std::uint8_t> rbuf;  // bytes after a gap, scanned for a packet boundary
  std::uint64_t rbase = 0;         // stream offset of rbuf[0]
  std::size_t rscan = 0;           // first position of rbuf not yet ruled out
  std::uint64_t rskipped = 0;      // bytes passed over since the gap
  std::uint64_t frame = 0;         // the capture frame being processed
  std::int64_t ts = 0;
  // MQTT over WebSocket: the layer between TCP and the framer, and the offset of the next MQTT byte it gives.
  std::unique_ptr<WsLayer> ws;
  std::uint64_t ws_out = 0;
  struct WsOut;
  // MQTT over TLS: the offset of the next decrypted byte in this direction's plaintext stream.
  std::uint64_t tls_out = 0;
  struct TlsOut;

  Dir(Analyzer* a, Conn* c, const AnalyzerOptions& o) : an(a), conn(c), tcp(o.reassembly), framer(o.max_packet_size) {}

  DirStats& stats();
  PacketMeta meta(std::uint64_t offset) const;
  void on_data(std::span<const std::uint8_t> bytes, std::uint64_t offset, std::uint64_t fr) override;
  // on_data() for what TcpReassembler::take_next() took: of an MQTT connection in plain TCP, past its first bytes
  // and not resynchronising, straight to the framer (what on_stream(), deliver() and mqtt() would do).
  void next_data(std::span<const std::uint8_t> bytes, std::uint64_t offset, std::uint64_t fr);
  // The connection's bytes (TCP's, or decrypted TLS application data), until and after it is decided.
  void on_stream(std::span<const std::uint8_t> bytes, std::uint64_t offset);
  void deliver_tls(std::span<const std::uint8_t> bytes, std::uint64_t offset);
  void on_gap(std::uint64_t offset, std::uint64_t bytes, std::uint64_t fr, GapReason why) override;
  void mqtt(std::span<const std::uint8_t> bytes, std::uint64_t offset);
  // The decided connection's bytes: through the WebSocket layer when there is one, else straight to MQTT.
  void deliver(std::span<const std::uint8_t> bytes, std::uint64_t offset) {
    if (ws)
      deliver_ws(bytes, offset);
    else
      mqtt(bytes, offset);
  }
  void deliver_ws(std::span<const std::uint8_t> bytes, std::uint64_t offset);
  void run_framer(std::span<const std::uint8_t> chunk, std::uint64_t chunk_offset);
  void on_frame(const Frame& f);  // a whole packet: decoded, observed, reported
  void resync_feed(std::span<const std::uint8_t> bytes, bool final = false);
  void end_of_stream();
  void flush_pending();
};

struct Analyzer::Conn {
  Connection info;
  Key key;
  Dir ab, ba;                     // a -> b and b -> a, where a is the source of the first segment seen
  std::unique_ptr<TlsLayer> tls;  // TLS: between TCP and what it carries
  bool tls_on_port = false;       // on an MQTT port or 8883 (reported even when it cannot be decrypted)
  bool a_is_client = true;
  std::uint64_t active = 0;  // Analyzer::active_seq_ at its last segment
  Conn(Analyzer* an, const AnalyzerOptions& o) : ab(an, this, o), ba(an, this, o) {}
  Dir& client_dir() { return a_is_client ? ab : ba; }
  void set_roles(bool a_client, bool known) {
    a_is_client = a_client;
    info.roles_known = known;
    info.client = a_client ? key.a : key.b;
    info.server = a_client ? key.b : key.a;
    ab.dir = a_client ? Direction::c2s : Direction::s2c;
    ba.dir = a_client ? Direction::s2c : Direction::c2s;
  }
};

std::size_t Analyzer::KeyHash::operator()(const Key& k) const noexcept {
  // Eight bytes at a time (the FNV byte loop this replaces was a tenth of the run time of `stats`).
  auto mix = [](std::uint64_t h, std::uint64_t v) {
    h = (h ^ v) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 32);
  };
  std::uint64_t h = 0x243F6A8885A308D3ull;
  for (const Endpoint* e : {&k.a, &k.b}) {
    h = mix(h, e->ip.word(0));
    h = mix(h, e->ip.word(1));
    h = mix(h, std::uint64_t{e->port} | (std::uint64_t{e->ip.v6} << 16));
  }
  return static_cast<std::size_t>(h);
}

// The shard of a TCP segment's connection: the same for both directions (XOR is symmetric), cheap.
unsigned Analyzer::shard_of(const Endpoint& src, const Endpoint& dst, unsigned shards) noexcept {
  std::uint64_t h = (src.ip.word(0) ^ dst.ip.word(0)) * 0x9E3779B97F4A7C15ull;
  h = (h ^ src.ip.word(1) ^ dst.ip.word(1) ^ (std::uint64_t{src.port} ^ dst.port)) * 0xC2B2AE3D27D4EB4Full;
  return static_cast<unsigned>((h >> 32) % shards);
}

// The slot of a 4-tuple in recent_: the same for both directions (XOR and + are symmetric), cheap.
std::size_t Analyzer::recent_slot(const Endpoint& x, const Endpoint& y) noexcept {
  std::uint64_t h = (x.ip.word(0) ^ y.ip.word(0) ^ x.ip.word(1) ^ y.ip.word(1)) + x.port + y.port;
  h *= 0x9E3779B97F4A7C15ull;
  return static_cast<std::size_t>(h >> 52) & (kRecent - 1);
}

// The table key of a 4-tuple: the same for both directions, so that one lookup finds the connection.
Analyzer::Key Analyzer::table_key(const Endpoint& x, const Endpoint& y) noexcept {
  // Any total order does: the two 8-byte halves of the addresses as integers, then the ports.
  const std::uint64_t x0 = x.ip.word(0), y0 = y.ip.word(0), x1 = x.ip.word(1), y1 = y.ip.word(1);
  bool x_first = x0 != y0 ? x0 < y0 : x1 != y1 ? x1 < y1 : x.port <= y.port;
  return x_first ? Key{x, y} : Key{y, x};
}

DirStats& Analyzer::Dir::stats() { return dir == Direction::c2s ? conn->info.c2s : conn->info.s2c; }

PacketMeta Analyzer::Dir::meta(std::uint64_t offset) const { return PacketMeta{frame, ts, offset, &conn->info.file}; }

void Analyzer::Dir::next_data(std::span<const std::uint8_t> bytes, std::uint64_t offset, std::uint64_t fr) {
  if (conn->tls || ws || conn->info.kind != ConnKind::mqtt || !pending.empty() || start_unknown || resyncing) {
    on_data(bytes, offset, fr);
    return;
  }
  frame = fr;
  stats().bytes += bytes.size();
  run_framer(bytes, offset);
}

void Analyzer::Dir::on_data(std::span<const std::uint8_t> bytes, std::uint64_t offset, std::uint64_t fr) {
  frame = fr;
  if (conn->tls)
    deliver_tls(bytes, offset);
  else
    on_stream(bytes, offset);
}

// What the TLS layer decrypts: the application data of either direction, as that direction's stream.
struct Analyzer::Dir::TlsOut final : TlsLayer::Out {
  Conn& c;
  explicit TlsOut(Conn& conn) : c(conn) {}
  void plaintext(bool from_client, std::span<const std::uint8_t> plain) override {
    Dir& d = from_client == (c.ab.dir == Direction::c2s) ? c.ab : c.ba;
    const std::uint64_t at = d.tls_out;
    d.tls_out += plain.size();
    if (c.info.kind != ConnKind::other) d.on_stream(plain, at);
  }
};

void Analyzer::Dir::deliver_tls(std::span<const std::uint8_t> bytes, std::uint64_t offset) {
  TlsOut out(*conn);
  conn->tls->feed(dir == Direction::c2s, bytes, offset, out);
  an->tls_done(*conn);
}

void Analyzer::Dir::on_stream(std::span<const std::uint8_t> bytes, std::uint64_t offset) {
  bool held_here = false;
  if (conn->info.kind == ConnKind::undecided) {
    // Hold the first bytes until they tell what the connection is (at most 16 bytes are needed).
    if (pending.empty()) pending_offset = offset;
    pending.insert(pending.end(), bytes.begin(), bytes.end());
    held_here = true;
    if (ws::looks_like_http_get(pending)) {
      // An HTTP request: held until its head is complete (an Upgrade to MQTT over WebSocket?).
      if (ws::parse_http_head(pending).status == ws::HttpHead::Status::need_more) return;
    } else if (pending.size() < 16 && !looks_like_connect(pending).has_value() && !looks_like_tls(pending)) {
      return;
    }
    const bool had_tls = conn->tls != nullptr;
    an->decide(*conn, *this, pending);
    Dir& other = this == &conn->ab ? conn->ba : conn->ab;
    if (!had_tls && conn->tls) {
      // TLS: what was held goes to the TLS layer (the other direction's first, when it spoke first).
      std::vector<std::uint8_t> mine, theirs;
      mine.swap(pending);
      theirs.swap(other.pending);
      if (!theirs.empty()) other.deliver_tls(theirs, other.pending_offset);
      if (conn->tls && !mine.empty()) deliver_tls(mine, pending_offset);
      return;
    }
    if (conn->info.kind == ConnKind::mqtt) other.flush_pending();
  }
  if (conn->info.kind != ConnKind::mqtt) {
    pending.clear();
    return;
  }
  if (!pending.empty()) {  // bytes held while undecided, here or by a decision of the other direction
    std::vector<std::uint8_t> first;
    first.swap(pending);
    if (!held_here) first.insert(first.end(), bytes.begin(), bytes.end());  // in order: contiguous
    deliver(first, pending_offset);
    return;
  }
  deliver(bytes, offset);
}

// What the WebSocket layer gives: MQTT bytes to the framer, violations and Close codes to the connection.
struct Analyzer::Dir::WsOut final : WsLayer::Out {
  Dir& d;
  explicit WsOut(Dir& dir) : d(dir) {}
  void mqtt(std::span<const std::uint8_t> bytes) override {
    d.mqtt(bytes, d.ws_out);
    d.ws_out += bytes.size();
  }
  void violation(const char* rule, const char* detail, std::uint64_t offset) override {
    ++d.stats().violations;
    d.an->sink_.on_websocket_violation(d.conn->info, d.dir, rule, detail, d.meta(offset));
  }
  void head(const ws::HttpHead& h) override {
    if (h.request) return;
    // The server's 101: what it accepted of the subprotocols and extensions the client offered.
    d.conn->info.ws_deflate = ws::parse_deflate(h.extensions).on;
    if (!h.subprotocols.empty()) d.conn->info.ws_subprotocol = h.subprotocols;
  }
  void control(std::uint8_t opcode, std::uint16_t close_code) override {
    if (opcode == static_cast<std::uint8_t>(ws::Opcode::close))
      (d.dir == Direction::c2s ? d.conn->info.ws_close_c2s : d.conn->info.ws_close_s2c) = close_code;
  }
};

void Analyzer::Dir::deliver_ws(std::span<const std::uint8_t> bytes, std::uint64_t offset) {
  WsOut out(*this);
  const std::uint64_t before = ws->frames();
  ws->feed(bytes, offset, out);
  conn->info.ws_frames += ws->frames() - before;
}

void Analyzer::Dir::on_gap(std::uint64_t offset, std::uint64_t bytes, std::uint64_t fr, GapReason why) {
  frame = fr;
  if (ws) ws->lost();  // WebSocket framing cannot be found again after missing bytes
  if (conn->tls) {     // nor TLS records (and their sequence numbers)
    conn->tls->lost(dir == Direction::c2s);
    an->tls_done(*conn);
  }
  if (conn->info.kind != ConnKind::mqtt) {
    // Still undecided: the bytes held so far are dropped, and what follows the gap starts anywhere.
    pending.clear();
    start_unknown = true;
    return;
  }
  quiet_resync = false;
  rstart = false;
  auto& st = stats();
  ++st.gaps;
  st.gap_bytes += bytes;
  an->sink_.on_gap(conn->info, dir, offset, bytes, meta(offset), why);
  // Whatever packet was in progress is lost; what follows the gap starts at an unknown position.
  if (resyncing) {
    rskipped += rbuf.size() + bytes;
    rbuf.clear();
    rmarks.clear();
    rscan = 0;
  } else {
    framer.skip_gap(bytes);
    resyncing = true;
    rbuf.clear();
    rmarks.clear();
    rscan = 0;
    rskipped = 0;
  }
  rbase = offset + bytes;
}

void Analyzer::Dir::mqtt(std::span<const std::uint8_t> bytes, std::uint64_t offset) {
  stats().bytes += bytes.size();
  if (start_unknown) {  // a capture that starts mid-stream: look for a packet boundary first
    start_unknown = false;
    resyncing = true;
    quiet_resync = true;
    rstart = true;
    rbuf.clear();
    rmarks.clear();
    rscan = 0;
    rskipped = 0;
    rbase = offset;
  }
  if (resyncing) {
    resync_feed(bytes);
    return;
  }
  run_framer(bytes, offset);
}

void Analyzer::Dir::on_frame(const Frame& f) {
  const PacketRef ref{frame, ts};
  auto step = conn->info.session->decode(f.bytes, f.header, dir, ref);
  if (step.decoded) {
    ++stats().packets;
    stats().last_packet_ts = ts;
    const IpAddr& peer = conn->info.client.ip;
    an->fleet_.observe_into(conn->info.id, peer.word(0) * 0x9E3779B97F4A7C15ull ^ peer.word(1), *step.decoded, step.obs,
                            ref, step.obs.fleet);
    stats().violations += step.decoded->violations.total();
    an->sink_.on_packet(conn->info, dir, *step.decoded, step.obs, meta(f.offset));
  } else {
    ++stats().errors;
    an->sink_.on_error(conn->info, dir, step.decoded.error(), meta(f.offset));
  }
}

void Analyzer::Dir::run_framer(std::span<const std::uint8_t> chunk, std::uint64_t chunk_offset) {
  // Whole packets straight from the chunk while the framer holds nothing (most segments are only that).
  std::size_t pos = 0;
  Frame whole;
  if (framer.holds_nothing())
    while (framer.take_whole(chunk, pos, whole)) on_frame(whole);  // (on_frame() leaves the framer alone)
  if (pos > 0 && pos == chunk.size()) return;
  chunk = chunk.subspan(pos);
  chunk_offset += pos;
  framer.push(chunk);
  while (true) {
    FrameEvent ev = framer.next();
    if (ev.kind == FrameEvent::Kind::need_more) break;
    if (ev.kind == FrameEvent::Kind::frame) {
      on_frame(ev.frame);
    } else if (ev.kind == FrameEvent::Kind::oversized) {
      ++stats().errors;
      an->sink_.on_error(conn->info, dir,
                         Error{ErrorKind::packet_too_large, 1, "packet larger than the maximum packet size; skipped"},
                         meta(ev.frame.offset));
    } else {
      // The stream cannot be framed here: look for the next packet boundary in what follows.
      ++stats().errors;
      std::uint64_t at = ev.error.offset;
      an->sink_.on_error(conn->info, dir, Error{ev.error.kind, 1, ev.error.detail}, meta(at > 0 ? at - 1 : 0));
      resyncing = true;
      quiet_resync = false;
      rstart = false;
      rbuf.clear();
      rmarks.clear();
      rscan = 0;
      rskipped = 0;
      framer = Framer(an->opts_.max_packet_size);       // it must not keep a view of `chunk`
      std::uint64_t from = std::max(at, chunk_offset);  // at = offset of the length byte after the header byte
      rbase = from;
      if (from < chunk_offset + chunk.size()) {
        auto rest = chunk.subspan(static_cast<std::size_t>(from - chunk_offset));
        resync_feed(rest);
      }
      return;
    }
  }
}

void Analyzer::Dir::resync_feed(std::span<const std::uint8_t> bytes, bool final) {
  if (!bytes.empty()) {
    if (rmarks.empty() || rmarks.back().frame != frame) rmarks.push_back(Mark{rbuf.size(), frame, ts});
    rbuf.insert(rbuf.end(), bytes.begin(), bytes.end());
  }
  const auto& opts = an->opts_;
  BoundaryOptions bo;
  bo.ctx = conn->info.session->context();
  bo.dir = conn->info.roles_known ? dir : Direction::unknown;
  bo.window = opts.resync_window;
  bo.at_start = rstart;
  bo.end_of_stream = final;
  const BoundarySearch found = find_boundary(rbuf, rscan, bo);
  if (found.kind == BoundarySearch::Kind::found) {
    const std::size_t pos = found.pos;
    const std::uint64_t skipped = rskipped + pos;
    const std::uint64_t at = rbase + pos;
    // Reported at the frame the boundary came in: packets proven later keep the frames that carried them.
    const std::uint64_t now_frame = frame;
    const std::int64_t now_ts = ts;
    std::vector<std::uint8_t> buf;
    std::vector<Mark> marks;
    buf.swap(rbuf);
    marks.swap(rmarks);
    std::size_t mi = 0;
    while (mi + 1 < marks.size() && marks[mi + 1].pos <= pos) ++mi;
    if (!marks.empty()) frame = marks[mi].frame, ts = marks[mi].ts;
    if (!(quiet_resync && skipped == 0)) an->sink_.on_resync(conn->info, dir, at, skipped, meta(at));
    resyncing = false;
    quiet_resync = false;
    rstart = false;
    rscan = 0;
    // A fresh framer that starts at `at` (the old one may still point into a chunk that is gone, and its
    // offset is wherever the gap or the framing error left it).
    framer = Framer(opts.max_packet_size);
    framer.skip_gap(at);
    const std::uint64_t base = rbase;
    for (std::size_t from = pos; from < buf.size(); ++mi) {
      const std::size_t to = mi + 1 < marks.size() ? marks[mi + 1].pos : buf.size();
      if (mi < marks.size()) frame = marks[mi].frame, ts = marks[mi].ts;
      auto part = std::span<const std::uint8_t>(buf).subspan(from, to - from);
      if (resyncing)
        resync_feed(part, false);  // a framing error in what was held: search again
      else
        run_framer(part, base + from);
      from = to;
    }
    frame = now_frame;
    ts = now_ts;
    if (final && resyncing && !rbuf.empty()) resync_feed({}, true);
    return;
  }
  // Bytes before `pos` can start no packet: drop them (in blocks, to keep the copying down).
  rscan = found.pos;
  auto drop = [&](std::size_t n) {
    rskipped += n;
    rbase += n;
    rbuf.erase(rbuf.begin(), rbuf.begin() + static_cast<std::ptrdiff_t>(n));
    rscan -= std::min(rscan, n);
    rstart = false;
    std::size_t keep = 0;  // the mark of the frame that byte n came in stays, at 0
    while (keep + 1 < rmarks.size() && rmarks[keep + 1].pos <= n) ++keep;
    rmarks.erase(rmarks.begin(), rmarks.begin() + static_cast<std::ptrdiff_t>(keep));
    for (Mark& m : rmarks) m.pos = m.pos > n ? m.pos - n : 0;
  };
  if (rscan > 4096 || (found.kind == BoundarySearch::Kind::none && rscan > 0 && rbuf.size() > 4096)) drop(rscan);
  // A candidate that waits for more than twice the window: give up on it (bounded memory).
  if (rbuf.size() > 2 * opts.resync_window) drop(std::max<std::size_t>(rscan + 1, rbuf.size() - opts.resync_window));
  if (rbuf.empty()) rmarks.clear();
}

void Analyzer::Dir::flush_pending() {
  if (conn->info.kind != ConnKind::mqtt || pending.empty()) return;
  std::vector<std::uint8_t> first;
  first.swap(pending);
  deliver(first, pending_offset);
}

void Analyzer::Dir::end_of_stream() {
  tcp.finish(frame, *this);
  if (conn->info.kind == ConnKind::undecided && !pending.empty()) {
    // The stream ends before its first bytes could tell what it is: decide on what there is.
    an->decide(*conn, *this, pending);
    Dir& other = this == &conn->ab ? conn->ba : conn->ab;
    if (conn->info.kind == ConnKind::mqtt) other.flush_pending();
  }
  flush_pending();
  if (conn->info.kind != ConnKind::mqtt) return;
  if (resyncing && !rbuf.empty()) resync_feed({}, true);  // the end may prove a boundary
  if (resyncing) {
    if (!rbuf.empty()) {
      ++stats().errors;
      an->sink_.on_error(conn->info, dir, Error{ErrorKind::need_more, 0, "no packet boundary found after a gap"},
                         meta(rbase));
    }
    return;
  }
  if (framer.buffered() > 0) {
    ++stats().errors;
    an->sink_.on_error(conn->info, dir,
                       Error{ErrorKind::need_more, framer.buffered(), "the connection ends inside a packet"},
                       meta(framer.offset() - framer.buffered()));
  }
}

// ------------------------------------------------------------------------------------------ Analyzer

Analyzer::Analyzer(AnalyzerOptions opts, AnalyzerSink& sink) : opts_(std::move(opts)), sink_(sink) {
  if (opts_.tls_keys) tls_keys_.merge(*opts_.tls_keys);
}
Analyzer::~Analyzer() = default;

// The TLS layer's state, once it changes: decrypting, or given up on (reported as TLS with the reason).
void Analyzer::tls_done(Conn& c) {
  Connection& info = c.info;
  const TlsLayer& t = *c.tls;
  info.tls_version = t.version();
  info.tls_suite = t.suite();
  info.tls_records = t.records();
  if (!t.server_name().empty()) info.tls_server_name = t.server_name();
  info.tls_decrypted = t.opened() > 0;
  if (info.tls_reason != t.reason()) info.tls_reason = t.reason();
  if (t.state() == TlsLayer::State::opaque && info.kind != ConnKind::tls && info.kind != ConnKind::mqtt &&
      info.kind != ConnKind::other) {
    info.kind = c.tls_on_port ? ConnKind::tls : ConnKind::other;
    if (c.tls_on_port) {
      sink_.on_tls(info);
    } else {
      info.tls = false;
      --counters_.tls_connections;
    }
  }
}

void Analyzer::decide(Conn& c, Dir& d, std::span<const std::uint8_t> first) {
  Connection& info = c.info;
  const bool on_port = opts_.ports.count(c.key.a.port) || opts_.ports.count(c.key.b.port);
  const bool tls_port = on_port || c.key.a.port == 8883 || c.key.b.port == 8883;
  if (!c.tls && looks_like_tls(first)) {
    info.kind = ConnKind::tls;
    // On an MQTT port (or 8883): followed and reported. Elsewhere, with secrets to try, followed too, and
    // kept if it carries MQTT (as a CONNECT is recognised on any port); otherwise passed over unreported.
    c.tls_on_port = tls_port;
    if (!tls_port && !(opts_.any_port && !tls_keys_.empty())) return;
    ++counters_.tls_connections;
    info.tls = true;
    // Followed through its handshake: decrypted with the key log, or reported with the reason it is not.
    info.kind = ConnKind::undecided;
    if (first[0] == 22 && first.size() > 5 && first[5] == 1) c.set_roles(&d == &c.ab, true);  // a ClientHello
    c.tls = std::make_unique<TlsLayer>(&tls_keys_);
    return;
  }
  const bool in_tls = c.tls != nullptr;  // decrypted: what it carries, on any port
  auto connect = looks_like_connect(first);
  if (ws::looks_like_http_get(first)) {
    // MQTT over WebSocket (MQTT §6): an HTTP Upgrade naming MQTT as its subprotocol, on any port (or any
    // Upgrade on an MQTT port). Its sender is the client.
    const ws::HttpHead h = ws::parse_http_head(first);
    if (h.status != ws::HttpHead::Status::complete || !h.upgrade || !(ws::names_mqtt(h.subprotocols) || on_port)) {
      info.kind = ConnKind::other;
      return;
    }
    c.set_roles(&d == &c.ab, true);
    info.kind = ConnKind::mqtt;
    info.websocket = true;
    info.ws_subprotocol = h.subprotocols;
    info.ws_path = h.path;
    c.ab.ws = std::make_unique<WsLayer>(c.ab.dir == Direction::c2s, info.ws_deflate);
    c.ba.ws = std::make_unique<WsLayer>(c.ba.dir == Direction::c2s, info.ws_deflate);
  } else if (connect && *connect && (opts_.any_port || on_port || in_tls)) {
    // The side that opens with CONNECT is the client, whatever the ports said.
    c.set_roles(&d == &c.ab, true);
    info.kind = ConnKind::mqtt;
  } else if (on_port || in_tls) {
    info.kind = ConnKind::mqtt;
  } else {
    info.kind = ConnKind::other;
    return;
  }
  ++counters_.mqtt_connections;
  SessionOptions so;
  so.dialect = opts_.dialect;
  so.strict = opts_.strict;
  so.keep_alive_audit = opts_.keep_alive_audit;
  so.limits.max_packet_size = opts_.max_packet_size;
  info.session = std::make_unique<Session>(so);
}

Analyzer::Conn* Analyzer::lookup(const TcpSegment& seg, const CaptureRecord& rec, const std::string& file,
                                 bool& a_to_b) {
  Conn*& recent = recent_[recent_slot(seg.src, seg.dst)];
  Conn* found = recent;
  if (!found ||
      !((found->key.a == seg.src && found->key.b == seg.dst) || (found->key.a == seg.dst && found->key.b == seg.src))) {
    auto it = conns_.find(table_key(seg.src, seg.dst));
    found = it == conns_.end() ? nullptr : it->second.get();
    if (found) recent = found;
  }
  a_to_b = !found || found->key.a == seg.src;
  const bool syn_only = (seg.flags & (tcpflag::syn | tcpflag::ack)) == tcpflag::syn;
  if (found && syn_only) {
    Conn& old = *found;
    // A new SYN on a 4-tuple that ended or carried data: port reuse, a new connection.
    if (old.info.end != EndReason::open || old.info.fin_c2s || old.info.fin_s2c || old.ab.tcp.offset() > 0 ||
        old.ba.tcp.offset() > 0) {
      end_conn(old, EndReason::capture_end, rec.frame);
      found = nullptr;
      a_to_b = true;
    }
  }
  if (found) {
    found->active = ++active_seq_;  // now the most recently active
    return found;
  }
  // Only a SYN or data opens a connection: the ACKs and FINs that trail a closed one, or a reset for
  // something never seen, do not.
  if (!(seg.flags & tcpflag::syn) && seg.payload_wire_len == 0) return nullptr;
  const Key key = table_key(seg.src, seg.dst);
  // A connection that ended lately on this 4-tuple: its late segments (a retransmission, data after a
  // reset) are not a new connection; a new SYN is.
  if (auto cl = closed_.find(key); cl != closed_.end()) {
    if (!syn_only && rec.ts_ns - cl->second <= kClosedLinger_ns) return nullptr;
    closed_.erase(cl);
  }
  auto c = std::make_unique<Conn>(this, opts_);
  c->key = Key{seg.src, seg.dst};
  a_to_b = true;
  c->info.id = ++next_id_;
  open_ids_.insert(c->info.id);
  c->info.file = file;
  c->info.first_frame = rec.frame;
  c->info.first_ts = rec.ts_ns;
  ++counters_.connections;
  // Roles: the SYN sender is the client; else the side on an MQTT port is the server; else the higher port
  // is taken for the client (an ephemeral port), until a CONNECT says otherwise.
  const bool to_mqtt_port = opts_.ports.count(seg.dst.port) && !opts_.ports.count(seg.src.port);
  const bool from_mqtt_port = opts_.ports.count(seg.src.port) && !opts_.ports.count(seg.dst.port);
  const bool syn_ack = (seg.flags & (tcpflag::syn | tcpflag::ack)) == (tcpflag::syn | tcpflag::ack);
  if (syn_only || to_mqtt_port)
    c->set_roles(true, true);
  else if (from_mqtt_port || syn_ack)
    c->set_roles(false, true);
  else
    c->set_roles(seg.src.port >= seg.dst.port, false);
  // The table is full: the least recently active connection ends here (its handshake as far as it got).
  const std::size_t cap = std::max<std::size_t>(1, opts_.max_connections / std::max(1u, opts_.shard_count));
  while (conns_.size() >= cap && !conns_.empty()) {
    ++counters_.evicted;
    Conn* old = least_recent();
    end_conn(*old, EndReason::evicted, old->info.last_frame);
  }
  Conn* raw = c.get();
  raw->active = ++active_seq_;
  conns_.emplace(key, std::move(c));
  recent = raw;
  return raw;
}

Analyzer::Conn* Analyzer::least_recent() {
  while (true) {
    if (evict_next_ == evict_order_.size()) {
      evict_order_.clear();
      evict_order_.reserve(conns_.size());
      for (const auto& [k, c] : conns_) evict_order_.push_back(Stamped{c->active, k});
      std::sort(evict_order_.begin(), evict_order_.end(),
                [](const Stamped& a, const Stamped& b) { return a.active < b.active; });
      evict_next_ = 0;
    }
    const Stamped& e = evict_order_[evict_next_++];
    auto it = conns_.find(e.key);
    if (it != conns_.end() && it->second->active == e.active) return it->second.get();
  }
}

void Analyzer::feed(const CaptureRecord& rec, const std::string& file) {
  ++counters_.frames;
  // Ethernet / IPv4 / TCP, most frames, without the general parser (a fifth of `stats`); the rest parsed fully.
  if (!quick_ipv4_tcp(rec.link_type, rec.data, frame_.seg)) {
    frame_ = parser_.parse(rec.link_type, rec.data, rec.orig_len, rec.ts_ns);
    switch (frame_.skip) {
      case FrameSkip::none: break;
      case FrameSkip::not_ip: ++counters_.not_ip; return;
      case FrameSkip::not_tcp: ++counters_.not_tcp; return;
      case FrameSkip::fragment_pending: ++counters_.fragments; return;
      case FrameSkip::unsupported_link: ++counters_.unsupported_link; return;
      case FrameSkip::malformed: ++counters_.malformed; return;
    }
  }
  ++counters_.tcp_segments;
  const TcpSegment& seg = frame_.seg;
  if (opts_.shard_count > 1 && shard_of(seg.src, seg.dst, opts_.shard_count) != opts_.shard) return;
  bool a_to_b = true;
  Conn* c = lookup(seg, rec, file, a_to_b);
  if (!c) return;
  Dir& d = a_to_b ? c->ab : c->ba;
  Dir& other = a_to_b ? c->ba : c->ab;
  c->info.last_frame = rec.frame;
  c->info.last_ts = rec.ts_ns;
  d.frame = other.frame = rec.frame;
  d.ts = other.ts = rec.ts_ns;

  if (seg.flags & tcpflag::syn) {
    c->info.syn_seen = true;
    d.tcp.syn(seg.seq);
  }
  if (c->info.kind != ConnKind::other && c->info.kind != ConnKind::tls) {
    const bool has_data = !seg.payload.empty() || seg.payload_wire_len > 0 || (seg.flags & tcpflag::fin);
    if (has_data && !d.tcp.started()) d.start_unknown = true;  // no SYN seen: the capture began mid-stream
    if (has_data) {
      std::uint64_t at = 0;
      if ((seg.flags & (tcpflag::syn | tcpflag::fin)) == 0 &&
          d.tcp.take_next(seg.seq, seg.payload.size(), seg.payload_wire_len, at))
        d.next_data(seg.payload, at, rec.frame);  // in order, nothing held: most segments
      else
        d.tcp.segment(seg.seq + ((seg.flags & tcpflag::syn) ? 1u : 0u), seg.payload, seg.payload_wire_len,
                      seg.flags & tcpflag::fin, rec.frame, d);
    }
    if ((seg.flags & tcpflag::ack) && other.tcp.started()) other.tcp.peer_acked(seg.ack, rec.frame, other);
  }
  if ((seg.flags & (tcpflag::fin | tcpflag::rst)) && c->info.closed_by == Direction::unknown) {
    c->info.closed_by = d.dir;
    c->info.close_ts = rec.ts_ns;
  }
  if (seg.flags & tcpflag::fin) (d.dir == Direction::c2s ? c->info.fin_c2s : c->info.fin_s2c) = true;
  if (seg.flags & tcpflag::rst) {
    end_conn(*c, EndReason::rst, rec.frame);
  } else if (c->info.fin_c2s && c->info.fin_s2c) {
    end_conn(*c, EndReason::fin, rec.frame);
  }
}

void Analyzer::end_conn(Conn& c, EndReason why, std::uint64_t frame) {
  c.info.end = why;
  open_ids_.erase(c.info.id);
  c.ab.frame = c.ba.frame = frame;
  c.client_dir().end_of_stream();
  (c.a_is_client ? c.ba : c.ab).end_of_stream();
  if (c.info.session) {
    if (why == EndReason::capture_end || why == EndReason::evicted)
      c.info.session->finish();
    else
      c.info.session->close(PacketRef{frame, c.info.last_ts});
  }
  c.info.fleet =
      fleet_.end(c.info.id, PacketRef{frame, c.info.last_ts}, why == EndReason::fin || why == EndReason::rst);
  if (c.tls) {
    tls_done(c);
    if (c.info.kind == ConnKind::undecided && !c.tls_on_port) {  // not MQTT after all, not on an MQTT port
      c.info.kind = ConnKind::other;
      c.info.tls = false;
      --counters_.tls_connections;
    } else if (c.info.kind == ConnKind::undecided) {  // TLS that never showed what it carries
      c.info.kind = ConnKind::tls;
      if (c.info.tls_reason.empty())
        c.info.tls_reason = c.tls->state() == TlsLayer::State::hello
                                ? "the TLS handshake is not complete in the capture"
                                : tls::version_name(c.info.tls_version) + ", decrypted: no application data";
      sink_.on_tls(c.info);
    }
  }
  if (c.info.kind == ConnKind::mqtt) sink_.on_connection_end(c.info);
  const Key key = table_key(c.key.a, c.key.b);
  if (Conn*& r = recent_[recent_slot(c.key.a, c.key.b)]; r == &c) r = nullptr;
  if (why == EndReason::evicted) {  // not closed: what comes later on it is followed as a new connection
    conns_.erase(key);
    return;
  }
  // Remember the 4-tuple for a while (bounded, oldest forgotten first).
  const std::int64_t now = c.info.last_ts;
  closed_[key] = now;
  closed_order_.emplace_back(now, key);
  while (!closed_order_.empty() &&
         (closed_order_.size() > kMaxClosed || now - closed_order_.front().first > kClosedLinger_ns)) {
    auto cl = closed_.find(closed_order_.front().second);
    if (cl != closed_.end() && cl->second == closed_order_.front().first) closed_.erase(cl);
    closed_order_.pop_front();
  }
  conns_.erase(key);  // destroys c
}

Analyzer::Counters& Analyzer::Counters::operator+=(const Counters& o) noexcept {
  add_counts<&Counters::frames, &Counters::tcp_segments, &Counters::not_ip, &Counters::not_tcp, &Counters::malformed,
             &Counters::unsupported_link, &Counters::fragments, &Counters::connections, &Counters::mqtt_connections,
             &Counters::tls_connections, &Counters::evicted>(*this, o);
  return *this;
}

Analyzer::Counters Analyzer::merge_shards(const std::vector<Counters>& shards) {
  Counters all;
  if (shards.empty()) return all;
  all = shards.front();  // the frame counters: the same in every shard
  all.connections = all.mqtt_connections = all.tls_connections = all.evicted = 0;
  for (const Counters& c : shards)
    add_counts<&Counters::connections, &Counters::mqtt_connections, &Counters::tls_connections, &Counters::evicted>(all,
                                                                                                                    c);
  return all;
}

void Analyzer::finish() {
  std::vector<Conn*> open;
  for (auto& [k, c] : conns_) open.push_back(c.get());
  std::sort(open.begin(), open.end(), [](Conn* a, Conn* b) { return a->info.id < b->info.id; });
  for (Conn* c : open) end_conn(*c, EndReason::capture_end, c->info.last_frame);
}

}  // namespace mqttauth::cli
