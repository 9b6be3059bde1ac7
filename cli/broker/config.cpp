#include "broker/config.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

namespace mqttauth::cli::broker {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

template <class T>
bool parse_uint(std::string_view v, T& out, unsigned long long max) {
  unsigned long long x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc{} || p != v.data() + v.size() || x > max) return false;
  out = static_cast<T>(x);
  return true;
}

// Seconds, possibly with a fraction ("0.5"), as milliseconds.
bool parse_seconds(std::string_view v, std::chrono::milliseconds& out) {
  double d = 0;
  try {
    std::size_t used = 0;
    d = std::stod(std::string(v), &used);
    if (used != v.size() || d < 0 || d > 1e7) return false;
  } catch (const std::exception&) {
    return false;
  }
  out = std::chrono::milliseconds(std::llround(d * 1000.0));
  return true;
}

bool parse_bool(std::string_view v, bool& out) {
  if (v == "true" || v == "yes" || v == "on" || v == "1")
    out = true;
  else if (v == "false" || v == "no" || v == "off" || v == "0")
    out = false;
  else
    return false;
  return true;
}

// "match" or "any": whether a field must match.
bool parse_match(std::string_view v, bool& must_match) {
  if (v != "match" && v != "any") return false;
  must_match = v == "match";
  return true;
}

}  // namespace

bool parse_listener(std::string_view value, const ListenerConfig& dflt, ListenerConfig& out, std::string& error) {
  out = dflt;
  std::istringstream in{std::string(value)};
  std::string word;
  bool first = true;
  while (in >> word) {
    if (first) {
      out.host_port = word;
      first = false;
      continue;
    }
    auto eq = word.find('=');
    std::string key = word.substr(0, eq);
    std::string val = eq == std::string::npos ? "" : word.substr(eq + 1);
    if (key == "auth") {
      if (!parse_auth_mode(val, out.auth)) {
        error = "auth must be none, custom, v5 or any, not '" + val + "'";
        return false;
      }
    } else if (key == "code") {
      if (val != "0" && val != "15") {
        error = "code must be 0 or 15, not '" + val + "'";
        return false;
      }
      out.auth_code = static_cast<std::uint8_t>(val == "15" ? 15 : 0);
    } else if (word == "ws") {
      out.websocket = true;
    } else if (word == "tls") {
      out.tls = true;
    } else {
      error = "unknown listener option '" + word + "' (auth=MODE, code=0|15, ws)";
      return false;
    }
  }
  if (first) {
    error = "listener needs HOST:PORT";
    return false;
  }
  return true;
}

