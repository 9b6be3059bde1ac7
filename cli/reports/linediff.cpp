#include "linediff.hpp"

#include <algorithm>

namespace mqttauth::cli {

// Myers' O((N+M)D) shortest edit script.
std::vector<std::pair<Op, std::size_t>> myers(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const auto n = static_cast<std::ptrdiff_t>(a.size()), m = static_cast<std::ptrdiff_t>(b.size());
  const std::ptrdiff_t max = n + m, off = max + 1;
  std::vector<std::ptrdiff_t> v(static_cast<std::size_t>(2 * max + 3), 0);
  std::vector<std::vector<std::ptrdiff_t>> trace;
  std::ptrdiff_t found_d = -1;
  for (std::ptrdiff_t d = 0; d <= max && found_d < 0; ++d) {
    trace.push_back(v);
    for (std::ptrdiff_t k = -d; k <= d; k += 2) {
      std::ptrdiff_t x;
      if (k == -d || (k != d && v[static_cast<std::size_t>(k - 1 + off)] < v[static_cast<std::size_t>(k + 1 + off)]))
        x = v[static_cast<std::size_t>(k + 1 + off)];
      else
        x = v[static_cast<std::size_t>(k - 1 + off)] + 1;
      std::ptrdiff_t y = x - k;
      while (x < n && y < m && a[static_cast<std::size_t>(x)] == b[static_cast<std::size_t>(y)]) ++x, ++y;
      v[static_cast<std::size_t>(k + off)] = x;
      if (x >= n && y >= m) {
        found_d = d;
        break;
      }
    }
  }
  // Backtrack.
  std::vector<std::pair<Op, std::size_t>> ops;
  std::ptrdiff_t x = n, y = m;
  for (std::ptrdiff_t d = found_d; d > 0; --d) {
    const auto& pv = trace[static_cast<std::size_t>(d)];
    std::ptrdiff_t k = x - y, pk;
    if (k == -d || (k != d && pv[static_cast<std::size_t>(k - 1 + off)] < pv[static_cast<std::size_t>(k + 1 + off)]))
      pk = k + 1;
    else
      pk = k - 1;
    std::ptrdiff_t px = pv[static_cast<std::size_t>(pk + off)], py = px - pk;
    while (x > px && y > py) ops.emplace_back(Op::same, static_cast<std::size_t>(--x)), --y;
    if (x == px)
      ops.emplace_back(Op::add, static_cast<std::size_t>(--y));
    else
      ops.emplace_back(Op::del, static_cast<std::size_t>(--x));
  }
  while (x > 0 && y > 0) ops.emplace_back(Op::same, static_cast<std::size_t>(--x)), --y;
  std::reverse(ops.begin(), ops.end());
  return ops;
}

void Printer::line(Op op, const std::string& text) {
  const char* c = op == Op::del ? "\x1b[31m" : op == Op::add ? "\x1b[32m" : "";
  if (color && op != Op::same) out += c;
  out += static_cast<char>(op);
  out += text;
  if (color && op != Op::same) out += "\x1b[0m";
  out += '\n';
}
void Printer::head(const std::string& text) {
  if (color) out += "\x1b[36m";
  out += text;
  if (color) out += "\x1b[0m";
  out += '\n';
}

// Diffs two line lists with `ctx` lines of context; returns whether they differ.
bool diff_lines(const std::vector<std::string>& a, const std::vector<std::string>& b, const std::string& title, int ctx,
                Printer& p) {
  if (a == b) return false;
  auto ops = myers(a, b);
  // Hunks: runs of changes with context around them.
  std::vector<bool> show(ops.size(), false);
  for (std::size_t i = 0; i < ops.size(); ++i)
    if (ops[i].first != Op::same)
      for (std::ptrdiff_t j = static_cast<std::ptrdiff_t>(i) - ctx; j <= static_cast<std::ptrdiff_t>(i) + ctx; ++j)
        if (j >= 0 && j < static_cast<std::ptrdiff_t>(ops.size())) show[static_cast<std::size_t>(j)] = true;
  p.head("@@ " + title);
  bool gap = false;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (!show[i]) {
      gap = true;
      continue;
    }
    if (gap) p.head("@@ ...");
    gap = false;
    const auto& [op, idx] = ops[i];
    p.line(op, op == Op::add ? b[idx] : a[idx]);
  }
  return true;
}

}  // namespace mqttauth::cli
