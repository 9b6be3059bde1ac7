#include "mqttauth/websocket.hpp"

#include <algorithm>
#include <cstring>

namespace mqttauth::ws {

namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool icontains(std::string_view hay, std::string_view needle) noexcept {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i)
    if (iequals(hay.substr(i, needle.size()), needle)) return true;
  return false;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Calls f(item) for each item of a `sep`-separated list, trimmed.
template <class F>
void for_each_item(std::string_view list, char sep, F f) {
  while (true) {
    const auto cut = list.find(sep);
    f(trim(list.substr(0, cut)));
    if (cut == std::string_view::npos) return;
    list.remove_prefix(cut + 1);
  }
}

constexpr const char* kRfc51 = "RFC 6455 5.1";
constexpr const char* kRfc52 = "RFC 6455 5.2";
constexpr const char* kRfc54 = "RFC 6455 5.4";
constexpr const char* kRfc55 = "RFC 6455 5.5";

}  // namespace

bool looks_like_http_get(std::span<const std::uint8_t> b) noexcept {
  return b.size() >= 4 && std::memcmp(b.data(), "GET ", 4) == 0;
}

HttpHead parse_http_head(std::span<const std::uint8_t> b, std::size_t max) noexcept {
  HttpHead h;
  const std::string_view all(reinterpret_cast<const char*>(b.data()), b.size());
  const bool response = all.starts_with("HTTP/1.");
  if (!response && !looks_like_http_get(b)) {
    if (b.size() < 4 && std::string_view("GET ").starts_with(all)) return h;     // need more
    if (b.size() < 7 && std::string_view("HTTP/1.").starts_with(all)) return h;  // need more
    h.status = HttpHead::Status::not_http;
    return h;
  }
  const auto end = all.substr(0, std::min(all.size(), max)).find("\r\n\r\n");
  if (end == std::string_view::npos) {
    h.status = all.size() >= max ? HttpHead::Status::too_long : HttpHead::Status::need_more;
    return h;
  }
  h.status = HttpHead::Status::complete;
  h.length = end + 4;
  h.request = !response;
  std::string_view head = all.substr(0, end);
  const auto eol = head.find("\r\n");
  const std::string_view first = head.substr(0, eol);
  head = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
  if (response) {
    const auto sp = first.find(' ');
    if (sp != std::string_view::npos)
      for (std::size_t i = sp + 1; i < first.size() && first[i] >= '0' && first[i] <= '9'; ++i)
        h.status_code = h.status_code * 10 + (first[i] - '0');
  } else {
    const auto sp1 = first.find(' '), sp2 = first.rfind(' ');
    if (sp1 != std::string_view::npos && sp2 > sp1) h.path = std::string(first.substr(sp1 + 1, sp2 - sp1 - 1));
  }
  bool upgrade = false;
  while (!head.empty()) {
    const auto e = head.find("\r\n");
    const std::string_view line = head.substr(0, e);
    head = e == std::string_view::npos ? std::string_view{} : head.substr(e + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
    if (iequals(name, "Upgrade"))
      upgrade = icontains(value, "websocket");
    else if (iequals(name, "Sec-WebSocket-Protocol"))
      h.subprotocols += (h.subprotocols.empty() ? "" : ", ") + std::string(value);
    else if (iequals(name, "Sec-WebSocket-Extensions"))
      h.extensions += (h.extensions.empty() ? "" : ", ") + std::string(value);
    else if (iequals(name, "Sec-WebSocket-Key"))
      h.key = std::string(value);
    else if (iequals(name, "Sec-WebSocket-Accept"))
      h.accept = std::string(value);
  }
  h.upgrade = upgrade && (h.request || h.status_code == 101);
  return h;
}

bool names_mqtt(std::string_view subprotocols) noexcept {
  bool yes = false;
  for_each_item(subprotocols, ',',
                [&](std::string_view p) { yes = yes || iequals(p, "mqtt") || iequals(p, "mqttv3.1"); });
  return yes;
}

Deflate parse_deflate(std::string_view extensions) noexcept {
  Deflate d;
  for_each_item(extensions, ',', [&](std::string_view ext) {
    if (d.on) return;
    bool first = true;
    for_each_item(ext, ';', [&](std::string_view param) {
      if (first) {
        first = false;
        d.on = iequals(param, "permessage-deflate");
        return;
      }
      if (!d.on) return;
      const auto eq = param.find('=');
      const std::string_view key = trim(param.substr(0, eq));
      int bits = 0;
      if (eq != std::string_view::npos)
        for (char c : trim(param.substr(eq + 1)))
          if (c >= '0' && c <= '9') bits = bits * 10 + (c - '0');
      if (iequals(key, "client_no_context_takeover")) d.client_no_context_takeover = true;
      if (iequals(key, "server_no_context_takeover")) d.server_no_context_takeover = true;
      if (iequals(key, "client_max_window_bits") && bits >= 8 && bits <= 15) d.client_max_window_bits = bits;
      if (iequals(key, "server_max_window_bits") && bits >= 8 && bits <= 15) d.server_max_window_bits = bits;
    });
  });
  return d;
}

std::string_view opcode_name(std::uint8_t op) noexcept {
  switch (op) {
    case 0: return "continuation";
    case 1: return "text";
    case 2: return "binary";
    case 8: return "close";
    case 9: return "ping";
    case 10: return "pong";
    default: return "reserved";
  }
}

std::vector<std::uint8_t> encode_frame(std::uint8_t opcode, std::span<const std::uint8_t> payload, bool fin,
                                       const std::optional<std::array<std::uint8_t, 4>>& mask) {
  std::vector<std::uint8_t> f;
  f.reserve(payload.size() + 14);
  f.push_back(static_cast<std::uint8_t>((fin ? 0x80 : 0) | (opcode & 0x0F)));
  const std::uint8_t m = mask ? 0x80 : 0;
  const std::uint64_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<std::uint8_t>(m | n));
  } else if (n <= 0xFFFF) {
    f.insert(f.end(), {static_cast<std::uint8_t>(m | 126), static_cast<std::uint8_t>(n >> 8),
                       static_cast<std::uint8_t>(n & 0xFF)});
  } else {
    f.push_back(static_cast<std::uint8_t>(m | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<std::uint8_t>((n >> (8 * i)) & 0xFF));
  }
  if (mask) f.insert(f.end(), mask->begin(), mask->end());
  const std::size_t at = f.size();
  f.insert(f.end(), payload.begin(), payload.end());
  if (mask)
    for (std::size_t i = 0; i < payload.size(); ++i) f[at + i] ^= (*mask)[i & 3];
  return f;
}

