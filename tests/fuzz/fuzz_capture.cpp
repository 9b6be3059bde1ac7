// Fuzz target: a whole capture file (pcap or pcapng bytes) through the reader, the frame parser, TCP
// reassembly and the MQTT analyzer. Nothing may crash, hang or grow without bound.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "analyzer.hpp"
#include "capture_file.hpp"

namespace {
struct Null final : mqttauth::cli::AnalyzerSink {};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mqttauth::cli;
  // The reader takes a path: hand it an in-memory file.
  int fd = memfd_create("capture", 0);
  if (fd < 0) return 0;
  if (size && write(fd, data, size) != static_cast<ssize_t>(size)) {
    close(fd);
    return 0;
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  {
    CaptureReader reader;
    if (reader.open(path)) {
      Null sink;
      AnalyzerOptions o;
      o.ports.insert(28830);
      o.max_packet_size = 1u << 16;
      o.reassembly.max_held_bytes = 1u << 16;
      Analyzer an(o, sink);
      CaptureRecord rec;
      int n = 0;
      while (reader.next(rec) == CaptureReader::Status::record && ++n < 100000) an.feed(rec, path);
      an.finish();
    }
  }
  close(fd);
  return 0;
}
