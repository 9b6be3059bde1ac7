// User expectations for `mqttauth check --expect FILE`: a small line-based language.
//
//   # comments and blank lines are ignored
//   every-session authenticates          every connection whose handshake was seen is accepted
//   client sensor-02 refused             the connections of that client end so (accepted, refused,
//                                        incomplete, abandoned); "client X authenticates" = accepted
//   publishes >= 10 on devices/+/telemetry   count of PUBLISH packets whose topic matches the filter
//   connections == 5                     MQTT connections in the captures (operators: == != >= <= > <)
//   no qos 2                             no PUBLISH at QoS 2 (also "no qos 1", "no qos 0")
//   max-handshake-latency 500ms          CONNECT to CONNACK, in ms or s
//   no decode-errors                     no packet failed to decode
//   no unacked-publish                   no finding of that name (any of the vocabulary: takeover-loop,
//                                        client-takeover, reconnect-storm, packet-id-in-use, keep-alive-expired...)
//   max-publish-latency p99 50ms         PUBLISH to its acknowledgement over every client (p50, p90, p99, max;
//                                        max when left out)
//   max-delivery-latency p99 100ms       a client's PUBLISH to its delivery to another client
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mqttauth::cli {

enum class ExpectKind : std::uint8_t {
  every_session_authenticates,
  client_outcome,
  publishes,
  connections,
  no_qos,
  max_latency,
  no_decode_errors,
  no_finding,
  max_publish_latency,
  max_delivery_latency,
};

enum class CompareOp : std::uint8_t { eq, ne, ge, le, gt, lt };
bool compare(std::uint64_t value, CompareOp op, std::uint64_t bound) noexcept;
const char* op_text(CompareOp op) noexcept;

struct Expectation {
  ExpectKind kind{};
  std::string text;  // the line as written
  int line = 0;
  std::string client_id;  // client_outcome
  std::string outcome;    // client_outcome: accepted, refused, incomplete, abandoned
  std::string filter;     // publishes
  CompareOp op = CompareOp::ge;
  std::uint64_t count = 0;      // publishes, connections
  std::uint8_t qos = 0;         // no_qos
  std::int64_t latency_ns = 0;  // max_latency, max_publish_latency, max_delivery_latency
  double percentile = 100;      // max_publish_latency, max_delivery_latency (100: the maximum)
  std::string finding;          // no_finding: the finding's name (with '_')
};

// Parses an expectations file. On error returns nullopt and sets `error` to "FILE:LINE: message".
std::optional<std::vector<Expectation>> parse_expectations(const std::string& path, std::string& error);
// The same from text (`name` is used in messages).
std::optional<std::vector<Expectation>> parse_expectations_text(const std::string& text, const std::string& name,
                                                                std::string& error);

}  // namespace mqttauth::cli
