// Broker benchmark on loopback (not a test): QoS 0 messages per second from one publisher to one subscriber
// through a broker, and handshakes per second (plain, or with the custom challenge-response).
//
//   mqttauth_broker_bench --to 127.0.0.1:1883 --messages 1000000 --payload 16
//   mqttauth_broker_bench --to 127.0.0.1:1883 --handshakes 2000 [--client-id ID --secret S]
//   mqttauth_broker_bench --to 127.0.0.1:1883 --guess 10 [--threads N] [--client-id ID]
//
// --guess SECONDS plays an online guessing attacker against the custom handshake: new connections with client
// id ID, each challenge answered with a wrong response, for SECONDS (N threads at once); it counts the
// challenges answered (guesses) and the refusals that came without a challenge (a brute-force limit).
//
// Works against any MQTT 3.1.1 broker (mosquitto too); the custom handshake needs one that speaks it.
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mqttauth/codec.hpp"
#include "mqttauth/framer.hpp"
#include "mqttauth/verify.hpp"

using namespace mqttauth;
using Clock = std::chrono::steady_clock;

namespace {

int dial(const std::string& hp) {
  auto c = hp.rfind(':');
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (c == std::string::npos || getaddrinfo(hp.substr(0, c).c_str(), hp.substr(c + 1).c_str(), &hints, &res) != 0)
    return -1;
  int fd = socket(res->ai_family, SOCK_STREAM, 0);
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

bool send_all(int fd, const std::vector<std::uint8_t>& b) {
  std::size_t off = 0;
  while (off < b.size()) {
    ssize_t n = send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads until one whole packet arrives (or the timeout); returns its bytes.
struct Reader {
  explicit Reader(int d) : fd(d) {}
  int fd;
  Framer f;
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(1 << 20);
  std::vector<std::uint8_t> last;
  bool next(int timeout_ms) {
    for (;;) {
      FrameEvent ev = f.next();
      if (ev.kind == FrameEvent::Kind::frame) {
        last.assign(ev.frame.bytes.begin(), ev.frame.bytes.end());
        return true;
      }
      if (ev.kind != FrameEvent::Kind::need_more) return false;
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, timeout_ms) <= 0) return false;
      ssize_t n = recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) return false;
      f.push(std::span<const std::uint8_t>(buf.data(), static_cast<std::size_t>(n)));
    }
  }
};

Connect connect_packet(const std::string& id) {
  Connect c;
  c.level = kLevel311;
  c.clean = true;
  c.keep_alive = 60;
  c.client_id = id;
  return c;
}

// CONNECT, [challenge-response], CONNACK 0.
bool handshake(int fd, Reader& r, const std::string& id, const std::string& secret) {
  if (!send_all(fd, encode_or_throw(connect_packet(id), 4))) return false;
  for (;;) {
    if (!r.next(5000)) return false;
    auto d = decode(r.last, DecodeContext{4, Dialect::auto_detect, {}, false});
    if (!d) return false;
    if (auto* a = std::get_if<Authenticate>(&d->packet)) {
      std::string challenge(a->password ? a->password->as_chars() : std::string_view{});
      std::string resp = hmac_sha256_hex(secret, challenge);
      Authenticate out;
      out.code = a->code;
      out.client_id = id;
      out.password = Bytes::of(resp);
      if (!send_all(fd, encode_or_throw(out, 4))) return false;
      continue;
    }
    if (auto* c = std::get_if<Connack>(&d->packet)) return c->code == 0;
    return false;
  }
}

// One guessing attempt: CONNECT as `id`, answer the challenge wrongly. Returns 1 when a challenge was answered
// and refused, 0 when refused without a challenge, -1 on anything else (cannot connect, accepted, timeout).
int guess_once(const std::string& to, const std::string& id) {
  int fd = dial(to);
  if (fd < 0) return -1;
  Reader r(fd);
  int out = -1;
  bool answered = false;
  if (send_all(fd, encode_or_throw(connect_packet(id), 4))) {
    while (r.next(5000)) {
      auto d = decode(r.last, DecodeContext{4, Dialect::auto_detect, {}, false});
      if (!d) break;
      if (auto* a = std::get_if<Authenticate>(&d->packet)) {
        Authenticate out_pkt;
        out_pkt.code = a->code;
        out_pkt.client_id = id;
        static const std::string wrong(64, '0');  // never HMAC-SHA256(secret, challenge); the packet views it
        out_pkt.password = Bytes::of(wrong);
        if (!send_all(fd, encode_or_throw(out_pkt, 4))) break;
        answered = true;
        continue;
      }
      if (auto* c = std::get_if<Connack>(&d->packet)) {
        if (c->code != 0) out = answered ? 1 : 0;
      }
      break;
    }
  }
  close(fd);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string to = "127.0.0.1:1883", id = "bench", secret;
  long messages = 0, handshakes = 0, payload = 16, concurrent = 0, threads = 1;
  double guess = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--to")
      to = v;
    else if (k == "--messages")
      messages = std::atol(v.c_str());
    else if (k == "--handshakes")
      handshakes = std::atol(v.c_str());
    else if (k == "--payload")
      payload = std::atol(v.c_str());
    else if (k == "--concurrent")
      concurrent = std::atol(v.c_str());
    else if (k == "--guess")
      guess = std::atof(v.c_str());
    else if (k == "--threads")
      threads = std::max(1L, std::atol(v.c_str()));
    else if (k == "--client-id")
      id = v;
    else if (k == "--secret")
      secret = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (handshakes > 0) {
    auto t0 = Clock::now();
    for (long i = 0; i < handshakes; ++i) {
      int fd = dial(to);
      if (fd < 0) return std::fprintf(stderr, "cannot connect to %s\n", to.c_str()), 2;
      Reader r(fd);
      std::string cid = secret.empty() ? id + "-" + std::to_string(i) : id;
      if (!handshake(fd, r, cid, secret)) return std::fprintf(stderr, "handshake %ld failed\n", i), 1;
      send_all(fd, encode_or_throw(Disconnect{}, 4));
      close(fd);
    }
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("handshakes: %ld in %.3f s = %.0f /s%s\n", handshakes, s, static_cast<double>(handshakes) / s,
                secret.empty() ? "" : " (custom challenge-response)");
  }
  if (guess > 0) {
    std::atomic<long> answered{0}, refused_early{0}, other{0};
    auto t0 = Clock::now();
    auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(guess));
    std::vector<std::thread> ts;
    for (long t = 0; t < threads; ++t)
      ts.emplace_back([&] {
        while (Clock::now() < end) {
          int g = guess_once(to, id);
          (g == 1 ? answered : g == 0 ? refused_early : other)++;
        }
      });
    for (auto& t : ts) t.join();
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf(
        "guessing as %s, %ld thread(s), %.1f s: %ld challenges answered (%.1f guesses/s), %ld refused "
        "without a challenge, %ld other\n",
        id.c_str(), threads, s, answered.load(), static_cast<double>(answered.load()) / s, refused_early.load(),
        other.load());
  }
  if (concurrent > 0) {
    // N devices connected at once: every CONNECT first, then every challenge answered, then every CONNACK.
    auto t0 = Clock::now();
    std::vector<std::unique_ptr<Reader>> rs;
    for (long i = 0; i < concurrent; ++i) {
      int fd = dial(to);
      if (fd < 0) return std::fprintf(stderr, "connection %ld failed\n", i), 1;
      rs.push_back(std::make_unique<Reader>(fd));
      // Distinct client ids id-0 .. id-N-1 (one secret for all: give the broker a secrets file with each).
      if (!send_all(fd, encode_or_throw(connect_packet(id + "-" + std::to_string(i)), 4))) return 1;
    }
    long accepted = 0;
    for (auto& r : rs) {
      bool ok = false;
      for (int step = 0; step < 3 && r->next(10000); ++step) {
        auto d = decode(r->last, DecodeContext{4, Dialect::auto_detect, {}, false});
        if (!d) break;
        if (auto* a = std::get_if<Authenticate>(&d->packet)) {
          std::string challenge(a->password ? a->password->as_chars() : std::string_view{});
          std::string resp = hmac_sha256_hex(secret, challenge);
          Authenticate out;
          out.code = a->code;
          out.client_id = a->client_id;
          out.password = Bytes::of(resp);
          if (!send_all(r->fd, encode_or_throw(out, 4))) break;
          continue;
        }
        if (auto* c = std::get_if<Connack>(&d->packet)) ok = c->code == 0;
        break;
      }
      accepted += ok ? 1 : 0;
    }
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("concurrent: %ld of %ld devices accepted while all connected, in %.3f s\n", accepted, concurrent, s);
    for (auto& r : rs) close(r->fd);
    if (accepted != concurrent) return 1;
  }
  if (messages > 0) {
    int sub = dial(to), pub = dial(to);
    if (sub < 0 || pub < 0) return std::fprintf(stderr, "cannot connect to %s\n", to.c_str()), 2;
    Reader rs(sub), rp(pub);
    if (!handshake(sub, rs, id + "-sub", secret) || !handshake(pub, rp, id + "-pub", secret)) return 1;
    Subscribe s;
    s.packet_id = 1;
    s.subscriptions.push_back({"bench/t", 0});
    send_all(sub, encode_or_throw(s, 4));
    if (!rs.next(5000)) return 1;  // SUBACK
    std::vector<std::uint8_t> body(static_cast<std::size_t>(payload), 'x');
    Publish p;
    p.topic = "bench/t";
    p.payload = Bytes(body);
    auto one = encode_or_throw(p, 4);
    std::vector<std::uint8_t> batch;
    for (int i = 0; i < 1000; ++i) batch.insert(batch.end(), one.begin(), one.end());
    long received = 0;
    auto t0 = Clock::now();
    std::thread writer([&] {
      for (long sent = 0; sent < messages; sent += 1000) {
        if (messages - sent < 1000) batch.resize(one.size() * static_cast<std::size_t>(messages - sent));
        if (!send_all(pub, batch)) return;
      }
    });
    while (received < messages && rs.next(5000)) ++received;
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    writer.join();
    std::printf("qos0: %ld of %ld messages (%ld B payload) in %.3f s = %.0f msg/s\n", received, messages, payload, secs,
                static_cast<double>(received) / secs);
    close(sub);
    close(pub);
  }
  return 0;
}
