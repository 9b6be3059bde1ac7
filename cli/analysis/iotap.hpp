// What the broker and the device tell a recorder about their sockets, so that the traffic can be written to
// a capture from inside the process: each read or write becomes a TCP segment with correct sequence numbers,
// and opening / closing becomes a synthesised TCP handshake / FIN or RST (see recorder.hpp).
#pragma once

#include <cstdint>
#include <span>

#include "netparse.hpp"

namespace mqttauth::cli {

class IoTap {
 public:
  virtual ~IoTap() = default;
  // A connection `id` (unique within the tap) between `client` and `server` was established at `ts_ns`.
  virtual void on_open(std::uint64_t id, const Endpoint& client, const Endpoint& server, std::int64_t ts_ns) = 0;
  // Bytes that went over the connection, in the order they went, as one send or one receive.
  virtual void on_data(std::uint64_t id, bool from_client, std::span<const std::uint8_t> bytes, std::int64_t ts_ns) = 0;
  // The connection ended: closed by the client or the server, with FIN or with RST.
  virtual void on_close(std::uint64_t id, bool by_client, bool reset, std::int64_t ts_ns) = 0;
};

}  // namespace mqttauth::cli
