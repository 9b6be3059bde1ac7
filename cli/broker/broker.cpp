// The Asio server around the broker core: listeners, admission (connection limits), one read loop and one
// write queue per socket, a 100 ms tick for the core's timers.
#include "broker/broker.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <openssl/ssl.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <deque>
#include <list>
#include <set>
#include <unordered_map>

#include "broker/core.hpp"
#include "iotap.hpp"
#include "ssl_keylog.hpp"
#include "mqttauth/verify.hpp"
#include "mqttauth/websocket.hpp"

namespace mqttauth::cli::broker {

namespace {

using asio::ip::tcp;

TimeMs steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Endpoint to_endpoint(const tcp::endpoint& ep) {
  Endpoint out;
  out.port = ep.port();
  auto a = ep.address();
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), out.ip.b.begin());
  } else {
    auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), out.ip.b.begin());
    out.ip.v6 = true;
  }
  return out;
}

std::string endpoint_str(const tcp::endpoint& ep) {
  auto a = ep.address();
  if (a.is_v6()) return "[" + a.to_string() + "]:" + std::to_string(ep.port());
  return a.to_string() + ":" + std::to_string(ep.port());
}

// "HOST:PORT" or "[V6]:PORT" -> endpoint. "localhost" means 127.0.0.1.
bool parse_host_port(const std::string& s, tcp::endpoint& out, std::string& error) {
  std::string host;
  std::uint16_t p = 0;
  if (!split_host_port(s, host, p)) {
    error = "bad listen address '" + s + "' (expected HOST:PORT or [V6]:PORT, port 0 to 65535)";
    return false;
  }
  if (host == "localhost") host = "127.0.0.1";
  asio::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) {
    error = "bad host in listen address '" + s + "' (a numeric IPv4/IPv6 address or localhost)";
    return false;
  }
  out = tcp::endpoint(addr, p);
  return true;
}

}  // namespace

// The state shared with pending Asio handlers (they keep it alive).
class Server : public std::enable_shared_from_this<Server> {
 public:
  Server(asio::io_context& io, BrokerConfig cfg) : io_(io), cfg_(std::move(cfg)), core_(cfg_), timer_(io) {}

  struct Listener {
    explicit Listener(asio::io_context& io) : acceptor(io), pause(io) {}
    tcp::acceptor acceptor;
    asio::steady_timer pause;  // accepting again after running out of file descriptors
    ListenerConfig cfg;
    std::string bound;
    std::uint16_t port = 0;
  };

  struct Connection {
    Connection(tcp::socket s, asio::io_context& io) : sock(std::move(s)), linger(io) {}
    tcp::socket sock;
    asio::steady_timer linger;  // bounds the drain after a close by the broker
    ConnId id = 0;
    std::array<std::uint8_t, 16384> buf;  // not zeroed: 16 KiB per accepted connection adds up under a flood
    std::deque<std::vector<std::uint8_t>> outq;
    std::vector<std::uint8_t> writing_buf;
    std::size_t queued = 0;
    bool writing = false;
    bool closing = false;   // close once the queue is written
    bool gone = false;      // the core forgot it; nothing more is sent
    bool reading = false;   // a read is pending
    bool draining = false;  // we sent FIN: reading and discarding until the peer closes (or the linger time)
    bool sock_closed = false;
    // Admission: pending until the core has it through CONNECT and authentication.
    asio::ip::address address;  // the peer's
    bool pending = true;
    std::size_t handshake_bytes = 0;  // received while pending
    std::list<ConnId>::iterator in_pending, in_address_pending;
    // MQTT over WebSocket: the client's opening handshake until the 101 is sent, then its frames.
    struct Ws {
      bool open = false;
      std::vector<std::uint8_t> head;
      ws::Deframer frames{true, false};
    };
    std::unique_ptr<Ws> ws;
    // TLS listeners: the session over the socket (its handshake before the first read).
    std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;
  };

  // The connections from one remote address.
  struct Address {
    std::size_t connections = 0;
    std::list<ConnId> pending;  // oldest first
  };

