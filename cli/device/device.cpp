#include "device.hpp"

#include <asio.hpp>
#include <memory>

#include "exchange.hpp"
#include "handshake.hpp"
#include "session.hpp"

namespace mqttauth::cli::device {

const char* device_auth_name(DeviceAuth a) noexcept {
  switch (a) {
    case DeviceAuth::none: return "none";
    case DeviceAuth::custom: return "custom";
    case DeviceAuth::v5: return "v5";
  }
  return "?";
}

namespace {

// The device's life: its configuration checked, then one connection per session (the first and each
// --reconnect), each a handshake (handshake.hpp) and, when accepted, a session (session.hpp).
class Runner {
 public:
  Runner(asio::io_context& io, const DeviceConfig& cfg, std::function<void(const DeviceResult&)> done)
      : cfg_(cfg), done_(std::move(done)), ex_(io, cfg_, res_) {}

  static asio::awaitable<void> run(std::shared_ptr<Runner> self) {
    try {
      co_await self->lifetime();
    } catch (const std::exception& e) {
      self->ex_.fail(kDeviceProtocolError, std::string("internal error: ") + e.what());
    }
    if (self->done_) self->done_(self->res_);
  }

 private:
  // The configuration's contradictions, as a usage error; empty when there are none.
  std::string usage_error() const {
    if (cfg_.level < 3 || cfg_.level > 5) return "--level must be 3, 4 or 5";
    if (cfg_.auth == DeviceAuth::v5 && cfg_.level != 5) return "--auth v5 needs --level 5";
    if (cfg_.reauth > 0 && cfg_.auth != DeviceAuth::v5) return "--reauth needs --auth v5";
    return {};
  }

  asio::awaitable<bool> connect(int attempt) {
    std::string host, why;
    std::uint16_t port = 0;
    // ws://HOST:PORT[/PATH]: MQTT over WebSocket (the path defaults to /mqtt); mqtts://HOST:PORT: over TLS;
    // wss://HOST:PORT[/PATH]: WebSocket over TLS.
    std::string where = cfg_.connect, path;
    const bool wss = where.rfind("wss://", 0) == 0, mqtts = where.rfind("mqtts://", 0) == 0;
    const bool ws = wss || where.rfind("ws://", 0) == 0, tls = wss || mqtts;
    if (mqtts) where = where.substr(8);
    if (ws) {
      where = where.substr(wss ? 6 : 5);
      const auto slash = where.find('/');
      path = slash == std::string::npos ? "/mqtt" : where.substr(slash);
      where = where.substr(0, slash);
    }
    if (!split_host_port(where, host, port)) {
      ex_.fail(kDeviceUsage,
               "--connect wants HOST:PORT, mqtts://HOST:PORT, ws://HOST:PORT/PATH or wss://HOST:PORT/PATH, not " +
                   cfg_.connect);
      co_return false;
    }
    const std::uint64_t tap_id = cfg_.tap_id + static_cast<std::uint64_t>(attempt);
    if (co_await ex_.link().connect(host, port, cfg_.connect, tap_id, ex_.deadline(), why, cfg_.source) &&
        (!tls || co_await ex_.link().start_tls(host, cfg_.tls, ex_.deadline(), why)) &&
        (!ws || co_await ex_.link().upgrade(host, port, path, ex_.deadline(), why)))
      co_return true;
    ex_.fail(kDeviceConnectFailed, why);
    co_return false;
  }

  asio::awaitable<void> lifetime() {
    if (auto why = usage_error(); !why.empty()) {
      ex_.fail(kDeviceUsage, why);
      co_return;
    }
    ex_.set_level(cfg_.level);
    for (int attempt = 0; attempt <= cfg_.reconnect; ++attempt) {
      if (!co_await connect(attempt)) co_return;
      ex_.log("connected to " + cfg_.connect + " (session " + std::to_string(attempt + 1) + ")");
      Handshake handshake(ex_);
      if (co_await handshake.run() != kDeviceOk) co_return;
      ++res_.sessions;
      Session session(ex_);
      if (co_await session.run() != kDeviceOk) co_return;
    }
  }

  DeviceConfig cfg_;
  std::function<void(const DeviceResult&)> done_;
  DeviceResult res_;
  Exchange ex_;  // refers to cfg_ and res_
};

}  // namespace

void start_device(asio::io_context& io, const DeviceConfig& cfg, const std::function<void(const DeviceResult&)>& done) {
  auto r = std::make_shared<Runner>(io, cfg, done);
  asio::co_spawn(io, Runner::run(r), asio::detached);
}

DeviceResult run_device(const DeviceConfig& cfg) {
  asio::io_context io;
  DeviceResult out;
  start_device(io, cfg, [&](const DeviceResult& r) { out = r; });
  io.run();
  return out;
}

}  // namespace mqttauth::cli::device
