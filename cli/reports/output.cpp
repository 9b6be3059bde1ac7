#include "output.hpp"

#include "fields.hpp"

#include <functional>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "mqttauth/utf8.hpp"

namespace mqttauth::cli {

// ---------------------------------------------------------------------------------------------- JSON

namespace {

// 16 bytes at a time with the compiler's vector extensions (SSE2 on x86-64, NEON on ARM).
using Bytes16 = unsigned char __attribute__((vector_size(16)));

// Whether any of the 16 bytes at `p` needs escaping in JSON (below 0x20, '"', '\\', 0x7F).
inline bool any_escape(const char* p) noexcept {
  Bytes16 v;
  std::memcpy(&v, p, 16);
  auto m = (v < 0x20) | (v == '"') | (v == '\\') | (v == 0x7F);
  std::uint64_t w[2];
  std::memcpy(w, &m, 16);
  return (w[0] | w[1]) != 0;
}

inline bool needs_escape(unsigned char c) noexcept { return c < 0x20 || c == '"' || c == '\\' || c == 0x7F; }

}  // namespace

void append_escaped(std::string& out, std::string_view s) {
  // Plain runs are found 16 bytes at a time and appended whole: 7x fewer instructions than a byte loop on
  // typical payloads.
  static constexpr char hexd[] = "0123456789abcdef";
  const char* d = s.data();
  const std::size_t n = s.size();
  std::size_t run = 0;  // start of the pending run of plain characters
  std::size_t i = 0;
  while (i < n) {
    if (i + 16 <= n && !any_escape(d + i)) {
      i += 16;
      continue;
    }
    const std::size_t stop = std::min(n, i + 16);
    for (; i < stop; ++i) {
      auto c = static_cast<unsigned char>(d[i]);
      if (!needs_escape(c)) continue;
      out.append(d + run, i - run);
      run = i + 1;
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default: {
          const char u[6] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15]};
          out.append(u, 6);
        }
      }
    }
  }
  out.append(d + run, n - run);
}

void append_hex(std::string& out, Bytes b) {
  static constexpr char hexd[] = "0123456789abcdef";
  std::size_t n = out.size();
  out.resize(n + 2 * b.size());
  for (std::size_t i = 0; i < b.size(); ++i) {
    out[n + 2 * i] = hexd[b[i] >> 4];
    out[n + 2 * i + 1] = hexd[b[i] & 15];
  }
}

void JsonWriter::comma() {
  if (!first_) out_ += ',';
  first_ = false;
}
JsonWriter& JsonWriter::begin_object() {
  comma();
  out_ += '{';
  first_ = true;
  return *this;
}
JsonWriter& JsonWriter::end_object() {
  out_ += '}';
  first_ = false;
  return *this;
}
JsonWriter& JsonWriter::begin_array(std::string_view k) {
  if (!k.empty())
    key(k);
  else
    comma();
  out_ += '[';
  first_ = true;
  return *this;
}
JsonWriter& JsonWriter::end_array() {
  out_ += ']';
  first_ = false;
  return *this;
}
JsonWriter& JsonWriter::key(std::string_view k) {
  // One append of ,"k": (keys are short literals; each std::string append has its own checks).
  char b[64];
  if (k.size() + 4 > sizeof b) {
    comma();
    out_ += '"';
    out_ += k;
    out_ += "\":";
  } else {
    out_.append(b, key_prefix(b, k));
  }
  first_ = true;  // the value that follows takes no comma
  return *this;
}
JsonWriter& JsonWriter::str(std::string_view v) {
  if (first_)
    out_ += '"';
  else
    out_.append(",\"", 2);
  first_ = false;
  append_escaped(out_, v);
  out_ += '"';
  return *this;
}
JsonWriter& JsonWriter::num(std::uint64_t v) {
  char b[24];
  b[0] = ',';
  auto r = std::to_chars(b + 1, b + sizeof b, v);
  const std::size_t skip = first_ ? 1 : 0;
  out_.append(b + skip, static_cast<std::size_t>(r.ptr - b) - skip);
  first_ = false;
  return *this;
}
// Writes [,]"k": into b (room for k.size() + 4 bytes); returns the length.
std::size_t JsonWriter::key_prefix(char* b, std::string_view k) const {
  std::size_t n = 0;
  if (!first_) b[n++] = ',';
  b[n++] = '"';
  std::memcpy(b + n, k.data(), k.size());
  n += k.size();
  b[n++] = '"';
  b[n++] = ':';
  return n;
}

