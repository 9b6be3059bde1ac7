// mqttauth replay FILE --to HOST:PORT: replays the client side of each MQTT connection of a capture against a
// live broker and reports how the broker's answers differ from the captured ones. Against a broker with
// challenge-response authentication a replayed response must be refused, since the challenge is fresh: the
// report shows whether replay attacks fail.
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <thread>

#include "capture_input.hpp"
#include "commands.hpp"
#include "linediff.hpp"
#include "mqttauth/framer.hpp"
#include "transcript.hpp"

namespace mqttauth::cli {
namespace {

struct Ev {
  Direction dir = Direction::unknown;
  std::int64_t ts = 0;
  std::vector<std::uint8_t> bytes;  // client packets, re-encoded
  std::string line;
};

struct Conn {
  std::uint64_t id = 0;
  std::string client_id;
  std::string outcome = "unseen";
  std::vector<Ev> events;
};

class CollectSink final : public AnalyzerSink {
 public:
  std::map<std::uint64_t, Conn> conns;
  std::map<std::uint64_t, PacketIds> ids;
  void on_packet(const Connection& c, Direction dir, const Decoded& d, const Observation& obs,
                 const PacketMeta& m) override {
    Conn& k = conns[c.id];
    k.id = c.id;
    Ev e;
    e.dir = dir;
    e.ts = m.ts_ns;
    e.line = transcript_line(d, dir, obs.role, ids[c.id], &k.client_id);
    if (dir == Direction::c2s) {
      auto r = encode(d.packet, d.level, e.bytes);
      if (!r) return;
    }
    k.events.push_back(std::move(e));
  }
  void on_connection_end(const Connection& c) override {
    auto it = conns.find(c.id);
    if (it == conns.end() || !c.session || c.session->handshakes().empty()) return;
    const Handshake& h = c.session->handshakes().back();
    it->second.outcome = std::string(outcome_name(h.outcome));
    if (it->second.client_id.empty()) it->second.client_id = h.client_id;
  }
};

struct Options {
  CaptureOptions cap;
  std::string to;
  std::string timing = "fast";
  double speed = 1.0;
  int timeout_ms = 1000;
  std::vector<std::uint64_t> conns;
  std::string color = "auto";
};

int dial(const std::string& host_port, std::string& err) {
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos) {
    err = "expected HOST:PORT";
    return -1;
  }
  std::string host = host_port.substr(0, colon), port = host_port.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    err = host_port + ": " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (auto* a = res; a; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) err = host_port + ": cannot connect";
  return fd;
}

// The live side of one replayed connection.
struct Live {
  int fd = -1;
  bool closed = false;
  Framer framer;
  Session session;
  PacketIds ids;
  std::vector<std::string> s2c;
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(1 << 16);

  // Reads what the broker sends for up to `ms` milliseconds, or until `want` server packets have arrived.
  void pump(int ms, std::size_t want) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!closed && s2c.size() < want) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
      if (left <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) break;
      ssize_t n = recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) {
        closed = true;
        break;
      }
      framer.push(std::span<const std::uint8_t>(buf.data(), static_cast<std::size_t>(n)));
      for (FrameEvent ev = framer.next(); ev.kind != FrameEvent::Kind::need_more; ev = framer.next()) {
        if (ev.kind != FrameEvent::Kind::frame) {
          s2c.push_back("error kind=" + std::string(error_kind_name(ev.error.kind)));
          continue;
        }
        auto st = session.decode(ev.frame.bytes, Direction::s2c, PacketRef{0, 0});
        if (st.decoded) {
          std::string line = transcript_line(*st.decoded, Direction::s2c, st.obs.role, ids);
          s2c.push_back(line.substr(4));  // without "s2c "
        } else {
          s2c.push_back("error kind=" + std::string(error_kind_name(st.decoded.error().kind)));
        }
      }
    }
  }
};

