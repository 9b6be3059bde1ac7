// Runs tshark with the freshly built plugin, as Wireshark would load it for a user: tshark 4.0 running as
// root ignores personal plugin folders, so as root it runs as nobody (setpriv), with HOME set to a
// world-readable temporary folder holding .local/lib/wireshark/plugins/4.0/epan/mqttauth.so and copies of
// the captures.
#pragma once

#include "../e2e/strings.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "have_tshark.hpp"

namespace mqttauth::test {

inline std::string q(const std::string& s) {
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}

inline std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A plugin built with AddressSanitizer (the asan preset) is loaded into tshark with the ASan runtime preloaded
// (it must come first in the process); tshark's own leaks are not the plugin's, so leak detection is off. The
// extcap helpers tshark starts would inherit the preload (and hang in it): they are pointed to an empty folder.
inline std::string sanitizer_env([[maybe_unused]] const std::string& home) {
#ifdef MQTTAUTH_ASAN_RUNTIME
  return " LD_PRELOAD=" + q(MQTTAUTH_ASAN_RUNTIME) + " WIRESHARK_EXTCAP_DIR=" + q(home + "/no-extcap") +
         " ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:detect_odr_violation=0 UBSAN_OPTIONS=print_stacktrace=1";
#else
  return "";
#endif
}

struct Tshark {
  std::string home;  // the temporary HOME, also holding the captures

  // with_plugin: false gives a HOME without the plugin (Wireshark as shipped).
  explicit Tshark(bool with_plugin = true) {
    char tmpl[] = "/tmp/mqttauth-tshark-XXXXXX";
    home = mkdtemp(tmpl);
    std::string plugdir = home + "/.local/lib/wireshark/plugins/4.0/epan";
    std::string cmd = "mkdir -p " + q(plugdir) + " " + q(home + "/no-extcap");
    if (with_plugin) cmd += " && cp " + q(MQTTAUTH_PLUGIN_PATH) + " " + q(plugdir + "/mqttauth.so");
    cmd += " && cp " + q(std::string(MQTTAUTH_SOURCE_DIR) + "/captures/") + "*.pcap " +
           q(std::string(MQTTAUTH_SOURCE_DIR) + "/captures/") + "*.secrets " + q(home);
    cmd += " && chmod -R a+rX " + q(home);
    ok = std::system(cmd.c_str()) == 0;
  }
  ~Tshark() { std::system(("rm -rf " + q(home)).c_str()); }
  bool ok = false;

  struct Result {
    int rc = -1;
    std::string out, err;
    std::vector<std::string> lines() const {
      std::vector<std::string> v;
      std::istringstream in(out);
      for (std::string l; std::getline(in, l);) v.push_back(l);
      return v;
    }
  };

  // Runs tshark with `args` (already quoted as needed) in the temporary HOME. The shell opens the output
  // files before the user switch, so nobody needs no write access.
  Result run(const std::string& args) const {
    static int n = 0;
    std::string base = home + "/out" + std::to_string(++n);
    std::string prefix = geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
    std::string cmd = "cd " + q(home) + " && " + prefix + "env HOME=" + q(home) + sanitizer_env(home) + " tshark " +
                      args + " >" + q(base + ".out") + " 2>" + q(base + ".err") + " </dev/null";
    int status = std::system(cmd.c_str());
    Result r;
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_file(base + ".out");
    r.err = read_file(base + ".err");
    // The plugin under AddressSanitizer + UBSan: any report fails the test, whatever else it checks.
    if (r.err.find("ERROR: AddressSanitizer") != std::string::npos || r.err.find("runtime error:") != std::string::npos)
      ADD_FAILURE() << "sanitizer report from tshark " << args << ":\n" << r.err;
    return r;
  }
};

}  // namespace mqttauth::test
