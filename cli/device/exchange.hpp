// What the device's handshake (handshake.hpp) and its session (session.hpp) share: the link to the broker, the
// configuration, the result being written, the protocol level and the packet being handled. Sending, receiving,
// failing and the answers to challenges go through it, so both speak the same way.
#pragma once

#include <asio.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "device.hpp"
#include "link.hpp"
#include "mqttauth/codec.hpp"

namespace mqttauth::cli::device {

class Exchange {
 public:
  using Buf = std::vector<std::uint8_t>;
  using Clock = std::chrono::steady_clock;

  Exchange(asio::io_context& io, const DeviceConfig& cfg, DeviceResult& res)
      : io_(io), cfg_(cfg), res_(res), link_(std::make_shared<Link>(io, cfg.tap)) {}

  asio::io_context& io() noexcept { return io_; }
  const DeviceConfig& cfg() const noexcept { return cfg_; }
  DeviceResult& result() noexcept { return res_; }
  Link& link() noexcept { return *link_; }
  std::uint8_t level() const noexcept { return level_; }
  void set_level(std::uint8_t level) noexcept { level_ = level; }
  // The keep-alive in force, in seconds: the CONNECT's, or the server's (MQTT 5 Server Keep Alive in CONNACK).
  std::uint16_t keep_alive() const noexcept { return keep_alive_; }
  void set_keep_alive(std::uint16_t seconds) noexcept { keep_alive_ = seconds; }
  // The packet last received; decoded views point into it until the next one.
  const Buf& current() const noexcept { return cur_; }

  // One event line (cfg.log), prefixed with the client id.
  void log(const std::string& line) const;
  // Records the first failure as the result's exit code and message; returns `code`.
  int fail(int code, const std::string& msg);
  // When an answer awaited from now must have come (cfg.timeout).
  Clock::time_point deadline() const { return Clock::now() + cfg_.timeout; }
  // How the device decodes the server's packets: strictly, in its own dialect.
  DecodeContext context() const;
  // The next packet into current(); a stream that cannot be framed is a failure (Io::protocol).
  asio::awaitable<Io> next_packet(Clock::time_point until);
  // Encodes and sends `p` before deadline() (while corked: keeps it for uncork()).
  asio::awaitable<Io> send(const Packet& p);
  // Misbehaviours that must reach the server before it can answer (a resend, identifiers reused): the packets
  // sent between cork() and uncork() go out in one write.
  void cork() { corked_ = true; }
  asio::awaitable<Io> uncork();
  // AUTH with the method HMAC-SHA256 and, when given, Authentication Data.
  asio::awaitable<Io> send_auth(std::uint8_t reason, std::optional<std::string> data);
  // The next packet id (1..65535, then around), kept across sessions.
  std::uint16_t new_id();

  // The response to a challenge: its HMAC with the secret, or a misbehaviour's answer (`wrong`: another secret).
  std::string answer_for(const std::string& challenge, bool wrong) const;
  static std::string auth_data(const Auth& a);

 private:
  asio::io_context& io_;
  const DeviceConfig& cfg_;
  DeviceResult& res_;
  std::shared_ptr<Link> link_;
  Buf cur_;
  Buf held_;  // corked
  bool corked_ = false;
  std::uint8_t level_ = 4;
  std::uint16_t keep_alive_ = 0;
  std::uint16_t next_id_ = 1;
};

}  // namespace mqttauth::cli::device