namespace {

bool parse_reason_code(std::string_view v, std::uint8_t& out) {
  unsigned code = 0;
  bool ok = v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')
                ? (std::from_chars(v.data() + 2, v.data() + v.size(), code, 16).ec == std::errc{})
                : parse_uint(v, code, 255ull);
  if (!ok || code < 0x80 || code > 0xFF) return false;
  out = static_cast<std::uint8_t>(code);
  return true;
}

using FC = FileConfig;
using Dir = const std::string&;

// A file path setting: relative paths in a configuration file are from its folder.
bool set_path(std::string_view v, const std::string& base, std::string& out) {
  out = std::string(v);
  if (!out.empty() && out[0] != '/' && !base.empty()) out.insert(0, base + "/");
  return !out.empty();
}

// clang-format off
const Setting kSettings[] = {
  {"auth", "MODE", "Authentication: none, custom, v5 or any (default none; on the command line, every listener)",
   [](std::string_view v, Dir, FC& c) { return parse_auth_mode(v, c.broker.auth); }},
  {"auth_code", "0|15", "Packet type of the custom authenticate packet: 0 or 15 (default 0)",
   [](std::string_view v, Dir, FC& c) {
     if (v != "0" && v != "15") return false;
     c.broker.auth_code = static_cast<std::uint8_t>(v == "15" ? 15 : 0);
     return true;
   }},
  {"secrets", "FILE", "Secrets file: '<client-id> <secret>' lines (a relative path in the file: from the file's folder)",
   [](std::string_view v, Dir base, FC& c) { return set_path(v, base, c.secrets_path); }},
  {"tls_cert", "FILE", "TLS listeners (mqtts://, wss://, option tls): the certificate, PEM, chain allowed (relative: "
   "from the file's folder)",
   [](std::string_view v, Dir base, FC& c) { return set_path(v, base, c.broker.tls.cert_file); }},
  {"tls_key", "FILE", "TLS listeners: the certificate's private key, PEM",
   [](std::string_view v, Dir base, FC& c) { return set_path(v, base, c.broker.tls.key_file); }},
  {"tls_keylog", "FILE", "TLS listeners: append the sessions' secrets to FILE (NSS key log) to decrypt captures",
   [](std::string_view v, Dir base, FC& c) { return set_path(v, base, c.broker.tls.keylog_file); }},
  {"response_client_id", "match|any", "The custom response's client id: match (must be the CONNECT's, as in the field) or "
   "any (default match)",
   [](std::string_view v, Dir, FC& c) { return parse_match(v, c.broker.response_client_id_must_match); }},
  {"response_code", "match|any", "The custom response's packet type: match (the challenge's) or any (0 or 15, as in the "
   "field) (default match)",
   [](std::string_view v, Dir, FC& c) { return parse_match(v, c.broker.response_code_must_match); }},
  {"seed_compat", "BOOL", "Challenges are the 13-digit millisecond clock as in the field (predictable!)",
   [](std::string_view v, Dir, FC& c) { return parse_bool(v, c.broker.seed_compat); }, true},
  {"log", "BOOL", "One log line per event on stderr (default true; on the command line: --quiet)",
   [](std::string_view v, Dir, FC& c) { return parse_bool(v, c.log); }, false, false},
  {"connect_timeout", "SECONDS", "Seconds to wait for CONNECT (default 10)",
   [](std::string_view v, Dir, FC& c) { return parse_seconds(v, c.broker.connect_timeout); }},
  {"auth_timeout", "SECONDS", "Seconds to wait for the response (default 10)",
   [](std::string_view v, Dir, FC& c) { return parse_seconds(v, c.broker.auth_timeout); }},
  {"retry_interval", "SECONDS", "Seconds before unacknowledged QoS 1/2 are sent again on a live connection (default 0: only "
   "on reconnect)",
   [](std::string_view v, Dir, FC& c) { return parse_seconds(v, c.broker.retry_interval); }},
  {"auth_fail_limit", "N", "Failed authentications per client id within the window before it is locked out (default 5, "
   "0 = no limit)",
   [](std::string_view v, Dir, FC& c) { return parse_uint(v, c.broker.auth_limit.client_failures, 1000000ull); }},
  {"auth_fail_limit_address", "N", "The same per source address (IPv6: per /64) (default 20, 0 = no limit)",
   [](std::string_view v, Dir, FC& c) { return parse_uint(v, c.broker.auth_limit.address_failures, 1000000ull); }},
  {"auth_fail_window", "SECONDS", "Seconds after its last failure that a count is forgotten (default 60)",
   [](std::string_view v, Dir, FC& c) { return parse_seconds(v, c.broker.auth_limit.window); }},
  {"auth_lockout", "SECONDS", "Seconds of the first lockout, doubled with each further failure (default 1)",
   [](std::string_view v, Dir, FC& c) { return parse_seconds(v, c.broker.auth_limit.lockout); }},
  {"auth_lockout_max", "SECONDS", "Longest lockout in seconds (default 30)",
   [](std::string_view v, Dir, FC& c) { return parse_seconds(v, c.broker.auth_limit.max_lockout); }},
  {"auth_limit_entries", "N", "Client ids and addresses tracked at most, each (default 10000; the oldest is evicted)",
   [](std::string_view v, Dir, FC& c) {
     return parse_uint(v, c.broker.auth_limit.max_entries, 10000000ull) && c.broker.auth_limit.max_entries > 0;
   }},
  {"max_packet_size", "N", "Largest packet accepted and sent, 64 to 268435460 bytes (default 1048576)",
   [](std::string_view v, Dir, FC& c) {
     return parse_uint(v, c.broker.max_packet_size, 268435460ull) && c.broker.max_packet_size >= 64;
   }},
  {"max_connections", "N", "Open connections at most (default 1024)",
   [](std::string_view v, Dir, FC& c) {
     return parse_uint(v, c.broker.max_connections, 1000000ull) && c.broker.max_connections > 0;
   }},
  {"max_pending", "N", "Connections not yet authenticated at most; a newcomer closes the oldest (default 512)",
   [](std::string_view v, Dir, FC& c) {
     return parse_uint(v, c.broker.max_pending, 1000000ull) && c.broker.max_pending > 0;
   }},
  {"max_connections_per_address", "N", "Connections from one IP address at most (default 0: no limit)",
   [](std::string_view v, Dir, FC& c) { return parse_uint(v, c.broker.max_connections_per_address, 1000000ull); }},
  {"max_handshake_bytes", "N", "Bytes a connection may send before it is authenticated (default 65536)",
   [](std::string_view v, Dir, FC& c) {
     return parse_uint(v, c.broker.max_handshake_bytes, 268435460ull) && c.broker.max_handshake_bytes >= 64;
   }},
  {"max_output_queue", "N", "Bytes queued for one socket before it is closed (default 8388608)",
   [](std::string_view v, Dir, FC& c) { return parse_uint(v, c.broker.max_output_queue, 1ull << 32); }},
  {"max_output_total", "N", "Bytes queued for all sockets; over it the largest queue's socket is closed "
   "(default 268435456)",
   [](std::string_view v, Dir, FC& c) { return parse_uint(v, c.broker.max_output_total, 1ull << 40); }},
  {"max_queued_messages", "N", "Messages queued per session, offline or not yet in flight (default 1000)",
   [](std::string_view v, Dir, FC& c) { return parse_uint(v, c.broker.max_queued_messages, 10000000ull); }},
  {"max_retained", "N", "Retained messages in all (default 100000)",
   [](std::string_view v, Dir, FC& c) { return parse_uint(v, c.broker.max_retained, 100000000ull); }},
  {"receive_maximum", "N", "MQTT 5: QoS 1/2 PUBLISH a client may have in flight (default 20)",
   [](std::string_view v, Dir, FC& c) {
     return parse_uint(v, c.broker.receive_maximum, 65535ull) && c.broker.receive_maximum > 0;
   }},
  {"max_inflight", "N", "Outgoing QoS 1/2 in flight for 3.x clients (default 20)",
   [](std::string_view v, Dir, FC& c) {
     return parse_uint(v, c.broker.max_inflight, 65535ull) && c.broker.max_inflight > 0;
   }},
  {"topic_alias_maximum", "N", "MQTT 5: client-to-server topic aliases (default 10, 0 = none)",
   [](std::string_view v, Dir, FC& c) { return parse_uint(v, c.broker.topic_alias_maximum, 65535ull); }},
  {"server_keep_alive", "N", "Largest keep alive for MQTT 5 clients, sent as Server Keep Alive (default 0: none)",
   [](std::string_view v, Dir, FC& c) { return parse_uint(v, c.broker.server_keep_alive, 65535ull); }},
  {"max_session_expiry", "N", "MQTT 5: cap on the session expiry a client asks for, seconds (default 4294967295)",
   [](std::string_view v, Dir, FC& c) { return parse_uint(v, c.broker.max_session_expiry, 0xFFFFFFFFull); }},
  {"deny_subscribe", "FILTER", "Refuse subscriptions to this topic filter (repeatable)",
   [](std::string_view v, Dir, FC& c) {
     if (v.empty()) return false;
     c.broker.deny_subscribe.emplace_back(v);
     return true;
   }},
  {"deny_reason_v5", "CODE", "MQTT 5 reason code of a refused subscription, 0x80 to 0xFF (default 0x87)",
   [](std::string_view v, Dir, FC& c) { return parse_reason_code(v, c.broker.deny_reason_v5); }},
};
// clang-format on

}  // namespace

