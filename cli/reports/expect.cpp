#include "expect.hpp"

#include <fstream>
#include <sstream>

#include "mqttauth/findings.hpp"
#include "mqttauth/topic.hpp"

namespace mqttauth::cli {

bool compare(std::uint64_t v, CompareOp op, std::uint64_t b) noexcept {
  switch (op) {
    case CompareOp::eq: return v == b;
    case CompareOp::ne: return v != b;
    case CompareOp::ge: return v >= b;
    case CompareOp::le: return v <= b;
    case CompareOp::gt: return v > b;
    case CompareOp::lt: return v < b;
  }
  return false;
}

const char* op_text(CompareOp op) noexcept {
  switch (op) {
    case CompareOp::eq: return "==";
    case CompareOp::ne: return "!=";
    case CompareOp::ge: return ">=";
    case CompareOp::le: return "<=";
    case CompareOp::gt: return ">";
    case CompareOp::lt: return "<";
  }
  return "?";
}

namespace {

std::optional<CompareOp> parse_op(const std::string& s) {
  if (s == "==" || s == "=") return CompareOp::eq;
  if (s == "!=") return CompareOp::ne;
  if (s == ">=") return CompareOp::ge;
  if (s == "<=") return CompareOp::le;
  if (s == ">") return CompareOp::gt;
  if (s == "<") return CompareOp::lt;
  return std::nullopt;
}

std::optional<std::uint64_t> parse_count(const std::string& s);

// "500ms", "2s" in nanoseconds; at most a day.
std::optional<std::int64_t> parse_duration(const std::string& text, std::string& why) {
  std::string v = text;
  std::int64_t scale = 0;
  if (v.size() > 2 && v.compare(v.size() - 2, 2, "ms") == 0) {
    scale = 1000000;
    v.resize(v.size() - 2);
  } else if (v.size() > 1 && v.back() == 's') {
    scale = 1000000000;
    v.pop_back();
  }
  auto c = parse_count(v);
  if (!scale || !c) {
    why = "'" + text + "' is not a duration (e.g. 500ms, 2s)";
    return std::nullopt;
  }
  // Found by fuzzing: 5003333333333333ms overflowed the nanoseconds. A day is more than any handshake.
  if (*c > static_cast<std::uint64_t>(86'400'000'000'000 / scale)) {
    why = "'" + text + "' is longer than a day";
    return std::nullopt;
  }
  return static_cast<std::int64_t>(*c) * scale;
}

std::optional<std::uint64_t> parse_count(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

std::optional<std::vector<Expectation>> parse_expectations_text(const std::string& text, const std::string& name,
                                                                std::string& error) {
  std::vector<Expectation> out;
  std::istringstream in(text);
  std::string raw;
  for (int n = 1; std::getline(in, raw); ++n) {
    auto hash = raw.find('#');
    std::string line = raw.substr(0, hash);
    std::istringstream ws(line);
    std::vector<std::string> w;
    for (std::string t; ws >> t;) w.push_back(t);
    if (w.empty()) continue;
    auto fail = [&](const std::string& msg) {
      error = name + ":" + std::to_string(n) + ": " + msg;
      return std::nullopt;
    };
    Expectation e;
    e.line = n;
    {
      std::string joined;
      for (const auto& t : w) joined += (joined.empty() ? "" : " ") + t;
      e.text = joined;
    }
    if (w[0] == "every-session") {
      if (w.size() != 2 || w[1] != "authenticates") return fail("expected 'every-session authenticates'");
      e.kind = ExpectKind::every_session_authenticates;
    } else if (w[0] == "client") {
      if (w.size() != 3)
        return fail("expected 'client <client-id> accepted|refused|incomplete|abandoned|authenticates'");
      e.kind = ExpectKind::client_outcome;
      e.client_id = w[1];
      e.outcome = w[2] == "authenticates" ? "accepted" : w[2];
      if (e.outcome != "accepted" && e.outcome != "refused" && e.outcome != "incomplete" && e.outcome != "abandoned")
        return fail("unknown outcome '" + w[2] + "' (accepted, refused, incomplete, abandoned, authenticates)");
    } else if (w[0] == "publishes") {
      if (w.size() != 5 || w[3] != "on") return fail("expected 'publishes <op> <count> on <topic-filter>'");
      auto op = parse_op(w[1]);
      auto c = parse_count(w[2]);
      if (!op) return fail("unknown operator '" + w[1] + "' (== != >= <= > <)");
      if (!c) return fail("'" + w[2] + "' is not a count");
      if (!valid_topic_filter(w[4], 4)) return fail("'" + w[4] + "' is not a valid topic filter");
      e.kind = ExpectKind::publishes;
      e.op = *op;
      e.count = *c;
      e.filter = w[4];
    } else if (w[0] == "connections") {
      if (w.size() != 3) return fail("expected 'connections <op> <count>'");
      auto op = parse_op(w[1]);
      auto c = parse_count(w[2]);
      if (!op) return fail("unknown operator '" + w[1] + "' (== != >= <= > <)");
      if (!c) return fail("'" + w[2] + "' is not a count");
      e.kind = ExpectKind::connections;
      e.op = *op;
      e.count = *c;
    } else if (w[0] == "no" && w.size() == 3 && w[1] == "qos") {
      if (w[2] != "0" && w[2] != "1" && w[2] != "2") return fail("QoS is 0, 1 or 2");
      e.kind = ExpectKind::no_qos;
      e.qos = static_cast<std::uint8_t>(w[2][0] - '0');
    } else if (w[0] == "no" && w.size() == 2 && w[1] == "decode-errors") {
      e.kind = ExpectKind::no_decode_errors;
    } else if (w[0] == "max-handshake-latency") {
      if (w.size() != 2) return fail("expected 'max-handshake-latency <N>ms' or '<N>s'");
      std::string why;
      auto d = parse_duration(w[1], why);
      if (!d) return fail(why);
      e.kind = ExpectKind::max_latency;
      e.latency_ns = *d;
    } else if (w[0] == "max-publish-latency" || w[0] == "max-delivery-latency") {
      const bool with_pct = w.size() == 3;
      if (w.size() != 2 && !with_pct) return fail("expected '" + w[0] + " [p50|p90|p99|max] <N>ms'");
      if (with_pct) {
        if (w[1] == "max") {
          e.percentile = 100;
        } else if (w[1] == "p50" || w[1] == "p90" || w[1] == "p99") {
          e.percentile = std::stod(w[1].substr(1));
        } else {
          return fail("'" + w[1] + "' is not p50, p90, p99 or max");
        }
      }
      std::string why;
      auto d = parse_duration(w.back(), why);
      if (!d) return fail(why);
      e.kind = w[0] == "max-publish-latency" ? ExpectKind::max_publish_latency : ExpectKind::max_delivery_latency;
      e.latency_ns = *d;
    } else if (w[0] == "no" && w.size() == 2) {
      std::string fname = w[1];
      for (char& c : fname)
        if (c == '-') c = '_';
      if (!finding_by_name(fname)) return fail("no finding is named '" + w[1] + "' (see the README's table)");
      e.kind = ExpectKind::no_finding;
      e.finding = fname;
    } else {
      return fail("unknown expectation '" + w[0] + "'");
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::optional<std::vector<Expectation>> parse_expectations(const std::string& path, std::string& error) {
  std::ifstream f(path);
  if (!f) {
    error = path + ": cannot open the expectations file";
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse_expectations_text(ss.str(), path, error);
}

}  // namespace mqttauth::cli
