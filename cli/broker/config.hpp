// The broker's settings: one table that both the configuration file ("key = value" lines, '#' comments, see
// docs/broker.conf) and the command line (--key-with-dashes VALUE) are read through.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/broker.hpp"

namespace mqttauth::cli::broker {

struct FileConfig {
  BrokerConfig broker;
  std::vector<ListenerConfig> listeners;  // "listener = ..." lines, in order
  std::string secrets_path;               // resolved against the config file's directory
  bool log = true;
};

// One setting: its key in the file (on the command line with '-' for '_'), a line of help that gives its
// default, and how a value is applied (false on a bad value). Relative paths are resolved against `base_dir`.
struct Setting {
  std::string_view key;
  std::string_view value_name;  // in --help: SECONDS, N, FILE, ...
  std::string_view help;
  bool (*apply)(std::string_view value, const std::string& base_dir, FileConfig& out);
  bool flag = false;         // on the command line a flag without a value ("true")
  bool command_line = true;  // false: in the file only
};
// Every setting but "listener" (a line of its own in the file, --listen on the command line).
std::span<const Setting> settings();
// Applies `value` to the setting named `key`; false with `error` set on an unknown key or a bad value.
bool apply_setting(std::string_view key, std::string_view value, const std::string& base_dir, FileConfig& out,
                   std::string& error);

// Applies the text of a config file to `out`. `base_dir` resolves relative paths. On error returns false with
// `error` naming the line.
bool parse_config(std::string_view text, const std::string& base_dir, FileConfig& out, std::string& error);
// Reads and parses a file.
bool load_config(const std::string& path, FileConfig& out, std::string& error);

// "HOST:PORT [auth=MODE] [code=0|15]" -> listener; the mode and code default to `dflt`'s.
bool parse_listener(std::string_view value, const ListenerConfig& dflt, ListenerConfig& out, std::string& error);

}  // namespace mqttauth::cli::broker
