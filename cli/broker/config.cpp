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
    } else {
      error = "unknown listener option '" + word + "' (auth=MODE, code=0|15)";
      return false;
    }
  }
  if (first) {
    error = "listener needs HOST:PORT";
    return false;
  }
  return true;
}

bool parse_config(std::string_view text, const std::string& base_dir, FileConfig& out, std::string& error) {
  std::size_t lineno = 0;
  BrokerConfig& b = out.broker;
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
    auto fail = [&](const std::string& why) {
      error = "line " + std::to_string(lineno) + ": " + why;
      return false;
    };
    if (eq == std::string_view::npos) return fail("expected key = value");
    std::string key(trim(line.substr(0, eq)));
    std::string_view v = trim(line.substr(eq + 1));
    bool ok = true;
    if (key == "listener") {
      ListenerConfig dflt;
      dflt.auth = b.auth;
      dflt.auth_code = b.auth_code;
      ListenerConfig l;
      std::string why;
      if (!parse_listener(v, dflt, l, why)) return fail(why);
      out.listeners.push_back(std::move(l));
    } else if (key == "auth") {
      ok = parse_auth_mode(v, b.auth);
    } else if (key == "auth_code") {
      ok = (v == "0" || v == "15");
      b.auth_code = static_cast<std::uint8_t>(v == "15" ? 15 : 0);
    } else if (key == "secrets") {
      std::string p(v);
      if (!p.empty() && p[0] != '/' && !base_dir.empty()) p = base_dir + "/" + p;
      out.secrets_path = p;
    } else if (key == "seed_compat") {
      ok = parse_bool(v, b.seed_compat);
    } else if (key == "log") {
      ok = parse_bool(v, out.log);
    } else if (key == "connect_timeout") {
      ok = parse_seconds(v, b.connect_timeout);
    } else if (key == "auth_timeout") {
      ok = parse_seconds(v, b.auth_timeout);
    } else if (key == "retry_interval") {
      ok = parse_seconds(v, b.retry_interval);
    } else if (key == "auth_fail_limit") {
      ok = parse_uint(v, b.auth_limit.client_failures, 1000000ull);
    } else if (key == "auth_fail_limit_address") {
      ok = parse_uint(v, b.auth_limit.address_failures, 1000000ull);
    } else if (key == "auth_fail_window") {
      ok = parse_seconds(v, b.auth_limit.window);
    } else if (key == "auth_lockout") {
      ok = parse_seconds(v, b.auth_limit.lockout);
    } else if (key == "auth_lockout_max") {
      ok = parse_seconds(v, b.auth_limit.max_lockout);
    } else if (key == "auth_limit_entries") {
      ok = parse_uint(v, b.auth_limit.max_entries, 10000000ull) && b.auth_limit.max_entries > 0;
    } else if (key == "max_packet_size") {
      ok = parse_uint(v, b.max_packet_size, 268435460ull) && b.max_packet_size >= 64;
    } else if (key == "max_connections") {
      ok = parse_uint(v, b.max_connections, 1000000ull) && b.max_connections > 0;
    } else if (key == "max_pending") {
      ok = parse_uint(v, b.max_pending, 1000000ull) && b.max_pending > 0;
    } else if (key == "max_connections_per_address") {
      ok = parse_uint(v, b.max_connections_per_address, 1000000ull);
    } else if (key == "max_handshake_bytes") {
      ok = parse_uint(v, b.max_handshake_bytes, 268435460ull) && b.max_handshake_bytes >= 64;
    } else if (key == "max_output_queue") {
      ok = parse_uint(v, b.max_output_queue, 1ull << 32);
    } else if (key == "max_output_total") {
      ok = parse_uint(v, b.max_output_total, 1ull << 40);
    } else if (key == "max_queued_messages") {
      ok = parse_uint(v, b.max_queued_messages, 10000000ull);
    } else if (key == "max_retained") {
      ok = parse_uint(v, b.max_retained, 100000000ull);
    } else if (key == "receive_maximum") {
      ok = parse_uint(v, b.receive_maximum, 65535ull) && b.receive_maximum > 0;
    } else if (key == "max_inflight") {
      ok = parse_uint(v, b.max_inflight, 65535ull) && b.max_inflight > 0;
    } else if (key == "topic_alias_maximum") {
      ok = parse_uint(v, b.topic_alias_maximum, 65535ull);
    } else if (key == "server_keep_alive") {
      ok = parse_uint(v, b.server_keep_alive, 65535ull);
    } else if (key == "max_session_expiry") {
      ok = parse_uint(v, b.max_session_expiry, 0xFFFFFFFFull);
    } else if (key == "deny_reason_v5") {
      unsigned code = 0;
      ok = v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')
               ? (std::from_chars(v.data() + 2, v.data() + v.size(), code, 16).ec == std::errc{})
               : parse_uint(v, code, 255ull);
      ok = ok && code >= 0x80 && code <= 0xFF;
      b.deny_reason_v5 = static_cast<std::uint8_t>(code);
    } else if (key == "deny_subscribe") {
      if (v.empty()) return fail("deny_subscribe needs a topic filter");
      b.deny_subscribe.emplace_back(v);
    } else {
      return fail("unknown key '" + key + "'");
    }
    if (!ok) return fail("bad value '" + std::string(v) + "' for " + key);
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