JsonWriter& JsonWriter::field_num(std::string_view k, std::uint64_t v) {
  // ,"k":123 in one append.
  char b[96];
  if (k.size() + 28 > sizeof b) return key(k).num(v);
  std::size_t n = key_prefix(b, k);
  auto r = std::to_chars(b + n, b + sizeof b, v);
  out_.append(b, static_cast<std::size_t>(r.ptr - b));
  first_ = false;
  return *this;
}
JsonWriter& JsonWriter::field(std::string_view k, std::string_view v) {
  // ,"k":" in one append, then the escaped value.
  char b[96];
  if (k.size() + 6 > sizeof b) return key(k).str(v);
  std::size_t n = key_prefix(b, k);
  b[n++] = '"';
  out_.append(b, n);
  append_escaped(out_, v);
  out_ += '"';
  first_ = false;
  return *this;
}
JsonWriter& JsonWriter::num_signed(std::int64_t v) {
  comma();
  char b[24];
  auto r = std::to_chars(b, b + sizeof b, v);
  out_.append(b, r.ptr);
  return *this;
}
JsonWriter& JsonWriter::boolean(bool v) {
  comma();
  out_ += v ? "true" : "false";
  return *this;
}
JsonWriter& JsonWriter::raw_value(std::string_view json) {
  comma();
  out_ += json;
  return *this;
}
JsonWriter& JsonWriter::null() {
  comma();
  out_ += "null";
  return *this;
}
JsonWriter& JsonWriter::field_bytes(std::string_view k, Bytes v) {
  if (valid_utf8(v.data(), v.size())) return field(k, v.as_chars());
  comma();
  out_ += '"';
  out_ += k;
  out_ += "_hex\":\"";
  append_hex(out_, v);
  out_ += '"';
  return *this;
}

namespace {

void properties_json(JsonWriter& w, const Properties& props, std::string_view key = "properties") {
  if (props.empty()) return;
  w.key(key).begin_object();
  bool users = false, subids = false;
  for (const auto& p : props) {
    if (p.id == PropertyId::user_property) {
      users = true;
      continue;
    }
    if (p.id == PropertyId::subscription_identifier) {
      subids = true;
      continue;
    }
    const PropertyInfo* info = property_info(static_cast<std::uint8_t>(p.id));
    switch (p.type) {
      case PropertyType::utf8: w.field(info->json_name, p.text); break;
      case PropertyType::binary: w.field_bytes(info->json_name, p.binary); break;
      default: w.field_num(info->json_name, p.number);
    }
  }
  if (subids) {  // may repeat: always a list
    w.begin_array("subscription_identifier");
    for (const auto& p : props)
      if (p.id == PropertyId::subscription_identifier) w.num(p.number);
    w.end_array();
  }
  if (users) {  // a list of [name, value] pairs, in order
    w.begin_array("user_property");
    for (const auto& p : props)
      if (p.id == PropertyId::user_property) w.begin_array().str(p.text).str(p.value).end_array();
    w.end_array();
  }
  w.end_object();
}

void connect_json(JsonWriter& w, const ConnectBody& c) {
  w.field("protocol_name", c.protocol_name);
  w.field_num("protocol_level", c.level);
  if (c.bridge) w.field_bool("bridge", true);
  w.field_bool(c.level == kLevel5 ? "clean_start" : "clean_session", c.clean);
  w.field_num("keep_alive", c.keep_alive);
  w.field("client_id", c.client_id);
  if (c.will) {
    w.field("will_topic", c.will->topic);
    w.field_bytes("will_payload", c.will->payload);
    w.field_num("will_qos", c.will->qos);
    w.field_bool("will_retain", c.will->retain);
    properties_json(w, c.will->properties, "will_properties");
  }
  if (c.username) w.field("username", *c.username);
  if (c.password) w.field_bytes("password", *c.password);
  properties_json(w, c.properties);
}

void codes_json(JsonWriter& w, std::string_view key, Bytes codes) {
  w.begin_array(key);
  for (auto c : codes) w.num(c);
  w.end_array();
}

}  // namespace

