// mqttauth broker: the reference broker (MQTT 3.1 / 3.1.1 / 5.0 with the custom authenticate handshake).
#include <sys/resource.h>

#include <asio.hpp>

#include <algorithm>
#include <map>
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
  // The settings given on the command line, by key of the settings table (broker/config.hpp): every value
  // in the order given (a setting given twice: the last one wins; deny_subscribe: each one adds).
  std::map<std::string, std::vector<std::string>, std::less<>> given;
  std::map<std::string, bool, std::less<>> flags;
  bool quiet = false;
};

// "auth_fail_limit" -> "--auth-fail-limit".
std::string option_name(std::string_view key) {
  std::string o = "--" + std::string(key);
  std::replace(o.begin(), o.end(), '_', '-');
  return o;
}

bool was_given(const BrokerOptions& o, std::string_view key) {
  auto it = o.given.find(key);
  auto f = o.flags.find(key);
  return (it != o.given.end() && !it->second.empty()) || (f != o.flags.end() && f->second);
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
  // The command line overrides the file, through the same table of settings.
  for (const auto& [key, values] : o.given)
    for (const auto& v : values)
      if (!apply_setting(key, v, "", fc, error)) {
        std::fprintf(stderr, "mqttauth broker: %s: %s\n", option_name(key).c_str(), error.c_str());
        return kExitUsage;
      }
  for (const auto& [key, on] : o.flags)
    if (on && !apply_setting(key, "true", "", fc, error)) {
      std::fprintf(stderr, "mqttauth broker: %s: %s\n", option_name(key).c_str(), error.c_str());
      return kExitUsage;
    }
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
    if (was_given(o, "auth")) l.auth = cfg.auth;
    if (was_given(o, "auth_code")) l.auth_code = cfg.auth_code;
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
      "A listener is HOST:PORT, optionally followed by auth=none|custom|v5|any, code=0|15, ws and tls.\n"
      "Every setting of the configuration file is also an option: max_pending = 100 is --max-pending 100.\n"
      "Exit codes: 0 stopped (SIGINT/SIGTERM), 2 usage, unreadable config or secrets, cannot listen.");
  repeatable(sub->add_option(
      "--listen", opt->listen,
      "HOST:PORT to listen on, mqtts://HOST:PORT for MQTT over TLS, ws://HOST:PORT for MQTT over WebSocket, "
      "wss://HOST:PORT for WebSocket over TLS (repeatable; port 0 = any free port)"));
  sub->add_option("--config", opt->config, "Configuration file (key = value; the command line overrides it)");
  // Every setting of the table that the command line takes, named as in the file with '-' for '_'.
  for (const broker::Setting& st : broker::settings()) {
    if (!st.command_line) continue;
    const std::string key(st.key), help(st.help);
    if (st.flag)
      sub->add_flag(option_name(key), opt->flags[key], help);
    else
      repeatable(sub->add_option(option_name(key), opt->given[key], help))->type_name(std::string(st.value_name));
  }
  sub->add_flag("-q,--quiet", opt->quiet, "No log lines on stderr (the listening lines stay)");
  sub->callback([opt] {
    int rc = run_broker(*opt);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace mqttauth::cli
