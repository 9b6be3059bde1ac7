// mqttauth: analyse MQTT traffic that carries the custom authenticate packet.
#include <cstdio>
#include <exception>

#include "commands.hpp"

int main(int argc, char** argv) try {
  CLI::App app{"mqttauth: decode and analyse MQTT traffic, including the custom authenticate packet"};
  app.set_version_flag("--version", "mqttauth 0.1.0");
  app.require_subcommand(1);
  mqttauth::cli::setup_decode(app);
  mqttauth::cli::setup_sessions(app);
  mqttauth::cli::setup_stats(app);
  mqttauth::cli::setup_broker(app);
  mqttauth::cli::setup_check(app);
  mqttauth::cli::setup_device(app);
  mqttauth::cli::setup_capture(app);
  mqttauth::cli::setup_diff(app);
  mqttauth::cli::setup_replay(app);
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
