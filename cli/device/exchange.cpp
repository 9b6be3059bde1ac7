#include "exchange.hpp"

#include "mqttauth/verify.hpp"

namespace mqttauth::cli::device {

void Exchange::log(const std::string& line) const {
  if (cfg_.log) cfg_.log(cfg_.client_id + ": " + line);
}

int Exchange::fail(int code, const std::string& msg) {
  if (res_.exit_code == kDeviceOk) {
    res_.exit_code = code;
    res_.message = msg;
  }
  log(msg);
  return code;
}

DecodeContext Exchange::context() const {
  DecodeContext ctx;
  ctx.level = level_;
  ctx.dialect = cfg_.auth == DeviceAuth::custom ? Dialect::authenticate : Dialect::auto_detect;
  ctx.strict = true;  // a client: a packet that breaks a rule is a protocol error
  return ctx;
}

asio::awaitable<Io> Exchange::next_packet(Clock::time_point until) {
  Io io = co_await link_->next_packet(until, cur_);
  if (io == Io::protocol)
    fail(kDeviceProtocolError,
         "the server's stream cannot be framed at byte " + std::to_string(link_->framing_error_offset()));
  co_return io;
}

asio::awaitable<Io> Exchange::send(const Packet& p) {
  Buf b;
  auto r = encode(p, level_, b);
  if (!r) {
    fail(kDeviceProtocolError, "cannot encode " + std::string(packet_name(p)) + ": " + r.error().message());
    co_return Io::protocol;
  }
  if (corked_) {
    held_.insert(held_.end(), b.begin(), b.end());
    co_return Io::ok;
  }
  co_return co_await link_->write(b, deadline());
}

asio::awaitable<Io> Exchange::uncork() {
  corked_ = false;
  if (held_.empty()) co_return Io::ok;
  Buf b;
  b.swap(held_);
  co_return co_await link_->write(b, deadline());
}

asio::awaitable<Io> Exchange::send_auth(std::uint8_t reason, std::optional<std::string> data) {
  PropertyBuilder b;
  b.add_string(PropertyId::authentication_method, "HMAC-SHA256");
  if (data) b.add_binary(PropertyId::authentication_data, Bytes::of(*data));
  Auth a{reason, b.properties()};
  co_return co_await send(a);
}

std::uint16_t Exchange::new_id() {
  std::uint16_t id = next_id_;
  next_id_ = static_cast<std::uint16_t>(next_id_ == 0xFFFF ? 1 : next_id_ + 1);
  return id;
}

std::string Exchange::answer_for(const std::string& challenge, bool wrong) const {
  if (wrong) return hmac_sha256_hex(cfg_.secret + "-wrong", challenge);
  if (cfg_.echo_challenge) return challenge;
  if (cfg_.wrong_secret) return hmac_sha256_hex(cfg_.secret + "-wrong", challenge);
  return hmac_sha256_hex(cfg_.secret, challenge);
}

std::string Exchange::auth_data(const Auth& a) {
  auto data = a.properties.find(PropertyId::authentication_data);
  return std::string(data ? data->binary.as_chars() : std::string_view{});
}

}  // namespace mqttauth::cli::device
