// mqttauth_synth: a deterministic synthetic MQTT capture generator, for benchmarks and differential tests.
//
// Many client connections, interleaved in time, each one: TCP handshake, CONNECT (some with the field's
// custom challenge-response: an authenticate packet, code 0 or 15, server to device with a 13-digit
// millisecond timestamp in the password, the device's 64-hex-digit response, then CONNACK 0 or 5; or, at
// level 5 with --v5-auth-ratio, MQTT 5 enhanced authentication: CONNECT with an Authentication Method, AUTH
// 0x18 both ways, CONNACK), SUBSCRIBE / SUBACK, many PUBLISH flows (QoS 0, 1 and 2 with PUBACK / PUBREC /
// PUBREL / PUBCOMP; with --large-ratio some carry 10-64 KB, sent over many segments), PINGREQ / PINGRESP,
// DISCONNECT, FIN; with --reconnect-ratio the device then connects again with the same client id. Packets
// from one side often share a segment. Every packet is built with the codec's encode(); every segment is
// written through TcpConversation (MSS 1460) on an Ethernet link.
//
// The output depends only on the options: one std::mt19937_64 seeded with --seed, and no std::*_distribution
// (their results differ between standard libraries), so a seed gives a byte-identical file.
//
// --manifest writes the exact number of packets of each type that went into the capture.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <stdexcept>
#include <vector>

#include <zlib.h>

#include "mqttauth/codec.hpp"
#include "mqttauth/packet.hpp"
#include "mqttauth/properties.hpp"
#include "pcap_writer.hpp"

namespace {

using mqttauth::cli::CaptureWriter;
using mqttauth::cli::Endpoint;
using mqttauth::cli::LinkSpec;
using mqttauth::cli::TcpConversation;

constexpr std::size_t kMss = 1460;

struct Options {
  std::string out;
  std::string manifest;
  std::uint64_t seed = 1;
  double size_mb = 0;     // 0: one connection per client slot
  unsigned clients = 20;  // connections open at once
  unsigned port = 1883;
  unsigned gateway = 0;  // > 0: client ids "gwN-sensor-..." and the server at 192.168.N.1 (independent captures)
  std::vector<std::uint8_t> levels{3, 4, 5};
  bool segment_split = false;
  double auth_ratio = 0.3;  // share of level 3/4 connections with the custom challenge-response
  unsigned min_publishes = 20, max_publishes = 200;
  bool pcapng = false;
  double large_ratio = 0;        // share of PUBLISH with a 10-64 KB payload
  double reconnect_ratio = 0;    // share of connections after which the device connects again
  double v5_auth_ratio = 0;      // share of level 5 connections with enhanced authentication (AUTH)
  double keep_alive_faults = 0;  // share of connections that break their 1 s keep-alive (see Client::fault)
  bool websocket = false;        // MQTT over WebSocket (see Client::ws_wrap)
  bool deflate = false;          // with permessage-deflate (RFC 7692), context taken over between messages
};

[[noreturn]] void usage(const char* msg) {
  if (msg) std::fprintf(stderr, "mqttauth_synth: %s\n", msg);
  std::fprintf(stderr,
               "usage: mqttauth_synth -o FILE [options]\n"
               "  -o FILE               output capture (pcap, Ethernet)\n"
               "  --seed N              random seed (default 1); the same seed gives the same bytes\n"
               "  --size-mb N           keep opening connections until the file reaches about N MB\n"
               "                        (default: one connection per client)\n"
               "  --clients N           connections open at once (default 20)\n"
               "  --port N              server port (default 1883)\n"
               "  --levels L,L,...      protocol levels to mix, of 3, 4, 5 (default 3,4,5)\n"
               "  --auth-ratio R        share of level 3/4 connections using the custom authenticate\n"
               "                        challenge-response, 0..1 (default 0.3)\n"
               "  --no-auth             same as --auth-ratio 0\n"
               "  --publishes MIN,MAX   PUBLISH flows per connection (default 20,200)\n"
               "  --segment-split       end some TCP segments inside fixed headers and remaining-length\n"
               "                        fields, and let bursts span several segments\n"
               "  --large-ratio R       share of PUBLISH packets with a 10-64 KB payload, 0..1 (default 0)\n"
               "  --reconnect-ratio R   share of connections after which the device reconnects with the\n"
               "                        same client id, 0..1 (default 0)\n"
               "  --v5-auth-ratio R     share of level 5 connections using enhanced authentication (CONNECT\n"
               "                        with an Authentication Method, AUTH 0x18 both ways), 0..1 (default 0)\n"
               "  --keep-alive-faults R share of connections with a 1 s keep-alive that they break: 2.7 s of\n"
               "                        client silence while the server still sends (late, expired), then\n"
               "                        a PINGREQ the server never answers, 0..1 (default 0)\n"
               "  --websocket           MQTT over WebSocket: each connection opens with the HTTP Upgrade\n"
               "                        (Sec-WebSocket-Protocol: mqtt) and every write goes in binary frames,\n"
               "                        client frames masked, a third of them cut in two (a fragmented message,\n"
               "                        or two messages): MQTT packets across frames, several in one\n"
               "  --websocket-deflate   the same with permessage-deflate negotiated: every message\n"
               "                        compressed (zlib, raw deflate, the context kept between messages)\n"
               "  --pcapng              write pcapng instead of pcap\n"
               "  --gateway N           client ids gwN-sensor-..., server 192.168.N.1: captures of\n"
               "                        separate gateways that share no client or connection\n"
               "  --manifest FILE       JSON with the exact number of packets written, per type\n");
  std::exit(2);
}

std::uint64_t parse_u64(const char* s, const char* what) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno || end == s || *end) usage((std::string("bad number for ") + what).c_str());
  return v;
}

