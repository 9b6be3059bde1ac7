// Shared helpers of the capture-pipeline tests: a temporary directory, endpoints, MQTT packets, reading a
// capture back, and sinks that record what the reassembler and the analyzer report.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "analyzer.hpp"
#include "capture_file.hpp"
#include "mqttauth/codec.hpp"
#include "netparse.hpp"
#include "pcap_writer.hpp"
#include "reassembly.hpp"

namespace mqttauth::clitest {

using cli::Endpoint;
using Buf = std::vector<std::uint8_t>;

inline std::string temp_dir() {
  static std::string dir = [] {
    char tmpl[] = "/tmp/mqttauth-cli-XXXXXX";
    const char* d = mkdtemp(tmpl);
    return std::string(d ? d : "/tmp");
  }();
  return dir;
}

// A fresh file name in the temporary directory, unique per call.
inline std::string temp_path(const std::string& stem) {
  static int n = 0;
  return temp_dir() + "/" + stem + "-" + std::to_string(++n);
}

inline void write_file(const std::string& path, const Buf& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline Buf read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Buf((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline Endpoint ep4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint16_t port) {
  Endpoint e;
  e.ip.v6 = false;
  e.ip.b[0] = a;
  e.ip.b[1] = b;
  e.ip.b[2] = c;
  e.ip.b[3] = d;
  e.port = port;
  return e;
}

// fd00::<last>
inline Endpoint ep6(std::uint8_t last, std::uint16_t port) {
  Endpoint e;
  e.ip.v6 = true;
  e.ip.b[0] = 0xfd;
  e.ip.b[15] = last;
  e.port = port;
  return e;
}

inline Buf concat(std::initializer_list<Buf> parts) {
  std::size_t n = 0;
  for (const auto& p : parts) n += p.size();
  Buf out(n);
  std::size_t at = 0;
  for (const auto& p : parts) {
    std::copy(p.begin(), p.end(), out.begin() + static_cast<std::ptrdiff_t>(at));
    at += p.size();
  }
  return out;
}

inline Buf pattern(std::size_t n, std::uint8_t seed = 0) {
  Buf b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 7 + (i >> 8));
  return b;
}

// ------------------------------------------------------------------------------------------ MQTT packets

inline Buf mqtt_connect(std::string_view client_id, std::uint8_t level = kLevel311) {
  Connect c;
  c.level = level;
  c.keep_alive = 60;
  c.client_id = client_id;
  return encode_or_throw(c, level);
}

inline Buf mqtt_authenticate(std::uint8_t code, std::string_view client_id, std::string_view password) {
  Authenticate a;
  a.code = code;
  a.client_id = client_id;
  a.password = Bytes::of(password);
  return encode_or_throw(a, kLevel311);
}

inline Buf mqtt_connack(std::uint8_t code) {
  Connack c;
  c.code = code;
  return encode_or_throw(c, kLevel311);
}

inline Buf mqtt_publish(std::string_view topic, const Buf& payload, std::uint8_t qos = 0, std::uint16_t id = 0) {
  Publish p;
  p.topic = topic;
  p.qos = qos;
  p.packet_id = id;
  p.payload = Bytes(payload);
  return encode_or_throw(p, kLevel311);
}

inline Buf mqtt_puback(std::uint16_t id) {
  Puback p;
  p.packet_id = id;
  return encode_or_throw(p, kLevel311);
}

inline Buf mqtt_pingreq() { return Buf{0xC0, 0x00}; }
inline Buf mqtt_pingresp() { return Buf{0xD0, 0x00}; }
inline Buf mqtt_disconnect() { return Buf{0xE0, 0x00}; }

// ------------------------------------------------------------------------------------------ reading back

struct ReadBack {
  bool opened = false;
  std::string open_error;
  struct Rec {
    std::uint64_t frame;
    std::int64_t ts_ns;
    std::uint32_t link_type, interface, orig_len;
    std::uint64_t file_offset;
    Buf data;
  };
  std::vector<Rec> recs;
  cli::CaptureReader::Status status = cli::CaptureReader::Status::end;
  std::string error;
  cli::CaptureReader::Format format = cli::CaptureReader::Format::unknown;
};

inline ReadBack read_capture(const std::string& path) {
  ReadBack r;
  cli::CaptureReader rd;
  r.opened = rd.open(path);
  if (!r.opened) {
    r.open_error = rd.error();
    return r;
  }
  r.format = rd.format();
  cli::CaptureRecord rec;
  while (true) {
    auto st = rd.next(rec);
    if (st != cli::CaptureReader::Status::record) {
      r.status = st;
      r.error = rd.error();
      break;
    }
    r.recs.push_back(ReadBack::Rec{rec.frame, rec.ts_ns, rec.link_type, rec.interface, rec.orig_len, rec.file_offset,
                                   Buf(rec.data.begin(), rec.data.end())});
  }
  return r;
}

// ------------------------------------------------------------------------------------------ recording sinks

struct StreamRecorder final : cli::StreamSink {
  struct Gap {
    std::uint64_t offset, bytes, frame;
    cli::GapReason why;
  };
  Buf data;  // every byte delivered, in order (gaps not filled)
  std::vector<std::uint64_t> data_offsets;
  std::vector<Gap> gaps;
  std::uint64_t expected = 0;  // next offset: checks that data and gaps tile the stream
  bool tiled = true;
  void on_data(std::span<const std::uint8_t> bytes, std::uint64_t offset, std::uint64_t) override {
    if (offset != expected) tiled = false;
    expected = offset + bytes.size();
    data_offsets.push_back(offset);
    data.insert(data.end(), bytes.begin(), bytes.end());
  }
  void on_gap(std::uint64_t offset, std::uint64_t bytes, std::uint64_t frame, cli::GapReason why) override {
    if (offset != expected) tiled = false;
    expected = offset + bytes;
    gaps.push_back(Gap{offset, bytes, frame, why});
  }
};

struct AnalyzerRecorder final : cli::AnalyzerSink {
  struct Pkt {
    std::uint64_t conn;
    Direction dir;
    std::string type;
    std::uint8_t code;
    Role role;
    std::uint64_t frame, offset;
    std::string client_id, password, topic;
    std::size_t payload_len = 0;
    Buf payload;
    std::vector<std::string> violations;  // "kind@offset"
  };
  struct Err {
    std::uint64_t conn;
    Direction dir;
    ErrorKind kind;
    std::uint64_t frame, offset;
    std::string message;
  };
  struct GapEv {
    std::uint64_t conn;
    Direction dir;
    std::uint64_t offset, bytes;
    cli::GapReason why;
  };
  struct Resync {
    std::uint64_t conn;
    Direction dir;
    std::uint64_t offset, skipped;
  };
  struct End {
    std::uint64_t id;
    cli::EndReason why;
    cli::Endpoint client, server;
    std::vector<Handshake> handshakes;
  };
  std::vector<Pkt> pkts;
  std::vector<Err> errs;
  std::vector<GapEv> gaps;
  std::vector<Resync> resyncs;
  std::vector<End> ends;
  std::vector<std::uint64_t> tls;

  void on_packet(const cli::Connection& c, Direction d, const Decoded& dec, const Observation& obs,
                 const cli::PacketMeta& m) override {
    Pkt p{c.id, d, std::string(packet_name(dec.packet)), dec.header.code(), obs.role, m.frame, m.offset, {}, {}, {}, 0,
          {},   {}};
    for (const Violation& v : dec.violations)
      p.violations.push_back(std::string(error_kind_name(v.kind)) + "@" + std::to_string(v.offset));
    if (auto* a = std::get_if<Authenticate>(&dec.packet)) {
      p.client_id = a->client_id;
      if (a->password) p.password = std::string(a->password->as_chars());
    } else if (auto* cn = std::get_if<Connect>(&dec.packet)) {
      p.client_id = cn->client_id;
    } else if (auto* pb = std::get_if<Publish>(&dec.packet)) {
      p.topic = pb->topic;
      p.payload_len = pb->payload.size();
      p.payload.assign(pb->payload.begin(), pb->payload.end());
    }
    pkts.push_back(std::move(p));
  }
  void on_error(const cli::Connection& c, Direction d, const Error& e, const cli::PacketMeta& m) override {
    errs.push_back(Err{c.id, d, e.kind, m.frame, m.offset, e.message()});
  }
  void on_gap(const cli::Connection& c, Direction d, std::uint64_t off, std::uint64_t bytes, const cli::PacketMeta&,
              cli::GapReason why) override {
    gaps.push_back(GapEv{c.id, d, off, bytes, why});
  }
  void on_resync(const cli::Connection& c, Direction d, std::uint64_t off, std::uint64_t skipped,
                 const cli::PacketMeta&) override {
    resyncs.push_back(Resync{c.id, d, off, skipped});
  }
  void on_connection_end(const cli::Connection& c) override {
    ends.push_back(
        End{c.id, c.end, c.client, c.server, c.session ? c.session->handshakes() : std::vector<Handshake>{}});
  }
  void on_tls(const cli::Connection& c) override { tls.push_back(c.id); }

  std::vector<std::string> types(std::uint64_t conn = 0) const {
    std::vector<std::string> v;
    for (const auto& p : pkts)
      if (conn == 0 || p.conn == conn) v.push_back(p.type);
    return v;
  }
};

// Feeds every record of a capture file to an analyzer and finishes it.
inline void analyze_file(const std::string& path, cli::Analyzer& an) {
  cli::CaptureReader rd;
  ASSERT_TRUE(rd.open(path)) << rd.error();
  cli::CaptureRecord rec;
  while (rd.next(rec) == cli::CaptureReader::Status::record) an.feed(rec, path);
  an.finish();
}

}  // namespace mqttauth::clitest
