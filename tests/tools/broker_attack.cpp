// The broker under attack (not a test): one attack at a time against a broker on loopback, while a well-behaved
// device keeps performing the custom handshake (CONNECT -> authenticate challenge -> HMAC response -> CONNACK 0)
// and its handshake latency is measured, first alone (the baseline), then under the attack.
//
//   # start a fresh `mqttauth broker --auth custom` for each attack (secrets written by the tool):
//   mqttauth_broker_attack --broker build/release/cli/mqttauth --attack all --seconds 10
//   mqttauth_broker_attack --broker build/release/cli/mqttauth --attack slow --broker-arg --max-connections=2048
//   # or attack a broker started by hand (give its secrets: the device's and, for halfopen, attacker ids):
//   mqttauth_broker_attack --to 127.0.0.1:1883 --broker-pid PID --client-id dev --secret S --attack bruteforce
//
// Attacks (--attack, or `all` for every one in turn, each against a fresh broker with --broker):
//   none         the baseline: the device alone
//   malformed    a flood of connections sending garbage and malformed MQTT packets (some close at once, some
//                wait for the broker's close, some never close their side)
//   oversized    fixed headers announcing --announce bytes (268,435,455) and then dribbling bytes
//   slow         slowloris: a CONNECT sent one byte every --dribble-ms (2 s)
//   halfopen     connections that send nothing; with attacker credentials also --subscribers clients that
//                subscribe to a busy topic (--publish-rate messages/s of --payload bytes) and never read
//   silent-auth  connections that send CONNECT and never answer the challenge (one in ten with the device's id)
//   bruteforce   wrong responses as fast as the broker answers, half for the device's client id, half for others
//
// Attacker connections come from 127.0.0.2 ... (--sources addresses; the device uses 127.0.0.1) so that limits
// per address can be told apart. The report: the device's handshake latency (median, p99, max) and failures
// before and during the attack, the attacker's connections (most open at once, opened in all), the attack's
// rate, the broker's peak resident memory and open file descriptors (sampled from /proc when its PID is known)
// and whether it survived (alive, the device served after the attack, a clean exit on SIGTERM when spawned).
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "broker_process.hpp"
#include "mqttauth/codec.hpp"
#include "mqttauth/framer.hpp"
#include "mqttauth/verify.hpp"
#include "netparse.hpp"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

using namespace mqttauth;
using Clock = std::chrono::steady_clock;
using Buf = std::vector<std::uint8_t>;
using asio::awaitable;
using asio::ip::tcp;