void packet_fields_json(JsonWriter& w, const Decoded& d, const Observation& obs) {
  const PacketFields f = packet_fields(d, obs);
  w.field("type", packet_name(d.packet));
  w.field_num("code", d.header.code());
  w.field_num("flags", d.header.flags());
  w.field_num("len", d.header.remaining_length);
  if (f.topic) {
    w.field("topic", *f.topic);
    w.field_num("qos", f.qos);
    w.field_bool("retain", f.retain);
    w.field_bool("dup", f.dup);
  }
  if (f.packet_id) w.field_num("packet_id", *f.packet_id);
  if (f.session_present) w.field_bool("session_present", *f.session_present);
  if (f.return_code) w.field_num("return_code", *f.return_code);
  if (f.reason_code) w.field_num("reason_code", *f.reason_code);
  if (f.role != Role::none) w.field("role", role_name(f.role));
  if (f.connect) connect_json(w, *f.connect);
  if (f.properties) properties_json(w, *f.properties);
  if (f.subscriptions) {
    w.begin_array("subscriptions");
    for (const auto& s : *f.subscriptions) {
      w.begin_object().field("topic", s.filter).field_num("qos", s.qos());
      if (f.v5) {
        w.field_bool("no_local", s.no_local());
        w.field_bool("retain_as_published", s.retain_as_published());
        w.field_num("retain_handling", s.retain_handling());
      }
      w.end_object();
    }
    w.end_array();
  }
  if (f.filters) {
    w.begin_array("topics");
    for (auto t : *f.filters) w.str(t);
    w.end_array();
  }
  if (f.codes) codes_json(w, f.v5 ? "reason_codes" : "return_codes", *f.codes);
  if (f.payload) {
    w.field_num("payload_len", f.payload->size());
    w.field_bytes("payload", *f.payload);
  }
  if (f.reserved) {
    w.key("body_hex");
    std::string hex;
    append_hex(hex, f.reserved->body);
    w.str(hex);
    if (const auto& e = f.reserved->authenticate_error) {
      w.key("authenticate_error").begin_object();
      w.field("kind", error_kind_name(e->kind));
      w.field_num("offset", e->offset);
      w.field("message", e->message());
      w.end_object();
    }
  }
  violations_json(w, d.violations);
}

void violations_json(JsonWriter& w, const Violations& v) {
  if (v.empty()) return;
  w.begin_array("violations");
  for (const Violation& x : v) {
    w.begin_object();
    w.field("rule", x.rule);
    w.field("kind", error_kind_name(x.kind));
    w.field_num("offset", x.offset);
    w.field("severity", severity_name(finding(violation_finding(x.kind)).severity));
    w.field("message", x.detail);
    w.end_object();
  }
  w.end_array();
  if (v.total() > v.size()) w.field_num("violations_not_listed", v.total() - v.size());
}

void violation_tag(std::string& out, const Violation& x) {
  out += error_kind_name(x.kind);
  out += '@';
  out += std::to_string(x.offset);
  out += '[';
  out += x.rule;
  out += ']';
}

void violations_text(std::string& out, const Violations& v) {
  for (const Violation& x : v) {
    out += " !";
    violation_tag(out, x);
    out += ": ";
    out += x.detail;
    out += ';';
  }
  if (v.total() > v.size())
    out += " (+" + std::to_string(v.total() - v.size()) + " more)";
  else if (!v.empty())
    out.pop_back();
}

