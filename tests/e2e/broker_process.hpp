// Child processes for tests: any program (a third-party peer, a capture), and `mqttauth broker` on 127.0.0.1
// (any free port), each with its output in a file. For tests that need the real binary (and its process
// limits), and for the attack tool.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace mqttauth::test {

// A child process with its standard output and error in a file, ready once that file shows `ready_tag`
// (`ready` then holds what follows the tag up to the end of its word). `env` entries ("NAME=VALUE") are added
// to its environment.
class Process {
 public:
  Process(std::vector<std::string> argv, const std::string& log, const std::string& ready_tag,
          const std::vector<std::string>& env = {}, long max_open_files = 0)
      : log_path(log) {
    pid = fork();
    if (pid == 0) {
      std::vector<char*> args;
      args.reserve(argv.size() + 1);
      for (auto& s : argv) args.push_back(s.data());
      args.push_back(nullptr);
      if (!std::freopen(log.c_str(), "w", stderr)) _exit(126);
      dup2(fileno(stderr), fileno(stdout));
      for (const auto& e : env) putenv(strdup(e.c_str()));
      if (max_open_files > 0) {
        rlimit rl{static_cast<rlim_t>(max_open_files), static_cast<rlim_t>(max_open_files)};
        setrlimit(RLIMIT_NOFILE, &rl);
      }
      execvp(args[0], args.data());
      _exit(127);
    }
    for (int i = 0; i < 200 && ready.empty() && alive(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::string text = log_text();
      auto p = text.find(ready_tag);
      if (p == std::string::npos) continue;
      auto e = text.find_first_of(" \n", p + ready_tag.size());
      if (e != std::string::npos) ready = text.substr(p + ready_tag.size(), e - p - ready_tag.size());
    }
  }
  ~Process() { stop(); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Still running (an exited child stays waitable for stop()).
  bool alive() const {
    if (pid <= 0) return false;
    siginfo_t info{};
    return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
  }

  // `sig` (SIGTERM by default) and how it ended: "exit N", "killed by signal N", or "hung on signal" (then
  // SIGKILL). Empty when it was stopped already.
  std::string stop(int sig = SIGTERM) {
    if (pid <= 0) return "";
    kill(pid, sig);
    int status = 0;
    std::string how = "hung on signal";
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
        how = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                : "killed by signal " + std::to_string(WTERMSIG(status));
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (how == "hung on signal") {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
    pid = -1;
    return how;
  }

  std::string log_text() const {
    std::ifstream f(log_path, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  pid_t pid = -1;
  std::string ready;
  std::string log_path;
};

// `mqttauth broker --listen 127.0.0.1:0 ARGS...`; address is "127.0.0.1:PORT", or empty when it printed no port
// within 10 s. max_open_files > 0 sets its RLIMIT_NOFILE.
class BrokerProcess : public Process {
 public:
  BrokerProcess(const std::string& bin, const std::vector<std::string>& args, const std::string& log,
                long max_open_files = 0)
      : Process(argv(bin, args), log, "listening on ", {}, max_open_files), address(ready) {}

  std::uint16_t port() const {
    auto c = address.rfind(':');
    return c == std::string::npos ? 0 : static_cast<std::uint16_t>(std::stoi(address.substr(c + 1)));
  }

  std::string address;

 private:
  static std::vector<std::string> argv(const std::string& bin, const std::vector<std::string>& args) {
    std::vector<std::string> a{bin, "broker", "--listen", "127.0.0.1:0"};
    a.insert(a.end(), args.begin(), args.end());
    return a;
  }
};

}  // namespace mqttauth::test
