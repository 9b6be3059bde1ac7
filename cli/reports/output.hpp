// Output of decoded packets: JSON Lines (the contract of the JSON names, see README) and readable text.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "mqttauth/findings.hpp"
#include "mqttauth/session.hpp"
#include "netparse.hpp"

namespace mqttauth::cli {

// Appends JSON to a string without per-value allocation (the string's capacity is reused).
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array(std::string_view key = {});
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);
  JsonWriter& str(std::string_view v);
  JsonWriter& num(std::uint64_t v);
  JsonWriter& num_signed(std::int64_t v);
  JsonWriter& boolean(bool v);
  JsonWriter& null();
  JsonWriter& raw_value(std::string_view json);  // an already formatted JSON value
  // The string written to: a raw value may be continued there (after raw_value()).
  std::string& out() noexcept { return out_; }
  // key + value shorthands
  JsonWriter& field(std::string_view k, std::string_view v);
  JsonWriter& field(std::string_view k, const char* v) { return field(k, std::string_view(v)); }
  JsonWriter& field_num(std::string_view k, std::uint64_t v);
  JsonWriter& field_bool(std::string_view k, bool v) { return key(k).boolean(v); }
  // Binary data: as "<k>": "text" when it is valid UTF-8, else "<k>_hex": "0a1b...".
  JsonWriter& field_bytes(std::string_view k, Bytes v);

 private:
  void comma();
  std::size_t key_prefix(char* b, std::string_view k) const;
  std::string& out_;
  bool first_ = true;
};

void append_escaped(std::string& out, std::string_view s);
void append_endpoint(std::string& out, const Endpoint& e);  // Endpoint::str() without a temporary
void append_hex(std::string& out, Bytes b);
// " key=value" and " key=\"escaped text\"", the pairs of the text and transcript lines.
void kv(std::string& out, std::string_view k, std::uint64_t v);
void kv_str(std::string& out, std::string_view k, std::string_view v);

// Where a packet sits, for output.
struct PacketPlace {
  std::uint64_t index = 0;   // byte-stream input: 1-based packet number in the stream
  std::uint64_t offset = 0;  // stream offset of its first byte (in its direction, for captures)
  // Capture input (when `capture` is set):
  bool capture = false;
  std::uint64_t frame = 0;  // 1-based frame number where the packet completed
  std::int64_t ts_ns = 0;
  std::uint64_t conn = 0;  // connection number
  const Endpoint* src = nullptr;
  const Endpoint* dst = nullptr;
  const std::string* file = nullptr;  // named in error messages when several files are read
  std::string_view dir{};             // for error lines: "c2s" / "s2c" when known
  bool with_file = false;             // JSON / CSV: name the capture file (several files were given)
};

// Seconds since 1970 with microseconds, as JSON and CSV write them: "1764047123.456789".
void append_ts(std::string& out, std::int64_t ts_ns);

// One CSV field, quoted (RFC 4180) when it holds a comma, a quote or a line break.
void csv_field(std::string& out, std::string_view v);
// CSV: the header line and one line per packet / error.
void csv_header(std::string& out);
void packet_csv_line(std::string& out, const Decoded& d, const Observation& obs, const PacketPlace& at);
void error_csv_line(std::string& out, const Error& e, const PacketPlace& at, std::string_view context);

// The fields of one decoded packet (without the enclosing braces), per the JSON contract.
void packet_fields_json(JsonWriter& w, const Decoded& d, const Observation& obs);
// The "violations" array of a packet record (nothing when there are none).
void violations_json(JsonWriter& w, const Violations& v);
// "kind@offset[rule]", the tag of one violation in text and CSV.
void violation_tag(std::string& out, const Violation& x);
// " !kind@offset[rule]: detail; ..." for a text line.
void violations_text(std::string& out, const Violations& v);
// One JSON object line for a packet.
void packet_json_line(std::string& out, const Decoded& d, const Observation& obs, const PacketPlace& at);
// One JSON object line for an event of a stream or a connection that is not a packet: "record" says which
// (gap, resync, tls, connection_end), then the place, then what `fields` writes.
void event_json_line(std::string& out, std::string_view record, const PacketPlace& at,
                     const std::function<void(JsonWriter&)>& fields);
// One JSON object line for an error.
void error_json_line(std::string& out, const Error& e, const PacketPlace& at, std::string_view context);

struct TextStyle {
  bool color = false;
};
// One readable line for a packet.
void packet_text_line(std::string& out, const Decoded& d, const Observation& obs, const PacketPlace& at,
                      const TextStyle& style);
void error_text_line(std::string& out, const Error& e, const PacketPlace& at, std::string_view context,
                     const TextStyle& style);
// A line about the stream rather than a packet (gap, resync).
void note_text_line(std::string& out, const PacketPlace& at, std::string_view dir, std::string_view msg,
                    const TextStyle& style);

// Buffered writing to a FILE*, flushed in large blocks.
class Out {
 public:
  explicit Out(std::FILE* f) : f_(f) { buf_.reserve(1 << 16); }
  ~Out() { flush(); }
  std::string& buf() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= (1 << 16) || immediate_) flush();
  }
  // Live input (an interface, a followed file, standard input): every output written as it comes, for the
  // whole process.
  static void set_immediate(bool on) noexcept { immediate_ = on; }
  static bool immediate() noexcept { return immediate_; }
  void flush() {
    if (!buf_.empty()) std::fwrite(buf_.data(), 1, buf_.size(), f_);
    buf_.clear();
    std::fflush(f_);
  }

 private:
  std::FILE* f_;
  std::string buf_;
  static inline bool immediate_ = false;
};

// The outputs of several files analysed at once (-j), written to `f` in file order: the file being output
// now writes straight to `f`; the others are spooled to temporary files and copied when their turn comes.
class OrderedOutput {
 public:
  OrderedOutput(std::FILE* f, std::size_t files) : f_(f), spool_(files, nullptr), done_(files, false) {}
  // Where file i writes; null when no temporary file can be made.
  std::FILE* open(std::size_t i);
  // File i is complete (its writes flushed).
  void close(std::size_t i);

 private:
  std::mutex m_;
  std::FILE* f_;
  std::size_t current_ = 0;
  std::vector<std::FILE*> spool_;
  std::vector<bool> done_;
};

}  // namespace mqttauth::cli
