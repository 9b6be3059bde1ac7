#include "device.hpp"

#include <asio.hpp>
#include <map>
#include <memory>
#include <set>

#include "link.hpp"
#include "mqttauth/codec.hpp"
#include "mqttauth/verify.hpp"

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

using Buf = std::vector<std::uint8_t>;
using Clock = std::chrono::steady_clock;

class Runner : public std::enable_shared_from_this<Runner> {
 public:
  Runner(asio::io_context& io, const DeviceConfig& cfg, const std::function<void(const DeviceResult&)>& done)
      : io_(io), cfg_(cfg), done_(done), link_(std::make_shared<Link>(io, cfg.tap)) {}

  static asio::awaitable<void> run(std::shared_ptr<Runner> self) {
    try {
      co_await self->lifetime();
    } catch (const std::exception& e) {
      self->fail(kDeviceProtocolError, std::string("internal error: ") + e.what());
    }
    if (self->done_) self->done_(self->res_);
  }

 private:
  void log(const std::string& line) {
    if (cfg_.log) cfg_.log(cfg_.client_id + ": " + line);
  }
  int fail(int code, const std::string& msg) {
    if (res_.exit_code == kDeviceOk) {
      res_.exit_code = code;
      res_.message = msg;
    }
    log(msg);
    return code;
  }
  Clock::time_point deadline() const { return Clock::now() + cfg_.timeout; }

  // ------------------------------------------------------------------------------------------- the link

  void close_conn(bool by_client, bool reset) { link_->close(by_client, reset); }
  void lost(Io io) { link_->lost(io); }

  // The next packet into cur_.
  asio::awaitable<Io> next_packet(Clock::time_point until) {
    Io io = co_await link_->next_packet(until, cur_);
    if (io == Io::protocol)
      fail(kDeviceProtocolError,
           "the server's stream cannot be framed at byte " + std::to_string(link_->framing_error_offset()));
    co_return io;
  }

  asio::awaitable<Io> send(const Packet& p) {
    Buf b;
    auto r = encode(p, level_, b);
    if (!r) {
      fail(kDeviceProtocolError, "cannot encode " + std::string(packet_name(p)) + ": " + r.error().message());
      co_return Io::protocol;
    }
    co_return co_await link_->write(b, deadline());
  }

  asio::awaitable<bool> connect() {
    std::string host, why;
    std::uint16_t port = 0;
    if (!split_host_port(cfg_.connect, host, port)) {
      fail(kDeviceUsage, "--connect wants HOST:PORT, not " + cfg_.connect);
      co_return false;
    }
    const std::uint64_t tap_id = cfg_.tap_id + static_cast<std::uint64_t>(attempt_);
    if (co_await link_->connect(host, port, cfg_.connect, tap_id, deadline(), why)) co_return true;
    fail(kDeviceConnectFailed, why);
    co_return false;
  }

  DecodeContext context() const {
    DecodeContext ctx;
    ctx.level = level_;
    ctx.dialect = cfg_.auth == DeviceAuth::custom ? Dialect::authenticate : Dialect::auto_detect;
    ctx.strict = true;  // a client: a packet that breaks a rule is a protocol error
    return ctx;
  }

  // ------------------------------------------------------------------------------------------- handshake

  std::string answer_for(const std::string& challenge) const {
    if (cfg_.echo_challenge) return challenge;
    if (cfg_.wrong_secret) return hmac_sha256_hex(cfg_.secret + "-wrong", challenge);
    return hmac_sha256_hex(cfg_.secret, challenge);
  }

  // AUTH with the method HMAC-SHA256 and, when given, Authentication Data.
  asio::awaitable<Io> send_auth(std::uint8_t reason, std::optional<std::string> data) {
    PropertyBuilder b;
    b.add_string(PropertyId::authentication_method, "HMAC-SHA256");
    if (data) b.add_binary(PropertyId::authentication_data, Bytes::of(*data));
    Auth a{reason, b.properties()};
    co_return co_await send(a);
  }
  static std::string auth_data(const Auth& a) {
    auto data = a.properties.find(PropertyId::authentication_data);
    return std::string(data ? data->binary.as_chars() : std::string_view{});
  }

