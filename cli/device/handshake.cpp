#include "handshake.hpp"

#include <algorithm>

namespace mqttauth::cli::device {

Connect Handshake::connect_packet() {
  const auto& cfg = ex_.cfg();
  Connect c;
  c.level = ex_.level();
  c.protocol_name = ex_.level() == kLevel31 ? "MQIsdp" : "MQTT";
  c.clean = true;
  c.keep_alive = cfg.keep_alive;
  c.client_id = cfg.client_id;
  if (cfg.will_topic) {
    Will w;
    w.topic = *cfg.will_topic;
    w.payload = Bytes::of(cfg.will_payload);
    c.will = w;
  }
  if (cfg.auth == DeviceAuth::v5) {
    connect_props_.add_string(PropertyId::authentication_method, "HMAC-SHA256");
    c.properties = connect_props_.properties();
  }
  return c;
}

asio::awaitable<int> Handshake::run() {
  ex_.set_keep_alive(ex_.cfg().keep_alive);
  Io sent = co_await ex_.send(connect_packet());
  if (sent != Io::ok) co_return on_io(sent, "sending CONNECT");
  until_ = ex_.deadline();
  for (;;) {
    Io io = co_await ex_.next_packet(until_);
    if (io != Io::ok) co_return on_io(io, answered_ ? "awaiting CONNACK" : "awaiting the challenge");
    auto d = decode(ex_.current(), ex_.context());
    if (!d) co_return on_protocol_error("cannot decode the server's packet: " + d.error().message());
    std::optional<int> end;
    if (const auto* a = std::get_if<Authenticate>(&d->packet))
      end = co_await on_authenticate(*a);
    else if (const auto* au = std::get_if<Auth>(&d->packet))
      end = co_await on_auth(*au);
    else if (const auto* ca = std::get_if<Connack>(&d->packet))
      end = co_await on_connack(*ca);
    else
      end = on_protocol_error("unexpected " + std::string(packet_name(d->packet)) + " during the handshake");
    if (end) co_return *end;
  }
}

asio::awaitable<std::optional<int>> Handshake::on_authenticate(const Authenticate& a) {
  const auto& cfg = ex_.cfg();
  if (cfg.auth != DeviceAuth::custom)
    co_return on_protocol_error("an authenticate packet from the server, not expected with --auth " +
                                std::string(device_auth_name(cfg.auth)));
  std::string challenge(a.password ? a.password->as_chars() : std::string_view{});
  ex_.result().challenges.push_back(challenge);
  ex_.log("challenge (code " + std::to_string(a.code) + "): " + challenge);
  answered_ = true;
  if (cfg.no_answer) co_return std::nullopt;  // deliberately not: wait for the server's verdict or time out
  std::string response = ex_.answer_for(challenge, false);
  ex_.result().responses.push_back(response);
  Authenticate r;
  r.code = cfg.auth_code ? *cfg.auth_code : a.code;
  r.protocol_name = a.protocol_name;
  r.level = a.level;
  r.clean = true;
  r.keep_alive = 0;
  r.client_id = cfg.client_id;
  r.password = Bytes::of(response);
  for (int i = 0; i < (cfg.answer_twice ? 2 : 1); ++i) {
    Io io = co_await ex_.send(r);
    if (io != Io::ok) co_return on_io(io, "sending the response");
  }
  until_ = ex_.deadline();
  co_return std::nullopt;
}

asio::awaitable<std::optional<int>> Handshake::on_auth(const Auth& au) {
  const auto& cfg = ex_.cfg();
  if (cfg.auth != DeviceAuth::v5 || au.reason_code != 0x18)
    co_return on_protocol_error("an AUTH packet (reason " + std::to_string(au.reason_code) +
                                ") the device did not expect");
  std::string challenge = Exchange::auth_data(au);
  ex_.result().challenges.push_back(challenge);
  ex_.log("v5 challenge: " + challenge);
  answered_ = true;
  if (cfg.no_answer) co_return std::nullopt;
  std::string response = ex_.answer_for(challenge, false);
  ex_.result().responses.push_back(response);
  for (int i = 0; i < (cfg.answer_twice ? 2 : 1); ++i) {
    Io io = co_await ex_.send_auth(0x18, response);
    if (io != Io::ok) co_return on_io(io, "sending the response");
  }
  until_ = ex_.deadline();
  co_return std::nullopt;
}

asio::awaitable<std::optional<int>> Handshake::on_connack(const Connack& ca) {
  if (ca.code == 0 && ex_.cfg().answer_twice) {
    // The second response is a protocol violation the broker should answer by closing: wait for that rather
    // than racing it with the next packets, so that captures of this misbehaviour are reproducible.
    ex_.log("accepted, then answered twice");
    bool closed = co_await await_close();
    co_return ex_.fail(kDeviceProtocolError,
                       closed ? "answered the challenge twice: the server closed the connection after CONNACK"
                              : "answered the challenge twice: the server kept the connection open after CONNACK "
                                "(closed by the device)");
  }
  if (ca.code == 0) {
    if (auto ska = ca.properties.find(PropertyId::server_keep_alive)) {
      ex_.set_keep_alive(static_cast<std::uint16_t>(ska->number));
      ex_.log("keep-alive set by the server: " + std::to_string(ska->number) + " s");
    }
    ex_.log("accepted");
    co_return kDeviceOk;
  }
  co_await await_close();
  co_return ex_.fail(kDeviceRefused, "refused: CONNACK code " + std::to_string(ca.code));
}

asio::awaitable<bool> Handshake::await_close() {
  auto until = Clock::now() + std::min<Clock::duration>(ex_.cfg().timeout, std::chrono::seconds(2));
  for (;;) {
    Io io = co_await ex_.next_packet(until);
    if (io == Io::ok) continue;
    if (io == Io::eof || io == Io::reset) {
      ex_.link().lost(io);
      co_return true;
    }
    ex_.link().close(true, false);
    co_return false;
  }
}

int Handshake::on_protocol_error(const std::string& msg) {
  ex_.link().close(true, false);
  return ex_.fail(kDeviceProtocolError, msg);
}

int Handshake::on_io(Io io, const char* while_doing) {
  if (io == Io::protocol) {
    ex_.link().close(true, false);
    return ex_.result().exit_code;
  }
  ex_.link().lost(io);
  switch (io) {
    case Io::timeout: return ex_.fail(kDeviceTimeout, std::string("timed out ") + while_doing);
    case Io::eof: return ex_.fail(kDeviceTimeout, std::string("the server closed the connection while ") + while_doing);
    case Io::reset:
      return ex_.fail(kDeviceTimeout, std::string("the server reset the connection while ") + while_doing);
    default: return ex_.fail(kDeviceConnectFailed, std::string("connection failed while ") + while_doing);
  }
}

}  // namespace mqttauth::cli::device
