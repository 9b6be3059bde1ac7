// Each subcommand lives in its own file and registers itself here.
#pragma once

#include <CLI/CLI.hpp>

namespace mqttauth::cli {

// Exit codes shared by all subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFindings = 1;  // decode errors (decode), findings (check), differences (diff)
inline constexpr int kExitUsage = 2;     // unreadable input (missing file, not a capture) or wrong usage
inline constexpr int kExitDamaged = 3;   // a capture is truncated or corrupt part-way (the rest was analysed)

// A vector option that takes one value per occurrence (repeatable), so that positional arguments may
// follow it on the command line.
inline CLI::Option* repeatable(CLI::Option* o) {
  return o->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

void setup_decode(CLI::App& app);
void setup_sessions(CLI::App& app);
void setup_stats(CLI::App& app);
void setup_broker(CLI::App& app);
void setup_check(CLI::App& app);
void setup_device(CLI::App& app);
void setup_capture(CLI::App& app);
void setup_diff(CLI::App& app);
void setup_replay(CLI::App& app);

}  // namespace mqttauth::cli
