// The broker's configuration file: "key = value" lines, '#' comments (see docs/broker.conf).
#pragma once

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

// Applies the text of a config file to `out`. `base_dir` resolves relative paths. On error returns false with
// `error` naming the line.
bool parse_config(std::string_view text, const std::string& base_dir, FileConfig& out, std::string& error);
// Reads and parses a file.
bool load_config(const std::string& path, FileConfig& out, std::string& error);

// "HOST:PORT [auth=MODE] [code=0|15]" -> listener; the mode and code default to `dflt`'s.
bool parse_listener(std::string_view value, const ListenerConfig& dflt, ListenerConfig& out, std::string& error);

}  // namespace mqttauth::cli::broker
