// Reading one or more capture files in time order into an Analyzer, with the problems of each file reported
// by name, frame and byte offset, and progress on a terminal.
#pragma once

#include <string>
#include <vector>

#include "analyzer.hpp"

namespace mqttauth::cli {

struct InputReport {
  int unreadable = 0;  // files that could not be opened or are not captures
  int damaged = 0;     // files truncated or corrupt part-way (what came before was analysed)
  std::uint64_t bytes = 0;
  double seconds = 0;  // wall time of the run
};

// Shared options of the subcommands that read captures.
struct CaptureOptions {
  std::vector<std::string> files;
  std::vector<int> ports;
  bool no_heuristic = false;
  std::uint32_t max_packet_size = 64u << 20;
  std::string dialect = "auto";
  bool progress = true;  // on stderr, when stderr is a terminal
};

AnalyzerOptions analyzer_options(const CaptureOptions& o);
Dialect parse_dialect(const std::string& s);

// Feeds every record of every file to `an` (merged by timestamp across files) and finishes it.
// Problems are printed on stderr as "mqttauth: FILE: ...".
InputReport read_captures(const CaptureOptions& o, Analyzer& an);

}  // namespace mqttauth::cli