std::span<const Setting> settings() { return kSettings; }

bool apply_setting(std::string_view key, std::string_view value, const std::string& base_dir, FileConfig& out,
                   std::string& error) {
  for (const Setting& s : kSettings) {
    if (s.key != key) continue;
    if (s.apply(value, base_dir, out)) return true;
    error = "bad value '" + std::string(value) + "' for " + std::string(key);
    return false;
  }
  error = "unknown key '" + std::string(key) + "'";
  return false;
}

bool parse_config(std::string_view text, const std::string& base_dir, FileConfig& out, std::string& error) {
  std::size_t lineno = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++lineno;
    auto hash = line.find('#');
    if (hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    auto eq = line.find('=');
    std::string why;
    if (eq == std::string_view::npos) {
      why = "expected key = value";
    } else {
      std::string_view key = trim(line.substr(0, eq)), v = trim(line.substr(eq + 1));
      if (key == "listener") {
        ListenerConfig dflt, l;
        dflt.auth = out.broker.auth;
        dflt.auth_code = out.broker.auth_code;
        if (parse_listener(v, dflt, l, why)) {
          out.listeners.push_back(std::move(l));
          continue;
        }
      } else if (apply_setting(key, v, base_dir, out, why)) {
        continue;
      }
    }
    error = "line " + std::to_string(lineno) + ": " + why;
    return false;
  }
  return true;
}

bool load_config(const std::string& path, FileConfig& out, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read " + path;
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string base;
  auto slash = path.rfind('/');
  if (slash != std::string::npos) base = path.substr(0, slash);
  std::string why;
  if (!parse_config(ss.str(), base, out, why)) {
    error = path + ": " + why;
    return false;
  }
  return true;
}

}  // namespace mqttauth::cli::broker