  // Reads until the server closes (after a refusal), so that its FIN is recorded as the server's.
  asio::awaitable<void> await_close() {
    auto until = Clock::now() + std::min<Clock::duration>(cfg_.timeout, std::chrono::seconds(2));
    for (;;) {
      Io io = co_await next_packet(until);
      if (io == Io::ok) continue;
      if (io == Io::eof || io == Io::reset)
        lost(io);
      else
        close_conn(true, false);
      co_return;
    }
  }

  // Returns kDeviceOk when accepted.
  asio::awaitable<int> handshake() {
    Connect c;
    c.level = level_;
    c.protocol_name = level_ == kLevel31 ? "MQIsdp" : "MQTT";
    c.clean = true;
    c.keep_alive = cfg_.keep_alive;
    c.client_id = cfg_.client_id;
    PropertyBuilder props;
    if (cfg_.auth == DeviceAuth::v5) {
      props.add_string(PropertyId::authentication_method, "HMAC-SHA256");
      c.properties = props.properties();
    }
    Io io1 = co_await send(c);
    if (io1 != Io::ok) co_return on_handshake_io(io1, "sending CONNECT");
    auto until = deadline();
    bool answered = false;
    for (;;) {
      Io io = co_await next_packet(until);
      if (io != Io::ok) co_return on_handshake_io(io, answered ? "awaiting CONNACK" : "awaiting the challenge");
      auto d = decode(cur_, context());
      if (!d) co_return on_protocol_error("cannot decode the server's packet: " + d.error().message());
      if (auto* a = std::get_if<Authenticate>(&d->packet)) {
        if (cfg_.auth != DeviceAuth::custom)
          co_return on_protocol_error("an authenticate packet from the server, not expected with --auth " +
                                      std::string(device_auth_name(cfg_.auth)));
        std::string challenge(a->password ? a->password->as_chars() : std::string_view{});
        res_.challenges.push_back(challenge);
        log("challenge (code " + std::to_string(a->code) + "): " + challenge);
        if (cfg_.no_answer) {
          answered = true;  // deliberately not: wait for the server's verdict or timeout
          continue;
        }
        std::string response = answer_for(challenge);
        res_.responses.push_back(response);
        Authenticate r;
        r.code = cfg_.auth_code ? *cfg_.auth_code : a->code;
        r.protocol_name = a->protocol_name;
        r.level = a->level;
        r.clean = true;
        r.keep_alive = 0;
        r.client_id = cfg_.client_id;
        r.password = Bytes::of(response);
        for (int i = 0; i < (cfg_.answer_twice ? 2 : 1); ++i) {
          Io wio2 = co_await send(r);
          if (wio2 != Io::ok) co_return on_handshake_io(wio2, "sending the response");
        }
        answered = true;
        until = deadline();
        continue;
      }
      if (auto* au = std::get_if<Auth>(&d->packet)) {
        if (cfg_.auth != DeviceAuth::v5 || au->reason_code != 0x18)
          co_return on_protocol_error("an AUTH packet (reason " + std::to_string(au->reason_code) +
                                      ") the device did not expect");
        std::string challenge = auth_data(*au);
        res_.challenges.push_back(challenge);
        log("v5 challenge: " + challenge);
        if (cfg_.no_answer) {
          answered = true;
          continue;
        }
        std::string response = answer_for(challenge);
        res_.responses.push_back(response);
        for (int i = 0; i < (cfg_.answer_twice ? 2 : 1); ++i) {
          Io wio3 = co_await send_auth(0x18, response);
          if (wio3 != Io::ok) co_return on_handshake_io(wio3, "sending the response");
        }
        answered = true;
        until = deadline();
        continue;
      }
      if (auto* ca = std::get_if<Connack>(&d->packet)) {
        if (ca->code == 0 && cfg_.answer_twice) {
          // The second response is a protocol violation the broker answers by closing: wait for that rather
          // than racing it with the next packets, so that captures of this misbehaviour are reproducible.
          log("accepted, then answered twice");
          co_await await_close();
          co_return fail(kDeviceProtocolError, "answered the challenge twice: the connection ended after CONNACK");
        }
        if (ca->code == 0) {
          log("accepted");
          co_return kDeviceOk;
        }
        co_await await_close();
        co_return fail(kDeviceRefused, "refused: CONNACK code " + std::to_string(ca->code));
      }
      co_return on_protocol_error("unexpected " + std::string(packet_name(d->packet)) + " during the handshake");
    }
  }

