// A capture recorder: an IoTap that writes what the broker or the device reports about its sockets to a
// pcap file (Ethernet, IPv4/IPv6), as a real capture of the connection would show it.
//
// - on_open writes a synthesised TCP three-way handshake (SYN, SYN-ACK, ACK);
// - on_data writes the bytes as TCP segments of at most `mss` bytes, with sequence numbers that continue
//   where the previous segment of that direction ended and the acknowledgement of everything the other side
//   sent so far;
// - on_close writes FIN, FIN, ACK starting with the side that closed, or one RST.
//
// Two clocks:
// - live (the default): frames are written as the events happen, with the timestamps the caller gives,
//   client and server endpoints as they are;
// - stable (`RecorderOptions::stable`): a virtual clock and stable endpoints so that the same run gives the
//   same bytes. Events are held per connection and written by finish(), one connection after the other in
//   the order of their ids; within a direction the bytes are cut at MQTT packet boundaries (each packet one
//   segment, or several when larger than the MSS), because how a receiver's reads split the stream varies
//   from run to run. Timestamps come from a counter (start_ns + n * step_ns for the n-th frame written), the
//   server port is `server_port` and the n-th connection's client port is client_port_base + n.
//
// Thread-safe: every member function takes one mutex.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "iotap.hpp"
#include "pcap_writer.hpp"

namespace mqttauth::cli {

struct RecorderOptions {
  bool stable = false;
  std::int64_t start_ns = 1764047123000000000;  // stable: the first frame's time (2025-11-25 05:05:23 UTC)
  std::int64_t step_ns = 1000000;               // stable: between two frames (1 ms)
  std::uint16_t server_port = 1883;             // stable: the server's port in the capture
  std::uint16_t client_port_base = 50000;       // stable: connection n (1-based) gets client_port_base + n
  std::size_t mss = 1460;                       // largest TCP payload of one segment
  // stable: the connections' events in the order they happened, not one connection after the other (for
  // scenarios whose meaning is across connections: takeovers, wills). The same as long as the run's events
  // come in the same order.
  bool interleave = false;
};

class Recorder final : public IoTap {
 public:
  explicit Recorder(RecorderOptions opts = {});
  ~Recorder() override;
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Creates the pcap file. False with `error` set when it cannot be written.
  bool open(const std::string& path, std::string& error);
  // Writes what is still held (stable mode: everything; live: FIN for connections still open is NOT
  // invented, they stay open in the capture) and closes the file. False when a write failed.
  bool finish(std::string& error);

  void on_open(std::uint64_t id, const Endpoint& client, const Endpoint& server, std::int64_t ts_ns) override;
  void on_data(std::uint64_t id, bool from_client, std::span<const std::uint8_t> bytes, std::int64_t ts_ns) override;
  void on_close(std::uint64_t id, bool by_client, bool reset, std::int64_t ts_ns) override;

  // Frames written so far, connections seen so far.
  std::uint64_t frames() const;
  std::size_t connections() const;

  // The wall clock in nanoseconds since 1970 (what live callers pass as ts_ns).
  static std::int64_t wall_clock_ns() noexcept;

 private:
  struct Event {
    enum class Kind : std::uint8_t { open, data, close } kind;
    bool client = false;  // data: from the client; close: by the client
    bool reset = false;
    std::int64_t ts_ns = 0;
    std::vector<std::uint8_t> bytes;
    std::uint64_t seq = 0;  // in the order events were reported, across connections
  };
  struct Conn {
    Endpoint client, server;
    std::vector<Event> events;             // stable mode
    std::unique_ptr<TcpConversation> tcp;  // live mode
    bool closed = false;
  };
  class CountingWriter;

  void write_stable_locked();
  void emit_data(TcpConversation& tcp, bool from_client, std::span<const std::uint8_t> bytes, std::int64_t& ts,
                 std::int64_t step);
  static void emit_close(TcpConversation& tcp, bool by_client, bool reset, std::int64_t& ts, std::int64_t step);

  RecorderOptions opts_;
  mutable std::mutex mu_;
  std::unique_ptr<CountingWriter> out_;
  std::map<std::uint64_t, Conn> conns_;
  std::uint64_t opened_ = 0;  // connections seen
  std::uint64_t seq_ = 0;     // events reported
  bool finished_ = false;
};

}  // namespace mqttauth::cli