  bool listen(const ListenerConfig& given, std::string& error) {
    ListenerConfig lc = given;
    if (lc.host_port.rfind("mqtts://", 0) == 0) {  // MQTT over TLS
      lc.host_port = lc.host_port.substr(8);
      lc.tls = true;
    } else if (lc.host_port.rfind("wss://", 0) == 0) {  // MQTT over WebSocket over TLS
      lc.host_port = "ws://" + lc.host_port.substr(6);
      lc.tls = true;
    }
    if (lc.tls && !tls_context(error)) return false;
    if (lc.host_port.rfind("ws://", 0) == 0) {  // MQTT over WebSocket
      lc.host_port = lc.host_port.substr(5);
      if (auto slash = lc.host_port.find('/'); slash != std::string::npos) lc.host_port.resize(slash);
      lc.websocket = true;
    }
    tcp::endpoint ep;
    if (!parse_host_port(lc.host_port, ep, error)) return false;
    auto l = std::make_shared<Listener>(io_);
    l->cfg = lc;
    asio::error_code ec;
    l->acceptor.open(ep.protocol(), ec);
    if (!ec) l->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) l->acceptor.bind(ep, ec);
    if (!ec) l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      error = "cannot listen on " + lc.host_port + ": " + ec.message();
      return false;
    }
    auto local = l->acceptor.local_endpoint(ec);
    l->port = local.port();
    l->bound = endpoint_str(local);
    listeners_.push_back(l);
    accept(l);
    if (!ticking_) {
      ticking_ = true;
      schedule_tick();
    }
    return true;
  }

  // The TLS listeners' context: the certificate and key of BrokerConfig::tls, made once.
  bool tls_context(std::string& error) {
    if (tls_ctx_) return true;
    if (cfg_.tls.cert_file.empty() || cfg_.tls.key_file.empty()) {
      error = "a TLS listener needs a certificate and its key (--tls-cert FILE --tls-key FILE)";
      return false;
    }
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    asio::error_code ec;
    ctx->use_certificate_chain_file(cfg_.tls.cert_file, ec);
    if (!ec) ctx->use_private_key_file(cfg_.tls.key_file, asio::ssl::context::pem, ec);
    if (ec) {
      error = "cannot use the TLS certificate " + cfg_.tls.cert_file + " and key " + cfg_.tls.key_file + ": " +
              ec.message();
      return false;
    }
    if (!cfg_.tls.keylog_file.empty() && !log_tls_secrets(ctx->native_handle(), cfg_.tls.keylog_file, keylog_)) {
      error = "cannot write the TLS key log " + cfg_.tls.keylog_file;
      return false;
    }
    tls_ctx_ = std::move(ctx);
    return true;
  }

  void stop() {
    stopped_ = true;
    asio::error_code ec;
    timer_.cancel();
    for (auto& l : listeners_) {
      l->acceptor.close(ec);
      l->pause.cancel();
    }
    std::vector<std::shared_ptr<Connection>> all;
    for (auto& [id, c] : conns_) all.push_back(c);
    for (auto& c : all) {
      core_.closed(c->id, steady_ms());
      finish(c, false, false);
    }
    core_.take_actions();
    std::vector<std::shared_ptr<Connection>> drains(draining_.begin(), draining_.end());
    for (auto& c : drains) close_socket(c);
  }

  const std::vector<std::shared_ptr<Listener>>& listeners() const { return listeners_; }
  std::size_t connection_count() const { return conns_.size(); }
  std::size_t accepted_count() const { return next_id_ - 1; }
  void set_tap(IoTap* tap, std::uint64_t first) {
    tap_ = tap;
    tap_first_ = first;
  }

 private:
  void log(const std::string& s) {
    if (cfg_.log) cfg_.log(s);
  }

  void schedule_tick() {
    timer_.expires_after(std::chrono::milliseconds(100));
    timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (ec || self->stopped_) return;
      self->core_.tick(steady_ms());
      self->flush();
      self->admission_log_summary();
      self->schedule_tick();
    });
  }

  void accept(const std::shared_ptr<Listener>& l) {
    l->acceptor.async_accept([self = shared_from_this(), l](const asio::error_code& ec, tcp::socket sock) {
      if (self->stopped_ || !l->acceptor.is_open()) return;
      if (!ec) {
        self->on_accept(*l, std::move(sock));
      } else if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
                 ec == asio::error::no_memory || ec.value() == ENFILE) {
        // The connection stays in the listen queue, and accepting again at once would fail at once (a busy
        // loop that serves nobody). Free a descriptor and accept it; with nothing to free, wait a little.
        if (!self->free_descriptor()) {
          self->admission_log("cannot accept: " + ec.message() + "; accepting again in 100 ms");
          l->pause.expires_after(std::chrono::milliseconds(100));
          l->pause.async_wait([self, l](const asio::error_code& e) {
            if (!e) self->accept(l);
          });
          return;
        }
      }
      self->accept(l);
    });
  }

  void on_accept(Listener& l, tcp::socket sock) {
    asio::error_code ec;
    auto remote = sock.remote_endpoint(ec);
    if (ec) return;  // gone already
    if (!make_room(remote.address())) {
      // Every connection is established: refuse (reset) the newcomer.
      admission_log("connection from " + endpoint_str(remote) + " refused: " + std::to_string(conns_.size()) +
                    " connections open (max_connections or max_connections_per_address)");
      sock.set_option(asio::socket_base::linger(true, 0), ec);
      sock.close(ec);
      return;
    }
    sock.set_option(tcp::no_delay(true), ec);
    auto c = std::make_shared<Connection>(std::move(sock), io_);
    c->id = next_id_++;
    conns_[c->id] = c;
    c->address = remote.address();
    if (l.cfg.websocket) c->ws = std::make_unique<Connection::Ws>();
    Address& a = addresses_[c->address];
    ++a.connections;
    c->in_pending = pending_.insert(pending_.end(), c->id);
    c->in_address_pending = a.pending.insert(a.pending.end(), c->id);
    auto local = c->sock.local_endpoint(ec);
    log("conn " + std::to_string(c->id) + ": accepted from " + endpoint_str(remote) + " on " + l.bound + " (auth " +
        auth_mode_name(l.cfg.auth) + ")");
    if (tap_) tap_->on_open(tap_first_ + c->id - 1, to_endpoint(remote), to_endpoint(local), wall_ns());
    // The peer's address keys the brute-force limit (unknown: limited per client id only).
    core_.open(c->id, l.cfg, steady_ms(), source_key(to_endpoint(remote).ip));
    if (!l.cfg.tls) {
      read(c);
      return;
    }
    // TLS: the handshake first (bounded like the rest of the admission: connect_timeout, pending limits).
    c->tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(c->sock, *tls_ctx_);
    c->reading = true;
    c->tls->async_handshake(
        asio::ssl::stream_base::server, [self = shared_from_this(), c](const asio::error_code& failed) {
          c->reading = false;
          if (c->sock_closed || c->gone) return;
          if (failed) {
            self->log("conn " + std::to_string(c->id) + ": TLS handshake failed: " + failed.message());
            self->core_.closed(c->id, steady_ms());
            self->finish(c, true, true);
            self->flush();
            return;
          }
          self->read(c);
        });
  }

  void read(const std::shared_ptr<Connection>& c) {
    c->reading = true;
    auto done = [self = shared_from_this(), c](const asio::error_code& ec, std::size_t n) {
      c->reading = false;
      if (c->sock_closed) return;
      if (c->draining) {
        // After our FIN: discard what the peer still sends until it closes.
        if (ec) {
          self->close_socket(c);
        } else {
          self->read(c);
        }
        return;
      }
      if (c->gone) return;
      if (ec) {
        bool reset = ec != asio::error::eof && ec != asio::ssl::error::stream_truncated;
        self->core_.closed(c->id, steady_ms());
        self->finish(c, true, reset);
        self->flush();
        return;
      }
      std::span<const std::uint8_t> data(c->buf.data(), n);
      if (self->tap_) self->tap_->on_data(self->tap_first_ + c->id - 1, true, data, wall_ns());
      self->receive(c, data);
      self->flush();
      if (!c->gone && c->pending) {
        c->handshake_bytes += n;
        if (self->core_.is_established(c->id)) {
          self->settle(*c);
        } else if (c->handshake_bytes > self->cfg_.max_handshake_bytes) {
          self->log("conn " + std::to_string(c->id) + ": over " + std::to_string(self->cfg_.max_handshake_bytes) +
                    " bytes before authentication (max_handshake_bytes), closing");
          self->core_.closed(c->id, steady_ms());
          self->finish(c, false, true);
          self->flush();
          return;
        }
      }
      if (!c->gone && !c->closing) self->read(c);
    };
    if (c->tls)
      c->tls->async_read_some(asio::buffer(c->buf), std::move(done));
    else
      c->sock.async_read_some(asio::buffer(c->buf), std::move(done));
  }

  // What a connection sent: to the core, through the WebSocket layer on a WebSocket listener (the opening
  // handshake answered with 101, frames unmasked, pings answered, a Close ends the connection).
  void receive(const std::shared_ptr<Connection>& c, std::span<const std::uint8_t> data) {
    if (!c->ws) {
      core_.receive(c->id, data, steady_ms());
      return;
    }
    Connection::Ws& w = *c->ws;
    std::vector<std::uint8_t> rest;
    if (!w.open) {
      w.head.insert(w.head.end(), data.begin(), data.end());
      const ws::HttpHead h = ws::parse_http_head(w.head);
      if (h.status == ws::HttpHead::Status::need_more) return;
      if (h.status != ws::HttpHead::Status::complete || !h.request || !h.upgrade || h.key.empty()) {
        log("conn " + std::to_string(c->id) + ": not a WebSocket opening handshake, closing");
        send_raw(c, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
        core_.closed(c->id, steady_ms());
        c->closing = true;
        return;
      }
      std::string response =
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Accept: " +
          websocket_accept(h.key) + "\r\n";
      if (ws::names_mqtt(h.subprotocols)) response += "Sec-WebSocket-Protocol: mqtt\r\n";
      send_raw(c, response + "\r\n");
      w.open = true;
      rest.assign(w.head.begin() + static_cast<std::ptrdiff_t>(h.length), w.head.end());
      std::vector<std::uint8_t>().swap(w.head);
      data = rest;
    }
    w.frames.push(data);
    for (;;) {
      const ws::Deframer::Event e = w.frames.next();
      using K = ws::Deframer::Event::Kind;
      if (e.kind == K::need_more) return;
      if (e.kind == K::data) {
        core_.receive(c->id, e.payload, steady_ms());
      } else if (e.kind == K::control && e.opcode == static_cast<std::uint8_t>(ws::Opcode::ping)) {
        const auto pong = ws::encode_frame(static_cast<std::uint8_t>(ws::Opcode::pong), e.payload, true, std::nullopt);
        send_raw(c, std::string(pong.begin(), pong.end()));
      } else if (e.kind == K::control && e.opcode == static_cast<std::uint8_t>(ws::Opcode::close)) {
        const std::uint8_t code[2] = {0x03, 0xE8};  // 1000: normal closure, in answer
        const auto close = ws::encode_frame(static_cast<std::uint8_t>(ws::Opcode::close), code, true, std::nullopt);
        send_raw(c, std::string(close.begin(), close.end()));
        core_.closed(c->id, steady_ms());
        c->closing = true;
        return;
      } else if (e.kind == K::violation) {
        log("conn " + std::to_string(c->id) + ": WebSocket: " + e.detail + " [" + e.rule + "]");
      }
    }
  }

  // Bytes queued as they are (the opening handshake's answer, control frames).
  void send_raw(const std::shared_ptr<Connection>& c, const std::string& bytes) {
    if (c->gone) return;
    c->queued += bytes.size();
    queued_total_ += bytes.size();
    c->outq.emplace_back(bytes.begin(), bytes.end());
    if (!c->writing) write(c);
  }

  // Admission of a newcomer from `addr` (see BrokerConfig::max_pending): closes the pending connection it
  // replaces, if any; false when it must be refused (every connection that would make room is established).
  bool make_room(const asio::ip::address& addr) {
    auto it = addresses_.find(addr);
    if (cfg_.max_connections_per_address != 0 && it != addresses_.end() &&
        it->second.connections >= cfg_.max_connections_per_address) {
      if (it->second.pending.empty()) return false;
      evict(it->second.pending.front());
    }
    if (conns_.size() < cfg_.max_connections && pending_.size() < cfg_.max_pending) return true;
    it = addresses_.find(addr);  // the eviction above may have erased it
    if (it != addresses_.end() && !it->second.pending.empty()) {
      evict(it->second.pending.front());  // the newcomer's own address pays first
    } else if (!pending_.empty()) {
      evict(pending_.front());
    } else {
      return false;
    }
    return true;
  }

  // Closes (resets) a pending connection to make room for a newcomer.
  void evict(ConnId id) {
    auto c = conns_.at(id);
    admission_log("conn " + std::to_string(id) + ": closed for a newcomer (the oldest connection not yet " +
                  "authenticated; max_pending, max_connections or max_connections_per_address)");
    core_.closed(id, steady_ms());
    finish(c, false, true);
  }

  // Out of file descriptors: closes the connections draining after a close (a courtesy), else the oldest
  // pending connection. False when there is nothing to close.
  bool free_descriptor() {
    if (!draining_.empty()) {
      admission_log("out of file descriptors: " + std::to_string(draining_.size()) +
                    " connections closed without their drain");
      std::vector<std::shared_ptr<Connection>> drains(draining_.begin(), draining_.end());
      for (auto& c : drains) close_socket(c);
      return true;
    }
    if (pending_.empty()) return false;
    evict(pending_.front());
    return true;
  }

  // `c` is no longer pending (established, or gone).
  void settle(Connection& c) {
    if (!c.pending) return;
    c.pending = false;
    pending_.erase(c.in_pending);
    addresses_[c.address].pending.erase(c.in_address_pending);
  }

  // Admission events (refusals, evictions, no descriptors) are logged at most once a second, the rest counted:
  // a flood of connections must not become a flood of log lines.
  void admission_log(const std::string& line) {
    TimeMs now = steady_ms();
    if (now - admission_logged_at_ < 1000) {
      ++admission_unlogged_;
      return;
    }
    admission_logged_at_ = now;
    log(line);
  }
  void admission_log_summary() {
    TimeMs now = steady_ms();
    if (admission_unlogged_ == 0 || now - admission_logged_at_ < 1000) return;
    log(std::to_string(admission_unlogged_) + " more admission events (refused, closed for a newcomer, cannot " +
        "accept) not logged");
    admission_unlogged_ = 0;
    admission_logged_at_ = now;
  }

  void flush() {
    while (core_.has_actions()) {
      for (auto& a : core_.take_actions()) {
        auto it = conns_.find(a.conn);
        if (it == conns_.end()) continue;
        auto c = it->second;
        if (c->gone) continue;
        if (a.kind == Action::Kind::close) {
          c->closing = true;
          if (!c->writing) finish(c, false, false);
          continue;
        }
        if (c->closing) continue;
        if (c->ws && c->ws->open)  // one binary frame per write of the core [MQTT-6.0.0-1]
          a.bytes = ws::encode_frame(static_cast<std::uint8_t>(ws::Opcode::binary), a.bytes, true, std::nullopt);
        c->queued += a.bytes.size();
        queued_total_ += a.bytes.size();
        if (c->queued > cfg_.max_output_queue) {
          overflow(c, "output queue over " + std::to_string(cfg_.max_output_queue) + " bytes (max_output_queue)");
          continue;
        }
        // Over the budget of all queues: the connections that hold the most go first (readers that do not
        // keep up), until the rest fits.
        while (queued_total_ > cfg_.max_output_total) {
          auto big = largest_queue();
          if (!big) break;
          overflow(big, "the largest output queue while all queues hold over " + std::to_string(cfg_.max_output_total) +
                            " bytes (max_output_total)");
        }
        if (c->gone) continue;
        c->outq.push_back(std::move(a.bytes));
        if (!c->writing) write(c);
      }
    }
  }

  void write(const std::shared_ptr<Connection>& c) {
    if (c->outq.empty()) return;
    c->writing_buf.clear();
    for (auto& b : c->outq) c->writing_buf.insert(c->writing_buf.end(), b.begin(), b.end());
    c->outq.clear();
    c->writing = true;
    if (tap_) tap_->on_data(tap_first_ + c->id - 1, false, c->writing_buf, wall_ns());
    auto done = [self = shared_from_this(), c](const asio::error_code& ec, std::size_t n) {
      c->writing = false;
      if (c->gone) return;
      if (ec) {
        self->core_.closed(c->id, steady_ms());
        self->finish(c, true, true);
        self->flush();
        return;
      }
      self->unqueue(*c, n);
      if (!c->outq.empty()) {
        self->write(c);
      } else if (c->closing) {
        self->finish(c, false, false);
      } else if (c->writing_buf.capacity() > 65536) {
        std::vector<std::uint8_t>().swap(c->writing_buf);  // after a burst: give it back
      }
    };
    if (c->tls)
      asio::async_write(*c->tls, asio::buffer(c->writing_buf), std::move(done));
    else
      asio::async_write(c->sock, asio::buffer(c->writing_buf), std::move(done));
  }

  void unqueue(Connection& c, std::size_t n) {
    n = std::min(c.queued, n);
    c.queued -= n;
    queued_total_ -= n;
  }

  std::shared_ptr<Connection> largest_queue() const {
    std::shared_ptr<Connection> out;
    for (const auto& [id, c] : conns_)
      if (!out || c->queued > out->queued) out = c;
    return out;
  }

  // Closes (resets) a connection whose output does not fit.
  void overflow(const std::shared_ptr<Connection>& c, const std::string& why) {
    log("conn " + std::to_string(c->id) + ": " + why + ", closing");
    core_.closed(c->id, steady_ms());
    finish(c, false, true);
  }

  // The connection is done: closed by the peer (by_client), or by us. A close by us sends FIN and then
  // drains the peer's bytes for a short while, so that it can read our last packets (a DISCONNECT with a
  // reason, a refusing CONNACK) before it sees the connection go.
  void finish(const std::shared_ptr<Connection>& c, bool by_client, bool reset) {
    if (c->gone) return;
    c->gone = true;
    conns_.erase(c->id);
    unqueue(*c, c->queued);
    settle(*c);
    auto a = addresses_.find(c->address);
    if (a != addresses_.end() && --a->second.connections == 0) addresses_.erase(a);
    if (tap_) tap_->on_close(tap_first_ + c->id - 1, by_client, reset, wall_ns());
    asio::error_code ec;
    // The drain holds a descriptor for up to 2 s: at most max_connections connections drain at once.
    if (by_client || reset || stopped_ || draining_.size() >= cfg_.max_connections) {
      if (reset) c->sock.set_option(asio::socket_base::linger(true, 0), ec);
      close_socket(c);
      return;
    }
    c->sock.shutdown(tcp::socket::shutdown_send, ec);
    c->draining = true;
    draining_.insert(c);
    c->linger.expires_after(std::chrono::seconds(2));
    c->linger.async_wait([self = shared_from_this(), c](const asio::error_code& e) {
      if (!e) self->close_socket(c);
    });
    if (!c->reading) read(c);
  }

  void close_socket(const std::shared_ptr<Connection>& c) {
    if (c->sock_closed) return;
    c->sock_closed = true;
    asio::error_code ec;
    c->linger.cancel();
    c->sock.close(ec);
    draining_.erase(c);
  }

  asio::io_context& io_;
  BrokerConfig cfg_;
  Core core_;
  asio::steady_timer timer_;
  std::vector<std::shared_ptr<Listener>> listeners_;
  KeylogFile keylog_;                            // the TLS key log file, when asked (outlives the context)
  std::unique_ptr<asio::ssl::context> tls_ctx_;  // the TLS listeners' (made by the first one)
  std::unordered_map<ConnId, std::shared_ptr<Connection>> conns_;
  std::set<std::shared_ptr<Connection>> draining_;
  std::size_t queued_total_ = 0;  // bytes in every connection's output queue
  std::list<ConnId> pending_;     // every pending connection, oldest first
  std::unordered_map<asio::ip::address, Address> addresses_;
  TimeMs admission_logged_at_ = -1000000;
  std::size_t admission_unlogged_ = 0;
  ConnId next_id_ = 1;
  IoTap* tap_ = nullptr;
  std::uint64_t tap_first_ = 1;
  bool ticking_ = false;
  bool stopped_ = false;
};

