// The device's connection to a broker: one TCP socket, read deadlines, the framing of what arrives into
// packets, and the report of every byte to an IoTap. The device's protocol (device.cpp) sits above it.
#pragma once

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <chrono>
#include <cstdio>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mqttauth/framer.hpp"
#include "mqttauth/websocket.hpp"
#include "ssl_keylog.hpp"

namespace mqttauth::cli {
class IoTap;
}

namespace mqttauth::cli::device {

// How an I/O operation ended.
enum class Io : std::uint8_t { ok, timeout, eof, reset, error, protocol };

class Link : public std::enable_shared_from_this<Link> {
 public:
  using Clock = std::chrono::steady_clock;
  using Buf = std::vector<std::uint8_t>;

  // `tap` (may be null) is told of the connection as `tap_id`.
  Link(asio::io_context& io, IoTap* tap) : io_(io), tap_(tap), timer_(io), rbuf_(64 * 1024) {}

  // Resolves and connects to host:port (`shown` as the user wrote it) before `until`; on failure says why.
  asio::awaitable<bool> connect(const std::string& host, std::uint16_t port, const std::string& shown,
                                std::uint64_t tap_id, Clock::time_point until, std::string& why,
                                const std::string& source = {});
  // TLS, right after connect() (and before upgrade() for WebSocket over TLS).
  struct TlsOptions {
    std::string ca_file;      // verify the server's chain against these certificates (and the host name or IP)
    bool insecure = false;    // no verification at all (test brokers with self-signed certificates)
    std::string keylog_file;  // append the session's secrets here (NSS key log format)
    std::string max_version;  // "1.2" or "1.3" ("" = the highest both support)
  };
  asio::awaitable<bool> start_tls(const std::string& host, const TlsOptions& opts, Clock::time_point until,
                                  std::string& why);
  // MQTT over WebSocket, right after connect(): the opening handshake (GET `path` with Upgrade: websocket and
  // Sec-WebSocket-Protocol: mqtt, the server's 101 and its Sec-WebSocket-Accept checked); from then on every
  // write is one masked binary frame and what arrives is unframed before the MQTT framing.
  asio::awaitable<bool> upgrade(const std::string& host, std::uint16_t port, const std::string& path,
                                Clock::time_point until, std::string& why);
  // The next whole packet into `out`. Io::protocol: the stream cannot be framed, at framing_error_offset().
  asio::awaitable<Io> next_packet(Clock::time_point until, Buf& out);
  // Writes `bytes` before `until`.
  asio::awaitable<Io> write(const Buf& bytes, Clock::time_point until);
  // Reports the end of the connection to the tap once and closes the socket.
  void close(bool by_client, bool reset);
  // Closes after an I/O end: the peer's FIN or RST, or ours.
  void lost(Io io);
  bool is_open() const noexcept { return sock_.has_value() && sock_->is_open(); }
  // When the device last sent something (or connected): the keep-alive counts from it.
  Clock::time_point last_write() const noexcept { return last_write_; }
  std::uint64_t framing_error_offset() const noexcept { return framing_error_; }

 private:
  void arm(Clock::time_point when);
  void disarm();
  Io classify(const std::error_code& ec) const;
  asio::awaitable<Io> write_raw(const Buf& bytes, Clock::time_point until);
  // The socket's next bytes, or all of `bytes` written: through TLS when it is on.
  asio::awaitable<std::size_t> read_some(std::error_code& ec);
  asio::awaitable<void> write_all(const Buf& bytes, std::error_code& ec);
  // What arrived, through the WebSocket layer when there is one, into the framer and the inbox.
  Io take(std::span<const std::uint8_t> chunk);

  asio::io_context& io_;
  IoTap* tap_;
  std::optional<asio::ip::tcp::socket> sock_;
  KeylogFile keylog_;  // (outlives the context)
  std::unique_ptr<asio::ssl::context> tls_ctx_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  asio::steady_timer timer_;
  std::uint64_t gen_ = 0;  // the deadline armed last; an older one that fires is ignored
  bool timed_out_ = false;
  Framer framer_;
  Buf rbuf_;
  std::deque<Buf> inbox_;
  std::uint64_t conn_id_ = 0;
  bool tap_open_ = false;
  std::uint64_t framing_error_ = 0;
  Clock::time_point last_write_{};
  std::unique_ptr<ws::Deframer> ws_;  // MQTT over WebSocket: the server's frames
  bool ws_pong_due_ = false;          // a ping to answer
  Buf ws_ping_;
};

}  // namespace mqttauth::cli::device
