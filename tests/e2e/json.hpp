// A small strict JSON parser for tests: checks that CLI output is well-formed and gives access to fields.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace mqttauth::test {

struct Json {
  using Array = std::vector<Json>;
  using Object = std::map<std::string, Json>;
  std::variant<std::nullptr_t, bool, double, std::string, std::shared_ptr<Array>, std::shared_ptr<Object>> v;

  bool is_object() const { return v.index() == 5; }
  bool is_array() const { return v.index() == 4; }
  bool is_string() const { return v.index() == 3; }
  bool is_number() const { return v.index() == 2; }
  bool is_null() const { return v.index() == 0; }
  bool has(const std::string& k) const { return is_object() && std::get<5>(v)->count(k) != 0; }
  const Json& operator[](const std::string& k) const {
    if (!has(k)) throw std::out_of_range("no key " + k);
    return std::get<5>(v)->at(k);
  }
  const Json& operator[](std::size_t i) const { return std::get<4>(v)->at(i); }
  std::size_t size() const { return is_array() ? std::get<4>(v)->size() : std::get<5>(v)->size(); }
  const std::string& str() const { return std::get<3>(v); }
  double num() const { return std::get<2>(v); }
  bool boolean() const { return std::get<1>(v); }

  static Json parse(std::string_view s) {
    std::size_t i = 0;
    Json j = value(s, i);
    ws(s, i);
    if (i != s.size()) throw std::runtime_error("trailing characters in JSON");
    return j;
  }

 private:
  static void ws(std::string_view s, std::size_t& i) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) ++i;
  }
  static void expect(std::string_view s, std::size_t& i, char c) {
    if (i >= s.size() || s[i] != c) throw std::runtime_error(std::string("JSON: expected ") + c);
    ++i;
  }
  static std::string string(std::string_view s, std::size_t& i) {
    expect(s, i, '"');
    std::string out;
    while (true) {
      if (i >= s.size()) throw std::runtime_error("JSON: unterminated string");
      char c = s[i++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) throw std::runtime_error("JSON: control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i >= s.size()) throw std::runtime_error("JSON: bad escape");
      char e = s[i++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          if (i + 4 > s.size()) throw std::runtime_error("JSON: bad \\u");
          unsigned cp = static_cast<unsigned>(std::stoul(std::string(s.substr(i, 4)), nullptr, 16));
          i += 4;
          if (cp < 0x80)
            out += static_cast<char>(cp);
          else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
          }
          break;
        }
        default: throw std::runtime_error("JSON: bad escape");
      }
    }
  }
  static Json value(std::string_view s, std::size_t& i) {
    ws(s, i);
    if (i >= s.size()) throw std::runtime_error("JSON: unexpected end");
    Json j;
    char c = s[i];
    if (c == '{') {
      ++i;
      auto obj = std::make_shared<Object>();
      ws(s, i);
      if (i < s.size() && s[i] == '}') {
        ++i;
      } else {
        while (true) {
          ws(s, i);
          std::string k = string(s, i);
          ws(s, i);
          expect(s, i, ':');
          if (obj->count(k)) throw std::runtime_error("JSON: duplicate key " + k);
          (*obj)[k] = value(s, i);
          ws(s, i);
          if (i < s.size() && s[i] == ',') {
            ++i;
            continue;
          }
          expect(s, i, '}');
          break;
        }
      }
      j.v = obj;
    } else if (c == '[') {
      ++i;
      auto arr = std::make_shared<Array>();
      ws(s, i);
      if (i < s.size() && s[i] == ']') {
        ++i;
      } else {
        while (true) {
          arr->push_back(value(s, i));
          ws(s, i);
          if (i < s.size() && s[i] == ',') {
            ++i;
            continue;
          }
          expect(s, i, ']');
          break;
        }
      }
      j.v = arr;
    } else if (c == '"') {
      j.v = string(s, i);
    } else if (s.substr(i, 4) == "true") {
      i += 4;
      j.v = true;
    } else if (s.substr(i, 5) == "false") {
      i += 5;
      j.v = false;
    } else if (s.substr(i, 4) == "null") {
      i += 4;
      j.v = nullptr;
    } else {
      std::size_t start = i;
      if (s[i] == '-') ++i;
      while (i < s.size() &&
             ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == '+' || s[i] == '-'))
        ++i;
      if (start == i) throw std::runtime_error("JSON: unexpected character");
      j.v = std::stod(std::string(s.substr(start, i - start)));
    }
    return j;
  }
};

// Every line of a JSON Lines text, parsed.
inline std::vector<Json> json_lines(const std::string& text) {
  std::vector<Json> v;
  std::size_t s = 0;
  while (s < text.size()) {
    std::size_t e = text.find('\n', s);
    if (e == std::string::npos) e = text.size();
    if (e > s) v.push_back(Json::parse(std::string_view(text).substr(s, e - s)));
    s = e + 1;
  }
  return v;
}

}  // namespace mqttauth::test