namespace {

const std::vector<std::string> kAttacks = {"none",     "malformed",   "oversized", "slow",
                                           "halfopen", "silent-auth", "bruteforce"};

struct Options {
  std::string to;                        // HOST:PORT of a running broker
  int broker_pid = 0;                    // its PID (for /proc sampling), 0 = unknown
  std::string broker_bin;                // spawn `BIN broker ...` instead
  std::vector<std::string> broker_args;  // extra arguments for the spawned broker
  long broker_nofile = 0;                // RLIMIT_NOFILE of the spawned broker (0 = this tool's)
  std::string attack = "all";
  double seconds = 10;   // each attack
  double baseline = 3;   // the device alone first
  long connections = 0;  // attacker connections at once (0 = the attack's default)
  int sources = 8;       // attacker source addresses 127.0.0.2 ...
  std::string client_id = "device-good";
  std::string secret = "good-secret";
  std::string attacker_secret;  // secret of attacker-0 ... (halfopen subscribers); spawned: generated
  long attacker_ids = 64;       // attacker-0 .. attacker-(N-1) in the spawned broker's secrets
  long subscribers = 50;        // halfopen: non-reading subscribers (needs attacker credentials)
  long publish_rate = 2000;     // halfopen: messages/s to the busy topic
  long payload = 1024;          // halfopen: bytes per message
  long announce = 268435455;    // oversized: the remaining length announced
  long dribble_bytes = 1;       // oversized: bytes sent per --dribble-ms
  long dribble_ms = 0;          // slow / oversized: pause between dribbles (0 = 2000 / 1000)
  long interval_ms = 50;        // the device: pause between handshakes
  double timeout = 5;           // the device: a handshake not done in this long failed
};

// ---------------------------------------------------------------------------------------------------------
// Packets shared by the device and the attackers.

Buf connect_bytes(const std::string& id) {
  Connect c;
  c.level = kLevel311;
  c.clean = true;
  c.keep_alive = 60;
  c.client_id = id;
  return encode_or_throw(c, kLevel311);
}

// The answer to a challenge: the authenticate packet (same code) carrying `response`.
Buf response_bytes(const Authenticate& challenge, const std::string& id, const std::string& response) {
  Authenticate out;
  out.code = challenge.code;
  out.client_id = id;
  out.password = Bytes::of(response);
  return encode_or_throw(out, kLevel311);
}

std::optional<Packet> decode_from_broker(const Buf& b) {
  auto d = decode(b, DecodeContext{kLevel311, Dialect::auto_detect, {}, false});
  if (!d) return std::nullopt;
  return d->packet;
}

std::string challenge_of(const Authenticate& a) {
  return std::string(a.password ? a.password->as_chars() : std::string_view{});
}

bool parse_host_port(const std::string& hp, tcp::endpoint& out) {
  std::string host;
  std::uint16_t port = 0;
  if (!mqttauth::cli::split_host_port(hp, host, port)) return false;
  if (host == "localhost") host = "127.0.0.1";
  asio::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return false;
  out = tcp::endpoint(addr, port);
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// The well-behaved device: its own thread, blocking sockets with poll() deadlines, one handshake after the
// other with --interval-ms between them.

struct Sample {
  bool ok = false;
  double ms = 0;          // connect() to CONNACK 0
  double connect_ms = 0;  // of which the TCP connect (the listen queue, accept)
  const char* why = "";   // failure: connect, closed, timeout, refused, protocol
};

class GoodDevice {
 public:
  GoodDevice(const Options& o, const tcp::endpoint& to) : o_(o), to_(to) {}
  ~GoodDevice() { stop(); }

  void start() {
    thread_ = std::thread([this] {
      while (!stop_) {
        Sample s = handshake();
        {
          std::lock_guard<std::mutex> lock(mu_);
          samples_.push_back(s);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(o_.interval_ms));
      }
    });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // The samples since the last call.
  std::vector<Sample> take() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Sample> out;
    out.swap(samples_);
    return out;
  }

  Sample handshake() {
    Sample s;
    auto t0 = Clock::now();
    auto deadline = t0 + std::chrono::milliseconds(static_cast<long>(o_.timeout * 1000));
    auto left_ms = [&] {
      return static_cast<int>(
          std::max<long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
    };
    int fd = socket(to_.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return s.why = "connect", s;
    struct Closer {
      int fd;
      ~Closer() { close(fd); }
    } closer{fd};
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, to_.data(), static_cast<socklen_t>(to_.size())) != 0 && errno != EINPROGRESS)
      return s.why = "connect", s;
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    if (poll(&p, 1, left_ms()) <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
      return s.why = err ? "connect" : "timeout", s;
    s.connect_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();

    Framer framer;
    Buf chunk(65536), frame;
    // The next whole packet, or a failure reason.
    auto next = [&](const char*& why) -> bool {
      for (;;) {
        FrameEvent ev = framer.next();
        if (ev.kind == FrameEvent::Kind::frame) {
          frame.assign(ev.frame.bytes.begin(), ev.frame.bytes.end());
          return true;
        }
        if (ev.kind != FrameEvent::Kind::need_more) return why = "protocol", false;
        pollfd r{fd, POLLIN, 0};
        int w = left_ms();
        if (w == 0 || poll(&r, 1, w) <= 0) return why = "timeout", false;
        ssize_t n = recv(fd, chunk.data(), chunk.size(), 0);
        if (n <= 0) return why = "closed", false;
        framer.push(std::span<const std::uint8_t>(chunk.data(), static_cast<std::size_t>(n)));
      }
    };
    auto send_all = [&](const Buf& b) {
      std::size_t off = 0;
      while (off < b.size()) {
        ssize_t n = send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
        if (n > 0) {
          off += static_cast<std::size_t>(n);
          continue;
        }
        if (n < 0 && errno == EAGAIN) {
          pollfd w{fd, POLLOUT, 0};
          if (poll(&w, 1, left_ms()) > 0) continue;
        }
        return false;
      }
      return true;
    };
    if (!send_all(connect_bytes(o_.client_id))) return s.why = "closed", s;
    for (;;) {
      const char* why = "";
      if (!next(why)) return s.why = why, s;
      auto pkt = decode_from_broker(frame);
      if (!pkt) return s.why = "protocol", s;
      if (auto* a = std::get_if<Authenticate>(&*pkt)) {
        auto resp = hmac_sha256_hex(o_.secret, challenge_of(*a));
        if (!send_all(response_bytes(*a, o_.client_id, resp))) return s.why = "closed", s;
        continue;
      }
      auto* ack = std::get_if<Connack>(&*pkt);
      if (!ack) return s.why = "protocol", s;
      if (ack->code != 0) return s.why = "refused", s;
      s.ok = true;
      s.ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      send_all(encode_or_throw(Disconnect{}, kLevel311));
      return s;
    }
  }

 private:
  const Options& o_;
  tcp::endpoint to_;
  std::thread thread_;
  std::atomic<bool> stop_ = false;
  std::mutex mu_;
  std::vector<Sample> samples_;
};

struct Quantiles {
  double median = 0, p99 = 0, max = 0;
};
Quantiles quantiles(std::vector<double> v) {
  Quantiles q;
  if (v.empty()) return q;
  std::sort(v.begin(), v.end());
  auto at = [&](double f) {
    return v[std::min(v.size() - 1, static_cast<std::size_t>(f * static_cast<double>(v.size())))];
  };
  q.median = at(0.5);
  q.p99 = at(0.99);
  q.max = v.back();
  return q;
}

struct LatencySummary {
  std::size_t ok = 0, failed = 0;
  Quantiles handshake, connect;  // of the handshakes that succeeded
  std::string failures;          // "closed 3, timeout 1"
};

LatencySummary summarize(const std::vector<Sample>& samples) {
  LatencySummary out;
  std::vector<double> ms, connect_ms;
  std::vector<std::pair<std::string, int>> why;
  for (const auto& s : samples) {
    if (s.ok) {
      ms.push_back(s.ms);
      connect_ms.push_back(s.connect_ms);
      continue;
    }
    ++out.failed;
    auto it = std::find_if(why.begin(), why.end(), [&](const auto& w) { return w.first == s.why; });
    if (it == why.end())
      why.emplace_back(s.why, 1);
    else
      ++it->second;
  }
  out.ok = ms.size();
  for (const auto& [w, n] : why) out.failures += (out.failures.empty() ? "" : ", ") + w + " " + std::to_string(n);
  out.handshake = quantiles(std::move(ms));
  out.connect = quantiles(std::move(connect_ms));
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The broker: spawned by the tool, or given by address (and PID).

long proc_status_kb(int pid, const char* key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + std::strlen(key) + 1);
  return -1;
}

long proc_fd_count(int pid) {
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!d) return -1;
  long n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

// Starts `BIN broker --listen 127.0.0.1:0 --auth custom --secrets FILE --quiet ARGS...` with the device's and
// the attackers' secrets written to `dir`, its standard error in `dir`/broker.log.
std::unique_ptr<test::BrokerProcess> spawn_broker(const Options& o, const std::string& dir) {
  std::string secrets = dir + "/secrets";
  {
    std::ofstream f(secrets);
    f << o.client_id << " " << o.secret << "\n";
    for (long i = 0; i < o.attacker_ids; ++i) f << "attacker-" << i << " " << o.attacker_secret << "\n";
  }
  std::vector<std::string> args = {"--auth", "custom", "--secrets", secrets, "--quiet"};
  args.insert(args.end(), o.broker_args.begin(), o.broker_args.end());
  return std::make_unique<test::BrokerProcess>(o.broker_bin, args, dir + "/broker.log", o.broker_nofile);
}

// ---------------------------------------------------------------------------------------------------------
// The attacks: Asio coroutines on one io_context (its own thread), one per attacker connection slot. Each
// loops: connect, misbehave, notice the broker's close, connect again. Destroying the io_context ends them.

struct Counters {
  std::atomic<long> connects = 0;  // TCP connections established
  std::atomic<long> connect_failures = 0;
  std::atomic<long> open = 0;  // established and not yet seen closed
  std::atomic<long> peak_open = 0;
  std::atomic<long> closed_by_broker = 0;
  std::atomic<long> guesses_device = 0;    // bruteforce: wrong responses answered, for the device's id
  std::atomic<long> guesses_other = 0;     //             ... for other ids
  std::atomic<long> guesses_accepted = 0;  //             a wrong response accepted (must stay 0)
  std::atomic<long> subscribed = 0;        // halfopen: non-reading subscribers that got their SUBACK
  std::atomic<long> published = 0;         // halfopen: messages sent to the busy topic
};

// One established attacker connection (counts open connections while alive).
class OpenGuard {
 public:
  explicit OpenGuard(Counters& k) : k_(k) {
    ++k_.connects;
    long now = ++k_.open;
    long peak = k_.peak_open.load();
    while (now > peak && !k_.peak_open.compare_exchange_weak(peak, now)) {
    }
  }
  ~OpenGuard() { --k_.open; }
  OpenGuard(const OpenGuard&) = delete;
  OpenGuard& operator=(const OpenGuard&) = delete;

 private:
  Counters& k_;
};

auto use_ec(asio::error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

awaitable<void> sleep_ms(long ms) {
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
  asio::error_code ec;
  co_await t.async_wait(use_ec(ec));
}

// Whether the broker closed the connection (FIN or RST), without reading from it.
bool peer_closed(tcp::socket& s) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (getsockopt(s.native_handle(), IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return true;
  return ti.tcpi_state != TCP_ESTABLISHED;
}

// Waits `ms`, looking every 200 ms whether the broker closed the connection (then false at once), so that
// the attacker's count of open connections follows the broker's closes closely.
awaitable<bool> pause_while_open(tcp::socket& s, long ms) {
  for (long waited = 0; waited < ms; waited += 200) {
    if (peer_closed(s)) co_return false;
    co_await sleep_ms(std::min(200L, ms - waited));
  }
  co_return !peer_closed(s);
}

class Attacker {
 public:
  Attacker(asio::io_context& io, const Options& o, const tcp::endpoint& to, Counters& k)
      : io_(io), o_(o), to_(to), k_(k) {
    // Loopback v4 target: attacker connections from 127.0.0.2, 127.0.0.3, ... (not the device's 127.0.0.1).
    if (to.address().is_v4() && to.address().to_v4().to_bytes()[0] == 127)
      for (int i = 0; i < o.sources; ++i)
        sources_.push_back(asio::ip::address_v4(0x7F000002u + static_cast<std::uint32_t>(i)));
  }

  // Starts `n` connection slots of an attack (plus its helpers).
  void start(const std::string& attack, long n) {
    if (attack == "halfopen" && subscriber_slots() > 0) spawn(publisher());
    for (long i = 0; i < n; ++i) {
      if (attack == "malformed")
        spawn(malformed(i));
      else if (attack == "oversized")
        spawn(oversized(i));
      else if (attack == "slow")
        spawn(slow(i));
      else if (attack == "silent-auth")
        spawn(silent_auth(i));
      else if (attack == "bruteforce")
        spawn(bruteforce(i));
      else if (attack == "halfopen")
        spawn(i < subscriber_slots() ? deaf_subscriber(i) : send_nothing());
    }
  }
  long subscriber_slots() const {
    return o_.attacker_secret.empty() ? 0 : std::min(o_.subscribers, o_.attacker_ids - 1);
  }

 private:
  void spawn(awaitable<void> a) { asio::co_spawn(io_, std::move(a), asio::detached); }

  // Connects `s` from the slot's source address; false (after a short pause) when it fails.
  awaitable<bool> dial(tcp::socket& s, long slot, int rcvbuf = 0) {
    asio::error_code ec;
    s.open(to_.protocol(), ec);
    if (!ec && rcvbuf > 0) s.set_option(asio::socket_base::receive_buffer_size(rcvbuf), ec);
    if (!ec && !sources_.empty()) {
      int one = 1;
      setsockopt(s.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      s.bind(tcp::endpoint(sources_[static_cast<std::size_t>(slot) % sources_.size()], 0), ec);
    }
    if (!ec) co_await s.async_connect(to_, use_ec(ec));
    if (ec == asio::error::connection_reset) {
      // Accepted and reset (refused, or closed for a newcomer) before the connect was reported.
      ++k_.connects;
      ++k_.closed_by_broker;
    } else if (ec) {
      ++k_.connect_failures;
    }
    if (ec) {
      bool reset = ec == asio::error::connection_reset;
      s.close(ec);
      if (!reset) co_await sleep_ms(20);
      co_return false;
    }
    asio::error_code ignored;  // already reset by the broker: the first read or write sees it
    s.set_option(tcp::no_delay(true), ignored);
    co_return true;
  }

  static awaitable<bool> send(tcp::socket& s, const Buf& b) {
    asio::error_code ec;
    co_await asio::async_write(s, asio::buffer(b), use_ec(ec));
    co_return !ec;
  }

  // Reads (and discards) until the broker closes; counts the close.
  awaitable<void> read_until_closed(tcp::socket& s) {
    std::array<std::uint8_t, 4096> buf{};
    asio::error_code ec;
    while (!ec) co_await s.async_read_some(asio::buffer(buf), use_ec(ec));
    ++k_.closed_by_broker;
  }

  // The next whole packet from the broker (false on close).
  struct Reader {
    Framer framer;
    std::array<std::uint8_t, 4096> buf{};
    Buf frame;
  };
  static awaitable<bool> next_packet(tcp::socket& s, Reader& r) {
    for (;;) {
      FrameEvent ev = r.framer.next();
      if (ev.kind == FrameEvent::Kind::frame) {
        r.frame.assign(ev.frame.bytes.begin(), ev.frame.bytes.end());
        co_return true;
      }
      if (ev.kind != FrameEvent::Kind::need_more) co_return false;
      asio::error_code ec;
      std::size_t n = co_await s.async_read_some(asio::buffer(r.buf), use_ec(ec));
      if (ec) co_return false;
      r.framer.push(std::span<const std::uint8_t>(r.buf.data(), n));
    }
  }

  // The custom handshake with attacker credentials; true on CONNACK 0.
  awaitable<bool> handshake(tcp::socket& s, Reader& r, const std::string& id) {
    if (!co_await send(s, connect_bytes(id))) co_return false;
    for (;;) {
      if (!co_await next_packet(s, r)) co_return false;
      auto p = decode_from_broker(r.frame);
      if (!p) co_return false;
      if (auto* a = std::get_if<Authenticate>(&*p)) {
        if (!co_await send(s, response_bytes(*a, id, hmac_sha256_hex(o_.attacker_secret, challenge_of(*a)))))
          co_return false;
        continue;
      }
      auto* ack = std::get_if<Connack>(&*p);
      co_return ack && ack->code == 0;
    }
  }

  // Garbage and malformed packets, by kind.
  static Buf malformed_bytes(std::mt19937& rng, long kind) {
    auto random_bytes = [&](std::size_t n) {
      Buf b(n);
      for (auto& x : b) x = static_cast<std::uint8_t>(rng());
      return b;
    };
    switch (kind % 8) {
      case 0: return random_bytes(1 + rng() % 512);         // noise
      case 1: return {0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F};  // remaining length over 4 bytes
      case 2: {                                             // CONNECT, protocol level 9
        Buf b = connect_bytes("malformed");
        b[8] = 9;
        return b;
      }
      case 3:
        return {0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0xFF, 0xFF};  // id past the end
      case 4: {  // PUBLISH before CONNECT
        Publish p;
        p.topic = "a";
        p.payload = Bytes::of("x");
        return encode_or_throw(p, kLevel311);
      }
      case 5: return {0x12, 0x00, 0xF0, 0x00};  // CONNECT with flags, empty type 15
      case 6: {                                 // CONNECT, then noise as the response
        Buf b = connect_bytes("malformed");
        Buf n = random_bytes(64);
        b.insert(b.end(), n.begin(), n.end());
        return b;
      }
      default: return random_bytes(65536);  // 64 KiB of noise
    }
  }

  // Slots take turns: one in three closes at once after sending (the fastest flood), one reads until the
  // broker closes, one never closes its side and stops reading (the broker's drain after a close runs in full).
  awaitable<void> malformed(long slot) {
    std::mt19937 rng(static_cast<std::uint32_t>(slot));
    for (long round = 0;; ++round) {
      tcp::socket s(io_);
      if (!co_await dial(s, slot)) continue;
      OpenGuard g(k_);
      co_await send(s, malformed_bytes(rng, round + slot));
      if (slot % 3 == 0) continue;
      if (slot % 3 == 1) {
        co_await read_until_closed(s);
        continue;
      }
      co_await sleep_ms(3000);
      if (peer_closed(s)) ++k_.closed_by_broker;
    }
  }

  awaitable<void> oversized(long slot) {
    std::mt19937 rng(static_cast<std::uint32_t>(slot));
    const long pause = o_.dribble_ms > 0 ? o_.dribble_ms : 1000;
    for (;;) {
      tcp::socket s(io_);
      if (!co_await dial(s, slot)) continue;
      OpenGuard g(k_);
      Buf head = {0x10};  // CONNECT
      for (auto len = static_cast<std::uint32_t>(o_.announce);;) {
        auto byte = static_cast<std::uint8_t>(len & 0x7F);
        len >>= 7;
        head.push_back(static_cast<std::uint8_t>(byte | (len ? 0x80 : 0)));
        if (!len) break;
      }
      bool ok = co_await send(s, head);
      Buf dribble(static_cast<std::size_t>(o_.dribble_bytes));
      for (long sent = 0; ok && sent < o_.announce; sent += o_.dribble_bytes) {
        if (!co_await pause_while_open(s, pause)) break;
        for (auto& x : dribble) x = static_cast<std::uint8_t>(rng());
        ok = co_await send(s, dribble);
      }
      ++k_.closed_by_broker;
    }
  }

  awaitable<void> slow(long slot) {
    const long pause = o_.dribble_ms > 0 ? o_.dribble_ms : 2000;
    const Buf connect = connect_bytes("slow-" + std::to_string(slot));
    for (;;) {
      tcp::socket s(io_);
      if (!co_await dial(s, slot)) continue;
      OpenGuard g(k_);
      bool closed = false;
      for (std::size_t i = 0; i < connect.size(); ++i) {
        Buf one(1, connect[i]);
        if (!co_await send(s, one) || !co_await pause_while_open(s, pause)) {
          closed = true;
          break;
        }
      }
      if (closed)
        ++k_.closed_by_broker;
      else
        co_await read_until_closed(s);  // a whole CONNECT after all: the challenge, never answered
    }
  }

  awaitable<void> send_nothing() {
    for (long slot = 0;; ++slot) {
      tcp::socket s(io_);
      if (!co_await dial(s, slot)) continue;
      OpenGuard g(k_);
      co_await read_until_closed(s);
    }
  }

  // Authenticates as attacker-N, subscribes to the busy topic, and never reads again.
  awaitable<void> deaf_subscriber(long slot) {
    const std::string id = "attacker-" + std::to_string(1 + slot);
    for (;;) {
      tcp::socket s(io_);
      if (!co_await dial(s, slot, 4096)) continue;
      OpenGuard g(k_);
      Reader r;
      if (!co_await handshake(s, r, id)) {
        co_await sleep_ms(100);
        continue;
      }
      Subscribe sub;
      sub.packet_id = 1;
      sub.subscriptions.push_back({"attack/busy", 0});
      if (!co_await send(s, encode_or_throw(sub, kLevel311)) || !co_await next_packet(s, r)) continue;
      ++k_.subscribed;
      while (co_await pause_while_open(s, 1000)) {
      }
      ++k_.closed_by_broker;
    }
  }

  // attacker-0 publishes --payload bytes to the busy topic at --publish-rate messages/s.
  awaitable<void> publisher() {
    Buf body(static_cast<std::size_t>(o_.payload), 'x');
    Publish p;
    p.topic = "attack/busy";
    p.payload = Bytes(body);
    const Buf one = encode_or_throw(p, kLevel311);
    const long per_tick = std::max(1L, o_.publish_rate / 100);  // every 10 ms
    Buf batch;
    for (long i = 0; i < per_tick; ++i) batch.insert(batch.end(), one.begin(), one.end());
    for (;;) {
      tcp::socket s(io_);
      if (!co_await dial(s, 0)) continue;
      Reader r;
      if (!co_await handshake(s, r, "attacker-0")) {
        co_await sleep_ms(100);
        continue;
      }
      while (co_await send(s, batch)) {
        k_.published += per_tick;
        co_await sleep_ms(10);
      }
    }
  }

  awaitable<void> silent_auth(long slot) {
    const Buf connect = connect_bytes(slot % 10 == 0 ? o_.client_id : "silent-" + std::to_string(slot));
    for (;;) {
      tcp::socket s(io_);
      if (!co_await dial(s, slot)) continue;
      OpenGuard g(k_);
      if (co_await send(s, connect)) co_await read_until_closed(s);
    }
  }

  awaitable<void> bruteforce(long slot) {
    std::mt19937 rng(static_cast<std::uint32_t>(slot));
    const bool device = slot % 2 == 0;
    const std::string id = device ? o_.client_id : "attacker-" + std::to_string(slot % std::max(1L, o_.attacker_ids));
    for (;;) {
      tcp::socket s(io_);
      if (!co_await dial(s, slot)) continue;
      OpenGuard g(k_);
      Reader r;
      if (!co_await send(s, connect_bytes(id))) continue;
      while (co_await next_packet(s, r)) {
        auto p = decode_from_broker(r.frame);
        if (!p) break;
        if (auto* a = std::get_if<Authenticate>(&*p)) {
          std::string guess(64, '0');
          for (auto& ch : guess) ch = "0123456789abcdef"[rng() % 16];
          if (!co_await send(s, response_bytes(*a, id, guess))) break;
          continue;
        }
        if (auto* ack = std::get_if<Connack>(&*p)) {
          if (ack->code == 0)
            ++k_.guesses_accepted;
          else
            ++(device ? k_.guesses_device : k_.guesses_other);
        }
        break;
      }
    }
  }

  asio::io_context& io_;
  const Options& o_;
  tcp::endpoint to_;
  Counters& k_;
  std::vector<asio::ip::address> sources_;
};

long default_connections(const std::string& attack) {
  if (attack == "malformed") return 256;
  if (attack == "bruteforce") return 64;
  if (attack == "none") return 0;
  return 2000;
}

// ---------------------------------------------------------------------------------------------------------
// One attack: the device alone for --baseline seconds, then with the attack for --seconds, then the device
// alone once more (served after the attack?).

struct Result {
  std::string attack;
  LatencySummary before, during;
  bool served_after = false;
  long peak_open = 0, connects = 0, closed_by_broker = 0, connect_failures = 0;
  std::string rate;  // attack-specific
  long rss_peak_kb = -1, hwm_kb = -1, fds_peak = -1;
  long fds_baseline = -1;  // the broker's descriptors with the device alone
  bool alive = true;
  std::string exit;  // spawned broker: its exit on SIGTERM
};

class Sampler {
 public:
  explicit Sampler(int pid) : pid_(pid) {}
  // Samples the broker every 200 ms for `seconds`.
  void run(double seconds) {
    auto end = Clock::now() + std::chrono::milliseconds(static_cast<long>(seconds * 1000));
    while (Clock::now() < end) {
      sample();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    sample();
  }
  void sample() {
    if (pid_ <= 0) return;
    rss_peak_kb = std::max(rss_peak_kb, proc_status_kb(pid_, "VmRSS:"));
    hwm_kb = std::max(hwm_kb, proc_status_kb(pid_, "VmHWM:"));
    fds_peak = std::max(fds_peak, proc_fd_count(pid_));
  }
  long rss_peak_kb = -1, hwm_kb = -1, fds_peak = -1;

 private:
  int pid_;
};

Result run_attack(const Options& o, const std::string& attack, const tcp::endpoint& to, int pid,
                  const std::function<bool()>& alive) {
  Result res;
  res.attack = attack;
  Sampler sampler(pid);
  GoodDevice device(o, to);
  device.start();
  sampler.run(o.baseline);
  res.before = summarize(device.take());
  res.fds_baseline = sampler.fds_peak;
  sampler.fds_peak = -1;

  Counters k;
  long n = o.connections > 0 ? o.connections : default_connections(attack);
  {
    auto io = std::make_unique<asio::io_context>(1);
    Attacker attacker(*io, o, to, k);
    attacker.start(attack, n);
    std::thread t([&] { io->run(); });
    auto t0 = Clock::now();
    sampler.run(o.seconds);
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    io->stop();
    t.join();
    io.reset();  // ends the attack's coroutines, closing their sockets
    res.during = summarize(device.take());
    res.peak_open = k.peak_open;
    res.connects = k.connects;
    res.closed_by_broker = k.closed_by_broker;
    res.connect_failures = k.connect_failures;
    char buf[200];
    if (attack == "bruteforce") {
      std::snprintf(buf, sizeof buf, "%.0f guesses/s for the device's id, %.0f/s for others; %ld accepted",
                    static_cast<double>(k.guesses_device) / secs, static_cast<double>(k.guesses_other) / secs,
                    k.guesses_accepted.load());
    } else if (attack == "halfopen") {
      std::snprintf(buf, sizeof buf, "%ld subscriptions that never read, %.0f msg/s published", k.subscribed.load(),
                    static_cast<double>(k.published) / secs);
    } else if (attack == "none") {
      buf[0] = 0;
    } else {
      std::snprintf(buf, sizeof buf, "%.0f connections/s", static_cast<double>(k.connects) / secs);
    }
    res.rate = buf;
  }
  // After the attack: the device is served again within a few seconds?
  device.take();
  for (int i = 0; i < 50 && !res.served_after; ++i) {
    sampler.run(0.2);
    for (const auto& s : device.take()) res.served_after = res.served_after || s.ok;
  }
  device.stop();
  res.alive = alive();
  res.rss_peak_kb = sampler.rss_peak_kb;
  res.hwm_kb = sampler.hwm_kb;
  res.fds_peak = sampler.fds_peak;
  return res;
}

std::string fmt_latency(const LatencySummary& s, const Quantiles& q) {
  if (s.ok == 0) return "-";
  char buf[80];
  std::snprintf(buf, sizeof buf, "%.1f / %.1f / %.0f", q.median, q.p99, q.max);
  return buf;
}

std::string fmt_mb(long kb) {
  if (kb < 0) return "?";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", static_cast<double>(kb) / 1024.0);
  return buf;
}

void print_result(const Result& r) {
  std::printf("== %s\n", r.attack.c_str());
  std::printf("  device before: %zu ok, %zu failed; median/p99/max %s ms\n", r.before.ok, r.before.failed,
              fmt_latency(r.before, r.before.handshake).c_str());
  std::printf("  device during: %zu ok, %zu failed%s%s%s; median/p99/max %s ms (TCP connect %s ms)\n", r.during.ok,
              r.during.failed, r.during.failures.empty() ? "" : " (", r.during.failures.c_str(),
              r.during.failures.empty() ? "" : ")", fmt_latency(r.during, r.during.handshake).c_str(),
              fmt_latency(r.during, r.during.connect).c_str());
  std::printf(
      "  attacker: %ld connections (%ld at once at most), %ld seen closed by the broker, %ld connects failed%s%s\n",
      r.connects, r.peak_open, r.closed_by_broker, r.connect_failures, r.rate.empty() ? "" : "; ", r.rate.c_str());
  std::printf(
      "  broker: peak RSS %s MB (VmHWM %s MB), %ld fds at most (%ld with the device alone); %s; device "
      "served after the attack: %s%s%s\n",
      fmt_mb(r.rss_peak_kb).c_str(), fmt_mb(r.hwm_kb).c_str(), r.fds_peak, r.fds_baseline, r.alive ? "alive" : "GONE",
      r.served_after ? "yes" : "NO", r.exit.empty() ? "" : "; ", r.exit.c_str());
  std::fflush(stdout);
}

void print_table(const std::vector<Result>& rs) {
  // "held": the broker's descriptors beyond those with the device alone, i.e. the attacker's connections that
  // it holds (open, or draining after a close) at most.
  std::printf(
      "\n| attack | device alone: median / p99 / max ms | under attack: median / p99 / max ms | under attack: "
      "ok / failed | attacker connections: held by the broker / made | attack rate | broker peak RSS MB | "
      "survived |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | ---: | --- |\n");
  for (const auto& r : rs) {
    bool survived = r.alive && r.served_after && (r.exit.empty() || r.exit == "exit 0");
    std::string held = r.fds_peak < 0 || r.fds_baseline < 0 ? "?" : std::to_string(r.fds_peak - r.fds_baseline);
    std::printf("| %s | %s | %s | %zu / %zu | %s / %ld | %s | %s | %s |\n", r.attack.c_str(),
                fmt_latency(r.before, r.before.handshake).c_str(), fmt_latency(r.during, r.during.handshake).c_str(),
                r.during.ok, r.during.failed, held.c_str(), r.connects, r.rate.empty() ? "-" : r.rate.c_str(),
                fmt_mb(r.rss_peak_kb).c_str(), survived ? "yes" : "NO");
  }
}

void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// The spawned brokers' temporary directory (secrets, log).
void remove_dir(const std::string& dir) {
  if (dir.empty()) return;
  std::remove((dir + "/secrets").c_str());
  std::remove((dir + "/broker.log").c_str());
  rmdir(dir.c_str());
}

int usage() {
  std::fprintf(
      stderr,
      "usage: mqttauth_broker_attack (--broker MQTTAUTH [--broker-arg ARG]... | --to HOST:PORT [--broker-pid PID])\n"
      "         [--attack none|malformed|oversized|slow|halfopen|silent-auth|bruteforce|all] [--seconds 10]\n"
      "         [--baseline 3] [--connections N] [--sources 8] [--client-id ID --secret S]\n"
      "         [--attacker-secret S] [--attacker-ids 64] [--subscribers 50] [--publish-rate 2000]\n"
      "         [--payload 1024] [--announce 268435455] [--dribble-bytes 1] [--dribble-ms MS]\n"
      "         [--interval-ms 50] [--timeout 5] [--broker-nofile N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i += 2) {
    std::string k = argv[i];
    if (i + 1 >= argc) return usage();
    std::string v = argv[i + 1];
    if (k == "--to")
      o.to = v;
    else if (k == "--broker-pid")
      o.broker_pid = std::atoi(v.c_str());
    else if (k == "--broker")
      o.broker_bin = v;
    else if (k == "--broker-arg")
      o.broker_args.push_back(v);
    else if (k == "--broker-nofile")
      o.broker_nofile = std::atol(v.c_str());
    else if (k == "--attack")
      o.attack = v;
    else if (k == "--seconds")
      o.seconds = std::atof(v.c_str());
    else if (k == "--baseline")
      o.baseline = std::atof(v.c_str());
    else if (k == "--connections")
      o.connections = std::atol(v.c_str());
    else if (k == "--sources")
      o.sources = std::max(0, std::atoi(v.c_str()));
    else if (k == "--client-id")
      o.client_id = v;
    else if (k == "--secret")
      o.secret = v;
    else if (k == "--attacker-secret")
      o.attacker_secret = v;
    else if (k == "--attacker-ids")
      o.attacker_ids = std::max(1L, std::atol(v.c_str()));
    else if (k == "--subscribers")
      o.subscribers = std::atol(v.c_str());
    else if (k == "--publish-rate")
      o.publish_rate = std::atol(v.c_str());
    else if (k == "--payload")
      o.payload = std::atol(v.c_str());
    else if (k == "--announce")
      o.announce = std::clamp(std::atol(v.c_str()), 0L, 268435455L);
    else if (k == "--dribble-bytes")
      o.dribble_bytes = std::max(1L, std::atol(v.c_str()));
    else if (k == "--dribble-ms")
      o.dribble_ms = std::atol(v.c_str());
    else if (k == "--interval-ms")
      o.interval_ms = std::atol(v.c_str());
    else if (k == "--timeout")
      o.timeout = std::atof(v.c_str());
    else
      return std::fprintf(stderr, "unknown option %s\n", k.c_str()), usage();
  }
  if (o.broker_bin.empty() == o.to.empty()) return usage();
  std::vector<std::string> attacks;
  if (o.attack == "all")
    attacks = kAttacks;
  else if (std::find(kAttacks.begin(), kAttacks.end(), o.attack) != kAttacks.end())
    attacks = {o.attack};
  else
    return std::fprintf(stderr, "unknown attack %s\n", o.attack.c_str()), usage();
  raise_fd_limit();
  signal(SIGPIPE, SIG_IGN);

  std::string dir;
  if (!o.broker_bin.empty()) {
    if (o.attacker_secret.empty()) o.attacker_secret = "attacker-secret";
    std::string tmpl = (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + std::string("/broker-attack-XXXXXX");
    if (!mkdtemp(tmpl.data())) return std::fprintf(stderr, "cannot create a temporary directory\n"), 2;
    dir = tmpl;
  }
  std::vector<Result> results;
  for (const auto& attack : attacks) {
    std::unique_ptr<test::BrokerProcess> proc;
    tcp::endpoint to;
    int pid = o.broker_pid;
    if (!o.broker_bin.empty()) {
      proc = spawn_broker(o, dir);
      if (proc->address.empty()) {
        std::string how = proc->stop();
        std::fprintf(stderr, "the broker did not start (%s): %s\n", how.c_str(), proc->log_text().c_str());
        remove_dir(dir);
        return 1;
      }
      pid = proc->pid;
      parse_host_port(proc->address, to);
    } else if (!parse_host_port(o.to, to)) {
      return std::fprintf(stderr, "bad --to %s\n", o.to.c_str()), 2;
    }
    auto alive = [&] {
      if (proc) return proc->alive();
      return pid <= 0 || kill(pid, 0) == 0;
    };
    Result r = run_attack(o, attack, to, pid, alive);
    if (proc) {
      r.exit = proc->stop();
      if (r.exit != "exit 0") std::printf("  broker log:\n%s\n", proc->log_text().c_str());
    }
    print_result(r);
    results.push_back(r);
  }
  remove_dir(dir);
  print_table(results);
  bool all_survived = std::all_of(results.begin(), results.end(), [](const Result& r) {
    return r.alive && r.served_after && (r.exit.empty() || r.exit == "exit 0");
  });
  return all_survived ? 0 : 1;
}
