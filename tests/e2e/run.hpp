// Runs the mqttauth binary and captures its exit code, standard output and standard error.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace mqttauth::test {

struct RunResult {
  int rc = -1;
  std::string out, err;
  std::vector<std::string> lines() const {
    std::vector<std::string> v;
    std::istringstream in(out);
    for (std::string l; std::getline(in, l);) v.push_back(l);
    return v;
  }
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'')
      q += "'\\''";
    else
      q += c;
  }
  return q + "'";
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::string temp_dir() {
  static std::string dir = [] {
    char tmpl[] = "/tmp/mqttauth-e2e-XXXXXX";
    const char* d = mkdtemp(tmpl);
    return std::string(d ? d : "/tmp");
  }();
  return dir;
}

// Runs a shell command line with its standard output and error captured; stdin_path, when set, is fed as
// standard input (otherwise /dev/null).
inline RunResult run_shell(const std::string& command, const std::string& stdin_path = "") {
  static int n = 0;
  std::string base = temp_dir() + "/run" + std::to_string(getpid()) + "-" + std::to_string(++n);
  std::string cmd = command + " >" + base + ".out 2>" + base + ".err";
  if (stdin_path.empty()) {
    cmd += " </dev/null";
  } else {
    cmd += " <";
    cmd += shell_quote(stdin_path);
  }
  int status = std::system(cmd.c_str());
  RunResult r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(base + ".out");
  r.err = slurp(base + ".err");
  return r;
}

// args are passed to the binary one by one (quoted); stdin_path, when set, is fed as standard input.
// `cwd`, when set, is the working directory of the run.
inline RunResult run(const std::vector<std::string>& args, const std::string& stdin_path = "",
                     const std::string& cwd = "") {
  std::string cmd;
  if (!cwd.empty()) {
    cmd += "cd ";
    cmd += shell_quote(cwd);
    cmd += " && ";
  }
  cmd += shell_quote(MQTTAUTH_BIN);
  for (const auto& a : args) {
    cmd += ' ';
    cmd += shell_quote(a);
  }
  return run_shell(cmd, stdin_path);
}

// Whether this process may capture: CAP_NET_RAW (bit 13) in its effective capabilities, which the programs it
// runs inherit. Root in a container without CAP_NET_RAW cannot capture either, so the user id alone does not
// tell.
inline bool can_capture() {
  std::ifstream f("/proc/self/status");
  for (std::string l; std::getline(f, l);)
    if (l.rfind("CapEff:", 0) == 0) return (std::stoull(l.substr(7), nullptr, 16) >> 13) & 1u;
  return false;
}

// A path in temp_dir() that no other call gives: STEM-PID-N.
inline std::string unique_path(const std::string& stem) {
  static int n = 0;
  return temp_dir() + "/" + stem + "-" + std::to_string(getpid()) + "-" + std::to_string(++n);
}

// Debian's mosquitto_pub and mosquitto_sub are on PATH. scripts/install-deps.sh installs them; without them the
// tests that use them skip, unless MQTTAUTH_REQUIRE_TOOLS is set (scripts/test-all.sh): then this reports a
// failure.
inline bool have_mosquitto_clients() {
  if (std::system("command -v mosquitto_pub >/dev/null 2>&1 && command -v mosquitto_sub >/dev/null 2>&1") == 0)
    return true;
  if (std::getenv("MQTTAUTH_REQUIRE_TOOLS") != nullptr) ADD_FAILURE() << "mosquitto_pub/mosquitto_sub not on PATH";
  return false;
}

inline std::string source_path(const std::string& rel) { return std::string(MQTTAUTH_SOURCE_DIR) + "/" + rel; }

}  // namespace mqttauth::test
