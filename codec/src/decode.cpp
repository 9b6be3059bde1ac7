// Decoding of single packets, per MQTT 3.1, 3.1.1 and 5.0, plus the custom authenticate packet.
#include <cstring>

#include "mqttauth/codec.hpp"
#include "reader.hpp"
#include "mqttauth/topic.hpp"

namespace mqttauth {
namespace {

using detail::Reader;
using EK = ErrorKind;

// The decoding mode of one packet.
struct Mode {
  std::uint8_t level;  // 3, 4 or 5
  bool minimal;        // variable byte integers must be minimal (level 5 unless lenient)
  bool v5() const noexcept { return level == kLevel5; }
  // The spec clause of a rule: as MQTT 5.0 numbers it, or as 3.1.1 does.
  const char* clause(const char* v5_rule, const char* v311_rule) const noexcept { return v5() ? v5_rule : v311_rule; }
};

bool end_of_packet(Reader& r) {
  if (r.at_end() || !r.ok()) return r.ok();
  const std::size_t at = r.pos();
  r.rest();  // the packet is read; the extra bytes are not
  return r.violate(at, EK::trailing_bytes, "2.1.4", "bytes after the last field");
}

// Fixed-header flags: PUBREL, SUBSCRIBE and UNSUBSCRIBE need 0b0010, the others (but PUBLISH) 0b0000.
bool check_flags(Reader& r, std::uint8_t flags, std::uint8_t want, const Mode& m) {
  if (flags == want) return true;
  return r.violate_packet(0, EK::reserved_flags, m.clause("2.1.3", "MQTT-2.2.2-2"),
                          "fixed header flags must be as the spec fixes them");
}

constexpr bool is_flag_property(PropertyId id) {
  switch (id) {
    case PropertyId::payload_format_indicator:
    case PropertyId::request_problem_information:
    case PropertyId::request_response_information:
    case PropertyId::maximum_qos:
    case PropertyId::retain_available:
    case PropertyId::wildcard_subscription_available:
    case PropertyId::subscription_identifier_available:
    case PropertyId::shared_subscription_available: return true;
    default: return false;
  }
}

// Property length + properties; validates identifiers, contexts, duplicates, types and value ranges.
bool read_properties(Reader& r, PropertyContext pc, Properties& out, const Mode& m) {
  std::uint32_t len = 0;
  if (!r.varint(len, m.minimal, "property length")) return false;
  std::size_t block_pos = r.pos();
  std::size_t base = r.offset();
  Bytes raw;
  if (!r.bytes(len, raw, "properties")) return false;
  Reader pr = r.child(raw.data(), raw.size(), base);
  std::uint64_t seen = 0;
  while (!pr.at_end()) {
    std::size_t at = pr.pos();
    std::uint32_t id = 0;
    if (!pr.varint(id, m.minimal, "property identifier")) return r.absorb(pr);
    const PropertyInfo* info = id <= 0xFF ? property_info(static_cast<std::uint8_t>(id)) : nullptr;
    if (info == nullptr) {
      pr.fail_at(at, EK::bad_property_id, "unknown property identifier");
      return r.absorb(pr);
    }
    if (!property_allowed(*info, pc) &&
        !pr.violate(at, EK::property_not_allowed, "2.2.2.2", "property not allowed in this packet"))
      return r.absorb(pr);
    std::uint64_t b = std::uint64_t{1} << (id & 63u);
    bool once =
        !info->repeatable || (info->id == PropertyId::subscription_identifier && pc == PropertyContext::subscribe);
    if (once && (seen & b) && !pr.violate(at, EK::duplicate_property, "2.2.2.2", "property appears more than once"))
      return r.absorb(pr);
    seen |= b;
    std::size_t vat = pr.pos();
    std::uint32_t number = 0;
    switch (info->type) {
      case PropertyType::byte: {
        std::uint8_t v = 0;
        pr.u8(v, "property value");
        number = v;
        break;
      }
      case PropertyType::two_byte_int: {
        std::uint16_t v = 0;
        pr.u16(v, "property value");
        number = v;
        break;
      }
      case PropertyType::four_byte_int: pr.u32(number, "property value"); break;
      case PropertyType::var_int: pr.varint(number, m.minimal, "property value"); break;
      case PropertyType::utf8: {
        std::string_view s;
        pr.utf8(s, "property string");
        if (pr.ok() && info->id == PropertyId::response_topic && !valid_topic_name(s))
          pr.violate(vat, EK::bad_property_value, "MQTT-3.3.2-14", "response topic is not a valid topic name");
        break;
      }
      case PropertyType::binary: {
        Bytes v;
        pr.binary(v, "property binary data");
        break;
      }
      case PropertyType::utf8_pair: {
        std::string_view k, v;
        pr.utf8(k, "user property name");
        pr.utf8(v, "user property value");
        break;
      }
    }
    if (!pr.ok()) return r.absorb(pr);
    const char* bad = nullptr;
    const char* rule = "2.2.2.2";
    if (is_flag_property(info->id) && number > 1) {
      bad = "value must be 0 or 1";
      switch (info->id) {
        case PropertyId::payload_format_indicator: rule = "3.3.2.3.2"; break;
        case PropertyId::maximum_qos: rule = "3.2.2.3.4"; break;
        case PropertyId::request_problem_information: rule = "3.1.2.11.7"; break;
        case PropertyId::request_response_information: rule = "3.1.2.11.6"; break;
        default: rule = "3.2.2.3"; break;
      }
    }
    switch (info->id) {
      case PropertyId::receive_maximum:
      case PropertyId::maximum_packet_size:
      case PropertyId::topic_alias:
      case PropertyId::subscription_identifier:
        if (number == 0) bad = "value must not be 0";
        break;
      default: break;
    }
    if (bad && !pr.violate(vat, EK::bad_property_value, rule, bad)) return r.absorb(pr);
  }
  if (!r.absorb(pr)) return false;
  // Authentication Data without Authentication Method is a protocol error.
  constexpr auto auth_data = std::uint64_t{1} << static_cast<unsigned>(PropertyId::authentication_data);
  constexpr auto auth_method = std::uint64_t{1} << static_cast<unsigned>(PropertyId::authentication_method);
  if ((seen & auth_data) && !(seen & auth_method) &&
      !r.violate(block_pos, EK::bad_property_value, "3.1.2.11.10", "authentication data without authentication method"))
    return false;
  if (pc == PropertyContext::auth && !(seen & auth_method) &&
      !r.violate(block_pos, EK::bad_property_value, "3.15.2.2.2", "AUTH without authentication method"))
    return false;
  out = Properties(raw);
  return true;
}

// The body of CONNECT, and of authenticate (`custom`): protocol name, level, flags, keep-alive,
// [properties], client id, [will], [username], [password], and nothing after.
bool read_connect_body(Reader& r, ConnectBody& c, bool custom, bool lenient_vbi) {
  std::size_t name_at = r.pos();
  if (!r.utf8(c.protocol_name, "protocol name")) return false;
  bool mqtt = c.protocol_name == "MQTT", mqisdp = c.protocol_name == "MQIsdp";
  if (!mqtt && !mqisdp) return r.fail_at(name_at, EK::bad_protocol_name, "protocol name is not MQTT or MQIsdp");
  std::size_t level_at = r.pos();
  std::uint8_t lv = 0;
  if (!r.u8(lv, "protocol level")) return false;
  c.bridge = (lv & 0x80u) != 0;
  c.level = lv & 0x7Fu;
  if (c.level != kLevel31 && c.level != kLevel311 && c.level != kLevel5)
    return r.fail_at(level_at, EK::bad_protocol_level, "protocol level is not 3, 4 or 5");
  Mode m{c.level, c.level == kLevel5 && !lenient_vbi};
  // A mosquitto bridge may send "MQIsdp" at level 4: the level decides how the rest is read.
  if (mqisdp != (c.level == kLevel31) &&
      !r.violate(name_at, EK::bad_protocol_name, "MQTT-3.1.2-1", "protocol name does not match the level"))
    return false;
  std::size_t flags_at = r.pos();
  std::uint8_t f = 0;
  if (!r.u8(f, "connect flags")) return false;
  bool will = f & 0x04u, user = f & 0x80u, pass = f & 0x40u;
  std::uint8_t will_qos = (f >> 3) & 0x03u;
  bool will_retain = f & 0x20u;
  c.clean = f & 0x02u;
  if ((f & 0x01u) && !r.violate(flags_at, EK::bad_connect_flags, "MQTT-3.1.2-3", "reserved connect flag is set"))
    return false;
  if (!will && will_qos &&
      !r.violate(flags_at, EK::bad_connect_flags, m.clause("MQTT-3.1.2-11", "MQTT-3.1.2-13"),
                 "will QoS set without the will flag"))
    return false;
  if (!will && will_retain &&
      !r.violate(flags_at, EK::bad_connect_flags, m.clause("MQTT-3.1.2-13", "MQTT-3.1.2-15"),
                 "will retain set without the will flag"))
    return false;
  if (will_qos == 3 &&
      !r.violate(flags_at, EK::bad_connect_flags, m.clause("MQTT-3.1.2-12", "MQTT-3.1.2-14"), "will QoS 3"))
    return false;
  if (!custom && pass && !user && c.level == kLevel311 &&
      !r.violate(flags_at, EK::bad_connect_flags, "MQTT-3.1.2-22", "password flag without username flag"))
    return false;
  if (!r.u16(c.keep_alive, "keep alive")) return false;
  c.properties = Properties();
  if (m.v5() && !read_properties(r, PropertyContext::connect, c.properties, m)) return false;
  const std::size_t id_at = r.pos();
  if (!r.utf8(c.client_id, "client identifier")) return false;
  // A zero-byte client id asks the server to assign one: 3.1.1 only with a clean session; 3.1 never (1 to 23
  // characters). MQTT 5 allows it either way.
  if (!custom && c.client_id.empty() && c.level == kLevel311 && !c.clean &&
      !r.violate(id_at, EK::bad_connect_flags, "MQTT-3.1.3-7", "zero-byte client identifier without clean session"))
    return false;
  if (!custom && c.client_id.empty() && c.level == kLevel31 &&
      !r.violate(id_at, EK::bad_connect_flags, "MQTT 3.1 CONNECT",
                 "MQTT 3.1 requires a client identifier of 1 to 23 characters"))
    return false;
  c.will.reset();
  if (will) {
    Will w;
    w.qos = will_qos;
    w.retain = will_retain;
    if (m.v5() && !read_properties(r, PropertyContext::will, w.properties, m)) return false;
    std::size_t topic_at = r.pos();
    if (!r.utf8(w.topic, "will topic")) return false;
    if (!valid_topic_name(w.topic) &&
        !r.violate(topic_at, EK::bad_topic_name, m.clause("MQTT-3.1.3-11", "MQTT-3.1.3-10"),
                   "will topic is not a valid topic name"))
      return false;
    if (!r.binary(w.payload, "will payload")) return false;
    c.will = w;
  }
  c.username.reset();
  c.password.reset();
  if (user) {
    std::string_view u;
    if (!r.utf8(u, "username")) return false;
    c.username = u;
  }
  if (pass) {
    Bytes p;
    if (!r.binary(p, "password")) return false;
    c.password = p;
  }
  return end_of_packet(r);
}

bool need_packet_id(Reader& r, std::uint16_t& id, const Mode& m) {
  std::size_t at = r.pos();
  if (!r.u16(id, "packet identifier")) return false;
  if (id == 0)
    return r.violate(at, EK::zero_packet_id, m.clause("MQTT-2.2.1-3", "MQTT-2.3.1-1"), "packet identifier is 0");
  return true;
}

bool code_in(std::uint8_t code, std::initializer_list<std::uint8_t> set) {
  for (auto c : set)
    if (c == code) return true;
  return false;
}

constexpr std::initializer_list<std::uint8_t> kConnackCodes = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
                                                               0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
                                                               0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
constexpr std::initializer_list<std::uint8_t> kPubackCodes = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
constexpr std::initializer_list<std::uint8_t> kPubrelCodes = {0x00, 0x92};
constexpr std::initializer_list<std::uint8_t> kSubackCodes = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
                                                              0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
constexpr std::initializer_list<std::uint8_t> kUnsubackCodes = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
constexpr std::initializer_list<std::uint8_t> kDisconnectCodes = {
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
    0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
constexpr std::initializer_list<std::uint8_t> kAuthCodes = {0x00, 0x18, 0x19};

// `rule`: the section of the packet's reason code table.
bool read_reason(Reader& r, std::uint8_t& code, std::initializer_list<std::uint8_t> allowed, const char* rule) {
  std::size_t at = r.pos();
  if (!r.u8(code, "reason code")) return false;
  if (!code_in(code, allowed))
    return r.violate(at, EK::bad_reason_code, rule, "reason code not allowed in this packet");
  return true;
}

Expected<Packet> body_connack(Reader& r, const Mode& m) {
  Connack p;
  std::uint8_t ack = 0;
  std::size_t ack_at = r.pos();
  r.u8(ack, "connect acknowledge flags");
  if (r.ok() && (ack & 0xFEu))
    r.violate(ack_at, EK::reserved_flags, m.clause("MQTT-3.2.2-1", "3.2.2.1"),
              "reserved connect acknowledge flags set");
  p.session_present = ack & 0x01u;
  std::size_t code_at = r.pos();
  if (m.v5()) {
    read_reason(r, p.code, kConnackCodes, "3.2.2.2");
    if (r.ok() && r.at_end())  // real stacks send and accept it: read as no properties
      r.violate(r.pos(), EK::missing_field, "3.2.2.3.1", "CONNACK without property length");
    else
      read_properties(r, PropertyContext::connack, p.properties, m);
  } else {
    r.u8(p.code, "return code");
    if (r.ok() && p.code > 5) r.violate(code_at, EK::bad_reason_code, "3.2.2.3", "return code is not 0..5");
  }
  if (r.ok() && p.session_present && p.code != 0)
    r.violate(ack_at, EK::reserved_flags, m.clause("MQTT-3.2.2-6", "MQTT-3.2.2-4"),
              "session present with a non-zero return code");
  end_of_packet(r);
  if (!r.ok()) return r.error();
  return Packet(p);
}

// A PUBLISH body into `p` (where the caller builds it: in its result, not copied there); r.ok() tells.
void read_publish(Reader& r, std::uint8_t flags, const Mode& m, Publish& p) {
  p.dup = flags & 0x08u;
  p.qos = (flags >> 1) & 0x03u;
  p.retain = flags & 0x01u;
  // QoS 3 is read as a QoS that has a packet identifier (as peers that accept it do).
  if (p.qos == 3) r.violate_packet(0, EK::bad_qos, "MQTT-3.3.1-4", "PUBLISH with QoS 3");
  if (p.dup && p.qos == 0) r.violate_packet(0, EK::bad_qos, "MQTT-3.3.1-2", "DUP set on a QoS 0 PUBLISH");
  std::size_t topic_at = r.pos();
  // (Reader::utf8 and valid_topic_name in one pass: two passes over every topic were 4% of `stats`.)
  if (Bytes topic; r.binary(topic, "topic name")) {
    p.topic = topic.as_chars();
    const TopicNameCheck check = check_topic_name(topic.data(), topic.size());
    if (!check.utf8) r.violate(topic_at, EK::invalid_utf8, "MQTT-1.5.4-1", "topic name");
    if (r.ok() && !check.no_wildcard)
      r.violate(topic_at, EK::bad_topic_name, "MQTT-3.3.2-2", "topic name contains a wildcard");
  }
  if (p.qos > 0) need_packet_id(r, p.packet_id, m);
  if (m.v5()) read_properties(r, PropertyContext::publish, p.properties, m);
  if (r.ok() && p.topic.empty() && !(m.v5() && p.properties.find(PropertyId::topic_alias)))
    r.violate(topic_at, EK::bad_topic_name, m.clause("3.3.2.1", "MQTT-4.7.3-1"), "empty topic name");
  if (r.ok()) p.payload = r.rest();
}

Expected<Packet> body_publish(Reader& r, std::uint8_t flags, const Mode& m) {
  // Built in the result (every return is `out`): a local copied into the variant cost a store-forwarding
  // stall on every PUBLISH.
  Expected<Packet> out(std::in_place, std::in_place_type<Publish>);
  read_publish(r, flags, m, *std::get_if<Publish>(&*out));
  if (!r.ok()) out = r.error();
  return out;
}

// The rules of each acknowledgement of a PUBLISH: its fixed header flags, where its properties may be, its
// reason codes and the clause that lists them.
struct AckRules {
  std::uint8_t flags;
  PropertyContext pc;
  std::initializer_list<std::uint8_t> codes;
  const char* codes_rule;
};
template <class T>
constexpr AckRules ack_rules() noexcept;
template <>
constexpr AckRules ack_rules<Puback>() noexcept {
  return {0, PropertyContext::puback, kPubackCodes, "3.4.2.1"};
}
template <>
constexpr AckRules ack_rules<Pubrec>() noexcept {
  return {0, PropertyContext::pubrec, kPubackCodes, "3.5.2.1"};
}
template <>
constexpr AckRules ack_rules<Pubrel>() noexcept {
  return {2, PropertyContext::pubrel, kPubrelCodes, "3.6.2.1"};
}
template <>
constexpr AckRules ack_rules<Pubcomp>() noexcept {
  return {0, PropertyContext::pubcomp, kPubrelCodes, "3.7.2.1"};
}

// A PUBACK, PUBREC, PUBREL or PUBCOMP (flags and body) into `p`, as read_publish. (inline: out of line, the
// call cost 1% of `stats`.)
template <class T>
inline void read_ack(Reader& r, std::uint8_t flags, const Mode& m, T& p) {
  constexpr AckRules k = ack_rules<T>();
  if (!check_flags(r, flags, k.flags, m)) return;
  need_packet_id(r, p.packet_id, m);
  if (m.v5() && r.ok() && !r.at_end()) {
    read_reason(r, p.reason_code, k.codes, k.codes_rule);
    if (!r.at_end()) read_properties(r, k.pc, p.properties, m);
  }
  end_of_packet(r);
}

template <class T>
Expected<Packet> body_ack(Reader& r, std::uint8_t flags, const Mode& m) {
  Expected<Packet> out(std::in_place, std::in_place_type<T>);  // built in the result, as body_publish
  read_ack(r, flags, m, *std::get_if<T>(&*out));
  if (!r.ok()) out = r.error();
  return out;
}

Expected<Packet> body_subscribe(Reader& r, const Mode& m) {
  Subscribe p;
  need_packet_id(r, p.packet_id, m);
  if (m.v5()) read_properties(r, PropertyContext::subscribe, p.properties, m);
  if (r.ok() && r.at_end())
    r.violate(r.pos(), EK::empty_payload, m.clause("MQTT-3.8.3-2", "MQTT-3.8.3-3"), "SUBSCRIBE without topic filters");
  while (r.ok() && !r.at_end()) {
    Subscription s;
    std::size_t at = r.pos();
    r.utf8(s.filter, "topic filter");
    if (r.ok() && !valid_topic_filter(s.filter, m.level))
      r.violate(at, EK::bad_topic_filter, m.clause("4.7.1", "MQTT-4.7.1-2"), "invalid topic filter");
    std::size_t opt_at = r.pos();
    r.u8(s.options, "subscription options");
    if (!r.ok()) break;
    bool bad = s.qos() == 3;
    if (m.v5())
      bad = bad || (s.options & 0xC0u) || s.retain_handling() == 3 ||
            (s.no_local() && is_shared_filter(s.filter, m.level));
    else
      bad = bad || (s.options & 0xFCu);
    if (bad)
      r.violate(opt_at, EK::bad_subscription_options, m.clause("MQTT-3.8.3-5", "MQTT-3.8.3-4"),
                "invalid subscription options");
    p.subscriptions.push_back(s);
  }
  if (!r.ok()) return r.error();
  return Packet(std::move(p));
}

Expected<Packet> body_suback(Reader& r, const Mode& m) {
  Suback p;
  need_packet_id(r, p.packet_id, m);
  if (m.v5()) read_properties(r, PropertyContext::suback, p.properties, m);
  if (r.ok() && r.at_end()) r.violate(r.pos(), EK::empty_payload, "3.9.3", "SUBACK without return codes");
  if (!r.ok()) return r.error();
  std::size_t at = r.pos();
  p.codes = r.rest();
  for (std::size_t i = 0; i < p.codes.size(); ++i) {
    std::uint8_t c = p.codes[i];
    bool ok = m.v5() ? code_in(c, kSubackCodes) : (c <= 2 || c == 0x80);
    if (!ok && !r.violate(at + i, EK::bad_reason_code, m.clause("3.9.3", "MQTT-3.9.3-2"), "SUBACK code not allowed"))
      return r.error();
  }
  return Packet(p);
}

Expected<Packet> body_unsubscribe(Reader& r, const Mode& m) {
  Unsubscribe p;
  need_packet_id(r, p.packet_id, m);
  if (m.v5()) read_properties(r, PropertyContext::unsubscribe, p.properties, m);
  if (r.ok() && r.at_end()) r.violate(r.pos(), EK::empty_payload, "MQTT-3.10.3-2", "UNSUBSCRIBE without topic filters");
  while (r.ok() && !r.at_end()) {
    std::string_view f;
    std::size_t at = r.pos();
    r.utf8(f, "topic filter");
    if (r.ok() && !valid_topic_filter(f, m.level))
      r.violate(at, EK::bad_topic_filter, m.clause("4.7.1", "MQTT-4.7.1-2"), "invalid topic filter");
    p.filters.push_back(f);
  }
  if (!r.ok()) return r.error();
  return Packet(std::move(p));
}

Expected<Packet> body_unsuback(Reader& r, const Mode& m) {
  Unsuback p;
  need_packet_id(r, p.packet_id, m);
  if (m.v5()) {
    read_properties(r, PropertyContext::unsuback, p.properties, m);
    if (r.ok() && r.at_end()) r.violate(r.pos(), EK::empty_payload, "3.11.3", "UNSUBACK without reason codes");
    if (!r.ok()) return r.error();
    std::size_t at = r.pos();
    p.codes = r.rest();
    for (std::size_t i = 0; i < p.codes.size(); ++i)
      if (!code_in(p.codes[i], kUnsubackCodes) &&
          !r.violate(at + i, EK::bad_reason_code, "3.11.3", "UNSUBACK reason code not allowed"))
        break;
  }
  end_of_packet(r);
  if (!r.ok()) return r.error();
  return Packet(p);
}

Expected<Packet> body_disconnect(Reader& r, const Mode& m) {
  Disconnect p;
  if (m.v5() && !r.at_end()) {
    read_reason(r, p.reason_code, kDisconnectCodes, "3.14.2.1");
    if (r.ok() && !r.at_end()) read_properties(r, PropertyContext::disconnect, p.properties, m);
  }
  end_of_packet(r);
  if (!r.ok()) return r.error();
  return Packet(p);
}

Expected<Packet> body_auth(Reader& r, const Mode& m) {
  Auth p;
  if (!r.at_end()) {  // remaining length 0 means success without properties
    read_reason(r, p.reason_code, kAuthCodes, "3.15.2.1");
    read_properties(r, PropertyContext::auth, p.properties, m);
  }
  end_of_packet(r);
  if (!r.ok()) return r.error();
  return Packet(p);
}

Expected<Packet> body_authenticate(Reader& r, std::uint8_t code, std::uint8_t flags, bool lenient_vbi) {
  if (flags != 0) r.violate_packet(0, EK::reserved_flags, "2.1.3", "authenticate with non-zero fixed header flags");
  Authenticate a;
  a.code = code;
  if (!read_connect_body(r, a, true, lenient_vbi)) return r.error();
  return Packet(a);
}

// Does the body start with a protocol name, as an authenticate body would?
bool starts_like_connect(Bytes body) {
  static constexpr std::uint8_t mqtt[] = {0x00, 0x04, 'M', 'Q', 'T', 'T'};
  static constexpr std::uint8_t mqisdp[] = {0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p'};
  auto starts = [&](const std::uint8_t* p, std::size_t n) {
    return body.size() >= n && std::memcmp(body.data(), p, n) == 0;
  };
  return starts(mqtt, sizeof mqtt) || starts(mqisdp, sizeof mqisdp);
}

// Type 0: the custom authenticate packet when its body is CONNECT-like, else the forbidden reserved type.
Expected<Packet> body_type0(Reader& r, const FixedHeader& h, Bytes body, const Mode& m, const DecodeContext& ctx) {
  const std::uint8_t fl = h.flags();
  if (ctx.dialect == Dialect::authenticate) return body_authenticate(r, 0, fl, ctx.lenient_vbi);
  Reserved res{0, fl, body, std::nullopt};
  if (ctx.dialect == Dialect::auto_detect) {
    // Only a clean CONNECT-like body is the custom packet: type 0 is otherwise forbidden, and a body that
    // starts like CONNECT but breaks a rule is shown raw with the reason.
    Reader strict(body.data(), body.size(), h.size);
    auto a = body_authenticate(strict, 0, fl, ctx.lenient_vbi);
    if (a) return a;
    if (starts_like_connect(body)) res.authenticate_error = a.error();
  }
  if (!r.violate_packet(0, EK::bad_packet_type, m.clause("2.1.2", "2.2.1"), "packet type 0 is reserved (forbidden)"))
    return r.error();
  return Packet(res);
}

// One packet body at one level (never level 0).
Expected<Packet> decode_body(const FixedHeader& h, Bytes body, const Mode& m, const DecodeContext& ctx,
                             Violations* violations) {
  Reader r(body.data(), body.size(), h.size);
  r.tolerate(violations);
  const std::uint8_t fl = h.flags();
  auto flags = [&](std::uint8_t want) { return check_flags(r, fl, want, m); };
  switch (static_cast<PacketCode>(h.code())) {
    case PacketCode::connect: {
      if (!flags(0)) return r.error();
      Connect c;
      if (!read_connect_body(r, c, false, ctx.lenient_vbi)) return r.error();
      return Packet(c);
    }
    case PacketCode::connack:
      if (!flags(0)) return r.error();
      return body_connack(r, m);
    case PacketCode::publish: return body_publish(r, fl, m);
    case PacketCode::puback: return body_ack<Puback>(r, fl, m);
    case PacketCode::pubrec: return body_ack<Pubrec>(r, fl, m);
    case PacketCode::pubrel: return body_ack<Pubrel>(r, fl, m);
    case PacketCode::pubcomp: return body_ack<Pubcomp>(r, fl, m);
    case PacketCode::subscribe:
      if (!flags(2)) return r.error();
      return body_subscribe(r, m);
    case PacketCode::suback:
      if (!flags(0)) return r.error();
      return body_suback(r, m);
    case PacketCode::unsubscribe:
      if (!flags(2)) return r.error();
      return body_unsubscribe(r, m);
    case PacketCode::unsuback:
      if (!flags(0)) return r.error();
      return body_unsuback(r, m);
    case PacketCode::pingreq:
    case PacketCode::pingresp:
      if (!flags(0)) return r.error();
      if (!body.empty() && !r.violate_packet(1, EK::bad_length, m.clause("3.12.1", "3.12.1"),
                                             "PINGREQ / PINGRESP must have remaining length 0"))
        return r.error();
      if (h.code() == 12) return Packet(Pingreq{});
      return Packet(Pingresp{});
    case PacketCode::disconnect:
      if (!flags(0)) return r.error();
      return body_disconnect(r, m);
    case PacketCode::auth: {
      // Type 15: authenticate at level 3/4 (and when forced), AUTH at level 5.
      bool custom = ctx.dialect == Dialect::authenticate || (ctx.dialect == Dialect::auto_detect && m.level != kLevel5);
      if (custom) return body_authenticate(r, 15, fl, ctx.lenient_vbi);
      if (!flags(0)) return r.error();
      return body_auth(r, m);
    }
    case PacketCode::reserved0: return body_type0(r, h, body, m, ctx);
  }
  return Error{EK::bad_packet_type, 0, "unknown packet type"};
}

// PUBLISH and the four acknowledgements, nearly every packet of a capture, read straight into the Decoded of
// the result: no Packet moved out of a body's result and no moved-from variant destroyed (one of each per
// packet was 5% of the decoding). `found`: the violations seen before the body.
template <class T, class Fill>
Expected<Decoded> decode_in_place(const FixedHeader& h, Bytes body, std::uint8_t level, const Violations& found,
                                  bool strict, Fill&& fill) {
  Expected<Decoded> out(std::in_place, h, std::in_place_type<T>, level);
  Decoded& d = *out;
  if (!found.empty()) d.violations = found;
  Reader r(body.data(), body.size(), h.size);
  r.tolerate(strict ? nullptr : &d.violations);
  fill(r, *std::get_if<T>(&d.packet));
  if (!r.ok()) out = r.error();
  return out;
}

// A 3.1.1 server answers a level-5 CONNECT with a 3.1.1 CONNACK, return code 1 (unacceptable protocol
// version), as 3.1.1 [MQTT-3.1.2-2] requires: two bytes, a return code that MQTT 5 does not define.
bool is_v311_refusal(const FixedHeader& h, Bytes body) {
  return h.byte == 0x20 && body.size() == 2 && body[0] == 0 && body[1] >= 1 && body[1] <= 5;
}

}  // namespace

bool is_connect_like(std::span<const std::uint8_t> body) noexcept {
  Reader r(body.data(), body.size(), 0);
  Authenticate a;
  return read_connect_body(r, a, true, true);
}

Expected<FixedHeader> parse_fixed_header(std::span<const std::uint8_t> in, bool lenient) noexcept {
  if (in.size() < 2) return Error{EK::need_more, 2, "fixed header"};
  FixedHeader h;
  h.byte = in[0];
  std::uint32_t value = 0;
  for (std::size_t i = 1; i <= 4; ++i) {
    if (in.size() <= i) return Error{EK::need_more, i + 1, "remaining length"};
    std::uint8_t b = in[i];
    value |= std::uint32_t{b & 0x7Fu} << (7 * (i - 1));
    if ((b & 0x80u) == 0) {
      if (!lenient && i > 1 && b == 0)
        return Error{EK::bad_remaining_length, 1, "remaining length is not minimally encoded"};
      h.remaining_length = value;
      h.size = static_cast<std::uint8_t>(i + 1);
      return h;
    }
  }
  return Error{EK::bad_remaining_length, 1, "remaining length longer than 4 bytes"};
}

Expected<Decoded> decode(std::span<const std::uint8_t> in, const DecodeContext& ctx) noexcept {
  auto fh = parse_fixed_header(in, true);
  if (!fh) return fh.error();
  return decode(in, *fh, ctx);
}

Expected<Decoded> decode(std::span<const std::uint8_t> in, const FixedHeader& h, const DecodeContext& ctx) noexcept {
  if (h.packet_size() > ctx.limits.max_packet_size)
    return Error{EK::packet_too_large, 1, "packet larger than the maximum packet size"};
  if (in.size() < h.packet_size()) return Error{EK::need_more, h.packet_size(), "packet body"};
  Bytes body(in.data() + h.size, h.remaining_length);
  // Where violations go: nowhere in a strict decode (the first one is the error).
  Violations found;
  Violations* sink = ctx.strict ? nullptr : &found;
  auto done = [&](Packet&& p, std::uint8_t level, const Violations& v) {
    return Expected<Decoded>(std::in_place, h, std::move(p), level, v);
  };
  try {
    // CONNECT and authenticate carry their own level; other packets use the connection's.
    std::uint8_t level = ctx.level;
    if (level == kLevel5 && !ctx.lenient_vbi && h.size > 2 && in[h.size - 1] == 0) {
      // The remaining length is not minimally encoded [MQTT-1.5.5-1].
      if (!sink) return Error{EK::bad_remaining_length, 1, "remaining length is not minimally encoded"};
      found.add(Violation{EK::bad_remaining_length, 1, "MQTT-1.5.5-1", "remaining length is not minimally encoded"});
    }
    if (level == kLevel5 && is_v311_refusal(h, body)) level = kLevel311;
    if (level != 0) {
      const Mode m{level, level == kLevel5 && !ctx.lenient_vbi};
      const std::uint8_t fl = h.flags();
      auto ack = [&](Reader& r, auto& p) { read_ack(r, fl, m, p); };
      const bool strict = ctx.strict;
      switch (static_cast<PacketCode>(h.code())) {
        case PacketCode::publish:
          return decode_in_place<Publish>(h, body, level, found, strict,
                                          [&](Reader& r, Publish& p) { read_publish(r, fl, m, p); });
        case PacketCode::puback: return decode_in_place<Puback>(h, body, level, found, strict, ack);
        case PacketCode::pubrec: return decode_in_place<Pubrec>(h, body, level, found, strict, ack);
        case PacketCode::pubrel: return decode_in_place<Pubrel>(h, body, level, found, strict, ack);
        case PacketCode::pubcomp: return decode_in_place<Pubcomp>(h, body, level, found, strict, ack);
        default: break;
      }
    }
    if (level == 0) {
      auto code = static_cast<PacketCode>(h.code());
      if (code == PacketCode::auth && ctx.dialect == Dialect::auto_detect) {
        // No CONNECT seen: a CONNECT-like body means authenticate.
        level = is_connect_like(body.span()) ? kLevel311 : kLevel5;
      } else if (code != PacketCode::connect && code != PacketCode::reserved0) {
        // Unknown level: as 3.1.1, or as 5.0 when only that reads it cleanly.
        Violations v4;
        auto r4 = decode_body(h, body, Mode{kLevel311, false}, ctx, sink ? &v4 : nullptr);
        if (r4 && v4.empty()) return done(std::move(*r4), kLevel311, v4);
        Violations v5;
        auto r5 = decode_body(h, body, Mode{kLevel5, !ctx.lenient_vbi}, ctx, sink ? &v5 : nullptr);
        if (r5 && v5.empty()) return done(std::move(*r5), kLevel5, v5);
        if (r4) return done(std::move(*r4), kLevel311, v4);
        if (r5) return done(std::move(*r5), kLevel5, v5);
        return r4.error();
      } else {
        level = kLevel311;
      }
    }
    auto r = decode_body(h, body, Mode{level, level == kLevel5 && !ctx.lenient_vbi}, ctx, sink);
    if (!r) return r.error();
    if (auto* c = std::get_if<Connect>(&*r)) level = c->level;
    return done(std::move(*r), level, found);
  } catch (...) {  // std::bad_alloc from a SUBSCRIBE list is the only possible throw
    return Error{EK::packet_too_large, 0, "out of memory"};
  }
}

}  // namespace mqttauth
