#include "transcript.hpp"

#include "fields.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>

#include "mqttauth/utf8.hpp"
#include "output.hpp"

namespace mqttauth::cli {
namespace {

void kv_bytes(std::string& s, std::string_view k, Bytes v) {
  if (valid_mqtt_utf8(v.data(), v.size())) {
    kv_str(s, k, v.as_chars());
  } else {
    s += ' ';
    s += k;
    s += "=0x";
    append_hex(s, v);
  }
}

// Properties as "prop.<name>=value"; authentication data is a challenge or a response: left out.
void props(std::string& s, const Properties& p) {
  for (const auto& x : p) {
    const PropertyInfo* info = property_info(static_cast<std::uint8_t>(x.id));
    std::string key = "prop." + std::string(info->json_name);
    switch (x.type) {
      case PropertyType::utf8: kv_str(s, key, x.text); break;
      case PropertyType::binary:
        if (x.id == PropertyId::authentication_data)
          s += " " + key + "=<auth-data>";
        else
          kv_bytes(s, key, x.binary);
        break;
      case PropertyType::utf8_pair: kv_str(s, key, std::string(x.text) + "=" + std::string(x.value)); break;
      default: kv(s, key, x.number);
    }
  }
}

// CONNECT's fields; an authenticate packet (`role` given) hides its password as the challenge or response.
void connect_fields(std::string& s, const ConnectBody& p, std::optional<Role> role) {
  kv_str(s, "protocol", p.protocol_name);
  kv(s, "level", p.level);
  kv(s, "clean", p.clean ? 1 : 0);
  kv(s, "keep_alive", p.keep_alive);
  kv_str(s, "client_id", p.client_id);
  if (p.username) kv_str(s, "username", *p.username);
  if (p.password) {
    s += !role                      ? " password=<set>"
         : *role == Role::challenge ? " password=<challenge>"
         : *role == Role::response  ? " password=<response>"
                                    : " password=<set>";
  }
  if (p.will) {
    kv_str(s, "will_topic", p.will->topic);
    kv(s, "will_qos", p.will->qos);
    kv(s, "will_retain", p.will->retain ? 1 : 0);
    kv_bytes(s, "will_payload", p.will->payload);
  }
  props(s, p.properties);
}

}  // namespace

std::string PacketIds::id(std::uint16_t pid) {
  auto it = map_.find(pid);
  if (it == map_.end()) it = map_.emplace(pid, map_.size() + 1).first;
  return "#" + std::to_string(it->second);
}

std::string transcript_line(const Decoded& d, Direction dir, Role role, PacketIds& ids, std::string* client_id) {
  Observation obs;
  obs.role = role;
  const PacketFields f = packet_fields(d, obs);
  std::string s(direction_name(dir));
  s += ' ';
  s += packet_name(d.packet);
  if (f.typed_by_code) kv(s, "code", d.header.code());
  if (f.topic) {
    kv_str(s, "topic", *f.topic);
    kv(s, "qos", f.qos);
    kv(s, "retain", f.retain ? 1 : 0);
    kv(s, "dup", f.dup ? 1 : 0);
  }
  if (f.packet_id) s += " id=" + ids.id(*f.packet_id);
  if (f.return_code) kv(s, "return_code", *f.return_code);
  if (f.reason_code) kv(s, "reason_code", *f.reason_code);
  if (f.session_present) kv(s, "session_present", *f.session_present ? 1 : 0);
  if (f.role != Role::none) s += " role=" + std::string(role_name(f.role));
  if (const ConnectBody* c = f.connect) {
    if (client_id && client_id->empty()) *client_id = std::string(c->client_id);
    connect_fields(s, *c, f.typed_by_code ? f.role : std::optional<Role>{});
  }
  if (f.subscriptions)
    for (const auto& sub : *f.subscriptions) {  // filter="topic":options
      kv_str(s, "filter", sub.filter);
      s += ':' + std::to_string(sub.options);
    }
  if (f.filters)
    for (auto t : *f.filters) kv_str(s, "filter", t);
  if (f.codes && !f.codes->empty()) {
    std::string codes;
    for (auto x : *f.codes) codes += (codes.empty() ? "" : ",") + std::to_string(x);
    s += " codes=" + codes;
  }
  if (f.properties) props(s, *f.properties);
  if (f.payload) kv_bytes(s, "payload", *f.payload);
  if (f.reserved) {
    kv(s, "flags", f.reserved->flags);
    s += " body=0x";
    append_hex(s, f.reserved->body);
  }
  return s;
}

namespace {

// Splits a line into words; quoted values keep their spaces.
std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> w;
  std::string cur;
  bool quoted = false, escaped = false;
  for (char c : line) {
    if (escaped) {
      escaped = false;
      cur += c;
      continue;
    }
    if (c == '\\' && quoted) {
      escaped = true;
      cur += c;
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (c == ' ' && !quoted) {
      if (!cur.empty()) w.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (!cur.empty()) w.push_back(cur);
  return w;
}

}  // namespace

void TranscriptSink::on_packet(const Connection& c, Direction dir, const Decoded& d, const Observation& obs,
                               const PacketMeta&) {
  TranscriptSession& ts = sessions_[c.id];
  ts.conn = c.id;
  ts.lines.push_back(transcript_line(d, dir, obs.role, ids_[c.id], &ts.client_id));
}

void TranscriptSink::on_error(const Connection& c, Direction dir, const Error& e, const PacketMeta&) {
  TranscriptSession& ts = sessions_[c.id];
  ts.conn = c.id;
  ts.lines.push_back(std::string(direction_name(dir)) + " error kind=" + std::string(error_kind_name(e.kind)) +
                     " offset=" + std::to_string(e.offset));
}

void TranscriptSink::on_connection_end(const Connection& c) {
  TranscriptSession& ts = sessions_[c.id];
  ts.conn = c.id;
  if (ts.client_id.empty() && c.session && !c.session->handshakes().empty())
    ts.client_id = c.session->handshakes().back().client_id;
}

void TranscriptSink::take(Transcript& out) {
  for (auto& [id, s] : sessions_)
    if (!s.lines.empty()) out.sessions.push_back(std::move(s));
  sessions_.clear();
}

std::string transcript_text(const Transcript& t) {
  std::string s = std::string(kTranscriptHeader) + "\n# from: " + t.source + "\n";
  for (const auto& ses : t.sessions) {
    s += "session \"";
    append_escaped(s, ses.client_id);
    s += "\" " + std::to_string(ses.conn) + "\n";
    for (const auto& l : ses.lines) s += "  " + l + "\n";
  }
  return s;
}

std::optional<Transcript> transcript_parse(const std::string& text, const std::string& source, std::string& error) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kTranscriptHeader) {
    error = source + ": not a transcript (the first line must be '" + kTranscriptHeader + "')";
    return std::nullopt;
  }
  Transcript t;
  t.source = source;
  for (int n = 2; std::getline(in, line); ++n) {
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("session \"", 0) == 0) {
      auto end = line.rfind('"');
      if (end <= 8) {
        error = source + ":" + std::to_string(n) + ": bad session line";
        return std::nullopt;
      }
      TranscriptSession s;
      // Unescape the JSON-style escapes of the client id.
      std::string raw = line.substr(9, end - 9), id;
      for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\\' && i + 1 < raw.size()) {
          char e = raw[++i];
          unsigned cp = 0;
          bool hex4 = e == 'u' && i + 4 < raw.size();
          for (std::size_t k = 1; hex4 && k <= 4; ++k) {
            char h = raw[i + k];
            int v = h >= '0' && h <= '9'   ? h - '0'
                    : h >= 'a' && h <= 'f' ? h - 'a' + 10
                    : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                           : -1;
            if (v < 0) hex4 = false;
            cp = cp * 16 + static_cast<unsigned>(v < 0 ? 0 : v);
          }
          if (hex4 && cp < 0x80) {  // the writer escapes control characters only
            id += static_cast<char>(cp);
            i += 4;
          } else {
            id += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
          }
        } else {
          id += raw[i];
        }
      }
      s.client_id = id;
      s.conn = std::strtoull(line.c_str() + end + 1, nullptr, 10);
      t.sessions.push_back(std::move(s));
    } else if (line.rfind("  ", 0) == 0 && !t.sessions.empty()) {
      t.sessions.back().lines.push_back(line.substr(2));
    } else {
      error = source + ":" + std::to_string(n) + ": unexpected line";
      return std::nullopt;
    }
  }
  return t;
}

bool is_transcript_file(const std::string& path) {
  std::ifstream f(path);
  std::string first;
  return f && std::getline(f, first) && first == kTranscriptHeader;
}

void transcript_ignore(Transcript& t, const std::set<std::string>& ignore) {
  if (ignore.empty()) return;
  for (auto& s : t.sessions)
    for (auto& l : s.lines) {
      auto w = words(l);
      std::string out;
      for (std::size_t i = 0; i < w.size(); ++i) {
        auto eq = w[i].find('=');
        std::string key = eq == std::string::npos ? w[i] : w[i].substr(0, eq);
        // "prop" ignores every property; "payload" ignores the payload, and so on.
        bool drop = i >= 2 && (ignore.count(key) || (key.rfind("prop.", 0) == 0 && ignore.count("prop")));
        if (drop) continue;
        out += (out.empty() ? "" : " ") + w[i];
      }
      l = out;
    }
}

}  // namespace mqttauth::cli
