// What MQTT.js (tests/interop/mqttjs-ws.js) logged of its packets, and the same read from a decode, in a form
// both sides can give: per client id and direction, "cmd [t=topic q=qos] [len=N] [id=N]" in order.
#pragma once

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "json.hpp"
#include "mosquitto.hpp"

namespace mqttauth::test {

using PacketLog = std::map<std::string, std::map<std::string, std::vector<std::string>>>;  // client -> dir -> packets

// Why a test of MQTT.js against mosquitto on loopback cannot run here (empty: it can; `modules` is then the
// MQTT.js node_modules folder, MQTTAUTH_MQTTJS). A missing MQTT.js fails the test when tools are required.
inline std::string mqttjs_and_mosquitto_missing(const char*& modules) {
  modules = std::getenv("MQTTAUTH_MQTTJS");
  if (modules == nullptr) {
    if (std::getenv("MQTTAUTH_REQUIRE_TOOLS") != nullptr) ADD_FAILURE() << "MQTTAUTH_MQTTJS is not set";
    return "MQTTAUTH_MQTTJS is not set: MQTT.js is not installed";
  }
  if (!have_mosquitto()) return "mosquitto is not installed";
  if (!can_capture()) return "no privilege to capture on lo";
  return {};
}

// Topic, QoS and length of a PUBLISH; the packet identifier of any packet that has one.
inline std::string packet_key(const std::string& cmd, const Json& topic, const Json& qos, const Json& id,
                              const Json& len) {
  std::string k = cmd;
  if (cmd == "publish") {
    k += " t=" + topic.str() + " q=" + std::to_string(static_cast<int>(qos.num()));
    if (!len.is_null()) k += " len=" + std::to_string(static_cast<long>(len.num()));
  }
  if (!id.is_null() && !(cmd == "publish" && qos.num() == 0)) k += " id=" + std::to_string(static_cast<int>(id.num()));
  return k;
}

// The JSON lines the script printed, added to `log` under `client_id`.
inline void add_mqttjs_log(PacketLog& log, const std::string& client_id, const std::string& out) {
  for (const Json& j : json_lines(out))
    if (j.has("cmd"))
      log[client_id][j["dir"].str()].push_back(
          packet_key(j["cmd"].str(), j["topic"], j["qos"], j["messageId"], j["payload_len"]));
}

// The packets of `mqttauth decode --format jsonl` output, by the client id of their connection's CONNECT.
inline PacketLog decoded_packets(const std::string& out) {
  PacketLog decoded;
  std::map<double, std::string> client_of;
  for (const Json& j : json_lines(out)) {
    if (!j.has("type")) continue;
    const double conn = j["conn"].num();
    if (j["type"].str() == "connect") client_of[conn] = j["client_id"].str();
    const Json none;
    decoded[client_of[conn]][j["dir"].str()].push_back(
        packet_key(j["type"].str(), j.has("topic") ? j["topic"] : none, j.has("qos") ? j["qos"] : none,
                   j.has("packet_id") ? j["packet_id"] : none, j.has("payload_len") ? j["payload_len"] : none));
  }
  return decoded;
}

}  // namespace mqttauth::test
