// The sans-I/O broker core: sessions, subscriptions, the retained store, QoS 1/2 state, wills, keep-alive and
// the authentication state machines (custom authenticate packet, MQTT 5 enhanced auth). It is fed with the
// bytes each connection receives and with the clock, and answers with actions: bytes to send on a
// connection, or a connection to close. No sockets, no threads, no clock of its own: unit-testable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/broker.hpp"
#include "broker/limiter.hpp"
#include "mqttauth/framer.hpp"
#include "netparse.hpp"

namespace mqttauth::cli::broker {

using ConnId = std::uint64_t;

struct Action {
  enum class Kind : std::uint8_t { send, close };
  Kind kind = Kind::send;
  ConnId conn = 0;
  std::vector<std::uint8_t> bytes;  // send: one or more encoded packets
};

// An application message as the broker keeps it (owned copies).
struct Message {
  std::string topic;
  std::vector<std::uint8_t> payload;
  std::vector<std::uint8_t> props;  // v5 properties passed on to subscribers (no alias, expiry, sub ids)
  std::uint8_t qos = 0;
  bool retain = false;
  std::optional<TimeMs> expires_at;  // v5 Message Expiry Interval
  std::string origin;                // publishing client id (for no-local)
};
using MessagePtr = std::shared_ptr<const Message>;

class Core {
 public:
  // Challenges come from config.challenges; by default 16 RAND_bytes as hex (or the millisecond clock with
  // config.seed_compat).
  explicit Core(const BrokerConfig& config);

  // A connection was accepted on a listener. `source` keys the brute-force limit per address (see
  // source_key()); empty: the connection is limited per client id only.
  void open(ConnId id, const ListenerConfig& listener, TimeMs now, std::string source = {});
  // Bytes the connection received.
  void receive(ConnId id, std::span<const std::uint8_t> bytes, TimeMs now);
  // The socket is gone (peer closed, error, output overflow). Publishes the will unless DISCONNECT was seen.
  void closed(ConnId id, TimeMs now);
  // Time-driven work: CONNECT / handshake timeouts, keep-alive, delayed wills, session expiry, retries.
  void tick(TimeMs now);

  // The actions produced so far, in order; the caller performs them.
  std::vector<Action> take_actions();
  bool has_actions() const noexcept { return !actions_.empty(); }

  // Introspection (tests, logging).
  std::size_t connection_count() const noexcept { return conns_.size(); }
  std::size_t session_count() const noexcept { return sessions_.size(); }
  std::size_t retained_count() const noexcept { return retained_.size(); }
  bool is_connected(const std::string& client_id) const;
  bool has_session(const std::string& client_id) const;
  // Connection `id` is through CONNECT and authentication (CONNACK 0 sent). The server admits and limits
  // connections that are not yet (see BrokerConfig::max_pending).
  bool is_established(ConnId id) const {
    auto it = conns_.find(id);
    return it != conns_.end() && it->second.state == State::connected;
  }
  // Messages waiting (queued or in flight) for a session.
  std::size_t pending_messages(const std::string& client_id) const;
  // Keys tracked by the brute-force limit.
  std::size_t limited_client_ids() const noexcept { return failed_clients_.size(); }
  std::size_t limited_sources() const noexcept { return failed_sources_.size(); }

 private:
  enum class State : std::uint8_t { wait_connect, wait_custom_auth, wait_v5_auth, connected };
  enum class Scheme : std::uint8_t { none, custom, v5 };

  struct Will {
    MessagePtr msg;
    std::uint32_t delay = 0;  // seconds (v5 Will Delay Interval)
  };

  struct Conn {
    ConnId id = 0;
    ListenerConfig listener;
    std::string source;  // the peer's address as the brute-force limit keys it
    State state = State::wait_connect;
    TimeMs deadline = 0;  // CONNECT / handshake deadline
    TimeMs last_rx = 0;
    std::uint8_t level = 0;
    Framer framer;
    std::uint16_t keep_alive = 0;  // seconds, as in force
    bool keep_alive_imposed = false;
    std::string client_id;
    bool assigned_id = false;
    bool clean = true;
    std::uint32_t session_expiry = 0;
    std::optional<Will> will;
    Scheme scheme = Scheme::none;
    std::string challenge;
    // MQTT 5 re-authentication (§4.12.1) in progress: AUTH 0x18 with a fresh challenge was sent, the response
    // is due by reauth_deadline. Normal traffic goes on meanwhile.
    bool reauth = false;
    TimeMs reauth_deadline = 0;
    std::uint8_t auth_code = 0;
    std::uint32_t client_max_packet = 0;  // 0 = no limit
    std::uint16_t client_receive_max = 65535;
    std::uint16_t client_alias_max = 0;
    std::map<std::uint16_t, std::string> in_aliases;
    std::unordered_map<std::string, std::uint16_t> out_aliases;
    bool problem_info = true;
    explicit Conn(std::uint32_t max_packet) : framer(max_packet) {}
  };

