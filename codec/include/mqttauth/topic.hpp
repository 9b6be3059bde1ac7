// Topic names and topic filters (MQTT 3.1.1 section 4.7, MQTT 5.0 section 4.7 and 4.8.2).
#pragma once

#include <cstdint>
#include <string_view>

namespace mqttauth {

// At least one character, no '+' or '#'. (At level 5 an empty name with a Topic Alias is checked by the
// PUBLISH decoder, not here.)
bool valid_topic_name(std::string_view name) noexcept;

// A PUBLISH topic's two checks in one pass over its bytes: MQTT UTF-8 (valid_mqtt_utf8) and, when not empty,
// no wildcard (valid_topic_name). Plain ASCII without NUL, '+' or '#' (nearly every topic) is seen 16 bytes at
// a time once (8 without SSE2); anything else is left to the two checks.
struct TopicNameCheck {
  bool utf8 = true;         // well-formed MQTT UTF-8
  bool no_wildcard = true;  // empty, or valid_topic_name
};
TopicNameCheck check_topic_name(const std::uint8_t* s, std::size_t n) noexcept;

// At least one character; '+' alone in its level; '#' alone in the last level. At level 5 a shared
// subscription "$share/<name>/<filter>" needs a non-empty share name without '/', '+' or '#' and a filter.
bool valid_topic_filter(std::string_view filter, std::uint8_t level) noexcept;

// Whether a shared-subscription filter ("$share/...", level 5).
bool is_shared_filter(std::string_view filter, std::uint8_t level) noexcept;

// Does topic `name` match `filter`? Names starting with '$' are not matched by filters starting with a
// wildcard [MQTT-4.7.2-1].
bool topic_matches(std::string_view filter, std::string_view name) noexcept;

}  // namespace mqttauth
