// String helpers shared by the tests that read tshark's and the CLI's text output.
#pragma once

#include <string>
#include <vector>

namespace mqttauth::test {

// Splits on `sep`, keeping empty fields ("" gives one empty field).
inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> v;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      v.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  v.push_back(cur);
  return v;
}

}  // namespace mqttauth::test
