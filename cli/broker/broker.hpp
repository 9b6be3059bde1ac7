// The reference broker: a real MQTT 3.1 / 3.1.1 / 5.0 broker that also speaks the field's custom
// challenge-response handshake (CONNECT -> authenticate challenge -> authenticate response -> CONNACK) and
// MQTT 5 enhanced authentication. A thin Asio server (this class) around a sans-I/O core (core.hpp).
//
// Embedding (e.g. to record a capture in-process):
//
//   asio::io_context io;
//   mqttauth::cli::broker::BrokerConfig cfg;
//   cfg.auth = mqttauth::cli::broker::AuthMode::custom;
//   cfg.secrets.add("sensor-01", "s3cret");
//   mqttauth::cli::broker::Broker b(io, std::move(cfg));
//   std::string err;
//   if (!b.listen("127.0.0.1:0", err)) ...;
//   std::uint16_t port = b.port();
//   b.set_tap(&recorder);
//   io.run();            // until b.stop() (then the io_context runs out of work)
//
// Threading: every member function must be called from the thread that runs the io_context (or while it
// is not running). The broker never spawns threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mqttauth/verify.hpp"

namespace asio {
class io_context;
}

namespace mqttauth::cli {
class IoTap;
}

namespace mqttauth::cli::broker {

// How a listener authenticates clients.
enum class AuthMode : std::uint8_t {
  none,    // CONNECT -> CONNACK 0 (no credentials checked)
  custom,  // the field's authenticate packet (type auth_code) after CONNECT, for every protocol level
  v5,      // MQTT 5 enhanced authentication, method "HMAC-SHA256"; other clients are refused
  any,     // v5 clients that send an Authentication Method use v5 auth, every other client uses custom
};
const char* auth_mode_name(AuthMode m) noexcept;  // "none", "custom", "v5", "any"
// Parses "none" | "custom" | "v5" | "any"; false on anything else.
bool parse_auth_mode(std::string_view s, AuthMode& out) noexcept;

// The method name of MQTT 5 enhanced authentication that the broker accepts.
inline constexpr std::string_view kAuthMethod = "HMAC-SHA256";

struct ListenerConfig {
  std::string host_port = "127.0.0.1:1883";  // "HOST:PORT", "[v6]:PORT"; port 0 = any free port
  AuthMode auth = AuthMode::none;
  std::uint8_t auth_code = 0;  // type of the custom authenticate packet: 0 or 15
  bool websocket = false;      // MQTT over WebSocket (host_port written ws://HOST:PORT, or the option `ws`)
  bool tls = false;            // TLS (mqtts://HOST:PORT, wss://HOST:PORT, or the option `tls`): BrokerConfig::tls
};

// The certificate of the TLS listeners, and where to write the sessions' secrets.
struct BrokerTlsConfig {
  std::string cert_file, key_file;  // PEM (the certificate file may hold the chain)
  std::string keylog_file;          // NSS key log, appended (empty: none)
};

// Brute-force limiting of authentication (custom and v5), see limiter.hpp. Failed authentications (a wrong
// response, an unknown client id) are counted per client id and per source address (IPv4 address, IPv6 /64).
// From the threshold-th failure within the window on, the key is locked out: a CONNECT for that client id or
// from that address is refused at once without a challenge (CONNACK 5; v5 0x9F Connection rate exceeded), and
// a response still pending is refused without being evaluated, for `lockout`, doubled with each further
// failure up to `max_lockout`. A successful authentication clears its client id's count (not the address's).
struct AuthLimitConfig {
  std::uint32_t client_failures = 5;             // per client id within the window (0 = no limit)
  std::uint32_t address_failures = 20;           // per source address within the window (0 = no limit)
  std::chrono::milliseconds window{60000};       // a count is forgotten this long after its last failure
  std::chrono::milliseconds lockout{1000};       // the first lockout
  std::chrono::milliseconds max_lockout{30000};  // the longest lockout
  std::size_t max_entries = 10000;               // per table (client ids, addresses); the oldest is evicted
};

struct BrokerConfig {
  // Listener defaults for listen(host_port, ...).
  AuthMode auth = AuthMode::none;
  std::uint8_t auth_code = 0;
  // Client secrets (client id -> secret) for custom and v5 authentication.
  Secrets secrets;
  // Challenges are the 13-digit millisecond clock as in the field (predictable!) instead of 16 random bytes.
  bool seed_compat = false;
  // Where challenges come from, given the client id being challenged: empty = make_challenge(seed_compat)
  // (16 CSPRNG bytes, or the clock). `mqttauth capture --seed` derives them from the seed, so that a
  // recorded scenario is the same bytes on every run.
  std::function<std::string(std::string_view client_id)> challenges;
  // What the custom response must repeat of the handshake: the CONNECT's client id, and the challenge's packet
  // type (0 or 15). The field's broker (Mosca with the patched mqtt-packet) refuses another client id but
  // reads both types as authenticate: response_code_must_match = false is its behaviour.
  bool response_client_id_must_match = true;
  bool response_code_must_match = true;

