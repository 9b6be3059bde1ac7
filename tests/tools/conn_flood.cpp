// mqttauth_conn_flood: a capture of many tiny MQTT connections, for measuring what the CLI and tshark with the
// plugin do with millions of them (time, memory, the report on connections still open at the end).
//
// Each connection: SYN, SYN-ACK, ACK, CONNECT, CONNACK, then by --mode
//   closed   FIN from both sides and the last ACK (the connection ends in the capture)
//   open     nothing more (a device that stays connected past the end of the capture)
//   syn      only the SYN (a SYN flood: half-open connections that never carry data)
//   mixed    the three in turn
// Client endpoints are unique 4-tuples: 10.x.y.z, ports 10000-59999; the server is 192.168.0.1:1883.
//
// Usage: mqttauth_conn_flood -o FILE --connections N [--mode closed|open|syn|mixed]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "pcap_writer.hpp"

using namespace mqttauth::cli;

namespace {

[[noreturn]] void usage(const char* why) {
  if (why) std::fprintf(stderr, "mqttauth_conn_flood: %s\n", why);
  std::fprintf(stderr, "usage: mqttauth_conn_flood -o FILE --connections N [--mode closed|open|syn|mixed]\n");
  std::exit(2);
}

Endpoint ipv4(std::uint32_t addr, std::uint16_t port) {
  Endpoint e;
  e.ip.b[0] = static_cast<std::uint8_t>(addr >> 24);
  e.ip.b[1] = static_cast<std::uint8_t>(addr >> 16);
  e.ip.b[2] = static_cast<std::uint8_t>(addr >> 8);
  e.ip.b[3] = static_cast<std::uint8_t>(addr);
  e.port = port;
  return e;
}

// CONNECT at level 4, clean session, keep-alive 60, client id `id`.
std::vector<std::uint8_t> connect_packet(const std::string& id) {
  std::vector<std::uint8_t> p = {0x10, 0, 0,    4, 'M', 'Q', 'T',
                                 'T',  4, 0x02, 0, 60,  0,   static_cast<std::uint8_t>(id.size())};
  p.insert(p.end(), id.begin(), id.end());
  p[1] = static_cast<std::uint8_t>(p.size() - 2);
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out, mode = "closed";
  unsigned long long n = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      return argv[++i];
    };
    if (a == "-o")
      out = val();
    else if (a == "--connections")
      n = std::strtoull(val().c_str(), nullptr, 10);
    else if (a == "--mode")
      mode = val();
    else
      usage(("unknown argument " + a).c_str());
  }
  if (out.empty() || n == 0) usage("-o and --connections are required");
  if (mode != "closed" && mode != "open" && mode != "syn" && mode != "mixed") usage("bad --mode");
  if (n > 50000ull * 0xFFFFFF) usage("too many connections");

  PcapWriter w;
  if (!w.open(out, kLinkEthernet, true)) {
    std::fprintf(stderr, "mqttauth_conn_flood: cannot write %s\n", out.c_str());
    return 2;
  }
  const Endpoint server = ipv4(0xC0A80001, 1883);
  const std::vector<std::uint8_t> connack = {0x20, 0x02, 0x00, 0x00};
  std::int64_t ts = 1'700'000'000'000'000'000;
  for (unsigned long long i = 0; i < n; ++i) {
    const Endpoint client =
        ipv4(0x0A000000u + static_cast<std::uint32_t>(i / 50000), static_cast<std::uint16_t>(10000 + i % 50000));
    const char* m = mode == "mixed" ? (i % 3 == 0 ? "closed" : i % 3 == 1 ? "open" : "syn") : mode.c_str();
    TcpConversation c(w, LinkSpec{}, client, server, 1000 + static_cast<std::uint32_t>(i), 5000);
    if (std::strcmp(m, "syn") == 0) {
      auto syn = build_tcp_frame(LinkSpec{}, client, server, 999, 0, tcpflag::syn, {});
      w.write(ts, syn);
      ts += 10'000;
      continue;
    }
    c.handshake(ts);
    ts += 30'000;
    c.send(true, connect_packet("flood-" + std::to_string(i)), ts);
    ts += 10'000;
    c.send(false, connack, ts);
    ts += 10'000;
    if (std::strcmp(m, "closed") == 0) {
      c.close(ts);
      ts += 30'000;
    }
  }
  if (!w.close()) {
    std::fprintf(stderr, "mqttauth_conn_flood: error writing %s\n", out.c_str());
    return 2;
  }
  return 0;
}
