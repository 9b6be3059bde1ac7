// Capturing the real packets of a run with libpcap (`mqttauth capture --live`): an interface is opened and
// activated with a BPF filter, a thread writes every packet that passes the filter to a pcap file with
// pcap_dump (within 50 ms of its arrival), and the TCP connections it sees are followed until they have ended,
// so that the capture can be stopped once the last FIN/ACK of the run is in the file.
//
// Order of use: open() (needs CAP_NET_RAW: fails here without it, before anything else was started),
// set_filter(), start(), the traffic, stop(). From the moment set_filter() returns the kernel keeps every
// packet that passes the filter for the capture thread, so traffic that starts after it is captured whole.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "netparse.hpp"

struct pcap;         // pcap_t
struct pcap_dumper;  // pcap_dumper_t
struct pcap_pkthdr;

namespace mqttauth::cli {

// Which TCP connections of a capture have ended: each side's FIN sent and acknowledged by the other side
// (so the last ACK is in), or a RST. A SYN on a connection that has ended starts a new one.
class ConnectionEnds {
 public:
  void add(const TcpSegment& seg);
  std::size_t seen() const noexcept { return seen_; }  // connections seen, ended or not
  std::size_t open() const noexcept { return open_; }  // seen and not ended

 private:
  struct State {
    std::optional<std::uint32_t> fin_end[2];  // per side (0: the lower endpoint): sequence number after its FIN
    bool fin_acked[2] = {false, false};
    bool ended = false;
  };
  std::map<std::pair<Endpoint, Endpoint>, State> conns_;  // keyed by (lower, higher) endpoint
  std::size_t seen_ = 0, open_ = 0;
};

class LiveCapture {
 public:
  struct Stats {
    std::uint64_t written = 0;  // packets written to the file
    bool kernel = false;        // pcap_stats answered; then:
    std::uint64_t received = 0, dropped = 0, if_dropped = 0;
  };

  LiveCapture() = default;
  ~LiveCapture();
  LiveCapture(const LiveCapture&) = delete;
  LiveCapture& operator=(const LiveCapture&) = delete;

  // Opens and activates `iface` (snap length 262144, a 16 MB kernel buffer, 50 ms delivery). False with `error`
  // naming the interface and libpcap's reason; `permission` tells whether privileges are what is missing.
  bool open(const std::string& iface, std::string& error, bool& permission);
  // Compiles and sets the BPF filter `expr`.
  bool set_filter(const std::string& expr, std::string& error);
  // Creates the pcap file (the interface's link type) and starts the capture thread.
  bool start(const std::string& path, std::string& error);
  // Waits until at least `connections` TCP connections were seen and all of them have ended, or until `grace`
  // has passed, then stops the capture, writes what is still queued and closes the file. False with `error`
  // when the capture or the file failed; what was written stays.
  bool stop(std::size_t connections, std::chrono::milliseconds grace, std::string& error);

  // After stop(): counts, and the connections seen / not ended when the capture stopped.
  Stats stats() const { return stats_; }
  std::size_t connections_seen() const { return ends_.seen(); }
  std::size_t connections_open() const { return ends_.open(); }
  const std::string& interface() const { return iface_; }

 private:
  static void on_packet(unsigned char* self, const pcap_pkthdr* h, const unsigned char* bytes);
  void run();
  // After run() has ended: reads what the kernel still holds (see the .cpp).
  void drain();

  std::string iface_, path_;
  pcap* p_ = nullptr;
  pcap_dumper* dumper_ = nullptr;
  std::uint32_t link_ = 0;
  bool follow_ = false;  // FrameParser reads the link type: connections are followed
  FrameParser parser_;   // capture thread only
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::string thread_error_;  // set by the capture thread before it ends

  std::mutex mu_;  // guards ends_ and written_ while the thread runs
  std::condition_variable changed_;
  ConnectionEnds ends_;
  std::uint64_t written_ = 0;
  Stats stats_;
};

}  // namespace mqttauth::cli