namespace {
void place_json(JsonWriter& w, const PacketPlace& at) {
  if (!at.capture) {
    w.field_num("index", at.index);
    w.field_num("offset", at.offset);
    return;
  }
  if (at.with_file && at.file) w.field("file", *at.file);
  w.field_num("frame", at.frame);
  std::string& out = w.out();
  w.key("ts").raw_value({});
  append_ts(out, at.ts_ns);
  w.field_num("conn", at.conn);
  // Endpoints need no escaping: written in place, without a std::string per packet.
  if (at.src) {
    w.key("src").raw_value("\"");
    append_endpoint(out, *at.src);
    out += '"';
  }
  if (at.dst) {
    w.key("dst").raw_value("\"");
    append_endpoint(out, *at.dst);
    out += '"';
  }
  w.field_num("offset", at.offset);
}
}  // namespace

void append_ts(std::string& out, std::int64_t ts_ns) {
  char b[40];
  std::size_t n = 0;
  if (ts_ns < 0) {
    b[n++] = '-';
    ts_ns = -ts_ns;
  }
  auto sec = static_cast<std::uint64_t>(ts_ns / 1000000000);
  auto us = static_cast<std::uint64_t>((ts_ns % 1000000000) / 1000);
  auto r = std::to_chars(b + n, b + 32, sec);
  n = static_cast<std::size_t>(r.ptr - b);
  b[n] = '.';
  for (std::size_t i = 6; i >= 1; --i) {
    b[n + i] = static_cast<char>('0' + us % 10);
    us /= 10;
  }
  out.append(b, n + 7);
}

void append_endpoint(std::string& out, const Endpoint& e) {
  char b[Endpoint::kTextMax];
  out.append(b, e.format(b));
}

void packet_json_line(std::string& out, const Decoded& d, const Observation& obs, const PacketPlace& at) {
  JsonWriter w(out);
  w.begin_object();
  place_json(w, at);
  w.field("dir", direction_name(obs.dir));
  packet_fields_json(w, d, obs);
  w.end_object();
  out += '\n';
}

void event_json_line(std::string& out, std::string_view record, const PacketPlace& at,
                     const std::function<void(JsonWriter&)>& fields) {
  JsonWriter w(out);
  w.begin_object();
  w.field("record", record);
  place_json(w, at);
  if (!at.dir.empty()) w.field("dir", at.dir);
  fields(w);
  w.end_object();
  out += '\n';
}

void error_json_line(std::string& out, const Error& e, const PacketPlace& at, std::string_view context) {
  JsonWriter w(out);
  w.begin_object();
  place_json(w, at);
  w.key("error").begin_object();
  w.field("kind", error_kind_name(e.kind));
  w.field_num("offset", e.offset);
  std::string msg = e.message();
  if (!context.empty()) msg = std::string(context) + ": " + msg;
  w.field("message", msg);
  w.end_object();
  w.end_object();
  out += '\n';
}

// ---------------------------------------------------------------------------------------------- text

namespace {

constexpr std::string_view kReset = "\x1b[0m", kDim = "\x1b[2m", kRed = "\x1b[1;31m", kGreen = "\x1b[32m",
                           kCyan = "\x1b[36m", kMagenta = "\x1b[1;35m", kYellow = "\x1b[33m";

void pad(std::string& out, std::size_t from, std::size_t width) {
  std::size_t len = out.size() - from;
  if (len < width)
    out.append(width - len, ' ');
  else
    out += ' ';
}

void num(std::string& out, std::uint64_t v) {
  char b[24];
  auto r = std::to_chars(b, b + sizeof b, v);
  out.append(b, r.ptr);
}

}  // namespace

void kv(std::string& out, std::string_view k, std::uint64_t v) {
  out += ' ';
  out += k;
  out += '=';
  num(out, v);
}

void kv_str(std::string& out, std::string_view k, std::string_view v) {
  out += ' ';
  out += k;
  out += "=\"";
  append_escaped(out, v);
  out += '"';
}