  int on_protocol_error(const std::string& msg) {
    close_conn(true, false);
    return fail(kDeviceProtocolError, msg);
  }
  int on_handshake_io(Io io, const char* while_doing) {
    if (io == Io::protocol) {
      close_conn(true, false);
      return res_.exit_code;
    }
    lost(io);
    switch (io) {
      case Io::timeout: return fail(kDeviceTimeout, std::string("timed out ") + while_doing);
      case Io::eof: return fail(kDeviceTimeout, std::string("the server closed the connection while ") + while_doing);
      case Io::reset: return fail(kDeviceTimeout, std::string("the server reset the connection while ") + while_doing);
      default: return fail(kDeviceConnectFailed, std::string("connection failed while ") + while_doing);
    }
  }
  int on_session_io(Io io, const std::string& while_doing) {
    if (io == Io::protocol) {
      close_conn(true, false);
      return res_.exit_code;
    }
    lost(io);
    if (io == Io::timeout) return fail(kDeviceTimeout, "timed out " + while_doing);
    return fail(kDeviceConnectFailed, "the connection broke while " + while_doing);
  }

  // ------------------------------------------------------------------------------------------- session

  std::uint16_t new_id() {
    std::uint16_t id = next_id_;
    next_id_ = static_cast<std::uint16_t>(next_id_ == 0xFFFF ? 1 : next_id_ + 1);
    return id;
  }

  // Publishes; QoS 1/2 flows are tracked in out_ and completed by handle().
  asio::awaitable<Io> publish(const std::string& topic, Bytes payload, std::uint8_t qos, std::uint16_t& id) {
    Publish p;
    p.topic = topic;
    p.qos = qos;
    p.payload = payload;
    id = 0;
    if (qos > 0) {
      id = new_id();
      p.packet_id = id;
      out_[id] = qos == 1 ? kWaitPuback : kWaitPubrec;
    }
    co_return co_await send(p);
  }

  static constexpr std::uint8_t kWaitPuback = 1, kWaitPubrec = 2, kWaitPubcomp = 3;

  // ------------------------------------------------------------------------------------------- re-authentication

  // Starts a re-authentication when one is due (--reauth): AUTH 0x19 with the method. The exchange completes in
  // on_reauth_auth() as the server's packets are handled, while the session goes on.
  asio::awaitable<Io> start_reauth_if_due() {
    if (reauth_ != Reauth::idle || reauths_started_ >= cfg_.reauth || Clock::now() < next_reauth_) co_return Io::ok;
    ++reauths_started_;
    reauth_ = Reauth::asked;
    log("re-authenticating");
    co_return co_await send_auth(0x19, std::nullopt);
  }