int run_replay(const Options& o) {
  prepare_analysis_heap();  // before the tables are made
  CollectSink sink;
  Analyzer an(analyzer_options(o.cap), sink);
  InputReport rep = read_captures(o.cap, an);
  if (rep.unreadable) return kExitUsage;
  Printer p;
  p.color = o.color == "always" || (o.color == "auto" && isatty(STDOUT_FILENO));
  std::size_t same = 0, differ = 0, refused_replays = 0;
  for (auto& [id, c] : sink.conns) {
    if (!o.conns.empty() && std::find(o.conns.begin(), o.conns.end(), id) == o.conns.end()) continue;
    std::string err;
    Live live;
    live.fd = dial(o.to, err);
    if (live.fd < 0) {
      std::fprintf(stderr, "mqttauth replay: %s\n", err.c_str());
      return kExitUsage;
    }
    std::vector<std::string> want;
    std::size_t sent = 0, not_sent = 0, server_before = 0;
    const std::int64_t t0 = c.events.empty() ? 0 : c.events.front().ts;
    const auto start = std::chrono::steady_clock::now();
    for (const auto& e : c.events) {
      if (e.dir != Direction::c2s) {
        want.push_back(e.line.substr(e.line.find(' ') + 1));
        ++server_before;
        continue;
      }
      // Let the broker answer what it answered before this packet in the capture.
      live.pump(o.timeout_ms, server_before);
      if (o.timing == "captured") {
        auto at = start + std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(e.ts - t0) / o.speed));
        std::this_thread::sleep_until(at);
      }
      if (live.closed) {
        ++not_sent;
        continue;
      }
      auto ds = live.session.decode(e.bytes, Direction::c2s, PacketRef{0, 0});
      (void)ds;
      if (send(live.fd, e.bytes.data(), e.bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(e.bytes.size())) {
        live.closed = true;
        ++not_sent;
        continue;
      }
      ++sent;
    }
    live.pump(o.timeout_ms, want.size());
    close(live.fd);
    std::string name = "conn #" + std::to_string(id) + " '" + c.client_id + "'";
    std::string verdict;
    const auto& hs = live.session.handshakes();
    std::string live_outcome = hs.empty() ? "unseen" : std::string(outcome_name(hs.back().outcome));
    if (!hs.empty() && hs.back().outcome == Outcome::pending) live_outcome = live.closed ? "abandoned" : "incomplete";
    p.head(name + ": captured " + c.outcome + ", replayed " + live_outcome + "; " + std::to_string(sent) +
           " packets sent" + (not_sent ? ", " + std::to_string(not_sent) + " not sent (the broker closed)" : "") +
           "; broker answered " + std::to_string(live.s2c.size()) + " packets (captured " +
           std::to_string(want.size()) + ")");
    if (diff_lines(want, live.s2c, name + " s2c: - captured, + replayed", 2, p)) {
      ++differ;
    } else {
      ++same;
      p.out += "same answers\n";
    }
    bool custom = c.outcome == "accepted" && !hs.empty() && hs.back().scheme != AuthScheme::none;
    if (custom && hs.back().outcome == Outcome::refused) {
      ++refused_replays;
      p.out += "=> the replayed response was refused (the challenge was fresh): this replay attack failed\n";
    } else if (custom && hs.back().outcome == Outcome::accepted) {
      p.out += "=> WARNING: the broker accepted a replayed response: the challenge is not fresh\n";
    }
  }
  p.out += std::to_string(same + differ) + " connections replayed to " + o.to + ": " + std::to_string(same) +
           " same, " + std::to_string(differ) + " different; " + std::to_string(refused_replays) +
           " replayed authentications refused\n";
  std::fwrite(p.out.data(), 1, p.out.size(), stdout);
  return differ ? kExitFindings : kExitOk;
}

}  // namespace

void setup_replay(CLI::App& app) {
  auto opt = std::make_shared<Options>();
  auto* sub = app.add_subcommand("replay", "Replay the client side of each connection against a live broker");
  sub->footer(
      "Each MQTT connection of the capture is replayed in its own TCP connection: the client's packets in\n"
      "order, waiting for the broker's answers as captured (--timing fast) or at the captured pace\n"
      "(--timing captured, --speed to scale). The report diffs the broker's answers with the captured ones;\n"
      "a replayed authenticate response must be refused by a broker with fresh challenges.\n"
      "Example:\n"
      "  mqttauth broker --auth custom --secrets devices.secrets --listen 127.0.0.1:1883 &\n"
      "  mqttauth replay capture.pcap --to 127.0.0.1:1883\n"
      "Exit codes: 0 the broker answered as captured, 1 it answered differently, 2 unreadable input or no broker.");
  add_capture_options(sub, opt->cap);
  sub->add_option("--to", opt->to, "The broker: HOST:PORT")->required();
  sub->add_option("--timing", opt->timing, "fast (default) or captured")->check(CLI::IsMember({"fast", "captured"}));
  sub->add_option("--speed", opt->speed, "With --timing captured: time scale (2 = twice as fast)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--timeout-ms", opt->timeout_ms, "How long to wait for the broker's answers")
      ->check(CLI::Range(10, 60000));
  repeatable(sub->add_option("--conn", opt->conns, "Only this connection number (repeatable)"));
  sub->add_option("--color", opt->color, "Colours: auto, always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  sub->callback([opt] {
    int rc = run_replay(*opt);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace mqttauth::cli