namespace {

// Text when printable UTF-8, else 0x-hex (long values shortened).
void kv_bytes(std::string& out, std::string_view k, Bytes v) {
  if (valid_mqtt_utf8(v.data(), v.size())) {
    kv_str(out, k, v.as_chars());
    return;
  }
  out += ' ';
  out += k;
  out += "=0x";
  constexpr std::size_t kMax = 32;
  append_hex(out, v.subview(0, std::min(v.size(), kMax)));
  if (v.size() > kMax) {
    out += "...(";
    num(out, v.size());
    out += " B)";
  }
}

void props_text(std::string& out, const Properties& props) {
  for (const auto& p : props) {
    const PropertyInfo* info = property_info(static_cast<std::uint8_t>(p.id));
    switch (p.type) {
      case PropertyType::utf8: kv_str(out, info->json_name, p.text); break;
      case PropertyType::binary: kv_bytes(out, info->json_name, p.binary); break;
      case PropertyType::utf8_pair:
        out += " user_property=\"";
        append_escaped(out, p.text);
        out += "\":\"";
        append_escaped(out, p.value);
        out += '"';
        break;
      default: kv(out, info->json_name, p.number);
    }
  }
}

void connect_text(std::string& out, const ConnectBody& c) {
  kv_str(out, "client_id", c.client_id);
  kv(out, "level", c.level);
  if (c.bridge) out += " bridge";
  if (c.clean) out += c.level == kLevel5 ? " clean_start" : " clean_session";
  kv(out, "keep_alive", c.keep_alive);
  if (c.username) kv_str(out, "username", *c.username);
  if (c.password) kv_bytes(out, "password", *c.password);
  if (c.will) {
    kv_str(out, "will_topic", c.will->topic);
    kv(out, "will_qos", c.will->qos);
    if (c.will->retain) out += " will_retain";
    kv_bytes(out, "will_payload", c.will->payload);
  }
  props_text(out, c.properties);
}

std::string_view type_color(const Packet& p) {
  return std::visit(
      [](const auto& x) -> std::string_view {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Connect> || std::is_same_v<T, Connack> || std::is_same_v<T, Disconnect>)
          return kCyan;
        else if constexpr (std::is_same_v<T, Publish>)
          return kGreen;
        else if constexpr (std::is_same_v<T, Auth> || std::is_same_v<T, Authenticate>)
          return kMagenta;
        else if constexpr (std::is_same_v<T, Reserved>)
          return kYellow;
        else
          return {};
      },
      p);
}

void upper(std::string& out, std::string_view s) {
  for (char c : s) out += static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
}

void time_of_day(std::string& out, std::int64_t ts_ns) {
  auto day_ns = ((ts_ns % 86400000000000) + 86400000000000) % 86400000000000;
  auto us = static_cast<std::uint64_t>(day_ns / 1000);
  char b[16];
  std::uint64_t h = us / 3600000000, m = us / 60000000 % 60, sec = us / 1000000 % 60, frac = us % 1000000;
  std::snprintf(b, sizeof b, "%02u:%02u:%02u.%06u", static_cast<unsigned>(h), static_cast<unsigned>(m),
                static_cast<unsigned>(sec), static_cast<unsigned>(frac));
  out += b;
}

void place(std::string& out, const PacketPlace& at, std::string_view dir, const TextStyle& st) {
  std::size_t s = out.size();
  if (st.color) out += kDim;
  if (at.capture) {
    // frame, time of day (UTC), connection, direction, endpoints
    num(out, at.frame);
    pad(out, s, 7 + (st.color ? kDim.size() : 0));
    time_of_day(out, at.ts_ns);
    out += ' ';
    std::size_t s2 = out.size();
    out += '#';
    num(out, at.conn);
    pad(out, s2, 6);
    std::size_t s3 = out.size();
    out += dir;
    pad(out, s3, 4);
    if (st.color) out += kReset;
    std::size_t s4 = out.size();
    if (at.src && at.dst) {
      append_endpoint(out, *at.src);
      out += " > ";
      append_endpoint(out, *at.dst);
    }
    pad(out, s4, 44);
    return;
  }
  num(out, at.index);
  pad(out, s, 5 + (st.color ? kDim.size() : 0));
  std::size_t s2 = out.size();
  out += '@';
  num(out, at.offset);
  pad(out, s2, 9);
  std::size_t s3 = out.size();
  out += dir;
  pad(out, s3, 8);
  if (st.color) out += kReset;
}

}  // namespace