void Deframer::push(std::span<const std::uint8_t> bytes) {
  if (at_ == in_.size()) {
    base_ += at_;
    in_.clear();
    at_ = 0;
  } else if (at_ > 65536) {
    base_ += at_;
    in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(at_));
    at_ = 0;
  }
  in_.insert(in_.end(), bytes.begin(), bytes.end());
}

Deframer::Event Deframer::violation(std::uint64_t at, const char* rule, const char* detail) {
  Event e;
  e.kind = Event::Kind::violation;
  e.offset = at;
  e.rule = rule;
  e.detail = detail;
  return e;
}

// A whole frame header at at_ (2 to 14 bytes): the frame's state set, its violations queued. False: need more.
bool Deframer::parse_header() {
  const std::size_t avail = in_.size() - at_;
  if (avail < 2) return false;
  const std::uint8_t b0 = in_[at_], b1 = in_[at_ + 1];
  const std::uint8_t len7 = b1 & 0x7F;
  const bool masked = (b1 & 0x80) != 0;
  const std::size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  const std::size_t hl = 2 + ext + (masked ? 4 : 0);
  if (avail < hl) return false;
  std::uint64_t len = len7;
  if (ext != 0) {
    len = 0;
    for (std::size_t i = 0; i < ext; ++i) len = (len << 8) | in_[at_ + 2 + i];
  }
  if (masked) std::memcpy(mask_, &in_[at_ + 2 + ext], 4);
  frame_at_ = base_ + at_;
  at_ += hl;
  ++frames_;
  fin_ = (b0 & 0x80) != 0;
  opcode_ = b0 & 0x0F;
  masked_ = masked;
  left_ = len;
  done_ = 0;
  in_frame_ = true;
  skip_ = opcode_ > 2 && !(opcode_ >= 8 && opcode_ <= 10 && len <= 125);
  const bool rsv1 = (b0 & 0x40) != 0, rsv23 = (b0 & 0x30) != 0;  // RSV1 is the bit after FIN
  auto flag = [this](const char* rule, const char* detail) { pending_.push_back(Pending{rule, detail}); };
  if (close_seen_) flag("RFC 6455 5.5.1", "a frame after this side's Close frame");
  if (from_client_ && !masked) flag(kRfc51, "a client frame is not masked");
  if (!from_client_ && masked) flag(kRfc51, "a server frame is masked");
  if (rsv23) flag(kRfc52, "RSV2 or RSV3 set without an extension that defines them");
  const bool data = opcode_ <= 2;
  const bool starts_message = opcode_ == 1 || opcode_ == 2;
  if (rsv1 && !(deflate_ && starts_message))
    flag(deflate_ ? "RFC 7692 6.1" : kRfc52,
         deflate_ ? "RSV1 set on a frame that does not start a message" : "RSV1 set without permessage-deflate");
  if ((ext == 2 && len < 126) || (ext == 8 && len <= 0xFFFF))
    flag(kRfc52, "the payload length is not in the minimal number of bytes");
  if (ext == 8 && (len >> 63) != 0) flag(kRfc52, "the most significant bit of a 64-bit payload length is set");
  if (!data && opcode_ != 8 && opcode_ != 9 && opcode_ != 10) flag(kRfc52, "a reserved opcode");
  if (opcode_ >= 8) {
    if (!fin_) flag(kRfc55, "a fragmented control frame");
    if (len > 125) flag(kRfc55, "a control frame longer than 125 bytes");
  }
  if (opcode_ == 0 && !in_message_) {
    flag(kRfc54, "a continuation frame with no message in progress");
    message_opcode_ = 2;
    message_compressed_ = false;
  }
  if (starts_message) {
    if (in_message_) flag(kRfc54, "a new data message before the previous one ended");
    message_opcode_ = opcode_;
    message_compressed_ = rsv1 && deflate_;
  }
  if (opcode_ == 1) flag("MQTT-6.0.0-1", "MQTT sent in a text frame: it must be binary");
  if (data) in_message_ = !fin_;
  if (opcode_ == 8) close_seen_ = true;
  return true;
}

