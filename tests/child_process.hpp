#pragma once
// Test helpers for tests that run other processes: a child process guard that
// kills and reaps it whatever happens, and a plain-socket HTTP GET.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace troupe::test_support {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Writes a credential file (a cluster secret) readable by its owner only:
// Troupe refuses secrets other users can read.
inline void write_private_file(const fs::path& path, const std::string& content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + path.string());
  ::fchmod(fd, 0600);  // also when the file existed with another mode
  const bool ok =
      ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot write " + path.string());
}

// A child process whose stdout and stderr go to `log`. The destructor kills
// (SIGKILL) and reaps it if it still runs; PR_SET_PDEATHSIG kills it should
// this test process die first.
class child_process {
 public:
  child_process(const std::vector<std::string>& args, fs::path log) : log_(std::move(log)) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create " + log_.string());
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {  // only async-signal-safe calls until exec
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fd);
    if (pid_ < 0) throw std::runtime_error("fork failed");
  }
  ~child_process() {
    if (!exit_code_ && pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  void signal(int sig) { ::kill(pid_, sig); }
  pid_t pid() const { return pid_; }

  /// The exit code once the process ended within `limit` (-signal if killed).
  std::optional<int> wait_exit(milliseconds limit) {
    const auto deadline = steady::now() + limit;
    while (!exit_code_) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      } else if (steady::now() >= deadline) {
        break;
      } else {
        std::this_thread::sleep_for(milliseconds(5));
      }
    }
    return exit_code_;
  }

  /// The rest of the first output line starting with `prefix`, waiting up to
  /// `limit`; empty if none came (or the process ended first).
  std::string wait_for_line(const std::string& prefix, milliseconds limit) {
    const auto deadline = steady::now() + limit;
    for (;;) {
      std::istringstream lines(log());
      for (std::string line; std::getline(lines, line);) {
        if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
      }
      if (steady::now() >= deadline || wait_exit(milliseconds(0))) return {};
      std::this_thread::sleep_for(milliseconds(10));
    }
  }

  std::string log() const { return read_file(log_); }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// GET `path` from 127.0.0.1:`port` over a plain socket; "" on any failure.
inline std::string http_get(std::uint16_t port, const std::string& path) {
  struct socket_fd {
    int fd;
    ~socket_fd() {
      if (fd >= 0) ::close(fd);
    }
  } sock{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  const int fd = sock.fd;
  if (fd < 0) return {};
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return {};
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    return {};
  }
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) out.append(buf, n);
  return out;
}

}  // namespace troupe::test_support
