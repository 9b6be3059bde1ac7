// Writes the sample captures of captures/ deterministically (same bytes every run), so that tests can check
// that the committed files are what this program makes, and the golden decodes are what the CLI prints.
//
//   mqttauth_make_captures OUTDIR
//
// field-handshakes.pcap: five connections as the field's patched stacks and a standard MQTT 5 stack put
// them on the wire (Ethernet, IPv4):
//   #1 port 1883:  custom authenticate code 0, right response, accepted; SUBSCRIBE, PUBLISH QoS 1, DISCONNECT
//   #2 port 28830: custom authenticate code 15, wrong response, CONNACK 5, the server closes
//   #3 port 1883:  MQTT 5 enhanced authentication (HMAC-SHA256, AUTH 0x18 both ways), accepted; PUBLISH QoS 2
//   #4 port 1883:  MQTT 3.1 (MQIsdp) without authentication; PUBLISH QoS 0 and a retained QoS 1
//   #5 port 1883:  custom code 0 challenge the device never answers; the server resets the connection
// field-handshakes.secrets: the devices' secrets (the response is hex HMAC-SHA256(secret, challenge)).
//
// field-anomalies.pcap: what check, the plugin's expert infos and the reassembly must flag or survive
// (Linux cooked v2 link type, port 28830 only, so MQTT is recognised by its CONNECT):
//   #1 custom code 0, the challenge split inside its remaining-length field, then a 200 KB PUBLISH over many
//      segments with a segment boundary inside its remaining-length field; accepted
//   #2 custom code 0 replaying #1's challenge (the same value), the device answers twice; accepted
//   #3 the device sends the challenge (wrong direction), the server answers with a malformed type-15 body;
//      refused
// field-violations.pcap: packets of real peers that break a rule of the spec (see main).
#include <cstdio>
#include <string>
#include <vector>

#include "mqttauth/codec.hpp"
#include "pcap_writer.hpp"
#include "mqttauth/verify.hpp"

using namespace mqttauth;
using namespace mqttauth::cli;