double parse_double(const char* s, const char* what) {
  char* end = nullptr;
  double v = std::strtod(s, &end);
  if (end == s || *end || v < 0) usage((std::string("bad number for ") + what).c_str());
  return v;
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> const char* {
      if (i + 1 >= argc) usage((a + " needs a value").c_str());
      return argv[++i];
    };
    if (a == "-o" || a == "--output")
      o.out = val();
    else if (a == "--gateway")
      o.gateway = static_cast<unsigned>(std::min<std::uint64_t>(parse_u64(val(), "--gateway"), 250));
    else if (a == "--seed")
      o.seed = parse_u64(val(), "--seed");
    else if (a == "--size-mb")
      o.size_mb = parse_double(val(), "--size-mb");
    else if (a == "--clients")
      o.clients = static_cast<unsigned>(parse_u64(val(), "--clients"));
    else if (a == "--port")
      o.port = static_cast<unsigned>(parse_u64(val(), "--port"));
    else if (a == "--levels") {
      o.levels.clear();
      std::string s = val();
      for (char c : s) {
        if (c == ',' || c == ' ') continue;
        if (c < '3' || c > '5') usage("--levels takes 3, 4 and 5");
        o.levels.push_back(static_cast<std::uint8_t>(c - '0'));
      }
      if (o.levels.empty()) usage("--levels is empty");
    } else if (a == "--auth-ratio") {
      o.auth_ratio = parse_double(val(), "--auth-ratio");
      if (o.auth_ratio > 1) usage("--auth-ratio is between 0 and 1");
    } else if (a == "--no-auth")
      o.auth_ratio = 0;
    else if (a == "--large-ratio" || a == "--reconnect-ratio" || a == "--v5-auth-ratio" || a == "--keep-alive-faults") {
      double v = parse_double(val(), a.c_str());
      if (v > 1) usage((a + " is between 0 and 1").c_str());
      (a == "--large-ratio"       ? o.large_ratio
       : a == "--reconnect-ratio" ? o.reconnect_ratio
       : a == "--v5-auth-ratio"   ? o.v5_auth_ratio
                                  : o.keep_alive_faults) = v;
    } else if (a == "--publishes") {
      std::string s = val();
      auto comma = s.find(',');
      if (comma == std::string::npos) {
        o.min_publishes = o.max_publishes = static_cast<unsigned>(parse_u64(s.c_str(), "--publishes"));
      } else {
        o.min_publishes = static_cast<unsigned>(parse_u64(s.substr(0, comma).c_str(), "--publishes"));
        o.max_publishes = static_cast<unsigned>(parse_u64(s.substr(comma + 1).c_str(), "--publishes"));
      }
      if (o.min_publishes > o.max_publishes) usage("--publishes MIN,MAX with MIN > MAX");
    } else if (a == "--segment-split")
      o.segment_split = true;
    else if (a == "--pcapng")
      o.pcapng = true;
    else if (a == "--websocket")
      o.websocket = true;
    else if (a == "--websocket-deflate")
      o.websocket = o.deflate = true;
    else if (a == "--manifest")
      o.manifest = val();
    else if (a == "-h" || a == "--help")
      usage(nullptr);
    else
      usage(("unknown option " + a).c_str());
  }
  if (o.out.empty()) usage("-o FILE is required");
  if (o.clients == 0) usage("--clients must be at least 1");
  if (o.port == 0 || o.port > 65535) usage("--port is 1..65535");
  return o;
}

// Deterministic helpers over mt19937_64 (no std distributions: their output is library-specific).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : g_(seed) {}
  std::uint64_t next() { return g_(); }
  // Uniform enough in [0, n) for n much smaller than 2^64.
  std::uint64_t below(std::uint64_t n) { return n ? g_() % n : 0; }
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
  bool chance(double p) { return static_cast<double>(g_() >> 11) * 0x1.0p-53 < p; }
  // For the options that default to 0: no draw at all then, so that captures made without them stay the
  // same bytes.
  bool maybe(double p) { return p > 0 && chance(p); }

 private:
  std::mt19937_64 g_;
};

// Counts what goes into the file, and forwards it.
class CountingWriter final : public CaptureWriter {
 public:
  CountingWriter(CaptureWriter& inner, std::uint64_t header_bytes, std::uint64_t record_overhead)
      : inner_(inner), bytes_(header_bytes), overhead_(record_overhead) {}
  bool write(std::int64_t ts_ns, std::span<const std::uint8_t> data, std::uint32_t orig_len,
             std::uint32_t interface) override {
    ++frames_;
    bytes_ += overhead_ + ((data.size() + pad_) & ~pad_);
    return inner_.write(ts_ns, data, orig_len, interface);
  }
  bool close() override { return inner_.close(); }
  void set_padding(std::uint64_t align) { pad_ = align - 1; }
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t frames() const { return frames_; }

 private:
  CaptureWriter& inner_;
  std::uint64_t bytes_;
  std::uint64_t overhead_;
  std::uint64_t pad_ = 0;
  std::uint64_t frames_ = 0;
};

// One MQTT packet ready to be sent.
struct Pending {
  bool from_client = true;
  std::vector<std::uint8_t> bytes;
  std::string type;  // packet_name()
};

