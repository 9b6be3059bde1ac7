// mqttauth broker: the reference broker (MQTT 3.1 / 3.1.1 / 5.0 with the custom authenticate handshake).
#include <sys/resource.h>

#include <asio.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/broker.hpp"
#include "broker/config.hpp"
#include "commands.hpp"

namespace mqttauth::cli {

namespace {

struct BrokerOptions {
  std::vector<std::string> listen;
  std::string config;
  std::string auth;
  int auth_code = -1;
  std::string secrets;
  bool seed_compat = false;
  double auth_timeout = -1;
  double connect_timeout = -1;
  long long max_packet_size = -1;
  long long max_connections = -1;
  long long max_pending = -1;
  long long max_connections_per_address = -1;
  long long max_handshake_bytes = -1;
  long long max_output_queue = -1;
  long long max_output_total = -1;
  int server_keep_alive = -1;
  long long auth_fail_limit = -1;
  long long auth_fail_limit_address = -1;
  double auth_fail_window = -1;
  double auth_lockout = -1;
  double auth_lockout_max = -1;
  long long auth_limit_entries = -1;
  std::vector<std::string> deny_subscribe;
  bool quiet = false;
};

// A numeric option given on the command line (-1 = not given; CLI11 checked its range) replaces the setting.
template <class Option, class Setting>
void override(Option given, Setting& setting) {
  if (given >= 0) setting = static_cast<Setting>(given);
}

// Every connection takes a file descriptor, and so does every connection draining after a close (at most
// max_connections of each). Raises the soft limit towards what that needs; warns when the hard limit is lower
// (the broker then copes with running out: see Broker's accept loop).
void raise_descriptor_limit(std::size_t max_connections) {
  const auto needed = static_cast<rlim_t>(2 * max_connections + 64);
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= needed) return;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? needed : std::min(needed, rl.rlim_max);
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < needed)
    std::fprintf(stderr,
                 "mqttauth broker: warning: %llu file descriptors at most (ulimit -n), %llu wanted for "
                 "--max-connections %zu and as many closing; at the limit pending connections are closed\n",
                 static_cast<unsigned long long>(rl.rlim_cur), static_cast<unsigned long long>(needed),
                 max_connections);
}