struct Broker::Impl {
  std::shared_ptr<Server> server;
  AuthMode default_auth = AuthMode::none;
  std::uint8_t default_code = 0;
};

Broker::Broker(asio::io_context& io, BrokerConfig config) : impl_(std::make_unique<Impl>()) {
  impl_->default_auth = config.auth;
  impl_->default_code = config.auth_code;
  impl_->server = std::make_shared<Server>(io, std::move(config));
}

Broker::~Broker() {
  try {
    impl_->server->stop();
  } catch (...) {  // closing sockets reports errors through error codes; nothing is left to do on the way out
  }
}

bool Broker::listen(const std::string& host_port, std::string& error) {
  ListenerConfig lc;
  lc.host_port = host_port;
  lc.auth = impl_->default_auth;
  lc.auth_code = impl_->default_code;
  return listen(lc, error);
}

bool Broker::listen(const ListenerConfig& listener, std::string& error) {
  if (listener.auth_code != 0 && listener.auth_code != 15) {
    error = "the authenticate packet code must be 0 or 15";
    return false;
  }
  return impl_->server->listen(listener, error);
}

std::uint16_t Broker::port(std::size_t listener) const {
  const auto& ls = impl_->server->listeners();
  return listener < ls.size() ? ls[listener]->port : 0;
}

std::string Broker::bound_address(std::size_t listener) const {
  const auto& ls = impl_->server->listeners();
  return listener < ls.size() ? ls[listener]->bound : std::string{};
}

std::size_t Broker::listener_count() const { return impl_->server->listeners().size(); }
void Broker::set_tap(IoTap* tap, std::uint64_t first_id) { impl_->server->set_tap(tap, first_id); }
void Broker::stop() { impl_->server->stop(); }
std::size_t Broker::connection_count() const { return impl_->server->connection_count(); }
std::size_t Broker::accepted_count() const { return impl_->server->accepted_count(); }

}  // namespace mqttauth::cli::broker
