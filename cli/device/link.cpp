#include "link.hpp"

#include "iotap.hpp"
#include "recorder.hpp"

namespace mqttauth::cli::device {

namespace {

using asio::ip::tcp;

Endpoint to_endpoint(const tcp::endpoint& e) {
  Endpoint out;
  auto a = e.address();
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), out.ip.b.begin());
  } else {
    out.ip.v6 = true;
    auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), out.ip.b.begin());
  }
  out.port = e.port();
  return out;
}

}  // namespace

void Link::arm(Clock::time_point when) {
  std::uint64_t my = ++gen_;
  timed_out_ = false;
  timer_.expires_at(when);
  timer_.async_wait([self = shared_from_this(), my](std::error_code ec) {
    if (ec || self->gen_ != my) return;
    self->timed_out_ = true;
    std::error_code ignored;
    if (self->sock_) self->sock_->cancel(ignored);
  });
}

void Link::disarm() {
  ++gen_;
  timer_.cancel();
}

Io Link::classify(const std::error_code& ec) const {
  if (timed_out_) return Io::timeout;
  if (ec == asio::error::eof) return Io::eof;
  if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe) return Io::reset;
  return Io::error;
}

void Link::close(bool by_client, bool reset) {
  if (tap_open_ && tap_) tap_->on_close(conn_id_, by_client, reset, Recorder::wall_clock_ns());
  tap_open_ = false;
  if (sock_) {
    std::error_code ignored;
    if (by_client && !reset) sock_->shutdown(tcp::socket::shutdown_both, ignored);
    sock_->close(ignored);
  }
  sock_.reset();
}

void Link::lost(Io io) {
  if (io == Io::eof)
    close(false, false);
  else if (io == Io::reset)
    close(false, true);
  else
    close(true, false);
}

asio::awaitable<Io> Link::next_packet(Clock::time_point until, Buf& out) {
  while (inbox_.empty()) {
    if (!sock_) co_return Io::error;
    arm(until);
    std::error_code ec;
    std::size_t n = co_await sock_->async_read_some(asio::buffer(rbuf_), asio::redirect_error(asio::use_awaitable, ec));
    bool timed_out = timed_out_;
    disarm();
    if (ec) {
      timed_out_ = timed_out;
      co_return classify(ec);
    }
    std::span<const std::uint8_t> chunk(rbuf_.data(), n);
    if (tap_open_ && tap_) tap_->on_data(conn_id_, false, chunk, Recorder::wall_clock_ns());
    framer_.push(chunk);
    for (;;) {
      FrameEvent ev = framer_.next();
      if (ev.kind == FrameEvent::Kind::need_more) break;
      if (ev.kind != FrameEvent::Kind::frame) {
        framing_error_ = ev.frame.offset;
        co_return Io::protocol;
      }
      inbox_.emplace_back(ev.frame.bytes.begin(), ev.frame.bytes.end());
    }
  }
  out = std::move(inbox_.front());
  inbox_.pop_front();
  co_return Io::ok;
}

asio::awaitable<Io> Link::write(const Buf& bytes, Clock::time_point until) {
  if (!sock_) co_return Io::error;
  arm(until);
  std::error_code ec;
  co_await asio::async_write(*sock_, asio::buffer(bytes), asio::redirect_error(asio::use_awaitable, ec));
  bool timed_out = timed_out_;
  disarm();
  if (ec) {
    timed_out_ = timed_out;
    co_return classify(ec);
  }
  last_write_ = Clock::now();
  if (tap_open_ && tap_) tap_->on_data(conn_id_, true, bytes, Recorder::wall_clock_ns());
  co_return Io::ok;
}

asio::awaitable<bool> Link::connect(const std::string& host, std::uint16_t port, const std::string& shown,
                                    std::uint64_t tap_id, Clock::time_point until, std::string& why,
                                    const std::string& source) {
  tcp::resolver resolver(io_);
  std::error_code ec;
  auto results =
      co_await resolver.async_resolve(host, std::to_string(port), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    why = "cannot resolve " + host + ": " + ec.message();
    co_return false;
  }
  sock_.emplace(io_);
  arm(until);
  if (source.empty()) {
    co_await asio::async_connect(*sock_, results, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    // From a given local address (e.g. 127.0.0.2 on loopback: another "device address" on one machine).
    const auto local = asio::ip::make_address(source, ec);
    const tcp::endpoint server = results.begin()->endpoint();
    if (!ec) sock_->open(server.protocol(), ec);
    if (!ec) sock_->bind(tcp::endpoint(local, 0), ec);
    if (!ec) co_await sock_->async_connect(server, asio::redirect_error(asio::use_awaitable, ec));
  }
  bool timed_out = timed_out_;
  disarm();
  if (ec) {
    sock_.reset();
    why = "cannot connect to " + shown + ": " + (timed_out ? std::string("timed out") : ec.message());
    co_return false;
  }
  sock_->set_option(tcp::no_delay(true), ec);
  last_write_ = Clock::now();
  framer_ = Framer(1u << 28);
  inbox_.clear();
  conn_id_ = tap_id;
  if (tap_) {
    std::error_code e1, e2;
    auto local = sock_->local_endpoint(e1), remote = sock_->remote_endpoint(e2);
    if (!e1 && !e2) {
      tap_->on_open(conn_id_, to_endpoint(local), to_endpoint(remote), Recorder::wall_clock_ns());
      tap_open_ = true;
    }
  }
  co_return true;
}

}  // namespace mqttauth::cli::device