int run_broker(const BrokerOptions& o) {
  using namespace broker;
  FileConfig fc;
  std::string error;
  if (!o.config.empty() && !load_config(o.config, fc, error)) {
    std::fprintf(stderr, "mqttauth broker: %s\n", error.c_str());
    return kExitUsage;
  }
  BrokerConfig& cfg = fc.broker;
  // The command line overrides the file.
  if (!o.auth.empty() && !parse_auth_mode(o.auth, cfg.auth)) {
    std::fprintf(stderr, "mqttauth broker: --auth must be none, custom, v5 or any\n");
    return kExitUsage;
  }
  if (o.auth_code >= 0) cfg.auth_code = static_cast<std::uint8_t>(o.auth_code);
  if (!o.secrets.empty()) fc.secrets_path = o.secrets;
  if (o.seed_compat) cfg.seed_compat = true;
  auto set_seconds = [](double s, std::chrono::milliseconds& out) {
    if (s >= 0) out = std::chrono::milliseconds(static_cast<long long>(s * 1000));
  };
  set_seconds(o.auth_timeout, cfg.auth_timeout);
  set_seconds(o.connect_timeout, cfg.connect_timeout);
  AuthLimitConfig& limit = cfg.auth_limit;
  override(o.auth_fail_limit, limit.client_failures);
  override(o.auth_fail_limit_address, limit.address_failures);
  set_seconds(o.auth_fail_window, limit.window);
  set_seconds(o.auth_lockout, limit.lockout);
  set_seconds(o.auth_lockout_max, limit.max_lockout);
  override(o.auth_limit_entries, limit.max_entries);
  override(o.max_packet_size, cfg.max_packet_size);
  override(o.max_connections, cfg.max_connections);
  override(o.max_pending, cfg.max_pending);
  override(o.max_connections_per_address, cfg.max_connections_per_address);
  override(o.max_handshake_bytes, cfg.max_handshake_bytes);
  override(o.max_output_queue, cfg.max_output_queue);
  override(o.max_output_total, cfg.max_output_total);
  override(o.server_keep_alive, cfg.server_keep_alive);
  for (const auto& d : o.deny_subscribe) cfg.deny_subscribe.push_back(d);
  if (o.quiet) fc.log = false;

  std::vector<ListenerConfig> listeners;
  ListenerConfig dflt;
  dflt.auth = cfg.auth;
  dflt.auth_code = cfg.auth_code;
  if (!o.listen.empty()) {
    for (const auto& l : o.listen) {
      ListenerConfig lc;
      if (!parse_listener(l, dflt, lc, error)) {
        std::fprintf(stderr, "mqttauth broker: --listen %s: %s\n", l.c_str(), error.c_str());
        return kExitUsage;
      }
      listeners.push_back(lc);
    }
  } else if (!fc.listeners.empty()) {
    listeners = fc.listeners;
  } else {
    listeners.push_back(dflt);
  }
  // --auth / --auth-code given on the command line apply to every listener.
  for (auto& l : listeners) {
    if (!o.auth.empty()) l.auth = cfg.auth;
    if (o.auth_code >= 0) l.auth_code = cfg.auth_code;
  }

  bool needs_secrets = false;
  for (const auto& l : listeners) needs_secrets = needs_secrets || l.auth != AuthMode::none;
  if (!fc.secrets_path.empty()) {
    if (!cfg.secrets.load(fc.secrets_path, error)) {
      std::fprintf(stderr, "mqttauth broker: %s\n", error.c_str());
      return kExitUsage;
    }
  } else if (needs_secrets) {
    std::fprintf(stderr, "mqttauth broker: warning: authentication without --secrets refuses every client\n");
  }
  if (cfg.seed_compat)
    std::fprintf(stderr,
                 "mqttauth broker: warning: --seed-compat challenges are the millisecond clock, which an attacker "
                 "can predict (replayable responses); use it only to reproduce the field's behaviour\n");
  if (fc.log) {
    cfg.log = [](std::string_view line) {
      std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
      std::fflush(stderr);
    };
  }

  raise_descriptor_limit(cfg.max_connections);
  asio::io_context io;
  Broker b(io, cfg);
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    if (!b.listen(listeners[i], error)) {
      std::fprintf(stderr, "mqttauth broker: %s\n", error.c_str());
      return kExitUsage;
    }
    // Exactly "listening on HOST:PORT" (scripts read the port from it); the auth mode on a line of its own.
    std::fprintf(stderr, "listening on %s\n", b.bound_address(i).c_str());
    std::fprintf(stderr, "  auth %s%s\n", auth_mode_name(listeners[i].auth),
                 listeners[i].auth == AuthMode::custom || listeners[i].auth == AuthMode::any
                     ? (listeners[i].auth_code == 15 ? ", authenticate code 15" : ", authenticate code 0")
                     : "");
  }
  std::fflush(stderr);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& ec, int) {
    if (ec) return;
    std::fprintf(stderr, "mqttauth broker: stopping\n");
    b.stop();
  });
  b.set_tap(nullptr);
  io.run();
  return kExitOk;
}

}  // namespace