  // Time limits.
  std::chrono::milliseconds connect_timeout{10000};  // from accept to CONNECT
  std::chrono::milliseconds auth_timeout{10000};     // from challenge to response
  std::chrono::milliseconds retry_interval{0};       // re-send unacknowledged QoS 1/2 on a live connection
                                                     // after this long (0 = only on reconnect, as the spec says)

  AuthLimitConfig auth_limit;

  // Limits (bounded memory).
  std::uint32_t max_packet_size = 1u << 20;  // largest packet accepted and sent (bytes)
  std::size_t max_connections = 1024;
  // Connections not yet through CONNECT and authentication ("pending"). A newcomer that finds this many, or
  // max_connections in all, closes the oldest pending connection from its own address, else the oldest
  // pending one of all; only when every connection is established is the newcomer refused. So connections
  // that never authenticate cannot lock devices out.
  std::size_t max_pending = 512;
  std::size_t max_connections_per_address = 0;     // from one IP address, pending or not (0 = no limit)
  std::size_t max_handshake_bytes = 65536;         // a pending connection that sends more is closed
  BrokerTlsConfig tls;                             // for the TLS listeners
  std::size_t max_output_queue = 8u << 20;         // bytes queued for one socket before it is closed
  std::size_t max_output_total = 256u << 20;       // bytes queued for all sockets: over it, the largest queue's
                                                   // socket is closed
  std::size_t max_queued_messages = 1000;          // per session: offline / not yet in flight
  std::size_t max_retained = 100000;               // retained messages in all
  std::uint16_t receive_maximum = 20;              // v5: how many QoS 1/2 PUBLISH a client may have in flight
  std::uint16_t max_inflight = 20;                 // outgoing in flight for 3.x clients
  std::uint16_t topic_alias_maximum = 10;          // v5: client -> server topic aliases (0 = none)
  std::uint16_t server_keep_alive = 0;             // v5: imposed on clients when non-zero
  std::uint32_t max_session_expiry = 0xFFFFFFFFu;  // v5: cap on the session expiry a client asks for

  // ACL: SUBSCRIBE to a filter listed here is refused (SUBACK 0x80, v5 `deny_reason_v5`).
  std::vector<std::string> deny_subscribe;
  std::uint8_t deny_reason_v5 = 0x87;  // Not authorized (the Paho suites want 0x80)

  // One line per event (connections, handshakes, errors); empty = silent.
  std::function<void(std::string_view line)> log;
};

class Broker {
 public:
  Broker(asio::io_context& io, BrokerConfig config);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Opens a listener on "HOST:PORT" with the config's default auth mode and code. On failure returns false
  // with `error` set. Can be called several times.
  bool listen(const std::string& host_port, std::string& error);
  bool listen(const ListenerConfig& listener, std::string& error);

  // The bound port of listener `listener` (in listen() order); 0 when there is no such listener.
  std::uint16_t port(std::size_t listener = 0) const;
  // "127.0.0.1:NNNNN" of the bound endpoint.
  std::string bound_address(std::size_t listener = 0) const;
  std::size_t listener_count() const;

  // Reports every socket's traffic to `tap` (nullptr: none). Connection ids given to the tap are
  // first_id, first_id + 1, ... (choose first_id so they do not collide with other users of the tap).
  void set_tap(IoTap* tap, std::uint64_t first_id = 1);

  // Closes the listeners and every connection; the io_context then runs out of the broker's work.
  void stop();

  // Open client connections.
  std::size_t connection_count() const;
  // Connections accepted since the broker started (open or not).
  std::size_t accepted_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mqttauth::cli::broker