  // An AUTH from the server after the handshake: the challenge (0x18) or the verdict (0x00) of our
  // re-authentication; anything else is a protocol error.
  asio::awaitable<Io> on_reauth_auth(const Auth& a) {
    if (reauth_ == Reauth::asked && a.reason_code == 0x18) {
      std::string challenge = auth_data(a);
      res_.challenges.push_back(challenge);
      log("re-authentication challenge: " + challenge);
      std::string response =
          cfg_.wrong_reauth ? hmac_sha256_hex(cfg_.secret + "-wrong", challenge) : answer_for(challenge);
      res_.responses.push_back(response);
      reauth_ = Reauth::answered;
      co_return co_await send_auth(0x18, response);
    }
    if (reauth_ == Reauth::answered && a.reason_code == 0x00) {
      reauth_ = Reauth::idle;
      ++res_.reauths;
      next_reauth_ = Clock::now() + cfg_.reauth_after;
      log("re-authenticated");
      co_return Io::ok;
    }
    fail(kDeviceProtocolError, "unexpected AUTH (reason " + std::to_string(a.reason_code) + ") after the handshake");
    co_return Io::protocol;
  }

  // Completes the re-authentications still to do, each when due.
  asio::awaitable<Io> finish_reauths() {
    while (reauths_started_ < cfg_.reauth || reauth_ != Reauth::idle) {
      if (reauth_ == Reauth::idle) {
        co_await sleep_until(next_reauth_);
        Io started = co_await start_reauth_if_due();
        if (started != Io::ok) co_return started;
      }
      Io completed = co_await pump([&] { return reauth_ == Reauth::idle; }, deadline());
      if (completed != Io::ok) co_return completed;
    }
    co_return Io::ok;
  }