void setup_broker(CLI::App& app) {
  auto opt = std::make_shared<BrokerOptions>();
  auto* sub = app.add_subcommand("broker", "Run the reference MQTT broker (3.1/3.1.1/5.0, custom and v5 auth)");
  sub->footer(
      "Examples:\n"
      "  mqttauth broker                                   # 127.0.0.1:1883, no authentication\n"
      "  mqttauth broker --auth custom --auth-code 15 --secrets devices.secrets\n"
      "  mqttauth broker --listen 127.0.0.1:0 --listen '127.0.0.1:1884 auth=v5' --secrets devices.secrets\n"
      "  mqttauth broker --config docs/broker.conf\n"
      "A listener is HOST:PORT, optionally followed by auth=none|custom|v5|any and code=0|15.\n"
      "Exit codes: 0 stopped (SIGINT/SIGTERM), 2 usage, unreadable config or secrets, cannot listen.");
  repeatable(sub->add_option("--listen", opt->listen, "HOST:PORT to listen on (repeatable; port 0 = any free port)"));
  sub->add_option("--config", opt->config, "Configuration file (key = value; the command line overrides it)");
  sub->add_option("--auth", opt->auth, "Authentication: none, custom, v5 or any (all listeners)")
      ->check(CLI::IsMember({"none", "custom", "v5", "any"}));
  sub->add_option("--auth-code", opt->auth_code, "Packet type of the custom authenticate packet: 0 or 15")
      ->check(CLI::IsMember({0, 15}));
  sub->add_option("--secrets", opt->secrets, "Secrets file: '<client-id> <secret>' lines");
  sub->add_flag("--seed-compat", opt->seed_compat,
                "Challenges are the 13-digit millisecond clock as in the field (predictable!)");
  sub->add_option("--auth-timeout", opt->auth_timeout, "Seconds to wait for the response (default 10)")
      ->check(CLI::Range(0.0, 86400.0));
  sub->add_option("--connect-timeout", opt->connect_timeout, "Seconds to wait for CONNECT (default 10)")
      ->check(CLI::Range(0.0, 86400.0));
  sub->add_option("--max-packet-size", opt->max_packet_size, "Largest packet accepted (default 1048576)")
      ->check(CLI::Range(64LL, 268435460LL));
  sub->add_option("--max-connections", opt->max_connections, "Open connections at most (default 1024)")
      ->check(CLI::Range(1LL, 1000000LL));
  sub->add_option("--max-pending", opt->max_pending,
                  "Connections not yet authenticated at most; a newcomer closes the oldest (default 512)")
      ->check(CLI::Range(1LL, 1000000LL));
  sub->add_option("--max-connections-per-address", opt->max_connections_per_address,
                  "Connections from one IP address at most (default 0: no limit)")
      ->check(CLI::Range(0LL, 1000000LL));
  sub->add_option("--max-handshake-bytes", opt->max_handshake_bytes,
                  "Bytes a connection may send before it is authenticated (default 65536)")
      ->check(CLI::Range(64LL, 268435460LL));
  sub->add_option("--max-output-queue", opt->max_output_queue,
                  "Bytes queued for one socket before it is closed (default 8388608)")
      ->check(CLI::Range(1LL, 1LL << 32));
  sub->add_option("--max-output-total", opt->max_output_total,
                  "Bytes queued for all sockets; over it the largest queue's socket is closed (default 268435456)")
      ->check(CLI::Range(1LL, 1LL << 40));
  sub->add_option("--server-keep-alive", opt->server_keep_alive,
                  "Largest keep alive for MQTT 5 clients, sent as Server Keep Alive (0 = none)")
      ->check(CLI::Range(0, 65535));
  sub->add_option("--auth-fail-limit", opt->auth_fail_limit,
                  "Failed authentications per client id within the window before it is locked out (default 5, "
                  "0 = no limit)")
      ->check(CLI::Range(0LL, 1000000LL));
  sub->add_option("--auth-fail-limit-address", opt->auth_fail_limit_address,
                  "The same per source address (IPv6: per /64) (default 20, 0 = no limit)")
      ->check(CLI::Range(0LL, 1000000LL));
  sub->add_option("--auth-fail-window", opt->auth_fail_window,
                  "Seconds after its last failure that a count is forgotten (default 60)")
      ->check(CLI::Range(0.0, 1e7));
  sub->add_option("--auth-lockout", opt->auth_lockout,
                  "Seconds of the first lockout, doubled with each further failure (default 1)")
      ->check(CLI::Range(0.0, 1e7));
  sub->add_option("--auth-lockout-max", opt->auth_lockout_max, "Longest lockout in seconds (default 30)")
      ->check(CLI::Range(0.0, 1e7));
  sub->add_option("--auth-limit-entries", opt->auth_limit_entries,
                  "Client ids and addresses tracked at most, each (default 10000; the oldest is evicted)")
      ->check(CLI::Range(1LL, 10000000LL));
  repeatable(sub->add_option("--deny-subscribe", opt->deny_subscribe,
                             "Refuse subscriptions to this topic filter (repeatable)"));
  sub->add_flag("-q,--quiet", opt->quiet, "No log lines on stderr (the listening lines stay)");
  sub->callback([opt] {
    int rc = run_broker(*opt);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace mqttauth::cli
