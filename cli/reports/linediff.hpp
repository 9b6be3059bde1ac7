// Line diffs (Myers' shortest edit script) printed as unified-diff hunks; used by diff and replay.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace mqttauth::cli {

enum class Op : char { same = ' ', del = '-', add = '+' };

// The shortest edit script turning `a` into `b`: (op, index in a for same/del, index in b for add).
std::vector<std::pair<Op, std::size_t>> myers(const std::vector<std::string>& a, const std::vector<std::string>& b);

struct Printer {
  std::string out;
  bool color = false;
  void line(Op op, const std::string& text);
  void head(const std::string& text);
};

// Prints the hunks turning `a` into `b` with `ctx` lines of context under "@@ title"; false when equal.
bool diff_lines(const std::vector<std::string>& a, const std::vector<std::string>& b, const std::string& title, int ctx,
                Printer& p);

}  // namespace mqttauth::cli