void packet_text_line(std::string& out, const Decoded& d, const Observation& obs, const PacketPlace& at,
                      const TextStyle& st) {
  const PacketFields f = packet_fields(d, obs);
  place(out, at, direction_name(obs.dir), st);
  std::size_t s = out.size();
  auto color = st.color ? type_color(d.packet) : std::string_view{};
  out += color;
  upper(out, packet_name(d.packet));
  if (f.typed_by_code) {
    out += '(';
    num(out, d.header.code());
    out += ')';
  }
  if (!color.empty()) out += kReset;
  std::size_t width = 16 + color.size() + (color.empty() ? 0 : kReset.size());
  if (out.size() - s < width) out.append(width - (out.size() - s), ' ');
  if (f.role != Role::none) {
    out += ' ';
    out += role_name(f.role);
  }
  if (f.connect) connect_text(out, *f.connect);
  if (f.topic) {
    kv_str(out, "topic", *f.topic);
    kv(out, "qos", f.qos);
  }
  if (f.packet_id) kv(out, "packet_id", *f.packet_id);
  if (f.retain) out += " retain";
  if (f.dup) out += " dup";
  if (f.session_present && *f.session_present) out += " session_present";
  if (f.return_code) kv(out, "return_code", *f.return_code);
  if (f.reason_code) kv(out, "reason_code", *f.reason_code);
  if (!f.code_name.empty()) {
    out += " (";
    out += f.code_name;
    out += ')';
  }
  if (f.subscriptions)
    for (const auto& sub : *f.subscriptions) {
      kv_str(out, "topic", sub.filter);
      kv(out, "qos", sub.qos());
    }
  if (f.filters)
    for (auto t : *f.filters) kv_str(out, "topic", t);
  if (f.codes && !f.codes->empty()) {
    out += " codes=";
    for (std::size_t i = 0; i < f.codes->size(); ++i) {
      if (i) out += ',';
      num(out, (*f.codes)[i]);
    }
  }
  if (f.properties) props_text(out, *f.properties);
  if (f.payload) {
    kv(out, "payload_len", f.payload->size());
    kv_bytes(out, "payload", f.payload->subview(0, std::min<std::size_t>(f.payload->size(), 64)));
  }
  if (f.reserved) {
    kv(out, "flags", f.reserved->flags);
    kv(out, "body_len", f.reserved->body.size());
    if (f.reserved->authenticate_error) {
      out += " not_authenticate=\"";
      out += f.reserved->authenticate_error->message();
      out += '"';
    }
  }
  if (obs.anomalies) {
    out += st.color ? " \x1b[33m!" : " !";
    out += anomaly_names(obs.anomalies);
    if (st.color) out += kReset;
  }
  if (!d.violations.empty()) {
    if (st.color) out += kYellow;
    violations_text(out, d.violations);
    if (st.color) out += kReset;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  out += '\n';
}

void error_text_line(std::string& out, const Error& e, const PacketPlace& at, std::string_view context,
                     const TextStyle& st) {
  place(out, at, at.dir, st);
  if (st.color) out += kRed;
  out += "ERROR ";
  if (!context.empty()) {
    out += context;
    out += ": ";
  }
  out += e.message();
  if (st.color) out += kReset;
  out += '\n';
}

}  // namespace mqttauth::cli

namespace mqttauth::cli {
void note_text_line(std::string& out, const PacketPlace& at, std::string_view dir, std::string_view msg,
                    const TextStyle& st) {
  place(out, at, dir, st);
  if (st.color) out += kYellow;
  out += msg;
  if (st.color) out += kReset;
  out += '\n';
}
}  // namespace mqttauth::cli

// ---------------------------------------------------------------------------------------------- CSV

