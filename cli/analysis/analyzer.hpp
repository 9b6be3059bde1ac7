// From capture records to MQTT packets and handshakes: the connection table, TCP reassembly per direction,
// MQTT recognition on any port, framing, decoding and the per-connection session model.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "capture_file.hpp"
#include "mqttauth/framer.hpp"
#include "mqttauth/session.hpp"
#include "mqttauth/tls.hpp"
#include "netparse.hpp"
#include "reassembly.hpp"

namespace mqttauth::cli {

// Adds the listed counters of `from` to those of `to` (for merging the results of separate analyses):
// add_counts<&T::a, &T::b>(to, from).
template <auto... Members, class T>
void add_counts(T& to, const T& from) noexcept {
  ((to.*Members += from.*Members), ...);
}

struct AnalyzerOptions {
  std::set<std::uint16_t> ports{1883};  // MQTT ports: the side on one of them is the server
  bool any_port = true;                 // also recognise connections that open with a CONNECT
  std::uint32_t max_packet_size = 64u << 20;
  ReassemblyLimits reassembly{};
  std::size_t resync_window = 64u << 10;  // bytes scanned for a packet boundary after a gap
  Dialect dialect = Dialect::auto_detect;
  bool strict = false;           // rule violations are decode errors (conformance work)
  bool keep_alive_audit = true;  // SessionOptions::keep_alive_audit
  // Open connections followed at once (about 1.5 KB each): when a new one would exceed this, the least
  // recently active is ended early (EndReason::evicted). Bounds memory on floods of connections that never
  // close (SYN floods, captures cut while thousands of devices stay connected).
  std::size_t max_connections = 100000;
  // Connections split between `shard_count` analyzers that each read the whole input: this one follows only
  // the TCP connections whose 4-tuple hashes to `shard` (frame counters still count every frame).
  unsigned shard = 0, shard_count = 1;
  // TLS: the secrets of a key log (--tls-keylog); a pcapng's Decryption Secrets Blocks add to them.
  std::shared_ptr<const tls::KeyLog> tls_keys;
};

enum class ConnKind : std::uint8_t { undecided, mqtt, tls, other };
enum class EndReason : std::uint8_t { open, fin, rst, capture_end, evicted };
const char* end_reason_name(EndReason r) noexcept;

struct DirStats {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;  // TCP payload bytes
  std::uint64_t gaps = 0, gap_bytes = 0;
  std::uint64_t errors = 0;
  std::uint64_t violations = 0;     // rules broken in packets that decoded (each packet's violations counted)
  std::int64_t last_packet_ts = 0;  // of the last MQTT packet (0: none)
};

struct Connection {
  std::uint64_t id = 0;     // 1-based, in order of first appearance
  Endpoint client, server;  // as far as known (a guess until roles are certain)
  bool roles_known = false;
  bool syn_seen = false;
  ConnKind kind = ConnKind::undecided;
  EndReason end = EndReason::open;
  std::uint64_t first_frame = 0, last_frame = 0;
  std::int64_t first_ts = 0, last_ts = 0;
  std::string file;  // capture file of the first frame
  DirStats c2s, s2c;
  std::unique_ptr<Session> session;
  bool fin_c2s = false, fin_s2c = false;
  // Who ended the TCP connection (the first FIN or the RST): c2s the client, s2c the server.
  Direction closed_by = Direction::unknown;
  std::int64_t close_ts = 0;
  // The model across connections, when the connection ended (Analyzer::fleet()).
  FleetConnEnd fleet;
  // MQTT over WebSocket: the HTTP Upgrade's subprotocol, permessage-deflate, frames, the Close codes.
  bool websocket = false;
  bool ws_deflate = false;
  std::string ws_subprotocol, ws_path;
  std::uint64_t ws_frames = 0;
  std::uint16_t ws_close_c2s = 0, ws_close_s2c = 0;  // 0: no Close frame (or none with a code)
  // TLS (kind tls when it is not decrypted; otherwise the kind of what it carries): the version and suite the
  // ServerHello chose, whether records are decrypted, and why not (or why no longer).
  bool tls = false, tls_decrypted = false;
  std::uint16_t tls_version = 0, tls_suite = 0;
  std::string tls_reason, tls_server_name;
  std::uint64_t tls_records = 0;
};

// Where an MQTT packet (or error) sits.
struct PacketMeta {
  std::uint64_t frame = 0;  // frame that completed the packet
  std::int64_t ts_ns = 0;
  std::uint64_t offset = 0;  // offset in that direction's stream
  const std::string* file = nullptr;
};

class AnalyzerSink {
 public:
  virtual ~AnalyzerSink() = default;
  virtual void on_packet(const Connection&, Direction, const Decoded&, const Observation&, const PacketMeta&) {}
  // A decode error in a connection's stream (the packet is skipped, the stream goes on).
  virtual void on_error(const Connection&, Direction, const Error&, const PacketMeta&) {}
  virtual void on_gap(const Connection&, Direction, std::uint64_t /*offset*/, std::uint64_t /*bytes*/,
                      const PacketMeta&, GapReason) {}
  // After a gap: `skipped` bytes passed over to find the next packet boundary at `offset`.
  virtual void on_resync(const Connection&, Direction, std::uint64_t /*offset*/, std::uint64_t /*skipped*/,
                         const PacketMeta&) {}
  virtual void on_connection_end(const Connection&) {}
  // A connection found to be TLS on an MQTT port.
  virtual void on_tls(const Connection&) {}
  // MQTT over WebSocket: a frame (or the opening handshake) breaks a rule; `m.offset` is in the TCP stream.
  virtual void on_websocket_violation(const Connection&, Direction, const char* /*rule*/, const char* /*detail*/,
                                      const PacketMeta&) {}
};

class Analyzer {
 public:
  Analyzer(AnalyzerOptions opts, AnalyzerSink& sink);
  ~Analyzer();

