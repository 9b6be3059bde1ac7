// The device's handshake: CONNECT, then the challenge and the response (the custom authenticate packet or MQTT 5
// AUTH), then the verdict in CONNACK. Misbehaviours (no answer, a double answer) are played here.
#pragma once

#include <asio.hpp>

#include <optional>
#include <string>

#include "exchange.hpp"

namespace mqttauth::cli::device {

class Handshake {
 public:
  explicit Handshake(Exchange& ex) : ex_(ex) {}
  // kDeviceOk when accepted; otherwise the exit code, with the connection closed.
  asio::awaitable<int> run();

 private:
  using Clock = Exchange::Clock;

  // CONNECT; its properties are views into connect_props_.
  Connect connect_packet();
  // Each returns the handshake's end, or nothing while it goes on.
  asio::awaitable<std::optional<int>> on_authenticate(const Authenticate& challenge);
  asio::awaitable<std::optional<int>> on_auth(const Auth& challenge);
  asio::awaitable<std::optional<int>> on_connack(const Connack& verdict);
  // Reads until the server closes (after a refusal), so that its FIN is recorded as the server's. True when it
  // did close; false when the device gave up waiting and closed itself.
  asio::awaitable<bool> await_close();
  int on_protocol_error(const std::string& msg);
  int on_io(Io io, const char* while_doing);

  Exchange& ex_;
  PropertyBuilder connect_props_;
  bool answered_ = false;  // the response was sent (or deliberately not: --no-answer)
  Clock::time_point until_{};
};

}  // namespace mqttauth::cli::device
