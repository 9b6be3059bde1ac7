// Fuzz target: the check expectations parser and the diff transcript parser on arbitrary text.
#include <cstdint>
#include <string>

#include "expect.hpp"
#include "transcript.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mqttauth::cli;
  std::string text(reinterpret_cast<const char*>(data), size), err;
  (void)parse_expectations_text(text, "fuzz", err);
  auto t = transcript_parse(std::string(kTranscriptHeader) + "\n" + text, "fuzz", err);
  if (t) {
    std::set<std::string> ignore{"qos", "payload", "prop"};
    transcript_ignore(*t, ignore);
    (void)transcript_text(*t);
  }
  return 0;
}
