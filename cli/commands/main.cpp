// mqttauth: analyse MQTT traffic that carries the custom authenticate packet.
#include <cstdio>
#include <cstring>
#include <exception>

#include "commands.hpp"

int main(int argc, char** argv) try {
  CLI::App app{"mqttauth: decode and analyse MQTT traffic, including the custom authenticate packet"};
  app.set_version_flag("--version", "mqttauth 0.1.0");
  app.require_subcommand(1);
  struct Command {
    const char* name;
    void (*setup)(CLI::App&);
  };
  namespace c = mqttauth::cli;
  static constexpr Command kCommands[] = {
      {"decode", c::setup_decode},   {"sessions", c::setup_sessions}, {"stats", c::setup_stats},
      {"broker", c::setup_broker},   {"check", c::setup_check},       {"device", c::setup_device},
      {"capture", c::setup_capture}, {"diff", c::setup_diff},         {"replay", c::setup_replay},
  };
  // Only the command that runs is set up: the options of all of them cost a millisecond at every start (as
  // much as reading 10 MB of capture). Everything else (--help, --version, a mistyped command) sees them all.
  const Command* only = nullptr;
  for (const Command& cmd : kCommands)
    if (argc > 1 && std::strcmp(argv[1], cmd.name) == 0) only = &cmd;
  for (const Command& cmd : kCommands)
    if (only == nullptr || only == &cmd) cmd.setup(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return mqttauth::cli::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqttauth: %s\n", e.what());
    return mqttauth::cli::kExitUsage;
  }
  return 0;
} catch (...) {  // setting up the options failed (out of memory): nothing can be reported
  return mqttauth::cli::kExitUsage;
}