struct Counts {
  std::map<std::string, std::uint64_t> by_type;
  std::uint64_t authenticate_code0 = 0, authenticate_code15 = 0;
  std::uint64_t connack_refused = 0;
  std::uint64_t connections = 0, custom_auth_connections = 0, v5_auth_connections = 0, reconnects = 0;
  std::uint64_t large_publishes = 0;
  std::uint64_t keep_alive_faults = 0;
  std::uint64_t by_level[6] = {};
  std::uint64_t split_in_fixed_header = 0, split_in_remaining_length = 0, split_in_body = 0;
};

class Generator;

// A client connection: a queue of packets still to send, refilled phase by phase.
class Client {
 public:
  enum class Phase : std::uint8_t { connect, subscribe, traffic, closing, fin, done };

  // `again`: the device connects again after its previous connection (the same client id and address).
  Client(Generator& g, std::uint64_t index, bool again = false);
  bool done() const { return phase_ == Phase::done; }
  bool reconnects() const { return reconnect_; }
  std::uint64_t index() const { return index_; }
  // Sends the next write (one packet, or a burst of packets from the same side) at time `ts`; returns the
  // time it took on the wire.
  std::int64_t step(std::int64_t ts);

 private:
  void refill(std::int64_t ts);
  void enqueue(bool from_client, const mqttauth::Packet& p);
  std::uint16_t next_id(bool client_side);
  void publish_flow(bool from_client);
  bool fault(std::int64_t ts);
  std::vector<std::uint8_t> payload();
  std::int64_t send(bool from_client, const std::vector<const Pending*>& burst, std::int64_t ts);
  std::vector<std::uint8_t> ws_wrap(bool from_client, std::span<const std::uint8_t> data);

  Generator& g_;
  std::uint64_t index_ = 0;
  std::unique_ptr<TcpConversation> conv_;
  std::string client_id_;
  std::string topic_up_, topic_down_, topic_status_;
  std::uint8_t level_ = 4;
  bool custom_auth_ = false;
  bool v5_auth_ = false;
  bool reconnect_ = false;
  bool refused_ = false;
  bool handshake_done_ = false;
  // --keep-alive-faults: 0 none; 1 due; 2 silent until sleep_until_; 3 the unanswered PINGREQ due; 4 one
  // round of traffic; 5 the PINGREQ after it due; 6 done.
  int fault_stage_ = 0;
  std::int64_t sleep_until_ = 0;
  unsigned publishes_left_ = 0;
  std::uint16_t cid_ = 0, sid_ = 0;  // packet identifier counters per side
  std::mt19937_64 ws_rng_;           // --websocket: its own draws, so that the MQTT traffic stays the same
  struct Deflater;                   // --websocket-deflate: one compression context per direction
  std::shared_ptr<Deflater> zc_, zs_;
  std::vector<std::uint8_t> compress(bool from_client, std::span<const std::uint8_t> message);
  Phase phase_ = Phase::connect;
  std::deque<Pending> queue_;
};

class Generator {
 public:
  explicit Generator(const Options& o) : o_(o), rng_(o.seed) {}

