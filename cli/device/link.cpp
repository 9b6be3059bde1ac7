#include "link.hpp"

#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>
#include <cstdio>

#include "iotap.hpp"
#include "mqttauth/verify.hpp"
#include "recorder.hpp"
#include "ssl_keylog.hpp"

namespace mqttauth::cli::device {

namespace {

using asio::ip::tcp;

// A fresh masking key for each client frame, unpredictable [RFC 6455 5.3].
std::array<std::uint8_t, 4> ws_mask() {
  std::array<std::uint8_t, 4> k{};
  if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1) k = {0x5a, 0xa5, 0x3c, 0xc3};
  return k;
}

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

asio::awaitable<std::size_t> Link::read_some(std::error_code& ec) {
  if (tls_)
    co_return co_await tls_->async_read_some(asio::buffer(rbuf_), asio::redirect_error(asio::use_awaitable, ec));
  co_return co_await sock_->async_read_some(asio::buffer(rbuf_), asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> Link::write_all(const Buf& bytes, std::error_code& ec) {
  if (tls_)
    co_await asio::async_write(*tls_, asio::buffer(bytes), asio::redirect_error(asio::use_awaitable, ec));
  else
    co_await asio::async_write(*sock_, asio::buffer(bytes), asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<bool> Link::start_tls(const std::string& host, const TlsOptions& opts, Clock::time_point until,
                                      std::string& why) {
  tls_ctx_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX* ctx = tls_ctx_->native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (opts.max_version == "1.2") SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  if (!opts.keylog_file.empty() && !log_tls_secrets(ctx, opts.keylog_file, keylog_)) {
    why = "cannot write the TLS key log " + opts.keylog_file;
    co_return false;
  }
  std::error_code ec;
  if (opts.insecure) {
    tls_ctx_->set_verify_mode(asio::ssl::verify_none);
  } else {
    if (opts.ca_file.empty())
      tls_ctx_->set_default_verify_paths(ec);
    else
      tls_ctx_->load_verify_file(opts.ca_file, ec);
    if (ec) {
      why = "cannot load the TLS certificates to verify with: " + ec.message();
      co_return false;
    }
    tls_ctx_->set_verify_mode(asio::ssl::verify_peer);
  }
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(*sock_, *tls_ctx_);
  SSL* ssl = tls_->native_handle();
  asio::error_code addr_ec;
  const bool is_ip = !asio::ip::make_address(host, addr_ec).is_unspecified() && !addr_ec;
  if (!is_ip) SSL_set_tlsext_host_name(ssl, host.c_str());  // SNI
  if (!opts.insecure) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (is_ip)
      X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    else
      X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
  }
  arm(until);
  co_await tls_->async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
  const bool timed_out = timed_out_;
  disarm();
  if (ec) {
    const long verify = SSL_get_verify_result(ssl);
    why = "TLS handshake with " + host + " failed: " +
          (timed_out             ? std::string("timed out")
           : verify != X509_V_OK ? std::string("certificate: ") + X509_verify_cert_error_string(verify)
                                 : ec.message());
    tls_.reset();
    co_return false;
  }
  co_return true;
}

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
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) return Io::eof;
  if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe) return Io::reset;
  return Io::error;
}

void Link::close(bool by_client, bool reset) {
  if (tap_open_ && tap_) tap_->on_close(conn_id_, by_client, reset, Recorder::wall_clock_ns());
  tap_open_ = false;
  if (sock_) {
    std::error_code ignored;
    if (by_client && !reset) sock_->shutdown(tcp::socket::shutdown_both, ignored);
    sock_->close(ignored);  // (TLS: no close_notify; the TCP close ends it, as for most IoT clients)
  }
  // A TLS stream may still have an operation completing (aborted) on its socket: both stay until the next
  // connect() or the end of the link.
  if (!tls_) sock_.reset();
}

void Link::lost(Io io) {
  if (io == Io::eof)
    close(false, false);
  else if (io == Io::reset)
    close(false, true);
  else
    close(true, false);
}

Io Link::take(std::span<const std::uint8_t> chunk) {
  auto frame = [this](std::span<const std::uint8_t> bytes) {
    framer_.push(bytes);
    for (;;) {
      FrameEvent ev = framer_.next();
      if (ev.kind == FrameEvent::Kind::need_more) return true;
      if (ev.kind != FrameEvent::Kind::frame) {
        framing_error_ = ev.frame.offset;
        return false;
      }
      inbox_.emplace_back(ev.frame.bytes.begin(), ev.frame.bytes.end());
    }
  };
  if (!ws_) return frame(chunk) ? Io::ok : Io::protocol;
  ws_->push(chunk);
  for (;;) {
    const ws::Deframer::Event e = ws_->next();
    using K = ws::Deframer::Event::Kind;
    if (e.kind == K::need_more) return Io::ok;
    if (e.kind == K::data && !frame(e.payload)) return Io::protocol;
    if (e.kind == K::control && e.opcode == static_cast<std::uint8_t>(ws::Opcode::close)) return Io::eof;
    if (e.kind == K::control && e.opcode == static_cast<std::uint8_t>(ws::Opcode::ping)) {
      ws_pong_due_ = true;  // answered with the same payload [RFC 6455 5.5.2]
      ws_ping_.assign(e.payload.begin(), e.payload.end());
    }
  }
}

asio::awaitable<Io> Link::next_packet(Clock::time_point until, Buf& out) {
  while (inbox_.empty()) {
    if (!sock_) co_return Io::error;
    if (ws_pong_due_) {
      ws_pong_due_ = false;
      const Buf pong = ws::encode_frame(static_cast<std::uint8_t>(ws::Opcode::pong), ws_ping_, true, ws_mask());
      if (Io io = co_await write_raw(pong, until); io != Io::ok) co_return io;
    }
    arm(until);
    std::error_code ec;
    std::size_t n = co_await read_some(ec);
    bool timed_out = timed_out_;
    disarm();
    if (ec) {
      timed_out_ = timed_out;
      co_return classify(ec);
    }
    std::span<const std::uint8_t> chunk(rbuf_.data(), n);
    if (tap_open_ && tap_) tap_->on_data(conn_id_, false, chunk, Recorder::wall_clock_ns());
    if (Io io = take(chunk); io != Io::ok) co_return io;
  }
  out = std::move(inbox_.front());
  inbox_.pop_front();
  co_return Io::ok;
}

asio::awaitable<Io> Link::write(const Buf& bytes, Clock::time_point until) {
  if (ws_)
    co_return co_await write_raw(
        ws::encode_frame(static_cast<std::uint8_t>(ws::Opcode::binary), bytes, true, ws_mask()), until);
  co_return co_await write_raw(bytes, until);
}

asio::awaitable<Io> Link::write_raw(const Buf& bytes, Clock::time_point until) {
  if (!sock_) co_return Io::error;
  arm(until);
  std::error_code ec;
  co_await write_all(bytes, ec);
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
  tls_.reset();
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
  ws_.reset();
  tls_.reset();
  ws_pong_due_ = false;
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

asio::awaitable<bool> Link::upgrade(const std::string& host, std::uint16_t port, const std::string& path,
                                    Clock::time_point until, std::string& why) {
  // The key: 16 random bytes, base64 [RFC 6455 4.1]; the server must answer base64(SHA-1(key + GUID)).
  std::uint8_t nonce[16];
  if (RAND_bytes(nonce, sizeof nonce) != 1) {
    why = "no random bytes for the WebSocket key";
    co_return false;
  }
  const std::string key = base64(nonce, sizeof nonce);
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
                              "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                              "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
  if (co_await write_raw(Buf(request.begin(), request.end()), until) != Io::ok) {
    why = "the connection broke while sending the WebSocket opening handshake";
    co_return false;
  }
  Buf head;
  for (;;) {
    arm(until);
    std::error_code ec;
    std::size_t n = co_await read_some(ec);
    const bool timed_out = timed_out_;
    disarm();
    if (ec) {
      why = std::string("no answer to the WebSocket opening handshake: ") + (timed_out ? "timed out" : ec.message());
      co_return false;
    }
    if (tap_open_ && tap_) tap_->on_data(conn_id_, false, std::span(rbuf_.data(), n), Recorder::wall_clock_ns());
    head.insert(head.end(), rbuf_.begin(), rbuf_.begin() + static_cast<std::ptrdiff_t>(n));
    const ws::HttpHead h = ws::parse_http_head(head);
    if (h.status == ws::HttpHead::Status::need_more) continue;
    if (h.status != ws::HttpHead::Status::complete || !h.upgrade || h.accept != websocket_accept(key)) {
      why = h.status == ws::HttpHead::Status::complete && h.status_code != 101
                ? "the server refused the WebSocket upgrade (HTTP " + std::to_string(h.status_code) + ")"
                : "the server's answer is not a valid WebSocket upgrade";
      co_return false;
    }
    ws_ = std::make_unique<ws::Deframer>(false, false);
    if (head.size() > h.length && take(std::span<const std::uint8_t>(head).subspan(h.length)) != Io::ok) {
      why = "the server's first WebSocket frames cannot be read";
      co_return false;
    }
    co_return true;
  }
}

}  // namespace mqttauth::cli::device
