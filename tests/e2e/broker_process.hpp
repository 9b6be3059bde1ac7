// `mqttauth broker` started as a process on 127.0.0.1 (any free port), its standard error in a file. For
// tests that need the real binary (and its process limits), and for the attack tool.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace mqttauth::test {

class BrokerProcess {
 public:
  // Runs `bin broker --listen 127.0.0.1:0 ARGS...` with its standard error in `log`; max_open_files > 0 sets
  // its RLIMIT_NOFILE. address is "127.0.0.1:PORT", or empty when it printed no port within 10 s.
  BrokerProcess(const std::string& bin, const std::vector<std::string>& args, const std::string& log,
                long max_open_files = 0)
      : log_path(log) {
    pid = fork();
    if (pid == 0) {
      std::vector<std::string> a{bin, "broker", "--listen", "127.0.0.1:0"};
      a.insert(a.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& s : a) argv.push_back(s.data());
      argv.push_back(nullptr);
      if (!std::freopen(log.c_str(), "w", stderr)) _exit(126);
      if (max_open_files > 0) {
        rlimit rl{static_cast<rlim_t>(max_open_files), static_cast<rlim_t>(max_open_files)};
        setrlimit(RLIMIT_NOFILE, &rl);
      }
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
    const std::string tag = "listening on ";
    for (int i = 0; i < 200 && address.empty() && alive(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::string text = log_text();
      auto p = text.find(tag);
      if (p == std::string::npos) continue;
      auto e = text.find_first_of(" \n", p + tag.size());
      if (e != std::string::npos) address = text.substr(p + tag.size(), e - p - tag.size());
    }
  }
  ~BrokerProcess() { stop(); }
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  std::uint16_t port() const {
    auto c = address.rfind(':');
    return c == std::string::npos ? 0 : static_cast<std::uint16_t>(std::stoi(address.substr(c + 1)));
  }

  // Still running (an exited child stays waitable for stop()).
  bool alive() const {
    if (pid <= 0) return false;
    siginfo_t info{};
    return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
  }

  // SIGTERM and how it ended: "exit N" (the broker stops with 0), "killed by signal N", or "hung on SIGTERM"
  // (then SIGKILL). Empty when it was stopped already.
  std::string stop() {
    if (pid <= 0) return "";
    kill(pid, SIGTERM);
    int status = 0;
    std::string how = "hung on SIGTERM";
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
        how = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                : "killed by signal " + std::to_string(WTERMSIG(status));
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (how == "hung on SIGTERM") {
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
  std::string address;
  std::string log_path;
};

}  // namespace mqttauth::test