  asio::awaitable<void> sleep_until(Clock::time_point when) {
    asio::steady_timer t(io_, when);
    std::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  // One packet received after the handshake.
  asio::awaitable<Io> handle() {
    auto d = decode(cur_, context());
    if (!d) {
      fail(kDeviceProtocolError, "cannot decode the server's packet: " + d.error().message());
      co_return Io::protocol;
    }
    Packet& pkt = d->packet;
    if (auto* p = std::get_if<Publish>(&pkt)) {
      std::string topic(p->topic);
      std::string payload(p->payload.as_chars());
      bool fresh = true;
      if (p->qos == 1) {
        Puback a;
        a.packet_id = p->packet_id;
        Io io4 = co_await send(a);
        if (io4 != Io::ok) co_return io4;
      } else if (p->qos == 2) {
        fresh = in_qos2_.insert(p->packet_id).second;
        Pubrec a;
        a.packet_id = p->packet_id;
        Io io5 = co_await send(a);
        if (io5 != Io::ok) co_return io5;
      }
      if (!fresh) co_return Io::ok;
      if (topic == cmd_topic()) {
        log("command: " + payload);
        std::string reply = "ok " + payload;
        std::uint16_t id = 0;
        Io io6 = co_await publish("devices/" + cfg_.client_id + "/reply", Bytes::of(reply), cfg_.qos, id);
        if (io6 != Io::ok) co_return io6;
        ++res_.commands_answered;
      } else if (topic.size() > 6 && topic.compare(topic.size() - 6, 6, "/reply") == 0) {
        log("reply on " + topic + ": " + payload);
        ++res_.replies_received;
      }
      co_return Io::ok;
    }
    if (auto* a = std::get_if<Puback>(&pkt)) {
      auto it = out_.find(a->packet_id);
      if (it != out_.end() && it->second == kWaitPuback) out_.erase(it);
      co_return Io::ok;
    }
    if (auto* a = std::get_if<Pubrec>(&pkt)) {
      auto it = out_.find(a->packet_id);
      if (it != out_.end() && it->second != kWaitPuback) {
        it->second = kWaitPubcomp;
        Pubrel r;
        r.packet_id = a->packet_id;
        co_return co_await send(r);
      }
      co_return Io::ok;
    }
    if (auto* a = std::get_if<Pubcomp>(&pkt)) {
      auto it = out_.find(a->packet_id);
      if (it != out_.end() && it->second == kWaitPubcomp) out_.erase(it);
      co_return Io::ok;
    }
    if (auto* a = std::get_if<Pubrel>(&pkt)) {
      in_qos2_.erase(a->packet_id);
      Pubcomp c;
      c.packet_id = a->packet_id;
      co_return co_await send(c);
    }
    if (auto* a = std::get_if<Suback>(&pkt)) {
      for (auto code : a->codes)
        if (code >= 0x80) log("subscription refused (code " + std::to_string(code) + ")");
      subacks_.insert(a->packet_id);
      co_return Io::ok;
    }
    if (std::holds_alternative<Pingresp>(pkt) || std::holds_alternative<Unsuback>(pkt)) co_return Io::ok;
    if (auto* a = std::get_if<Auth>(&pkt)) co_return co_await on_reauth_auth(*a);
    if (auto* dc = std::get_if<Disconnect>(&pkt)) {
      log("DISCONNECT from the server (reason " + std::to_string(dc->reason_code) + ")");
      if (reauth_ != Reauth::idle)
        fail(kDeviceReauthRefused, "re-authentication refused: DISCONNECT reason " + std::to_string(dc->reason_code));
      co_return Io::ok;  // the close follows
    }
    fail(kDeviceProtocolError, "unexpected " + std::string(packet_name(pkt)) + " after the handshake");
    co_return Io::protocol;
  }

  // Handles incoming packets until `done()`, or the deadline.
  template <class Pred>
  asio::awaitable<Io> pump(Pred done, Clock::time_point until) {
    while (!done()) {
      Io io7 = co_await next_packet(until);
      if (io7 != Io::ok) co_return io7;
      Io io8 = co_await handle();
      if (io8 != Io::ok) co_return io8;
    }
    co_return Io::ok;
  }

  std::string cmd_topic() const { return "devices/" + cfg_.client_id + "/cmd"; }

  Buf telemetry(int seq) const {
    if (cfg_.payload_size == 0) {
      std::string s = "{\"seq\":" + std::to_string(seq) + ",\"temp\":" + std::to_string(20 + seq % 10) + ".5}";
      return Buf(s.begin(), s.end());
    }
    Buf b(cfg_.payload_size);
    for (std::size_t i = 0; i < b.size(); ++i)
      b[i] = static_cast<std::uint8_t>('a' + (i + static_cast<std::size_t>(seq)) % 26);
    return b;
  }

  // After the handshake: subscribe, commands, telemetry, wait for commands, disconnect.
  asio::awaitable<int> after_handshake() {
    std::vector<std::string> filters;
    if (cfg_.subscribe) filters.push_back(cmd_topic());
    for (const auto& [target, text] : cfg_.commands) {
      std::string f = "devices/" + target + "/reply";
      if (std::find(filters.begin(), filters.end(), f) == filters.end()) filters.push_back(f);
    }
    if (!filters.empty()) {
      Subscribe s;
      s.packet_id = new_id();
      for (const auto& f : filters)
        s.subscriptions.push_back(Subscription{f, static_cast<std::uint8_t>(cfg_.qos > 1 ? 1 : cfg_.qos)});
      std::uint16_t sid = s.packet_id;
      Io io9 = co_await send(s);
      if (io9 != Io::ok) co_return on_session_io(io9, "subscribing");
      Io io10 = co_await pump([&] { return subacks_.count(sid) > 0; }, deadline());
      if (io10 != Io::ok) co_return on_session_io(io10, "awaiting SUBACK");
    }
    if (cfg_.on_ready) cfg_.on_ready();

    for (const auto& [target, text] : cfg_.commands) {
      int want = res_.replies_received + 1;
      std::uint16_t id = 0;
      Io io11 = co_await publish("devices/" + target + "/cmd", Bytes::of(text), cfg_.qos, id);
      if (io11 != Io::ok) co_return on_session_io(io11, "sending a command");
      Io io12 = co_await pump([&] { return res_.replies_received >= want; }, deadline());
      if (io12 != Io::ok) co_return on_session_io(io12, "awaiting the reply of " + target);
    }

    for (int i = 1; i <= cfg_.publish; ++i) {
      if (i > 1 && cfg_.interval_ms > 0)
        co_await sleep_until(Clock::now() + std::chrono::milliseconds(cfg_.interval_ms));
      // A re-authentication that is due starts here; the telemetry goes on while it completes.
      Io io21 = co_await start_reauth_if_due();
      if (io21 != Io::ok) co_return on_session_io(io21, "re-authenticating");
      Buf payload = telemetry(i);
      std::uint16_t id = 0;
      Io io13 = co_await publish("devices/" + cfg_.client_id + "/telemetry", Bytes(payload), cfg_.qos, id);
      if (io13 != Io::ok) co_return on_session_io(io13, "publishing");
      if (id != 0) {
        Io io14 = co_await pump([&] { return out_.count(id) == 0; }, deadline());
        if (io14 != Io::ok) co_return on_session_io(io14, "awaiting the acknowledgement of a PUBLISH");
      }
      ++res_.published;
    }

    Io reauth_io = co_await finish_reauths();
    if (reauth_io != Io::ok) co_return on_session_io(reauth_io, "re-authenticating");

    if (cfg_.wait_commands > 0) {
      int want = cfg_.wait_commands;
      Io io15 = co_await pump([&] { return res_.commands_answered >= want; }, deadline());
      if (io15 != Io::ok) co_return on_session_io(io15, "awaiting commands");
    }
    // Outgoing QoS 1/2 flows (replies) complete before leaving; incoming QoS 2 flows too.
    Io io16 = co_await pump([&] { return out_.empty() && in_qos2_.empty(); }, deadline());
    if (io16 != Io::ok) co_return on_session_io(io16, "completing QoS flows");

    Disconnect dc;
    Io io17 = co_await send(dc);
    if (io17 != Io::ok) co_return on_session_io(io17, "disconnecting");
    close_conn(true, false);
    co_return kDeviceOk;
  }

  asio::awaitable<void> lifetime() {
    level_ = cfg_.level;
    if (level_ < 3 || level_ > 5) {
      fail(kDeviceUsage, "--level must be 3, 4 or 5");
      co_return;
    }
    if (cfg_.auth == DeviceAuth::v5 && level_ != 5) {
      fail(kDeviceUsage, "--auth v5 needs --level 5");
      co_return;
    }
    if (cfg_.reauth > 0 && cfg_.auth != DeviceAuth::v5) {
      fail(kDeviceUsage, "--reauth needs --auth v5");
      co_return;
    }
    for (attempt_ = 0; attempt_ <= cfg_.reconnect; ++attempt_) {
      out_.clear();
      in_qos2_.clear();
      subacks_.clear();
      bool ok18 = co_await connect();
      if (!ok18) co_return;
      log("connected to " + cfg_.connect + " (session " + std::to_string(attempt_ + 1) + ")");
      int rc19 = co_await handshake();
      if (rc19 != kDeviceOk) co_return;
      ++res_.sessions;
      reauth_ = Reauth::idle;
      reauths_started_ = 0;
      next_reauth_ = Clock::now() + cfg_.reauth_after;
      int rc20 = co_await after_handshake();
      if (rc20 != kDeviceOk) co_return;
    }
  }

  asio::io_context& io_;
  DeviceConfig cfg_;
  std::function<void(const DeviceResult&)> done_;
  DeviceResult res_;

  std::shared_ptr<Link> link_;
  Buf cur_;  // the packet being handled (decoded views point into it)
  int attempt_ = 0;
  std::uint8_t level_ = 4;
  std::uint16_t next_id_ = 1;
  std::map<std::uint16_t, std::uint8_t> out_;  // packet id -> what is awaited
  std::set<std::uint16_t> in_qos2_;
  std::set<std::uint16_t> subacks_;
  enum class Reauth : std::uint8_t { idle, asked, answered };  // asked: AUTH 0x19 sent; answered: response sent
  Reauth reauth_ = Reauth::idle;
  int reauths_started_ = 0;
  Clock::time_point next_reauth_{};
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