namespace mqttauth::cli {

void csv_field(std::string& out, std::string_view v) {
  bool quote = v.find_first_of(",\"\r\n") != std::string_view::npos;
  if (!quote) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

namespace {

void csv_num(std::string& out, std::uint64_t v) {
  char b[24];
  auto r = std::to_chars(b, b + sizeof b, v);
  out.append(b, r.ptr);
}

void csv_bytes(std::string& out, Bytes b) {
  if (valid_mqtt_utf8(b.data(), b.size())) {
    csv_field(out, b.as_chars());
  } else {
    out += "0x";
    append_hex(out, b);
  }
}

void csv_place(std::string& out, const PacketPlace& at, std::string_view dir) {
  csv_num(out, at.capture ? at.frame : at.index);
  out += ',';
  if (at.capture) append_ts(out, at.ts_ns);
  out += ',';
  if (at.capture) csv_num(out, at.conn);
  out += ',';
  if (at.src) append_endpoint(out, *at.src);
  out += ',';
  if (at.dst) append_endpoint(out, *at.dst);
  out += ',';
  out += dir;
  out += ',';
  csv_num(out, at.offset);
  out += ',';
}

}  // namespace

void csv_header(std::string& out) {
  out +=
      "frame,ts,conn,src,dst,dir,offset,type,code,flags,len,client_id,username,role,password,topic,qos,retain,dup,"
      "packet_id,return_code,reason_code,payload_len,error_kind,error_offset,error_message,violations\n";
}

void packet_csv_line(std::string& out, const Decoded& d, const Observation& obs, const PacketPlace& at) {
  const PacketFields f = packet_fields(d, obs);
  csv_place(out, at, direction_name(obs.dir));
  out += packet_name(d.packet);
  out += ',';
  csv_num(out, d.header.code());
  out += ',';
  csv_num(out, d.header.flags());
  out += ',';
  csv_num(out, d.header.remaining_length);
  out += ',';
  // client_id, username, role, password
  const ConnectBody* cb = f.connect;
  if (cb) csv_field(out, cb->client_id);
  out += ',';
  if (cb && cb->username) csv_field(out, *cb->username);
  out += ',';
  out += role_name(f.role);
  out += ',';
  if (cb && cb->password) csv_bytes(out, *cb->password);
  out += ',';
  // topic, qos, retain, dup, packet_id
  if (f.topic) {
    csv_field(out, *f.topic);
    out += ',';
    csv_num(out, f.qos);
    out += f.retain ? ",1," : ",0,";
    out += f.dup ? "1," : "0,";
  } else {
    out += ",,,,";
  }
  if (f.packet_id) csv_num(out, *f.packet_id);
  out += ',';
  // return_code, reason_code
  if (f.return_code) csv_num(out, *f.return_code);
  out += ',';
  if (f.reason_code) csv_num(out, *f.reason_code);
  out += ',';
  if (f.payload) csv_num(out, f.payload->size());
  out += ",,,,";
  // kind@offset[rule], separated by ';'
  std::string v;
  for (const Violation& x : d.violations) {
    if (!v.empty()) v += ';';
    violation_tag(v, x);
  }
  csv_field(out, v);
  out += '\n';
}

void error_csv_line(std::string& out, const Error& e, const PacketPlace& at, std::string_view context) {
  csv_place(out, at, at.dir);
  out += "error,,,,,,,,,,,,,,,,";
  out += error_kind_name(e.kind);
  out += ',';
  csv_num(out, e.offset);
  out += ',';
  std::string msg = e.message();
  if (!context.empty()) msg = std::string(context) + ": " + msg;
  csv_field(out, msg);
  out += ",\n";
}

std::FILE* OrderedOutput::open(std::size_t i) {
  std::lock_guard<std::mutex> lock(m_);
  if (i == current_) return f_;
  spool_[i] = std::tmpfile();
  return spool_[i];
}

void OrderedOutput::close(std::size_t i) {
  std::lock_guard<std::mutex> lock(m_);
  done_[i] = true;
  while (current_ < done_.size() && done_[current_]) {
    if (std::FILE* t = spool_[current_]) {
      std::rewind(t);
      std::vector<char> buf(1 << 20);
      for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), t)) > 0;) std::fwrite(buf.data(), 1, n, f_);
      std::fclose(t);
      spool_[current_] = nullptr;
    }
    ++current_;
  }
  std::fflush(f_);
}

}  // namespace mqttauth::cli
