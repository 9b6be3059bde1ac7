// Valid single-packet byte vectors, written by hand from the MQTT 3.1 / 3.1.1 (OASIS 2014) and 5.0 (OASIS
// 2019) specifications, shared by the packet, truncation and round-trip suites.
//
// Every vector is one whole packet (no extra bytes after it). `level` is the DecodeContext level to decode it
// with. `canonical` is false for the few vectors that decode fine but that the encoder writes in a shorter
// (equally valid) form, so encode(decode(x)) != x for them.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hex.hpp"
#include "mqttauth/codec.hpp"

namespace mqttauth::test {

struct Vector {
  std::string name;
  std::uint8_t level = 0;
  std::vector<std::uint8_t> bytes;
  bool canonical = true;
};

namespace detail {

// PUBLISH qos 0 to "a/b" with a 200-byte payload: the remaining length (205) needs two bytes.
inline std::vector<std::uint8_t> long_publish() {
  auto b =
      hex("30 CD 01      # PUBLISH qos 0, remaining length 205 (0xCD 0x01)\n"
          "00 03 'a/b'   # topic name\n");
  for (int i = 0; i < 200; ++i) b.push_back(static_cast<std::uint8_t>(i));
  return b;
}

inline std::vector<Vector> make_vectors() {
  std::vector<Vector> v;
  auto add = [&](std::string name, std::uint8_t level, std::vector<std::uint8_t> bytes, bool canonical = true) {
    v.push_back(Vector{std::move(name), level, std::move(bytes), canonical});
  };

  // ---------------------------------------------------------------------------------------------------------
  // MQTT 3.1.1 (level 4)
  // ---------------------------------------------------------------------------------------------------------
  add("v4/connect_minimal", 4,
      hex("10 0C          # CONNECT, remaining length 12\n"
          "00 04 'MQTT'   # protocol name\n"
          "04             # protocol level 4\n"
          "02             # connect flags: clean session\n"
          "00 3C          # keep alive 60\n"
          "00 00          # client identifier: empty\n"));
  add("v4/connect_full", 4,
      hex("10 30          # CONNECT, remaining length 48\n"
          "00 04 'MQTT'   # protocol name\n"
          "04             # protocol level 4\n"
          "EE             # flags: username, password, will retain, will qos 1, will, clean session\n"
          "01 2C          # keep alive 300\n"
          "00 05 'cid-1'  # client identifier\n"
          "00 0A 'will/topic' # will topic\n"
          "00 03 'bye'    # will message\n"
          "00 04 'user'   # user name\n"
          "00 06 'secret' # password\n"));
  add("v4/connect_will_qos2", 4,
      hex("10 12          # CONNECT, remaining length 18\n"
          "00 04 'MQTT'   # protocol name\n"
          "04             # protocol level 4\n"
          "14             # flags: will qos 2, will; clean session 0\n"
          "00 00          # keep alive 0 (off)\n"
          "00 01 'c'      # client identifier\n"
          "00 01 'w'      # will topic\n"
          "00 00          # will message: empty\n"));
  add("v4/connect_bridge", 4,
      hex("10 16          # CONNECT, remaining length 22\n"
          "00 04 'MQTT'   # protocol name\n"
          "84             # protocol level 4 with the bridge bit (0x80)\n"
          "82             # flags: username, clean session\n"
          "00 0A          # keep alive 10\n"
          "00 06 'bridge' # client identifier\n"
          "00 02 'bu'     # user name\n"));
  add("v4/connect_binary_password", 4,
      hex("10 14          # CONNECT, remaining length 20\n"
          "00 04 'MQTT'   # protocol name\n"
          "04             # protocol level 4\n"
          "C2             # flags: username, password, clean session\n"
          "00 00          # keep alive 0\n"
          "00 00          # client identifier: empty\n"
          "00 01 'u'      # user name\n"
          "00 03 FF 00 80 # password: binary data, not UTF-8\n"));
  for (int rc = 0; rc <= 5; ++rc) {
    auto b =
        hex("20 02          # CONNACK, remaining length 2\n"
            "00             # acknowledge flags: session present 0\n"
            "00             # return code (patched below)\n");
    b[3] = static_cast<std::uint8_t>(rc);
    add("v4/connack_rc" + std::to_string(rc), 4, b);
  }
  add("v4/connack_session_present", 4,
      hex("20 02          # CONNACK, remaining length 2\n"
          "01             # acknowledge flags: session present\n"
          "00             # return code 0: accepted\n"));
  add("v4/publish_qos0", 4,
      hex("30 0A          # PUBLISH qos 0, remaining length 10\n"
          "00 03 'a/b'    # topic name\n"
          "'hello'        # payload\n"));
  add("v4/publish_qos0_empty", 4,
      hex("30 05          # PUBLISH qos 0, remaining length 5\n"
          "00 03 'a/b'    # topic name; no payload\n"));
  add("v4/publish_retain", 4,
      hex("31 06          # PUBLISH qos 0, retain\n"
          "00 03 'a/b'    # topic name\n"
          "'x'            # payload\n"));
  add("v4/publish_qos1", 4,
      hex("32 0C          # PUBLISH qos 1, remaining length 12\n"
          "00 03 'a/b'    # topic name\n"
          "00 0A          # packet identifier 10\n"
          "'hello'        # payload\n"));
  add("v4/publish_qos1_dup", 4,
      hex("3A 07          # PUBLISH dup, qos 1\n"
          "00 03 'a/b'    # topic name\n"
          "00 01          # packet identifier 1\n"));
  add("v4/publish_qos2_dup_retain", 4,
      hex("3D 0A          # PUBLISH dup, qos 2, retain, remaining length 10\n"
          "00 03 'a/b'    # topic name\n"
          "FF FF          # packet identifier 65535\n"
          "00 01 02       # payload: binary\n"));
  add("v4/publish_utf8_topic", 4,
      hex("30 0E          # PUBLISH qos 0, remaining length 14\n"
          "00 09 'caf' C3 A9 F0 9F 98 80 # topic name: \"caf\" U+00E9 U+1F600\n"
          "'xyz'          # payload\n"));
  add("v4/publish_long", 4, long_publish());
  add("v4/puback", 4, hex("40 02  00 01   # PUBACK, packet identifier 1\n"));
  add("v4/pubrec", 4, hex("50 02  00 02   # PUBREC, packet identifier 2\n"));
  add("v4/pubrel", 4, hex("62 02  00 03   # PUBREL (flags 0b0010), packet identifier 3\n"));
  add("v4/pubcomp", 4, hex("70 02  00 04  # PUBCOMP, packet identifier 4\n"));
  add("v4/subscribe", 4,
      hex("82 1B          # SUBSCRIBE (flags 0b0010), remaining length 27\n"
          "00 0A          # packet identifier 10\n"
          "00 03 'a/b' 00 # filter a/b, qos 0\n"
          "00 03 'c/+' 01 # filter c/+, qos 1\n"
          "00 01 '#' 02   # filter #, qos 2\n"
          "00 06 '$SYS/#' 01 # filter $SYS/#, qos 1\n"));
  add("v4/subscribe_share_is_plain", 4,
      hex("82 0E          # SUBSCRIBE: at level 4 $share/... is an ordinary filter\n"
          "00 01          # packet identifier 1\n"
          "00 09 '$share/g/' 00 # filter, qos 0 (an empty last level is allowed)\n"));
  add("v4/suback", 4,
      hex("90 06          # SUBACK, remaining length 6\n"
          "00 0A          # packet identifier 10\n"
          "00 01 02 80    # return codes: qos 0, qos 1, qos 2, failure\n"));
  add("v4/unsubscribe", 4,
      hex("A2 0C          # UNSUBSCRIBE (flags 0b0010), remaining length 12\n"
          "00 0B          # packet identifier 11\n"
          "00 03 'a/b'    # filter\n"
          "00 03 'c/+'    # filter\n"));
  add("v4/unsuback", 4, hex("B0 02  00 0B   # UNSUBACK, packet identifier 11\n"));
  add("v4/pingreq", 4, hex("C0 00          # PINGREQ\n"));
  add("v4/pingresp", 4, hex("D0 00          # PINGRESP\n"));
  add("v4/disconnect", 4, hex("E0 00          # DISCONNECT\n"));

  // ---------------------------------------------------------------------------------------------------------
  // MQTT 3.1 (level 3): CONNECT differs (protocol name "MQIsdp"); the other packets are read as in 3.1.1.
  // ---------------------------------------------------------------------------------------------------------
  add("v3/connect", 3,
      hex("10 12          # CONNECT, remaining length 18\n"
          "00 06 'MQIsdp' # protocol name\n"
          "03             # protocol level 3\n"
          "02             # flags: clean session\n"
          "00 3C          # keep alive 60\n"
          "00 04 'cl31'   # client identifier\n"));
  add("v3/connect_bridge_auth", 3,
      hex("10 16          # CONNECT, remaining length 22\n"
          "00 06 'MQIsdp' # protocol name\n"
          "83             # protocol level 3 with the bridge bit\n"
          "C2             # flags: username, password, clean session\n"
          "00 1E          # keep alive 30\n"
          "00 02 'c3'     # client identifier\n"
          "00 01 'u'      # user name\n"
          "00 01 'p'      # password\n"));
  add("v3/connack", 3, hex("20 02  00 00   # CONNACK accepted\n"));
  add("v3/publish_qos1", 3, hex("32 08  00 03 'a/b'  00 05  'x'   # PUBLISH qos 1 id 5\n"));
  add("v3/subscribe", 3, hex("82 08  00 02  00 03 'a/#' 01   # SUBSCRIBE id 2, a/# qos 1\n"));
  add("v3/suback", 3, hex("90 03  00 02  01   # SUBACK id 2, qos 1\n"));

  // ---------------------------------------------------------------------------------------------------------
  // MQTT 5.0 (level 5)
  // ---------------------------------------------------------------------------------------------------------
  add("v5/connect_minimal", 5,
      hex("10 0D          # CONNECT, remaining length 13\n"
          "00 04 'MQTT'   # protocol name\n"
          "05             # protocol level 5\n"
          "02             # flags: clean start\n"
          "00 00          # keep alive 0\n"
          "00             # property length 0\n"
          "00 00          # client identifier: empty\n"));
  add("v5/connect_props", 5,
      hex("10 80 01       # CONNECT, remaining length 128\n"
          "00 04 'MQTT'   # protocol name\n"
          "05             # protocol level 5\n"
          "EE             # flags: username, password, will retain, will qos 1, will, clean start\n"
          "00 3C          # keep alive 60\n"
          "28             # property length 40\n"
          "11 00 00 00 78 # session expiry interval 120\n"
          "21 00 14       # receive maximum 20\n"
          "27 00 00 10 00 # maximum packet size 4096\n"
          "22 00 0A       # topic alias maximum 10\n"
          "19 01          # request response information 1\n"
          "17 00          # request problem information 0\n"
          "26 00 01 'k' 00 01 'v' # user property k=v\n"
          "15 00 05 'PLAIN'       # authentication method\n"
          "16 00 02 01 02         # authentication data\n"
          "00 04 'cid5'   # client identifier\n"
          "2D             # will property length 45\n"
          "18 00 00 00 05 # will delay interval 5\n"
          "01 01          # payload format indicator 1 (UTF-8)\n"
          "02 00 00 0E 10 # message expiry interval 3600\n"
          "03 00 0A 'text/plain' # content type\n"
          "08 00 05 'reply'      # response topic\n"
          "09 00 02 AB CD        # correlation data\n"
          "26 00 01 'a' 00 01 'b' # user property a=b\n"
          "00 06 'will/t' # will topic\n"
          "00 03 'bye'    # will payload\n"
          "00 04 'user'   # user name\n"
          "00 04 'pass'   # password\n"));
  add("v5/connect_password_only", 5,
      hex("10 11          # CONNECT, remaining length 17\n"
          "00 04 'MQTT'   # protocol name\n"
          "05             # protocol level 5\n"
          "42             # flags: password without username (allowed in 5.0), clean start\n"
          "00 00          # keep alive 0\n"
          "00             # property length 0\n"
          "00 00          # client identifier: empty\n"
          "00 02 'pw'     # password\n"));
  add("v5/connack_props", 5,
      hex("20 4C          # CONNACK, remaining length 76\n"
          "01             # acknowledge flags: session present\n"
          "00             # reason code: success\n"
          "49             # property length 73\n"
          "11 00 00 00 3C # session expiry interval 60\n"
          "21 00 0A       # receive maximum 10\n"
          "24 01          # maximum qos 1\n"
          "25 00          # retain available 0\n"
          "27 00 01 00 00 # maximum packet size 65536\n"
          "12 00 04 'auto' # assigned client identifier\n"
          "22 00 05       # topic alias maximum 5\n"
          "1F 00 02 'ok'  # reason string\n"
          "26 00 01 'x' 00 01 'y' # user property x=y\n"
          "28 01          # wildcard subscription available 1\n"
          "29 00          # subscription identifier available 0\n"
          "2A 01          # shared subscription available 1\n"
          "13 00 1E       # server keep alive 30\n"
          "1A 00 04 'resp' # response information\n"
          "1C 00 03 'srv' # server reference\n"
          "15 00 05 'PLAIN' # authentication method\n"
          "16 00 01 00    # authentication data\n"));
  add("v5/connack_refused", 5,
      hex("20 03          # CONNACK, remaining length 3\n"
          "00             # session present 0\n"
          "87             # reason code: not authorized\n"
          "00             # property length 0\n"));
  add("v5/publish_props", 5,
      hex("32 4E          # PUBLISH qos 1, remaining length 78\n"
          "00 03 'a/b'    # topic name\n"
          "00 07          # packet identifier 7\n"
          "44             # property length 68\n"
          "01 01          # payload format indicator 1\n"
          "02 00 00 00 3C # message expiry interval 60\n"
          "23 00 05       # topic alias 5\n"
          "08 00 05 'reply' # response topic\n"
          "09 00 03 01 02 03 # correlation data\n"
          "0B 02          # subscription identifier 2\n"
          "0B 80 01       # subscription identifier 128 (two-byte variable integer)\n"
          "0B FF FF FF 7F # subscription identifier 268435455 (the maximum)\n"
          "26 00 02 'k1' 00 02 'v1' # user property k1=v1\n"
          "26 00 02 'k2' 00 02 'v2' # user property k2=v2\n"
          "26 00 02 'k1' 00 02 'v3' # user property k1=v3 (same name again)\n"
          "03 00 04 'json' # content type\n"
          "'hi'           # payload\n"));
  add("v5/publish_alias_empty_topic", 5,
      hex("30 07          # PUBLISH qos 0, remaining length 7\n"
          "00 00          # topic name: empty\n"
          "03             # property length 3\n"
          "23 00 01       # topic alias 1\n"
          "'x'            # payload\n"));
  add("v5/publish_qos0_no_props", 5,
      hex("30 06          # PUBLISH qos 0\n"
          "00 03 'a/b'    # topic name\n"
          "00             # property length 0; no payload\n"));
  add("v5/publish_qos2_dup_retain", 5,
      hex("3D 09          # PUBLISH dup, qos 2, retain\n"
          "00 03 'a/b'    # topic name\n"
          "00 09          # packet identifier 9\n"
          "00             # property length 0\n"
          "'z'            # payload\n"));
  add("v5/puback_len2", 5, hex("40 02  00 01   # PUBACK id 1; reason code omitted (success)\n"));
  add("v5/puback_len3", 5,
      hex("40 03          # PUBACK, remaining length 3\n"
          "00 01          # packet identifier 1\n"
          "10             # reason code: no matching subscribers; property length omitted\n"));
  add("v5/puback_props", 5,
      hex("40 12          # PUBACK, remaining length 18\n"
          "00 01          # packet identifier 1\n"
          "80             # reason code: unspecified error\n"
          "0E             # property length 14\n"
          "1F 00 04 'oops' # reason string\n"
          "26 00 01 'a' 00 01 'b' # user property\n"));
  add("v5/puback_len4_empty_props", 5,
      hex("40 04          # PUBACK, remaining length 4\n"
          "00 01          # packet identifier 1\n"
          "00             # reason code: success\n"
          "00             # property length 0 (the encoder omits both)\n"),
      false);
  add("v5/pubrec", 5, hex("50 03  00 02  97   # PUBREC id 2, quota exceeded\n"));
  add("v5/pubrel", 5, hex("62 03  00 03  92   # PUBREL id 3, packet identifier not found\n"));
  add("v5/pubcomp", 5, hex("70 02  00 04       # PUBCOMP id 4, success\n"));
  add("v5/pubcomp_reason_string", 5,
      hex("70 09          # PUBCOMP, remaining length 9\n"
          "00 04          # packet identifier 4\n"
          "92             # reason code: packet identifier not found\n"
          "05             # property length 5\n"
          "1F 00 02 'nf'  # reason string\n"));
  add("v5/subscribe", 5,
      hex("82 39          # SUBSCRIBE, remaining length 57\n"
          "00 05          # packet identifier 5\n"
          "09             # property length 9\n"
          "0B 0A          # subscription identifier 10\n"
          "26 00 01 'u' 00 01 'v' # user property\n"
          "00 03 'a/b' 00 # qos 0\n"
          "00 03 'c/d' 05 # qos 1, no local\n"
          "00 01 '#' 0A   # qos 2, retain as published\n"
          "00 03 'e/+' 10 # qos 0, retain handling 1\n"
          "00 03 'f/g' 29 # qos 1, retain as published, retain handling 2\n"
          "00 0E '$share/grp/x/#' 01 # shared subscription, qos 1\n"));
  add("v5/suback", 5,
      hex("90 14          # SUBACK, remaining length 20\n"
          "00 05          # packet identifier 5\n"
          "05             # property length 5\n"
          "1F 00 02 'ok'  # reason string\n"
          "00 01 02 80 83 87 8F 91 97 9E A1 A2 # every SUBACK reason code\n"));
  add("v5/unsubscribe", 5,
      hex("A2 18          # UNSUBSCRIBE, remaining length 24\n"
          "00 06          # packet identifier 6\n"
          "00             # property length 0\n"
          "00 03 'a/b'    # filter\n"
          "00 0E '$share/grp/x/#' # shared filter\n"));
  add("v5/unsubscribe_user_prop", 5,
      hex("A2 0F          # UNSUBSCRIBE, remaining length 15\n"
          "00 07          # packet identifier 7\n"
          "07             # property length 7\n"
          "26 00 01 'k' 00 01 'v' # user property\n"
          "00 03 'a/+'    # filter\n"));
  add("v5/unsuback", 5,
      hex("B0 0A          # UNSUBACK, remaining length 10\n"
          "00 06          # packet identifier 6\n"
          "00             # property length 0\n"
          "00 11 80 83 87 8F 91 # every UNSUBACK reason code\n"));
  add("v5/pingreq", 5, hex("C0 00"));
  add("v5/pingresp", 5, hex("D0 00"));
  add("v5/disconnect_len0", 5, hex("E0 00          # DISCONNECT: normal disconnection, no properties\n"));
  add("v5/disconnect_len1", 5,
      hex("E0 01          # DISCONNECT, remaining length 1\n"
          "04             # reason code: disconnect with will message\n"));
  add("v5/disconnect_len1_success", 5,
      hex("E0 01          # DISCONNECT, remaining length 1\n"
          "00             # reason code 0 (the encoder omits it)\n"),
      false);
  add("v5/disconnect_props", 5,
      hex("E0 15          # DISCONNECT, remaining length 21\n"
          "9C             # reason code: use another server\n"
          "13             # property length 19\n"
          "1C 00 05 'host2' # server reference\n"
          "1F 00 03 'bye' # reason string\n"
          "11 00 00 00 00 # session expiry interval 0\n"));
  add("v5/auth_len0", 5, hex("F0 00          # AUTH: success, no properties\n"));
  add("v5/auth_continue", 5,
      hex("F0 11          # AUTH, remaining length 17\n"
          "18             # reason code: continue authentication\n"
          "0F             # property length 15\n"
          "15 00 05 'SCRAM' # authentication method\n"
          "16 00 04 01 02 03 04 # authentication data\n"));
  add("v5/auth_reauth", 5,
      hex("F0 0F          # AUTH, remaining length 15\n"
          "19             # reason code: re-authenticate\n"
          "0D             # property length 13\n"
          "15 00 05 'SCRAM' # authentication method\n"
          "1F 00 02 'ra'  # reason string\n"));
  return v;
}

}  // namespace detail

inline const std::vector<Vector>& valid_vectors() {
  static const std::vector<Vector> v = detail::make_vectors();
  return v;
}

inline const Vector& vec(std::string_view name) {
  for (const auto& v : valid_vectors())
    if (v.name == name) return v;
  throw std::out_of_range("no such vector: " + std::string(name));
}

inline DecodeContext ctx_for(const Vector& v) {
  DecodeContext c;
  c.level = v.level;
  return c;
}

}  // namespace mqttauth::test