  struct Sub {
    std::uint8_t options = 0;
    std::uint32_t id = 0;  // subscription identifier, 0 = none
    std::string filter;    // the filter to match (without "$share/<group>/")
    std::string group;     // shared-subscription group, empty when not shared
  };

  struct Delivery {
    MessagePtr msg;
    std::uint8_t qos = 0;
    bool retain = false;
    std::vector<std::uint32_t> sub_ids;
    bool released = false;  // QoS 2: PUBREC received, PUBREL sent
    TimeMs sent_at = 0;
  };

  struct Session {
    std::string client_id;
    ConnId conn = 0;  // 0 = offline
    std::uint8_t level = kLevel311;
    std::map<std::string, Sub> subs;  // by the filter as subscribed
    std::map<std::uint16_t, Delivery> inflight;
    std::deque<Delivery> queue;
    std::uint16_t last_id = 0;
    std::set<std::uint16_t> incoming_qos2;
    std::uint32_t expiry = 0;          // seconds; 0xFFFFFFFF = never
    TimeMs expires_at = 0;             // while offline
    std::optional<Will> pending_will;  // delayed will
    TimeMs will_at = 0;
  };

  Conn* find(ConnId id);
  void send(Conn& c, const Packet& p);
  void detach(ConnId id, TimeMs now);
  void close(Conn& c, bool abnormal, std::optional<std::uint8_t> v5_reason = {});
  void protocol_error(Conn& c, std::uint8_t v5_reason, const char* why);
  void log(const std::string& line) const;

  void handle(Conn& c, const Packet& p, TimeMs now);
  void on_connect(Conn& c, const Connect& p, TimeMs now);
  void on_custom_response(Conn& c, const Authenticate& p, TimeMs now);
  void on_auth(Conn& c, const Auth& p, TimeMs now);
  void finish_auth(Conn& c, std::string_view response, TimeMs now, bool v5);
  void on_reauth(Conn& c, const Auth& p, TimeMs now);
  void send_auth(Conn& c, std::uint8_t reason, std::optional<std::string_view> data);
  bool refuse_if_locked_out(Conn& c, TimeMs now, const char* what);
  void count_failure(const Conn& c, TimeMs now);
  void refuse(Conn& c, std::uint8_t code_3x, std::uint8_t code_v5);
  void complete_connect(Conn& c, TimeMs now, bool with_auth_method);
  void on_publish(Conn& c, const Publish& p, TimeMs now);
  void on_subscribe(Conn& c, const Subscribe& p, TimeMs now);
  void on_unsubscribe(Conn& c, const Unsubscribe& p);

  void route(const MessagePtr& msg, TimeMs now);
  void deliver(Session& s, Delivery d, TimeMs now);
  void pump(Session& s, TimeMs now);
  bool send_publish(Conn& c, Session& s, const Delivery& d, std::uint16_t id, bool dup, TimeMs now);
  std::uint16_t next_packet_id(Session& s);
  void publish_will(const Will& w, TimeMs now);
  void end_session(const std::string& client_id, TimeMs now);
  bool acl_denies(std::string_view filter) const;

  BrokerConfig config_;
  FailureTable failed_clients_;  // brute-force limit per client id
  FailureTable failed_sources_;  // and per source address
  TrustedSources trusted_;       // where each client id authenticated lately: exempt from its client id's lockout
  std::unordered_map<ConnId, Conn> conns_;
  std::unordered_map<std::string, Session> sessions_;
  std::map<std::string, MessagePtr> retained_;
  std::map<std::string, std::size_t> share_rr_;  // round-robin position per shared group+filter
  std::vector<Action> actions_;
  std::uint64_t assigned_ids_ = 0;
  TimeMs now_ = 0;  // the time of the call being handled
};

// The brute-force limit's key for a peer address: an IPv4 address as is (also when IPv4-mapped), an IPv6
// address as its /64 prefix ("2001:db8:1:2::/64"; one subscriber usually has a whole /64).
std::string source_key(const IpAddr& ip);

// A fresh challenge: 16 bytes from RAND_bytes as 32 lower-case hex digits (throws if the CSPRNG fails), or
// with seed_compat the 13-digit wall-clock milliseconds.
std::string make_challenge(bool seed_compat);

}  // namespace mqttauth::cli::broker
