// The device's session after an accepted handshake: subscribe, send commands and await their replies, publish
// telemetry, answer commands, re-authenticate (MQTT 5), complete the QoS flows and disconnect. Every wait keeps
// the connection alive: PINGREQ when the device has sent nothing for its keep-alive, and the session ends
// (kDevicePingTimeout) when no PINGRESP comes within the answer timeout.
#pragma once

#include <asio.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "exchange.hpp"

namespace mqttauth::cli::device {

class Session {
 public:
  explicit Session(Exchange& ex);
  // kDeviceOk after a clean DISCONNECT; otherwise the exit code, with the connection closed.
  asio::awaitable<int> run();

 private:
  using Clock = Exchange::Clock;
  using Buf = Exchange::Buf;
  enum class Await : std::uint8_t { puback, pubrec, pubcomp };
  enum class Reauth : std::uint8_t { idle, asked, answered };  // asked: AUTH 0x19 sent; answered: response sent

  asio::awaitable<Io> subscribe();
  asio::awaitable<Io> send_commands(std::string& while_doing);
  asio::awaitable<Io> publish_telemetry(std::string& while_doing);

  // Handles incoming packets until `done()` or `until` (Io::timeout), keeping the connection alive meanwhile.
  template <class Pred>
  asio::awaitable<Io> pump(Pred done, Clock::time_point until);
  // Handles incoming packets until `when`; Io::ok then.
  asio::awaitable<Io> wait_until(Clock::time_point when);
  // When the keep-alive needs the device next: the PINGREQ due, or the PINGRESP's deadline. Nothing with
  // keep-alive 0.
  std::optional<Clock::time_point> keep_alive_due() const;
  // At keep_alive_due(): sends PINGREQ, or ends the session when the PINGRESP is late.
  asio::awaitable<Io> keep_alive();

  // Publishes; QoS 1/2 flows are tracked in out_ and completed as the server's packets are handled.
  asio::awaitable<Io> publish(const std::string& topic, Bytes payload, std::uint8_t qos, std::uint16_t& id,
                              bool retain = false);
  // One packet received after the handshake.
  asio::awaitable<Io> handle();
  asio::awaitable<Io> on_publish(const Publish& p);
  asio::awaitable<Io> on_pubrec(const Pubrec& a);
  void on_disconnect(const Disconnect& dc);

  // Starts a re-authentication when one is due (--reauth): AUTH 0x19 with the method. The exchange completes in
  // on_reauth_auth() as the server's packets are handled, while the session goes on.
  asio::awaitable<Io> start_reauth_if_due();
  // An AUTH from the server after the handshake: the challenge (0x18) or the verdict (0x00) of our
  // re-authentication; anything else is a protocol error.
  asio::awaitable<Io> on_reauth_auth(const Auth& a);
  // Completes the re-authentications still to do, each when due.
  asio::awaitable<Io> finish_reauths();

  int on_io(Io io, const std::string& while_doing);
  std::string cmd_topic() const { return "devices/" + ex_.cfg().client_id + "/cmd"; }
  Buf telemetry(int seq) const;

  Exchange& ex_;
  std::map<std::uint16_t, Await> out_;  // our QoS 1/2 PUBLISH by packet id: what is awaited
  std::set<std::uint16_t> in_qos2_;     // the server's QoS 2 PUBLISH awaiting PUBREL
  std::set<std::uint16_t> subacks_;
  Reauth reauth_ = Reauth::idle;
  int reauths_started_ = 0;
  Clock::time_point next_reauth_{};
  std::optional<Clock::time_point> pingresp_due_;  // set while a PINGREQ awaits its PINGRESP
};

}  // namespace mqttauth::cli::device
