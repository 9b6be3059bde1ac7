// Debian's mosquitto broker as a third-party peer of the end-to-end tests, on a free loopback port, with
// dumpcap recording its traffic.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "broker_process.hpp"
#include "run.hpp"
#include "tls_cert.hpp"

namespace mqttauth::test {

inline bool have_mosquitto() {
  if (std::system("command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto") == 0) return true;
  if (std::getenv("MQTTAUTH_REQUIRE_TOOLS") != nullptr) ADD_FAILURE() << "Debian's mosquitto is not installed";
  return false;
}

inline std::uint16_t free_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t n = sizeof a;
  const bool ok = s >= 0 && bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  getsockname(s, reinterpret_cast<sockaddr*>(&a), &n) == 0;
  if (s >= 0) close(s);
  return ok ? ntohs(a.sin_port) : std::uint16_t{18931};
}

inline std::string mosquitto_bin() {
  return std::system("command -v mosquitto >/dev/null 2>&1") == 0 ? "mosquitto" : "/usr/sbin/mosquitto";
}

// Debian's mosquitto on a free loopback port, and dumpcap recording its traffic to `pcap`.
struct MosquittoOnLo {
  std::uint16_t port = free_port();
  std::uint16_t ws_port = 0;  // with_websocket: a WebSocket listener too (mosquitto needs a plain one beside it)
  // with_tls: MQTT over TLS and MQTT over WebSocket over TLS, with a self-signed certificate.
  std::uint16_t tls_port = 0, wss_port = 0;
  std::string conf = unique_path("mosquitto") + ".conf", pcap;
  std::unique_ptr<Process> broker, cap;

  explicit MosquittoOnLo(const std::string& name, bool with_websocket = false, bool with_tls = false)
      : pcap(unique_path(name) + ".pcapng") {
    std::string filter = "tcp port " + std::to_string(port);
    {
      std::ofstream c(conf);
      c << "listener " << port << " 127.0.0.1\n";
      if (with_websocket) {
        ws_port = free_port();
        c << "listener " << ws_port << " 127.0.0.1\nprotocol websockets\n";
        filter += " or tcp port " + std::to_string(ws_port);
      }
      if (with_tls && write_self_signed(conf + ".crt", conf + ".key")) {
        tls_port = free_port();
        wss_port = free_port();
        const std::string files = "certfile " + conf + ".crt\nkeyfile " + conf + ".key\n";
        // (Run as root, mosquitto drops to its own user, which cannot read the test's private folder: it stays.)
        c << "user root\n";
        c << "listener " << tls_port << " 127.0.0.1\n" << files;
        c << "listener " << wss_port << " 127.0.0.1\nprotocol websockets\n" << files;
        filter += " or tcp port " + std::to_string(tls_port) + " or tcp port " + std::to_string(wss_port);
      }
      c << "allow_anonymous true\npersistence false\n";
    }
    broker = std::make_unique<Process>(std::vector<std::string>{mosquitto_bin(), "-c", conf}, conf + ".log",
                                       "Opening ipv4 listen socket on port ");
    if (!ready()) return;
    cap = std::make_unique<Process>(std::vector<std::string>{"dumpcap", "-q", "-i", "lo", "-f", filter, "-w", pcap},
                                    pcap + ".log", "File: ");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  bool ready() const { return !broker->ready.empty(); }
  std::string clients() const { return "-h 127.0.0.1 -p " + std::to_string(port); }
  // After the last packet has had time to reach the file.
  void stop_capture() {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    EXPECT_EQ(cap->stop(SIGINT), "exit 0") << cap->log_text();
  }
};

}  // namespace mqttauth::test
