// --topic FILTER (repeatable) of decode, sessions, stats and check: MQTT topic filters ('+' one level, '#' the
// rest, names starting with '$' only by filters that do not start with a wildcard), matched against the topics
// that packets name: a PUBLISH's topic; a SUBSCRIBE's or UNSUBSCRIBE's filters, each taken as a name (so
// --topic 'devices/#' shows a SUBSCRIBE to devices/+/cmd).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mqttauth/codec.hpp"
#include "mqttauth/topic.hpp"

namespace mqttauth::cli {

class TopicFilter {
 public:
  TopicFilter() = default;
  explicit TopicFilter(std::vector<std::string> filters) : filters_(std::move(filters)) {}
  bool empty() const noexcept { return filters_.empty(); }
  bool matches(std::string_view topic) const noexcept {
    for (const auto& f : filters_)
      if (topic_matches(f, topic)) return true;
    return false;
  }
  // Whether the packet names a matching topic (false for packets that name none).
  bool matches(const Packet& p) const noexcept {
    if (const auto* pub = std::get_if<Publish>(&p)) return matches(pub->topic);
    if (const auto* s = std::get_if<Subscribe>(&p)) {
      for (const auto& sub : s->subscriptions)
        if (matches(sub.filter)) return true;
      return false;
    }
    if (const auto* u = std::get_if<Unsubscribe>(&p)) {
      for (std::string_view f : u->filters)
        if (matches(f)) return true;
    }
    return false;
  }

 private:
  std::vector<std::string> filters_;
};

}  // namespace mqttauth::cli