  // One capture record of file `file` (kept by the caller for the whole run).
  void feed(const CaptureRecord& rec, const std::string& file);
  // The end of the input: pending data is flushed, open connections end with capture_end.
  void finish();
  // TLS secrets found in the input (a pcapng Decryption Secrets Block, NSS key log text): for the TLS
  // connections whose ServerHello comes after them.
  void add_tls_secrets(std::string_view keylog_text) { tls_keys_.add(keylog_text); }

  // Counters of the input itself.
  struct Counters {
    std::uint64_t frames = 0, tcp_segments = 0, not_ip = 0, not_tcp = 0, malformed = 0, unsupported_link = 0;
    std::uint64_t fragments = 0;
    std::uint64_t connections = 0, mqtt_connections = 0, tls_connections = 0;
    std::uint64_t evicted = 0;  // connections ended early because max_connections were open
    // The counts of another, independent analysis (another file) added to these: every counter.
    Counters& operator+=(const Counters& o) noexcept;
  };
  const Counters& counters() const noexcept { return counters_; }
  // The model across connections (takeovers, wills, retained, latency): every MQTT packet is fed to it.
  const Fleet& fleet() const noexcept { return fleet_; }
  // The fleet's latency tables moved out, once the input is read (no copy); the analyzer is done after this.
  Fleet::LatencyTables take_latency_tables() { return std::move(fleet_).take_latency_tables(); }
  // The id of the oldest connection still open (ids are given in order of first appearance); 0 when none
  // is. In on_connection_end, the ending connection no longer counts as open. Lets a sink write per-
  // connection output in id order as soon as every earlier connection has ended.
  std::uint64_t oldest_open_id() const noexcept { return open_ids_.empty() ? 0 : *open_ids_.begin(); }
  // The counters of one analysis split into shards: every shard counts the same frames, connections are
  // counted by the shard that follows them.
  static Counters merge_shards(const std::vector<Counters>& shards);

 private:
  struct Conn;
  struct Dir;
  struct Key {
    Endpoint a, b;
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  static Key table_key(const Endpoint& x, const Endpoint& y) noexcept;
  static unsigned shard_of(const Endpoint& src, const Endpoint& dst, unsigned shards) noexcept;
  Conn* lookup(const TcpSegment& seg, const CaptureRecord& rec, const std::string& file, bool& a_to_b);
  void tls_done(Conn& c);
  void decide(Conn& c, Dir& d, std::span<const std::uint8_t> first);
  void end_conn(Conn& c, EndReason why, std::uint64_t frame);

  AnalyzerOptions opts_;
  AnalyzerSink& sink_;
  FrameParser parser_;
  ParsedFrame frame_;  // the frame being fed (kept: not built anew for every frame)
  std::unordered_map<Key, std::unique_ptr<Conn>, KeyHash> conns_;  // by table_key()
  // The connections of recent segments, direct-mapped by recent_slot(): most segments find theirs here without
  // the table's hashing and probing (a slot is cleared when its connection ends).
  static constexpr std::size_t kRecent = 4096;
  static std::size_t recent_slot(const Endpoint& x, const Endpoint& y) noexcept;
  std::array<Conn*, kRecent> recent_{};
  // Least recently active first, for ending connections when max_connections are open: every segment stamps
  // its connection with the next number of active_seq_ (a list moved on every segment touched two other
  // connections' memory each time, 2-4% of `stats`). The order is made when a connection must end: the
  // open connections by stamp, sorted once and taken in turn; an entry whose connection was active since (its
  // stamp changed) or is gone is passed over, and when none is left the order is made again. Exact: an entry
  // still valid is older than everything after it and than every connection stamped since.
  std::uint64_t active_seq_ = 0;
  struct Stamped {
    std::uint64_t active;
    Key key;
  };
  std::vector<Stamped> evict_order_;
  std::size_t evict_next_ = 0;
  Conn* least_recent();
  std::set<std::uint64_t> open_ids_;
  // 4-tuples of connections that ended, with the time they ended: late segments are ignored for a while.
  static constexpr std::int64_t kClosedLinger_ns = 120'000'000'000;
  static constexpr std::size_t kMaxClosed = 1u << 16;
  std::unordered_map<Key, std::int64_t, KeyHash> closed_;  // by table_key()
  std::deque<std::pair<std::int64_t, Key>> closed_order_;
  std::uint64_t next_id_ = 0;
  Counters counters_;
  Fleet fleet_;
  tls::KeyLog tls_keys_;  // the options' key log and what the input brought
  friend struct DirSink;
};

}  // namespace mqttauth::cli