namespace {

Endpoint ep(const char* ip, std::uint16_t port) {
  Endpoint e;
  unsigned a, b, c, d;
  std::sscanf(ip, "%u.%u.%u.%u", &a, &b, &c, &d);
  e.ip.b[0] = static_cast<std::uint8_t>(a);
  e.ip.b[1] = static_cast<std::uint8_t>(b);
  e.ip.b[2] = static_cast<std::uint8_t>(c);
  e.ip.b[3] = static_cast<std::uint8_t>(d);
  e.port = port;
  return e;
}

std::vector<std::uint8_t> enc(const Packet& p, std::uint8_t level) { return encode_or_throw(p, level); }

constexpr std::int64_t kStart = 1764047123000000000;  // 2025-11-25 05:05:23 UTC
constexpr std::int64_t kMs = 1000000;

Authenticate field_authenticate(std::uint8_t code, const std::string& client_id, const std::string& password) {
  Authenticate a;
  a.code = code;
  a.protocol_name = "MQTT";
  a.level = kLevel311;
  a.clean = true;
  a.keep_alive = 0;
  a.client_id = client_id;
  a.password = Bytes::of(password);
  return a;
}

Connect connect311(const std::string& client_id, std::uint16_t keep_alive) {
  Connect c;
  c.level = kLevel311;
  c.clean = true;
  c.keep_alive = keep_alive;
  c.client_id = client_id;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const std::string secrets_text =
      "# client-id secret (mqttauth sessions --secrets / check --secrets)\n"
      "sensor-01 s3cret\n"
      "sensor-02 correct-horse\n"
      "sensor-03 battery-staple\n"
      "sensor-05 hunter2\n";
  Secrets secrets;
  secrets.add("sensor-01", "s3cret");
  secrets.add("sensor-02", "correct-horse");
  secrets.add("sensor-03", "battery-staple");
  secrets.add("sensor-05", "hunter2");

  PcapWriter w;
  if (!w.open(dir + "/field-handshakes.pcap", kLinkEthernet)) {
    std::fprintf(stderr, "cannot write %s/field-handshakes.pcap\n", dir.c_str());
    return 1;
  }
  const Endpoint broker = ep("192.168.7.1", 1883), broker_alt = ep("192.168.7.1", 28830);
  std::int64_t t = kStart;

  // #1: custom code 0, accepted.
  {
    TcpConversation c(w, {}, ep("192.168.7.21", 50101), broker, 1000, 9000);
    c.handshake(t);
    c.send(true, enc(connect311("sensor-01", 60), 4), t += 5 * kMs);
    std::string challenge = std::to_string((t + 3 * kMs) / kMs);  // the field's millisecond timestamp
    c.send(false, enc(field_authenticate(0, "sensor-01", challenge), 4), t += 3 * kMs);
    std::string response = hmac_sha256_hex("s3cret", challenge);
    c.send(true, enc(field_authenticate(0, "sensor-01", response), 4), t += 20 * kMs);
    c.send(false, enc(Connack{false, 0, {}}, 4), t += 2 * kMs);
    Subscribe s;
    s.packet_id = 1;
    s.subscriptions.push_back({"devices/sensor-01/cmd", 1});
    c.send(true, enc(s, 4), t += 10 * kMs);
    Suback sa;
    sa.packet_id = 1;
    static const std::uint8_t granted[] = {1};
    sa.codes = Bytes(granted, 1);
    c.send(false, enc(sa, 4), t += 1 * kMs);
    Publish p;
    p.qos = 1;
    p.packet_id = 2;
    p.topic = "devices/sensor-01/telemetry";
    p.payload = Bytes::of("{\"t\":21.5,\"rh\":40}");
    c.send(true, enc(p, 4), t += 100 * kMs);
    Puback pa;
    pa.packet_id = 2;
    c.send(false, enc(pa, 4), t += 1 * kMs);
    c.send(true, enc(Disconnect{}, 4), t += 50 * kMs);
    c.close(t += 1 * kMs);
  }
  // #2: custom code 15 on a non-standard port, wrong response, refused.
  {
    TcpConversation c(w, {}, ep("192.168.7.22", 50102), broker_alt, 2000, 19000);
    c.handshake(t += 200 * kMs);
    c.send(true, enc(connect311("sensor-02", 30), 4), t += 5 * kMs);
    std::string challenge = std::to_string((t + 2 * kMs) / kMs);
    c.send(false, enc(field_authenticate(15, "sensor-02", challenge), 4), t += 2 * kMs);
    std::string wrong = hmac_sha256_hex("not-the-secret", challenge);
    c.send(true, enc(field_authenticate(15, "sensor-02", wrong), 4), t += 25 * kMs);
    c.send(false, enc(Connack{false, 5, {}}, 4), t += 2 * kMs);
    c.close(t += 1 * kMs);
  }
  // #3: MQTT 5 enhanced authentication.
  {
    TcpConversation c(w, {}, ep("192.168.7.23", 50103), broker, 3000, 29000);
    c.handshake(t += 200 * kMs);
    PropertyBuilder cp;
    cp.add_string(PropertyId::authentication_method, "HMAC-SHA256");
    Connect con;
    con.level = kLevel5;
    con.clean = true;
    con.keep_alive = 60;
    con.client_id = "sensor-03";
    con.properties = cp.properties();
    c.send(true, enc(con, 5), t += 5 * kMs);
    std::string challenge = "9f86d081884c7d659a2feaa0c55ad015";  // 16 random bytes, hex
    PropertyBuilder ap;
    ap.add_string(PropertyId::authentication_method, "HMAC-SHA256");
    ap.add_binary(PropertyId::authentication_data, Bytes::of(challenge));
    c.send(false, enc(Auth{0x18, ap.properties()}, 5), t += 2 * kMs);
    std::string response = hmac_sha256_hex("battery-staple", challenge);
    PropertyBuilder rp;
    rp.add_string(PropertyId::authentication_method, "HMAC-SHA256");
    rp.add_binary(PropertyId::authentication_data, Bytes::of(response));
    c.send(true, enc(Auth{0x18, rp.properties()}, 5), t += 15 * kMs);
    PropertyBuilder kp;
    kp.add_string(PropertyId::authentication_method, "HMAC-SHA256");
    kp.add_int(PropertyId::topic_alias_maximum, 10);
    c.send(false, enc(Connack{false, 0, kp.properties()}, 5), t += 2 * kMs);
    PropertyBuilder pp;
    pp.add_int(PropertyId::payload_format_indicator, 1);
    pp.add_string(PropertyId::content_type, "application/json");
    pp.add_user_property("unit", "celsius");
    Publish p;
    p.qos = 2;
    p.packet_id = 7;
    p.topic = "devices/sensor-03/telemetry";
    p.properties = pp.properties();
    p.payload = Bytes::of("{\"t\":19.0}");
    c.send(true, enc(p, 5), t += 80 * kMs);
    c.send(false, enc(Pubrec{{7, 0, {}}}, 5), t += 1 * kMs);
    c.send(true, enc(Pubrel{{7, 0, {}}}, 5), t += 1 * kMs);
    c.send(false, enc(Pubcomp{{7, 0, {}}}, 5), t += 1 * kMs);
    c.send(true, enc(Disconnect{0, {}}, 5), t += 30 * kMs);
    c.close(t += 1 * kMs);
  }
  // #4: MQTT 3.1 without authentication.
  {
    TcpConversation c(w, {}, ep("192.168.7.24", 50104), broker, 4000, 39000);
    c.handshake(t += 200 * kMs);
    Connect con;
    con.protocol_name = "MQIsdp";
    con.level = kLevel31;
    con.clean = true;
    con.keep_alive = 120;
    con.client_id = "legacy-04";
    con.username = "legacy";
    con.password = Bytes::of("pw");
    c.send(true, enc(con, 3), t += 5 * kMs);
    c.send(false, enc(Connack{false, 0, {}}, 3), t += 2 * kMs);
    Publish p;
    p.topic = "legacy/04/state";
    p.payload = Bytes::of("on");
    c.send(true, enc(p, 3), t += 40 * kMs);
    Publish r;
    r.qos = 1;
    r.retain = true;
    r.packet_id = 1;
    r.topic = "legacy/04/config";
    r.payload = Bytes::of("interval=60");
    c.send(true, enc(r, 3), t += 10 * kMs);
    Puback pa;
    pa.packet_id = 1;
    c.send(false, enc(pa, 3), t += 1 * kMs);
    c.send(true, enc(Pingreq{}, 3), t += 60 * kMs);
    c.send(false, enc(Pingresp{}, 3), t += 1 * kMs);
    c.close(t += 20 * kMs);
  }
  // #5: a challenge without a response; the server gives up and resets.
  {
    TcpConversation c(w, {}, ep("192.168.7.25", 50105), broker, 5000, 49000);
    c.handshake(t += 200 * kMs);
    c.send(true, enc(connect311("sensor-05", 60), 4), t += 5 * kMs);
    std::string challenge = std::to_string((t + 2 * kMs) / kMs);
    c.send(false, enc(field_authenticate(0, "sensor-05", challenge), 4), t += 2 * kMs);
    c.reset(false, t += 5000 * kMs);
  }
  w.close();

  PcapWriter a;
  if (!a.open(dir + "/field-anomalies.pcap", kLinkLinuxSll2, true)) {
    std::fprintf(stderr, "cannot write %s/field-anomalies.pcap\n", dir.c_str());
    return 1;
  }
  const LinkSpec sll2{kLinkLinuxSll2, {}};
  const Endpoint server = ep("10.20.0.1", 28830);
  t = kStart + 3600 * 1000 * kMs;
  const std::string replayed = std::to_string(t / kMs + 7);
  // #1
  {
    TcpConversation c(a, sll2, ep("10.20.0.31", 41001), server, 100, 900);
    c.handshake(t);
    c.send(true, enc(connect311("meter-31", 60), 4), t += 5 * kMs);
    auto ch = enc(field_authenticate(0, "meter-31", replayed), 4);
    c.send(false, std::span<const std::uint8_t>(ch).first(1), t += 2 * kMs);    // the header byte alone
    c.send(false, std::span<const std::uint8_t>(ch).subspan(1), t += 1 * kMs);  // length and body
    c.send(true, enc(field_authenticate(0, "meter-31", hmac_sha256_hex("meter-secret", replayed)), 4), t += 9 * kMs);
    c.send(false, enc(Connack{false, 0, {}}, 4), t += 2 * kMs);
    std::vector<std::uint8_t> big(200 * 1000);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>('a' + i % 26);
    Publish p;
    p.topic = "meters/31/dump";
    p.payload = Bytes(big);
    auto bytes = enc(p, 4);                                                      // 30 <3-byte remaining length> ...
    c.send(true, std::span<const std::uint8_t>(bytes).first(2), t += 10 * kMs);  // ends inside the length
    c.send(true, std::span<const std::uint8_t>(bytes).subspan(2), t += 1 * kMs, 1448);
    c.close(t += 50 * kMs);
  }
  // #2
  {
    TcpConversation c(a, sll2, ep("10.20.0.32", 41002), server, 200, 1900);
    c.handshake(t += 100 * kMs);
    c.send(true, enc(connect311("meter-32", 60), 4), t += 5 * kMs);
    c.send(false, enc(field_authenticate(0, "meter-32", replayed), 4), t += 2 * kMs);
    auto resp = enc(field_authenticate(0, "meter-32", hmac_sha256_hex("meter-secret", replayed)), 4);
    c.send(true, resp, t += 9 * kMs);
    c.send(true, resp, t += 1 * kMs);  // answered twice
    c.send(false, enc(Connack{false, 0, {}}, 4), t += 2 * kMs);
    c.close(t += 50 * kMs);
  }
  // #3
  {
    TcpConversation c(a, sll2, ep("10.20.0.33", 41003), server, 300, 2900);
    c.handshake(t += 100 * kMs);
    c.send(true, enc(connect311("meter-33", 60), 4), t += 5 * kMs);
    const std::string backwards = std::to_string(t / kMs);
    c.send(true, enc(field_authenticate(0, "meter-33", backwards), 4), t += 2 * kMs);
    // Type 15 whose body is cut after the protocol level: not a valid authenticate body.
    const std::uint8_t bad[] = {0xF0, 0x07, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04};
    c.send(false, bad, t += 2 * kMs);
    c.send(false, enc(Connack{false, 5, {}}, 4), t += 2 * kMs);
    c.close(t += 10 * kMs);
  }
  a.close();

  // field-violations.pcap: what real peers send that breaks a rule of the spec, each decoded in full with
  // its violation (Ethernet, IPv4, port 1883):
  //   #1 MQTT 5: CONNACK with Maximum QoS 2, PUBLISH with payload format indicator 88 (mosquitto_pub -D)
  //   #2 a level-5 CONNECT refused by a 3.1.1 broker: CONNACK 20 02 00 01
  //   #3 a mosquitto bridge: protocol name MQIsdp at level 4 (0x84), accepted
  //   #4 3.1.1: type 0 carrying a PUBLISH body (forbidden), a PUBLISH with QoS 3
  //   #5 custom: a challenge of type 0 answered with type 15, the server closes
  //   #6 custom: a response that names another client id than the CONNECT, refused (CONNACK 5)
  PcapWriter v;
  if (!v.open(dir + "/field-violations.pcap", kLinkEthernet)) return 1;
  const Endpoint vb = ep("172.16.5.1", 1883);
  t = kStart + 7200 * 1000 * kMs;
  auto v5_connect = [](const std::string& id) {
    Connect c;
    c.level = kLevel5;
    c.client_id = id;
    c.keep_alive = 60;
    return c;
  };
  // #1
  {
    TcpConversation c(v, {}, ep("172.16.5.11", 40011), vb, 100, 900);
    c.handshake(t);
    const std::string id = "pub-pfi";
    c.send(true, enc(v5_connect(id), 5), t += 3 * kMs);
    Connack ack;
    PropertyBuilder ap;
    ap.add_int(PropertyId::maximum_qos, 2);
    ack.properties = ap.properties();
    c.send(false, enc(ack, 5), t += 1 * kMs);
    Publish p;
    p.topic = "sensors/pfi";
    p.payload = Bytes::of("22.5");
    PropertyBuilder pp;
    pp.add_int(PropertyId::payload_format_indicator, 88);
    p.properties = pp.properties();
    c.send(true, enc(p, 5), t += 2 * kMs);
    c.send(true, enc(Disconnect{}, 5), t += 1 * kMs);
    c.close(t += 1 * kMs);
  }
  // #2
  {
    TcpConversation c(v, {}, ep("172.16.5.12", 40012), vb, 200, 1900);
    c.handshake(t += 10 * kMs);
    const std::string id = "new-client";
    c.send(true, enc(v5_connect(id), 5), t += 3 * kMs);
    const std::uint8_t refusal[] = {0x20, 0x02, 0x00, 0x01};
    c.send(false, refusal, t += 1 * kMs);
    c.close(t += 1 * kMs);
  }
  // #3
  {
    TcpConversation c(v, {}, ep("172.16.5.13", 40013), vb, 300, 2900);
    c.handshake(t += 10 * kMs);
    const std::uint8_t bridge[] = {0x10, 0x18, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x84, 0x02, 0x00,
                                   0x3C, 0x00, 0x0A, 'b',  'r', 'i', 'd', 'g', 'e', '-', 'a',  '/',  '1'};
    c.send(true, bridge, t += 3 * kMs);
    c.send(false, enc(Connack{false, 0, {}}, 4), t += 1 * kMs);
    c.close(t += 1 * kMs);
  }
  // #4
  {
    TcpConversation c(v, {}, ep("172.16.5.14", 40014), vb, 400, 3900);
    c.handshake(t += 10 * kMs);
    c.send(true, enc(connect311("legacy-14", 60), 4), t += 3 * kMs);
    c.send(false, enc(Connack{false, 0, {}}, 4), t += 1 * kMs);
    Publish p;
    p.topic = "topicX";
    p.payload = Bytes::of("baabaablacksheep");
    auto type0 = enc(p, 4);
    type0[0] = 0x00;
    c.send(true, type0, t += 2 * kMs);
    p.qos = 1;
    p.packet_id = 1;
    auto qos3 = enc(p, 4);
    qos3[0] = 0x36;
    c.send(true, qos3, t += 2 * kMs);
    c.send(true, enc(Pingreq{}, 4), t += 2 * kMs);
    c.close(t += 1 * kMs);
  }
  // #5
  {
    TcpConversation c(v, {}, ep("172.16.5.15", 40015), vb, 500, 4900);
    c.handshake(t += 10 * kMs);
    c.send(true, enc(connect311("dev-15", 60), 4), t += 3 * kMs);
    const std::string challenge = std::to_string(t / kMs);
    c.send(false, enc(field_authenticate(0, "dev-15", challenge), 4), t += 2 * kMs);
    c.send(true, enc(field_authenticate(15, "dev-15", hmac_sha256_hex("dev-secret", challenge)), 4), t += 9 * kMs);
    c.close(t += 5 * kMs);
  }
  // #6
  {
    TcpConversation c(v, {}, ep("172.16.5.16", 40016), vb, 600, 5900);
    c.handshake(t += 10 * kMs);
    c.send(true, enc(connect311("dev-16", 60), 4), t += 3 * kMs);
    const std::string challenge = std::to_string(t / kMs);
    c.send(false, enc(field_authenticate(0, "dev-16", challenge), 4), t += 2 * kMs);
    c.send(true, enc(field_authenticate(0, "dev-61", hmac_sha256_hex("dev-secret", challenge)), 4), t += 9 * kMs);
    Connack refused;
    refused.code = 5;
    c.send(false, enc(refused, 4), t += 1 * kMs);
    c.close(t += 5 * kMs);
  }
  v.close();

  std::FILE* f = std::fopen((dir + "/field-handshakes.secrets").c_str(), "w");
  if (!f) return 1;
  std::fputs(secrets_text.c_str(), f);
  std::fclose(f);
  return 0;
}
