#include "session.hpp"

#include <algorithm>
#include <vector>

namespace mqttauth::cli::device {

Session::Session(Exchange& ex) : ex_(ex), next_reauth_(Clock::now() + ex.cfg().reauth_after) {}

asio::awaitable<int> Session::run() {
  const auto& cfg = ex_.cfg();
  std::string doing;
  Io io = co_await subscribe();
  if (io != Io::ok) co_return on_io(io, "subscribing");
  ex_.log("subscribed");  // (from here the server delivers what is published to its filters)
  if (cfg.on_ready) cfg.on_ready();
  io = co_await send_commands(doing);
  if (io != Io::ok) co_return on_io(io, doing);
  io = co_await publish_telemetry(doing);
  if (io != Io::ok) co_return on_io(io, doing);
  io = co_await finish_reauths();
  if (io != Io::ok) co_return on_io(io, "re-authenticating");
  if (cfg.clear_retained) {
    std::uint16_t id = 0;
    io = co_await publish("devices/" + cfg.client_id + "/telemetry", Bytes{}, cfg.qos, id, true);
    if (io != Io::ok) co_return on_io(io, "clearing the retained message");
  }
  if (cfg.wait_messages > 0) {
    io = co_await pump([&] { return ex_.result().messages_received >= cfg.wait_messages; }, ex_.deadline());
    if (io != Io::ok) co_return on_io(io, "awaiting messages");
  }
  if (cfg.wait_commands > 0) {
    io = co_await pump([&] { return ex_.result().commands_answered >= cfg.wait_commands; }, ex_.deadline());
    if (io != Io::ok) co_return on_io(io, "awaiting commands");
  }
  // Outgoing QoS 1/2 flows (replies) complete before leaving; incoming QoS 2 flows too.
  io = co_await pump([&] { return out_.empty() && in_qos2_.empty(); }, ex_.deadline());
  if (io != Io::ok) co_return on_io(io, "completing QoS flows");
  if (cfg.drop) {  // Misbehaviour: gone without DISCONNECT.
    ex_.log("leaving without DISCONNECT");
    ex_.link().close(true, false);
    co_return kDeviceOk;
  }
  io = co_await ex_.send(Disconnect{});
  if (io != Io::ok) co_return on_io(io, "disconnecting");
  ex_.link().close(true, false);
  co_return kDeviceOk;
}

asio::awaitable<Io> Session::subscribe() {
  const auto& cfg = ex_.cfg();
  std::vector<std::string> filters;
  if (cfg.subscribe) filters.push_back(cmd_topic());
  for (const auto& f : cfg.subscribe_to)
    if (std::find(filters.begin(), filters.end(), f) == filters.end()) filters.push_back(f);
  for (const auto& [target, text] : cfg.commands) {
    std::string f = "devices/" + target + "/reply";
    if (std::find(filters.begin(), filters.end(), f) == filters.end()) filters.push_back(f);
  }
  if (filters.empty()) co_return Io::ok;
  Subscribe s;
  s.packet_id = ex_.new_id();
  for (const auto& f : filters)
    s.subscriptions.push_back(Subscription{f, static_cast<std::uint8_t>(cfg.qos > 1 ? 1 : cfg.qos)});
  const std::uint16_t sid = s.packet_id;
  Io io = co_await ex_.send(s);
  if (io != Io::ok) co_return io;
  co_return co_await pump([&] { return subacks_.count(sid) > 0; }, ex_.deadline());
}

asio::awaitable<Io> Session::send_commands(std::string& while_doing) {
  for (const auto& [target, text] : ex_.cfg().commands) {
    const int want = ex_.result().replies_received + 1;
    std::uint16_t id = 0;
    while_doing = "sending a command";
    Io io = co_await publish("devices/" + target + "/cmd", Bytes::of(text), ex_.cfg().qos, id);
    if (io != Io::ok) co_return io;
    while_doing = "awaiting the reply of " + target;
    io = co_await pump([&] { return ex_.result().replies_received >= want; }, ex_.deadline());
    if (io != Io::ok) co_return io;
  }
  co_return Io::ok;
}

asio::awaitable<Io> Session::publish_telemetry(std::string& while_doing) {
  const auto& cfg = ex_.cfg();
  // Misbehaviour (--reuse-packet-id without an interval): every message in one write, so that each reaches the
  // server while the one before is still in flight, however quickly it answers.
  const bool burst = cfg.reuse_packet_id && cfg.qos > 0 && cfg.interval_ms == 0 && cfg.reauth == 0;
  if (burst) ex_.cork();
  for (int i = 1; i <= cfg.publish; ++i) {
    if (i > 1 && cfg.interval_ms > 0) {
      while_doing = "waiting between two messages";
      Io io = co_await wait_until(Clock::now() + std::chrono::milliseconds(cfg.interval_ms));
      if (io != Io::ok) co_return io;
    }
    // A re-authentication that is due starts here; the telemetry goes on while it completes.
    while_doing = "re-authenticating";
    Io io = co_await start_reauth_if_due();
    if (io != Io::ok) co_return io;
    std::uint16_t id = 0;
    while_doing = "publishing";
    const Buf payload = telemetry(i);
    const std::string topic = "devices/" + cfg.client_id + "/telemetry";
    const bool resend = cfg.resend_without_dup && cfg.qos > 0;
    if (resend) ex_.cork();  // the message and its resend in one write: before the server can acknowledge
    io = co_await publish(topic, Bytes(payload), cfg.qos, id, cfg.retain);
    if (io != Io::ok) co_return io;
    if (resend) {
      // Misbehaviour: the same PUBLISH again at once, DUP 0 [MQTT-3.3.1-1].
      Publish again;
      again.topic = topic;
      again.qos = cfg.qos;
      again.packet_id = id;
      again.payload = Bytes(payload);
      io = co_await ex_.send(again);
      if (io != Io::ok) co_return io;
      if (!burst) io = co_await ex_.uncork();
      if (io != Io::ok) co_return io;
    }
    if (id != 0 && !cfg.reuse_packet_id) {
      while_doing = "awaiting the acknowledgement of a PUBLISH";
      io = co_await pump([&] { return out_.count(id) == 0; }, ex_.deadline());
      if (io != Io::ok) co_return io;
    }
    ++ex_.result().published;
  }
  if (burst) co_return co_await ex_.uncork();
  co_return Io::ok;
}

// ------------------------------------------------------------------------------------------- waiting

template <class Pred>
asio::awaitable<Io> Session::pump(Pred done, Clock::time_point until) {
  while (!done()) {
    Clock::time_point wake = until;
    const auto due = keep_alive_due();
    const bool for_keep_alive = due && *due < until;
    if (for_keep_alive) wake = *due;
    Io io = co_await ex_.next_packet(wake);
    if (io == Io::timeout && for_keep_alive) {
      io = co_await keep_alive();
      if (io != Io::ok) co_return io;
      continue;
    }
    if (io != Io::ok) co_return io;
    io = co_await handle();
    if (io != Io::ok) co_return io;
  }
  co_return Io::ok;
}

asio::awaitable<Io> Session::wait_until(Clock::time_point when) {
  Io io = co_await pump([] { return false; }, when);
  co_return io == Io::timeout ? Io::ok : io;
}

std::optional<Session::Clock::time_point> Session::keep_alive_due() const {
  if (ex_.keep_alive() == 0 || ex_.cfg().no_pingreq) return std::nullopt;  // (--no-pingreq: misbehaviour)
  if (pingresp_due_) return pingresp_due_;
  return ex_.link().last_write() + std::chrono::seconds(ex_.keep_alive());
}

asio::awaitable<Io> Session::keep_alive() {
  if (pingresp_due_) {
    ex_.fail(kDevicePingTimeout, "no PINGRESP within " + std::to_string(ex_.cfg().timeout.count()) +
                                     " ms of PINGREQ: the server no longer answers");
    co_return Io::protocol;
  }
  Io io = co_await ex_.send(Pingreq{});
  if (io == Io::ok) pingresp_due_ = ex_.deadline();
  co_return io;
}

// ------------------------------------------------------------------------------------------- packets

asio::awaitable<Io> Session::publish(const std::string& topic, Bytes payload, std::uint8_t qos, std::uint16_t& id,
                                     bool retain) {
  Publish p;
  p.topic = topic;
  p.retain = retain;
  p.qos = qos;
  p.payload = payload;
  id = 0;
  if (qos > 0) {
    // Misbehaviour (--reuse-packet-id): one identifier for every message, whatever is in flight.
    id = ex_.cfg().reuse_packet_id ? std::uint16_t{1} : ex_.new_id();
    p.packet_id = id;
    out_[id] = qos == 1 ? Await::puback : Await::pubrec;
  }
  co_return co_await ex_.send(p);
}

asio::awaitable<Io> Session::handle() {
  auto d = decode(ex_.current(), ex_.context());
  if (!d) {
    ex_.fail(kDeviceProtocolError, "cannot decode the server's packet: " + d.error().message());
    co_return Io::protocol;
  }
  const Packet& pkt = d->packet;
  if (const auto* p = std::get_if<Publish>(&pkt)) co_return co_await on_publish(*p);
  if (const auto* a = std::get_if<Puback>(&pkt)) {
    auto it = out_.find(a->packet_id);
    if (it != out_.end() && it->second == Await::puback) out_.erase(it);
    co_return Io::ok;
  }
  if (const auto* a = std::get_if<Pubrec>(&pkt)) co_return co_await on_pubrec(*a);
  if (const auto* a = std::get_if<Pubcomp>(&pkt)) {
    auto it = out_.find(a->packet_id);
    if (it != out_.end() && it->second == Await::pubcomp) out_.erase(it);
    co_return Io::ok;
  }
  if (const auto* a = std::get_if<Pubrel>(&pkt)) {
    in_qos2_.erase(a->packet_id);
    Pubcomp c;
    c.packet_id = a->packet_id;
    co_return co_await ex_.send(c);
  }
  if (const auto* a = std::get_if<Suback>(&pkt)) {
    for (auto code : a->codes)
      if (code >= 0x80) ex_.log("subscription refused (code " + std::to_string(code) + ")");
    subacks_.insert(a->packet_id);
    co_return Io::ok;
  }
  if (std::holds_alternative<Pingresp>(pkt)) {
    pingresp_due_.reset();
    co_return Io::ok;
  }
  if (std::holds_alternative<Unsuback>(pkt)) co_return Io::ok;
  if (const auto* a = std::get_if<Auth>(&pkt)) co_return co_await on_reauth_auth(*a);
  if (const auto* dc = std::get_if<Disconnect>(&pkt)) {
    on_disconnect(*dc);
    co_return Io::ok;  // the close follows
  }
  ex_.fail(kDeviceProtocolError, "unexpected " + std::string(packet_name(pkt)) + " after the handshake");
  co_return Io::protocol;
}

asio::awaitable<Io> Session::on_publish(const Publish& p) {
  std::string topic(p.topic);
  std::string payload(p.payload.as_chars());
  bool fresh = true;
  if (p.qos > 0 && ex_.cfg().never_ack) {
    // Misbehaviour: the server's PUBLISH is handled but never acknowledged.
  } else if (p.qos == 1) {
    Puback a;
    a.packet_id = p.packet_id;
    Io io = co_await ex_.send(a);
    if (io != Io::ok) co_return io;
  } else if (p.qos == 2) {
    fresh = in_qos2_.insert(p.packet_id).second;
    Pubrec a;
    a.packet_id = p.packet_id;
    Io io = co_await ex_.send(a);
    if (io != Io::ok) co_return io;
  }
  if (!fresh) co_return Io::ok;
  if (topic == cmd_topic()) {
    ex_.log("command: " + payload);
    const std::string reply = "ok " + payload;
    std::uint16_t id = 0;
    Io io = co_await publish("devices/" + ex_.cfg().client_id + "/reply", Bytes::of(reply), ex_.cfg().qos, id);
    if (io != Io::ok) co_return io;
    ++ex_.result().commands_answered;
  } else if (topic.size() > 6 && topic.compare(topic.size() - 6, 6, "/reply") == 0) {
    ex_.log("reply on " + topic + ": " + payload);
    ++ex_.result().replies_received;
  } else {
    ex_.log(std::string("message on ") + topic + (p.retain ? " (retained): " : ": ") + payload);
    ++ex_.result().messages_received;
  }
  co_return Io::ok;
}

asio::awaitable<Io> Session::on_pubrec(const Pubrec& a) {
  auto it = out_.find(a.packet_id);
  if (it == out_.end() || it->second == Await::puback) co_return Io::ok;
  it->second = Await::pubcomp;
  Pubrel r;
  r.packet_id = a.packet_id;
  co_return co_await ex_.send(r);
}

void Session::on_disconnect(const Disconnect& dc) {
  ex_.log("DISCONNECT from the server (reason " + std::to_string(dc.reason_code) + ")");
  if (reauth_ != Reauth::idle)
    ex_.fail(kDeviceReauthRefused, "re-authentication refused: DISCONNECT reason " + std::to_string(dc.reason_code));
}

// ------------------------------------------------------------------------------------------- re-authentication

asio::awaitable<Io> Session::start_reauth_if_due() {
  if (reauth_ != Reauth::idle || reauths_started_ >= ex_.cfg().reauth || Clock::now() < next_reauth_) co_return Io::ok;
  ++reauths_started_;
  reauth_ = Reauth::asked;
  ex_.log("re-authenticating");
  co_return co_await ex_.send_auth(0x19, std::nullopt);
}

asio::awaitable<Io> Session::on_reauth_auth(const Auth& a) {
  if (reauth_ == Reauth::asked && a.reason_code == 0x18) {
    std::string challenge = Exchange::auth_data(a);
    ex_.result().challenges.push_back(challenge);
    ex_.log("re-authentication challenge: " + challenge);
    std::string response = ex_.answer_for(challenge, ex_.cfg().wrong_reauth);
    ex_.result().responses.push_back(response);
    reauth_ = Reauth::answered;
    co_return co_await ex_.send_auth(0x18, response);
  }
  if (reauth_ == Reauth::answered && a.reason_code == 0x00) {
    reauth_ = Reauth::idle;
    ++ex_.result().reauths;
    next_reauth_ = Clock::now() + ex_.cfg().reauth_after;
    ex_.log("re-authenticated");
    co_return Io::ok;
  }
  ex_.fail(kDeviceProtocolError, "unexpected AUTH (reason " + std::to_string(a.reason_code) + ") after the handshake");
  co_return Io::protocol;
}

asio::awaitable<Io> Session::finish_reauths() {
  while (reauths_started_ < ex_.cfg().reauth || reauth_ != Reauth::idle) {
    if (reauth_ == Reauth::idle) {
      Io io = co_await wait_until(next_reauth_);
      if (io != Io::ok) co_return io;
      io = co_await start_reauth_if_due();
      if (io != Io::ok) co_return io;
    }
    Io io = co_await pump([&] { return reauth_ == Reauth::idle; }, ex_.deadline());
    if (io != Io::ok) co_return io;
  }
  co_return Io::ok;
}

// ------------------------------------------------------------------------------------------- the end

int Session::on_io(Io io, const std::string& while_doing) {
  if (io == Io::protocol) {
    ex_.link().close(true, false);
    return ex_.result().exit_code;
  }
  ex_.link().lost(io);
  if (io == Io::timeout) return ex_.fail(kDeviceTimeout, "timed out " + while_doing);
  return ex_.fail(kDeviceConnectFailed, "the connection broke while " + while_doing);
}

Session::Buf Session::telemetry(int seq) const {
  const auto& cfg = ex_.cfg();
  if (cfg.payload_size == 0) {
    std::string s = "{\"seq\":" + std::to_string(seq) + ",\"temp\":" + std::to_string(20 + seq % 10) + ".5}";
    return Buf(s.begin(), s.end());
  }
  Buf b(cfg.payload_size);
  for (std::size_t i = 0; i < b.size(); ++i)
    b[i] = static_cast<std::uint8_t>('a' + (i + static_cast<std::size_t>(seq)) % 26);
  return b;
}

}  // namespace mqttauth::cli::device