  int run() {
    std::unique_ptr<CaptureWriter> file;
    std::uint64_t header = 0, overhead = 0, align = 1;
    if (o_.pcapng) {
      auto w = std::make_unique<mqttauth::cli::PcapngWriter>();
      if (!w->open(o_.out)) return fail_open();
      w->add_interface(mqttauth::cli::kLinkEthernet);
      header = 28 + 32;  // SHB + IDB (with if_tsresol)
      overhead = 32;     // EPB header and trailer
      align = 4;
      file = std::move(w);
    } else {
      auto w = std::make_unique<mqttauth::cli::PcapWriter>();
      if (!w->open(o_.out, mqttauth::cli::kLinkEthernet)) return fail_open();
      header = 24;
      overhead = 16;
      file = std::move(w);
    }
    CountingWriter counter(*file, header, overhead);
    counter.set_padding(align);
    out_ = &counter;

    const double target = o_.size_mb * 1024.0 * 1024.0;
    std::vector<std::unique_ptr<Client>> active;
    std::int64_t ts = 1'700'000'000'000'000'000;  // 2023-11-14, in nanoseconds
    std::uint64_t started = 0;
    auto want_more = [&] {
      if (o_.size_mb > 0) return !stopping_;
      return started < o_.clients;
    };
    // Open the first connections a little apart.
    while (active.size() < o_.clients && want_more()) {
      active.push_back(std::make_unique<Client>(*this, started++));
    }
    while (!active.empty()) {
      std::size_t i = static_cast<std::size_t>(rng_.below(active.size()));
      ts += active[i]->step(ts);
      ts += static_cast<std::int64_t>(rng_.between(20'000, 400'000));
      if (o_.size_mb > 0 && static_cast<double>(counter.bytes()) >= target) stopping_ = true;
      if (active[i]->done()) {
        if (active[i]->reconnects() && !stopping_) {
          ++counts_.reconnects;
          active[i] = std::make_unique<Client>(*this, active[i]->index(), true);
        } else if (want_more())
          active[i] = std::make_unique<Client>(*this, started++);
        else
          active.erase(active.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
    if (!counter.close()) {
      std::fprintf(stderr, "mqttauth_synth: %s: write failed\n", o_.out.c_str());
      return 1;
    }
    if (!o_.manifest.empty() && !write_manifest(counter)) return 1;
    return 0;
  }

  const Options& opts() const { return o_; }
  Rng& rng() { return rng_; }
  CaptureWriter& out() { return *out_; }
  Counts& counts() { return counts_; }
  bool stopping() const { return stopping_; }

 private:
  int fail_open() {
    std::fprintf(stderr, "mqttauth_synth: %s: cannot open for writing: %s\n", o_.out.c_str(), std::strerror(errno));
    return 1;
  }

  bool write_manifest(const CountingWriter& counter) {
    std::FILE* f = std::fopen(o_.manifest.c_str(), "w");
    if (!f) {
      std::fprintf(stderr, "mqttauth_synth: %s: cannot open for writing: %s\n", o_.manifest.c_str(),
                   std::strerror(errno));
      return false;
    }
    std::uint64_t total = 0;
    for (const auto& [k, v] : counts_.by_type) total += v;
    std::fprintf(f, "{\n  \"seed\": %llu,\n  \"file\": \"%s\",\n  \"format\": \"%s\",\n  \"file_bytes\": %llu,\n",
                 static_cast<unsigned long long>(o_.seed), o_.out.c_str(), o_.pcapng ? "pcapng" : "pcap",
                 static_cast<unsigned long long>(counter.bytes()));
    std::fprintf(f, "  \"frames\": %llu,\n  \"connections\": %llu,\n  \"custom_auth_connections\": %llu,\n",
                 static_cast<unsigned long long>(counter.frames()),
                 static_cast<unsigned long long>(counts_.connections),
                 static_cast<unsigned long long>(counts_.custom_auth_connections));
    std::fprintf(f, "  \"v5_auth_connections\": %llu,\n  \"reconnects\": %llu,\n  \"large_publishes\": %llu,\n",
                 static_cast<unsigned long long>(counts_.v5_auth_connections),
                 static_cast<unsigned long long>(counts_.reconnects),
                 static_cast<unsigned long long>(counts_.large_publishes));
    std::fprintf(f, "  \"keep_alive_faults\": %llu,\n", static_cast<unsigned long long>(counts_.keep_alive_faults));
    std::fprintf(f, "  \"connections_by_level\": {\"3\": %llu, \"4\": %llu, \"5\": %llu},\n",
                 static_cast<unsigned long long>(counts_.by_level[3]),
                 static_cast<unsigned long long>(counts_.by_level[4]),
                 static_cast<unsigned long long>(counts_.by_level[5]));
    std::fprintf(f, "  \"packets\": %llu,\n  \"packets_by_type\": {", static_cast<unsigned long long>(total));
    bool first = true;
    for (const auto& [k, v] : counts_.by_type) {
      std::fprintf(f, "%s\n    \"%s\": %llu", first ? "" : ",", k.c_str(), static_cast<unsigned long long>(v));
      first = false;
    }
    std::fprintf(f, "\n  },\n  \"authenticate_by_code\": {\"0\": %llu, \"15\": %llu},\n",
                 static_cast<unsigned long long>(counts_.authenticate_code0),
                 static_cast<unsigned long long>(counts_.authenticate_code15));
    std::fprintf(f, "  \"connack_refused\": %llu,\n", static_cast<unsigned long long>(counts_.connack_refused));
    std::fprintf(f, "  \"segment_splits\": {\"fixed_header\": %llu, \"remaining_length\": %llu, \"body\": %llu}\n}\n",
                 static_cast<unsigned long long>(counts_.split_in_fixed_header),
                 static_cast<unsigned long long>(counts_.split_in_remaining_length),
                 static_cast<unsigned long long>(counts_.split_in_body));
    return std::fclose(f) == 0;
  }

  Options o_;
  Rng rng_;
  CaptureWriter* out_ = nullptr;
  Counts counts_;
  bool stopping_ = false;
};

Endpoint make_endpoint(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint16_t port) {
  Endpoint e;
  e.ip.b[0] = a;
  e.ip.b[1] = b;
  e.ip.b[2] = c;
  e.ip.b[3] = d;
  e.port = port;
  return e;
}

Client::Client(Generator& g, std::uint64_t index, bool again) : g_(g), index_(index) {
  Rng& r = g_.rng();
  const Options& o = g_.opts();
  level_ = o.levels[static_cast<std::size_t>(r.below(o.levels.size()))];
  custom_auth_ = level_ != mqttauth::kLevel5 && r.chance(o.auth_ratio);
  v5_auth_ = level_ == mqttauth::kLevel5 && r.maybe(o.v5_auth_ratio);
  reconnect_ = r.maybe(o.reconnect_ratio);
  publishes_left_ = static_cast<unsigned>(r.between(o.min_publishes, o.max_publishes));
  if (again && publishes_left_ > 4) publishes_left_ /= 4;  // a short session after a reconnect
  if (r.maybe(o.keep_alive_faults)) {
    fault_stage_ = 1;
    ++g_.counts().keep_alive_faults;
  }
  ++g_.counts().by_level[level_];
  if (custom_auth_) ++g_.counts().custom_auth_connections;
  if (v5_auth_) ++g_.counts().v5_auth_connections;

  char id[32];
  if (o.gateway)
    std::snprintf(id, sizeof id, "gw%u-sensor-%06llu", o.gateway, static_cast<unsigned long long>(index));
  else
    std::snprintf(id, sizeof id, "sensor-%06llu", static_cast<unsigned long long>(index));
  client_id_ = id;
  topic_up_ = "devices/" + client_id_ + "/telemetry";
  topic_status_ = "devices/" + client_id_ + "/status";
  topic_down_ = "devices/" + client_id_ + "/cmd";

  // A distinct 4-tuple per connection: the client address comes from the index, the port is random.
  const std::uint64_t k = index;
  Endpoint client =
      make_endpoint(10, static_cast<std::uint8_t>(k / 64000 % 250), static_cast<std::uint8_t>(k / 250 % 256),
                    static_cast<std::uint8_t>(k % 250 + 1), static_cast<std::uint16_t>(r.between(32768, 60999)));
  Endpoint server =
      make_endpoint(192, 168, static_cast<std::uint8_t>(o.gateway), 1, static_cast<std::uint16_t>(o.port));
  auto cisn = static_cast<std::uint32_t>(r.next());
  auto sisn = static_cast<std::uint32_t>(r.next());
  conv_ = std::make_unique<TcpConversation>(g_.out(), LinkSpec{}, client, server, cisn, sisn);
  cid_ = static_cast<std::uint16_t>(r.between(1, 65535));
  sid_ = static_cast<std::uint16_t>(r.between(1, 65535));
  ws_rng_.seed(o.seed ^ (index * 0x9E3779B97F4A7C15ull) ^ (again ? 1 : 0));
}

struct Client::Deflater {
  z_stream z{};
  bool ok = false;
  Deflater() { ok = deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK; }
  ~Deflater() {
    if (ok) deflateEnd(&z);
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
};

// One message compressed as permessage-deflate sends it (RFC 7692 7.2.1): raw deflate, flushed, the final
// 00 00 FF FF removed; the context goes on into the next message of that direction.
std::vector<std::uint8_t> Client::compress(bool from_client, std::span<const std::uint8_t> message) {
  auto& d = from_client ? zc_ : zs_;
  if (!d) d = std::make_shared<Deflater>();
  if (!d->ok) throw std::runtime_error("deflateInit2 failed");
  std::vector<std::uint8_t> out(message.size() + message.size() / 2 + 64);
  d->z.next_in = const_cast<Bytef*>(message.data());  // NOLINT(cppcoreguidelines-pro-type-const-cast): zlib's API
  d->z.avail_in = static_cast<uInt>(message.size());
  std::size_t made = 0;
  do {
    if (made == out.size()) out.resize(out.size() * 2);
    d->z.next_out = out.data() + made;
    d->z.avail_out = static_cast<uInt>(out.size() - made);
    if (deflate(&d->z, Z_SYNC_FLUSH) == Z_STREAM_ERROR) throw std::runtime_error("deflate failed");
    made = out.size() - d->z.avail_out;
  } while (d->z.avail_out == 0);
  out.resize(made >= 4 ? made - 4 : made);  // the 00 00 FF FF of the flush
  return out;
}

// One write's bytes in WebSocket binary frames (RFC 6455 5.2): client frames masked; a third of the writes cut
// in two at a random byte, as a fragmented message (binary + continuation) or as two messages; with
// --websocket-deflate each message compressed (RSV1 on its first frame).
std::vector<std::uint8_t> Client::ws_wrap(bool from_client, std::span<const std::uint8_t> data) {
  std::vector<std::uint8_t> out;
  const bool deflate = g_.opts().deflate;
  auto frame = [&](std::span<const std::uint8_t> payload, bool fin, std::uint8_t opcode) {
    const bool rsv1 = deflate && opcode != 0;
    out.push_back(static_cast<std::uint8_t>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode));
    const std::uint8_t m = from_client ? 0x80 : 0;
    const std::uint64_t n = payload.size();
    if (n < 126) {
      out.push_back(static_cast<std::uint8_t>(m | n));
    } else if (n <= 0xFFFF) {
      out.insert(out.end(),
                 {static_cast<std::uint8_t>(m | 126), static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
    } else {
      out.push_back(static_cast<std::uint8_t>(m | 127));
      for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
    }
    std::uint8_t key[4] = {0, 0, 0, 0};
    if (from_client) {
      const std::uint64_t k = ws_rng_();
      for (int i = 0; i < 4; ++i) key[i] = static_cast<std::uint8_t>(k >> (8 * i));
      out.insert(out.end(), key, key + 4);
    }
    for (std::size_t i = 0; i < payload.size(); ++i) out.push_back(static_cast<std::uint8_t>(payload[i] ^ key[i & 3]));
  };
  const std::uint64_t roll = ws_rng_();
  if (data.size() >= 2 && roll % 3 == 0) {
    const std::size_t cut = 1 + static_cast<std::size_t>((roll >> 8) % (data.size() - 1));
    const bool fragmented = ((roll >> 40) & 1) != 0;
    if (!deflate) {
      frame(data.subspan(0, cut), !fragmented, 2);
      frame(data.subspan(cut), true, fragmented ? 0 : 2);
    } else if (fragmented) {  // one compressed message over two frames
      const auto z = compress(from_client, data);
      const std::size_t zcut = z.size() / 2;
      frame(std::span(z).subspan(0, zcut), false, 2);
      frame(std::span(z).subspan(zcut), true, 0);
    } else {  // two messages, each compressed
      const auto a = compress(from_client, data.subspan(0, cut));
      frame(a, true, 2);
      const auto b = compress(from_client, data.subspan(cut));
      frame(b, true, 2);
    }
  } else if (deflate) {
    const auto z = compress(from_client, data);
    frame(z, true, 2);
  } else {
    frame(data, true, 2);
  }
  return out;
}

std::uint16_t Client::next_id(bool client_side) {
  std::uint16_t& c = client_side ? cid_ : sid_;
  std::uint16_t id = c;
  c = static_cast<std::uint16_t>(c == 65535 ? 1 : c + 1);
  return id;
}

void Client::enqueue(bool from_client, const mqttauth::Packet& p) {
  Pending q;
  q.from_client = from_client;
  q.type = std::string(mqttauth::packet_name(p));
  q.bytes = mqttauth::encode_or_throw(p, level_);
  queue_.push_back(std::move(q));
}

std::vector<std::uint8_t> Client::payload() {
  Rng& r = g_.rng();
  if (r.maybe(g_.opts().large_ratio)) {
    // 10-64 KB: a JSON-looking prefix, then filler made 8 characters per draw.
    ++g_.counts().large_publishes;
    auto n = static_cast<std::size_t>(r.between(10 * 1024, 64 * 1024));
    std::vector<std::uint8_t> p(n);
    static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    static const char kHead[] = "{\"blob\":\"";
    std::size_t i = 0;
    for (; i < sizeof kHead - 1; ++i) p[i] = static_cast<std::uint8_t>(kHead[i]);
    for (std::uint64_t w = 0; i < n - 2; ++i) {
      if ((i & 7) == 0 || w == 0) w = r.next() | 1;
      p[i] = static_cast<std::uint8_t>(kAlphabet[(w & 0xFF) % (sizeof kAlphabet - 1)]);
      w >>= 8;
    }
    p[n - 2] = '"';
    p[n - 1] = '}';
    return p;
  }
  auto n = static_cast<std::size_t>(r.between(20, 500));
  std::vector<std::uint8_t> p(n);
  // A JSON-looking prefix, then printable filler.
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  char head[48];
  int h = std::snprintf(head, sizeof head, "{\"seq\":%u,\"v\":\"", static_cast<unsigned>(r.below(1000000)));
  std::size_t i = 0;
  for (; i < n && i < static_cast<std::size_t>(h); ++i) p[i] = static_cast<std::uint8_t>(head[i]);
  for (; i < n; ++i) p[i] = static_cast<std::uint8_t>(kAlphabet[r.below(sizeof kAlphabet - 1)]);
  if (n >= 2 && n > static_cast<std::size_t>(h) + 1) {
    p[n - 2] = '"';
    p[n - 1] = '}';
  }
  return p;
}

void Client::publish_flow(bool from_client) {
  Rng& r = g_.rng();
  mqttauth::Publish p;
  auto roll = r.below(10);
  p.qos = static_cast<std::uint8_t>(roll < 5 ? 0 : roll < 8 ? 1 : 2);
  p.retain = r.chance(0.05);
  p.topic = from_client ? (r.chance(0.9) ? topic_up_ : topic_status_) : topic_down_;
  if (p.qos > 0) p.packet_id = next_id(from_client);
  std::vector<std::uint8_t> body = payload();
  p.payload = mqttauth::Bytes(body);
  mqttauth::PropertyBuilder props;
  if (level_ == mqttauth::kLevel5 && r.chance(0.5)) {
    props.add_int(mqttauth::PropertyId::payload_format_indicator, 1);
    if (r.chance(0.5)) props.add_int(mqttauth::PropertyId::message_expiry_interval, 3600);
    if (r.chance(0.3)) props.add_string(mqttauth::PropertyId::content_type, "application/json");
    if (r.chance(0.2)) props.add_user_property("fw", "2.4.1");
    p.properties = props.properties();
  }
  enqueue(from_client, p);
  const bool to = !from_client;
  if (p.qos == 1) {
    mqttauth::Puback a;
    a.packet_id = p.packet_id;
    enqueue(to, a);
  } else if (p.qos == 2) {
    mqttauth::Pubrec rec;
    rec.packet_id = p.packet_id;
    enqueue(to, rec);
    mqttauth::Pubrel rel;
    rel.packet_id = p.packet_id;
    enqueue(from_client, rel);
    mqttauth::Pubcomp comp;
    comp.packet_id = p.packet_id;
    enqueue(to, comp);
  }
}

void Client::refill(std::int64_t ts) {
  Rng& r = g_.rng();
  switch (phase_) {
    case Phase::connect: {
      mqttauth::Connect c;
      c.level = level_;
      c.protocol_name = level_ == mqttauth::kLevel31 ? "MQIsdp" : "MQTT";
      c.clean = r.chance(0.8);
      c.keep_alive = static_cast<std::uint16_t>(r.chance(0.5) ? 60 : 30 * r.between(1, 20));
      if (fault_stage_ != 0) c.keep_alive = 1;
      c.client_id = client_id_;
      mqttauth::PropertyBuilder props;
      std::string user = "user-" + client_id_;
      std::string pass = "pw-" + std::to_string(r.below(100000000));
      std::string will_topic = topic_status_;
      static const char kOffline[] = "offline";
      if (!custom_auth_ && r.chance(0.6)) {
        c.username = user;
        c.password = mqttauth::Bytes::of(pass);
      }
      if (r.chance(0.2)) {
        mqttauth::Will w;
        w.topic = will_topic;
        w.payload = mqttauth::Bytes::of(kOffline);
        w.qos = static_cast<std::uint8_t>(r.below(2));
        w.retain = r.chance(0.5);
        c.will = w;
      }
      static const char kMethod[] = "HMAC-SHA256";
      if (level_ == mqttauth::kLevel5) {
        props.add_int(mqttauth::PropertyId::session_expiry_interval, 300);
        if (r.chance(0.5)) props.add_int(mqttauth::PropertyId::receive_maximum, 20);
        if (v5_auth_) props.add_string(mqttauth::PropertyId::authentication_method, kMethod);
        c.properties = props.properties();
      }
      enqueue(true, c);
      if (v5_auth_) {
        // Enhanced authentication: the server's challenge and the device's response in AUTH 0x18 (continue
        // authentication), as the reference device does.
        static const char kHex[] = "0123456789abcdef";
        std::string challenge(32, '0'), response(64, '0');
        for (char& ch : challenge) ch = kHex[r.below(16)];
        for (char& ch : response) ch = kHex[r.below(16)];
        mqttauth::PropertyBuilder cp, rp;
        cp.add_string(mqttauth::PropertyId::authentication_method, kMethod);
        cp.add_binary(mqttauth::PropertyId::authentication_data, mqttauth::Bytes::of(challenge));
        enqueue(false, mqttauth::Auth{0x18, cp.properties()});
        rp.add_string(mqttauth::PropertyId::authentication_method, kMethod);
        rp.add_binary(mqttauth::PropertyId::authentication_data, mqttauth::Bytes::of(response));
        enqueue(true, mqttauth::Auth{0x18, rp.properties()});
        refused_ = r.chance(0.15);
      }
      if (custom_auth_) {
        // The challenge: the server's clock in milliseconds (13 digits), no username; the response: 64 hex
        // digits.
        const bool code15 = r.chance(0.5);
        char stamp[24];
        std::snprintf(stamp, sizeof stamp, "%013llu", static_cast<unsigned long long>(ts / 1'000'000) + 1);
        mqttauth::Authenticate ch;
        ch.code = code15 ? 15 : 0;
        ch.level = level_;
        ch.protocol_name = c.protocol_name;
        ch.client_id = client_id_;
        ch.password = mqttauth::Bytes::of(stamp);
        enqueue(false, ch);
        static const char kHex[] = "0123456789abcdef";
        std::string resp(64, '0');
        for (char& ch2 : resp) ch2 = kHex[r.below(16)];
        mqttauth::Authenticate rs = ch;
        rs.password = mqttauth::Bytes::of(resp);
        enqueue(true, rs);
        (code15 ? g_.counts().authenticate_code15 : g_.counts().authenticate_code0) += 2;
        refused_ = r.chance(0.15);
      }
      mqttauth::Connack ack;
      ack.code = refused_ ? (level_ == mqttauth::kLevel5 ? 0x87 : 5) : 0;
      mqttauth::PropertyBuilder aprops;
      if (level_ == mqttauth::kLevel5 && !refused_) {
        aprops.add_int(mqttauth::PropertyId::topic_alias_maximum, 10);
        if (fault_stage_ == 0) aprops.add_int(mqttauth::PropertyId::server_keep_alive, 60);
        if (v5_auth_) aprops.add_string(mqttauth::PropertyId::authentication_method, kMethod);
        ack.properties = aprops.properties();
      }
      if (refused_) ++g_.counts().connack_refused;
      enqueue(false, ack);
      phase_ = refused_ ? Phase::fin : Phase::subscribe;
      break;
    }
    case Phase::subscribe: {
      mqttauth::Subscribe s;
      s.packet_id = next_id(true);
      std::string all = "devices/" + client_id_ + "/#";
      s.subscriptions.push_back({topic_down_, static_cast<std::uint8_t>(r.below(3))});
      if (r.chance(0.3)) s.subscriptions.push_back({"broadcast/+/config", 1});
      if (r.chance(0.1)) s.subscriptions.push_back({all, 0});
      enqueue(true, s);
      std::vector<std::uint8_t> codes;
      codes.reserve(s.subscriptions.size());
      for (const auto& sub : s.subscriptions) codes.push_back(sub.qos());
      mqttauth::Suback sa;
      sa.packet_id = s.packet_id;
      sa.codes = mqttauth::Bytes(codes);
      enqueue(false, sa);
      phase_ = Phase::traffic;
      break;
    }
    case Phase::traffic: {
      if (fault(ts)) break;
      if (publishes_left_ == 0 || g_.stopping()) {
        phase_ = Phase::closing;
        refill(ts);
        return;
      }
      auto roll = r.below(100);
      if (roll < 4) {
        enqueue(true, mqttauth::Pingreq{});
        enqueue(false, mqttauth::Pingresp{});
      } else if (roll < 14) {
        publish_flow(false);  // a command to the device
        --publishes_left_;
      } else {
        // A burst of telemetry: several publishes queued back to back (coalesced on the wire when the
        // flows are QoS 0).
        auto n = std::min<unsigned>(publishes_left_, static_cast<unsigned>(r.between(1, 4)));
        for (unsigned j = 0; j < n; ++j) publish_flow(true);
        publishes_left_ -= n;
      }
      break;
    }
    case Phase::closing: {
      if (r.chance(0.1)) {
        mqttauth::Unsubscribe u;
        u.packet_id = next_id(true);
        u.filters.push_back(topic_down_);
        enqueue(true, u);
        mqttauth::Unsuback ua;
        ua.packet_id = u.packet_id;
        static const std::uint8_t kOk[] = {0};
        if (level_ == mqttauth::kLevel5) ua.codes = mqttauth::Bytes(kOk, 1);
        enqueue(false, ua);
      }
      enqueue(true, mqttauth::Pingreq{});
      enqueue(false, mqttauth::Pingresp{});
      enqueue(true, mqttauth::Disconnect{});
      phase_ = Phase::fin;
      break;
    }
    case Phase::fin:
    case Phase::done: break;
  }
}

// --keep-alive-faults, on a connection whose keep-alive is 1 s: the client falls silent for 2.7 s (more than
// 1.5 x its keep-alive and the second of grace), the server sends a command in the silence (it should have
// closed), the client's PINGREQ then comes late; its next PINGREQ is never answered, the one after is.
// True when it queued packets or is silent.
bool Client::fault(std::int64_t ts) {
  switch (fault_stage_) {
    case 1:
      fault_stage_ = 2;
      sleep_until_ = ts + 2'700'000'000;
      return true;
    case 2: {
      if (ts < sleep_until_) return true;
      mqttauth::Publish cmd;
      cmd.topic = topic_down_;
      cmd.payload = mqttauth::Bytes::of("ping?");
      enqueue(false, cmd);
      enqueue(true, mqttauth::Pingreq{});
      enqueue(false, mqttauth::Pingresp{});
      fault_stage_ = 3;
      return true;
    }
    case 3:
      enqueue(true, mqttauth::Pingreq{});  // never answered
      fault_stage_ = 4;
      return true;
    case 4:
      fault_stage_ = 5;  // one round of ordinary traffic in between
      return false;
    case 5:
      enqueue(true, mqttauth::Pingreq{});
      enqueue(false, mqttauth::Pingresp{});
      fault_stage_ = 6;
      return true;
    default: return false;
  }
}

std::int64_t Client::step(std::int64_t ts) {
  if (!handshake_done_) {
    conv_->handshake(ts);
    handshake_done_ = true;
    ++g_.counts().connections;
    if (g_.opts().websocket) {  // the opening handshake (RFC 6455 4), right after TCP's
      const std::string ext = g_.opts().deflate ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "";
      const std::string request =
          "GET /mqtt HTTP/1.1\r\nHost: broker\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
          "Sec-WebSocket-Protocol: mqtt\r\n" +
          ext + "\r\n";
      const std::string response =
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n" +
          ext + "\r\n";
      conv_->send(true, std::span(reinterpret_cast<const std::uint8_t*>(request.data()), request.size()), ts + 1000,
                  kMss);
      conv_->send(false, std::span(reinterpret_cast<const std::uint8_t*>(response.data()), response.size()), ts + 2000,
                  kMss);
    }
    return 3000;
  }
  if (queue_.empty()) refill(ts);
  if (queue_.empty()) {
    if (fault_stage_ == 2) return 3000;  // silent
    if (phase_ == Phase::fin) {
      conv_->close(ts);
      phase_ = Phase::done;
    }
    return 3000;
  }
  // A write: the first queued packet, plus the following ones from the same side now and then (a burst),
  // kept within one MSS unless segment splitting is on.
  Rng& r = g_.rng();
  const bool from_client = queue_.front().from_client;
  std::vector<const Pending*> burst{&queue_.front()};
  std::size_t total = queue_.front().bytes.size();
  const std::size_t limit = g_.opts().segment_split ? 4 * kMss : kMss;
  for (std::size_t j = 1; j < queue_.size() && queue_[j].from_client == from_client && r.chance(0.6); ++j) {
    if (total + queue_[j].bytes.size() > limit) break;
    total += queue_[j].bytes.size();
    burst.push_back(&queue_[j]);
  }
  std::int64_t took = send(from_client, burst, ts);
  for (const Pending* p : burst) ++g_.counts().by_type[p->type];
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(burst.size()));
  return took;
}

std::int64_t Client::send(bool from_client, const std::vector<const Pending*>& burst, std::int64_t ts) {
  std::vector<std::uint8_t> data;
  std::size_t total = 0;
  for (const Pending* p : burst) total += p->bytes.size();
  data.resize(total);
  std::vector<std::size_t> starts;
  starts.reserve(burst.size());
  std::size_t at = 0;
  for (const Pending* p : burst) {
    starts.push_back(at);
    std::copy(p->bytes.begin(), p->bytes.end(), data.begin() + static_cast<std::ptrdiff_t>(at));
    at += p->bytes.size();
  }

  if (g_.opts().websocket) {
    const std::vector<std::uint8_t> framed = ws_wrap(from_client, data);
    conv_->send(from_client, framed, ts, kMss);
    return 10'000 * static_cast<std::int64_t>((framed.size() + kMss - 1) / kMss);
  }
  // Where this write is cut into segments (beyond the MSS cuts TcpConversation makes itself).
  std::vector<std::size_t> cuts;
  if (g_.opts().segment_split) {
    Rng& r = g_.rng();
    Counts& c = g_.counts();
    for (std::size_t k = 0; k < burst.size(); ++k) {
      if (!r.chance(0.25)) continue;
      const std::size_t s = starts[k];
      const auto& b = burst[k]->bytes;
      // The remaining-length field is b[1..]: its length is 1 + the number of continuation bytes.
      std::size_t rl = 1;
      while (1 + rl < b.size() && (b[rl] & 0x80u)) ++rl;
      auto kind = r.below(3);
      if (kind == 1 && rl >= 2) {
        cuts.push_back(s + 1 + static_cast<std::size_t>(r.between(1, rl - 1)));  // inside the length field
        ++c.split_in_remaining_length;
      } else if (kind == 2 && b.size() > 1 + rl + 1) {
        cuts.push_back(s + 1 + rl + static_cast<std::size_t>(r.between(1, b.size() - rl - 2)));  // in the body
        ++c.split_in_body;
      } else if (b.size() > 1) {
        cuts.push_back(s + 1);  // after the first byte of the fixed header
        ++c.split_in_fixed_header;
      }
    }
  }
  cuts.push_back(total);
  std::int64_t took = 0;
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    if (cut <= from) continue;
    std::span<const std::uint8_t> piece(data.data() + from, cut - from);
    conv_->send(from_client, piece, ts + took, kMss);
    took += 10'000 * static_cast<std::int64_t>((piece.size() + kMss - 1) / kMss);
    from = cut;
  }
  return took;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_args(argc, argv);
  try {
    Generator g(o);
    return g.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqttauth_synth: %s\n", e.what());
    return 1;
  }
}