Deframer::Event Deframer::next() {
  while (true) {
    if (!pending_.empty()) {
      const Pending p = pending_.front();
      pending_.erase(pending_.begin());
      return violation(frame_at_, p.rule, p.detail);
    }
    Event e;
    if (!in_frame_) {
      if (!parse_header()) return e;  // need more
      continue;                       // its violations first
    }
    const std::size_t avail = in_.size() - at_;
    e.offset = frame_at_;
    e.opcode = opcode_;
    if (!skip_ && opcode_ >= 8) {
      if (avail < left_) return e;  // need more: a control frame is handed out whole
      const auto n = static_cast<std::size_t>(left_);
      out_.assign(in_.begin() + static_cast<std::ptrdiff_t>(at_), in_.begin() + static_cast<std::ptrdiff_t>(at_ + n));
      if (masked_)
        for (std::size_t i = 0; i < n; ++i) out_[i] ^= mask_[i & 3];
      at_ += n;
      in_frame_ = false;
      e.kind = Event::Kind::control;
      e.payload = out_;
      if (opcode_ == 8 && n >= 2) e.close_code = static_cast<std::uint16_t>((out_[0] << 8) | out_[1]);
      return e;
    }
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, avail));
    if (skip_) {
      at_ += n;
      left_ -= n;
      if (left_ == 0) in_frame_ = false;
      if (n == 0 && left_ > 0) return e;
      continue;
    }
    if (n == 0 && left_ > 0) return e;  // need more
    out_.assign(in_.begin() + static_cast<std::ptrdiff_t>(at_), in_.begin() + static_cast<std::ptrdiff_t>(at_ + n));
    if (masked_)
      for (std::size_t i = 0; i < n; ++i) out_[i] ^= mask_[(done_ + i) & 3];
    at_ += n;
    done_ += n;
    left_ -= n;
    e.kind = Event::Kind::data;
    e.payload = out_;
    e.opcode = message_opcode_;
    e.compressed = message_compressed_;
    if (left_ == 0) {
      in_frame_ = false;
      e.message_end = fin_;
    }
    if (n == 0 && !e.message_end) continue;  // an empty frame that ends nothing
    return e;
  }
}

}  // namespace mqttauth::ws
