// A capture reduced to what should not change from run to run: per MQTT session (matched by client id),
// one line per packet with its direction and its meaningful fields, as "key=value" words. Timestamps, ports,
// TCP sequence numbers, challenge and response values are left out and packet identifiers are renumbered in
// order of first appearance, so two runs of the same scenario give the same transcript. `mqttauth diff`
// compares transcripts; they can be saved (a golden file) and compared with a later capture.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "analyzer.hpp"

namespace mqttauth::cli {

struct TranscriptSession {
  std::string client_id;  // empty when no CONNECT / authenticate was seen
  std::uint64_t conn = 0;
  std::vector<std::string> lines;  // "c2s publish topic=a qos=1 ..." in capture order
};

struct Transcript {
  std::string source;  // file name(s)
  std::vector<TranscriptSession> sessions;
};

inline constexpr const char* kTranscriptHeader = "# mqttauth transcript 1";

// Packet identifiers renumbered in order of first appearance (#1, #2, ...).
class PacketIds {
 public:
  std::string id(std::uint16_t packet_id);

 private:
  std::unordered_map<std::uint16_t, std::size_t> map_;
};

// The transcript line of one packet: "<dir> <type> key=value ...". `client_id`, when given and empty, takes
// the client id of a CONNECT or authenticate packet.
std::string transcript_line(const Decoded& d, Direction dir, Role role, PacketIds& ids,
                            std::string* client_id = nullptr);

// Collects the transcript of an analysis: a session per connection, a line per packet or decode error.
class TranscriptSink final : public AnalyzerSink {
 public:
  void on_packet(const Connection& c, Direction dir, const Decoded& d, const Observation& obs,
                 const PacketMeta&) override;
  void on_error(const Connection& c, Direction dir, const Error& e, const PacketMeta&) override;
  void on_connection_end(const Connection& c) override;
  // Moves the sessions with at least one line into `out`, in connection order.
  void take(Transcript& out);

 private:
  std::map<std::uint64_t, TranscriptSession> sessions_;  // by connection id
  std::unordered_map<std::uint64_t, PacketIds> ids_;
};
// Writes / reads the text form. Reading fails (nullopt, `error` set) unless the first line is the header.
std::string transcript_text(const Transcript& t);
std::optional<Transcript> transcript_parse(const std::string& text, const std::string& source, std::string& error);
bool is_transcript_file(const std::string& path);

// Drops the fields named in `ignore` (keys, e.g. "payload", "keep_alive", "topic") from every line.
void transcript_ignore(Transcript& t, const std::set<std::string>& ignore);

}  // namespace mqttauth::cli
