#pragma once
// Helpers for tests that run `troupe node` / `troupe serve` daemons and poke
// them from the outside: start one and read its ports, read Prometheus
// series and a process's peak memory, open raw TCP connections.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "child_process.hpp"

namespace troupe::test_support {

struct daemon {
  std::unique_ptr<child_process> process;
  std::uint16_t port = 0;
  std::uint16_t metrics_port = 0;
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

// Runs `args` (a troupe command line printing "listening on 127.0.0.1:PORT"
// and, with --metrics, "metrics on 127.0.0.1:PORT"); port 0 if it did not start.
inline daemon start_daemon(const std::vector<std::string>& args, const fs::path& log) {
  daemon d;
  d.process = std::make_unique<child_process>(args, log);
  const auto port = d.process->wait_for_line("listening on 127.0.0.1:", milliseconds(20000));
  if (port.empty()) return d;
  d.port = static_cast<std::uint16_t>(std::stoi(port));
  for (const auto& a : args) {
    if (a != "--metrics") continue;
    const auto m = d.process->wait_for_line("metrics on 127.0.0.1:", milliseconds(5000));
    if (!m.empty()) d.metrics_port = static_cast<std::uint16_t>(std::stoi(m));
  }
  return d;
}

// Whether `process` logged `text` within `limit`.
inline bool wait_for_log(const child_process& process, const std::string& text,
                         milliseconds limit) {
  const auto deadline = steady::now() + limit;
  while (process.log().find(text) == std::string::npos) {
    if (steady::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

// The value of an unlabelled Prometheus series in a /metrics page; -1 if absent.
inline double series(const std::string& page, const std::string& name) {
  const auto at = page.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(page.substr(at + name.size() + 2));
}

// A field of /proc/PID/status in KiB (VmRSS, VmHWM = peak RSS); -1 if unreadable.
inline long proc_status_kib(pid_t pid, const std::string& field) {
  std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

// A raw TCP connection to 127.0.0.1:port, closed on destruction.
class raw_connection {
 public:
  explicit raw_connection(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      throw std::runtime_error("cannot connect to port " + std::to_string(port));
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~raw_connection() { close(); }
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  void send(const std::string& bytes) {
    // The peer may have closed already: a refusal is what the tests expect.
    ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  /// Whether the peer closed the connection within `limit` (reads and drops
  /// whatever it sent before, e.g. CAF's server handshake).
  bool closed_by_peer(milliseconds limit) {
    const auto deadline = steady::now() + limit;
    char buf[4096];
    while (steady::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return true;
    }
    return false;
  }

 private:
  int fd_ = -1;
};

// A 32-byte BASP header, as CAF 0.17 writes it (network byte order).
inline std::string basp_header(std::uint8_t op, std::uint32_t payload, std::uint64_t op_data = 0,
                               std::uint64_t src = 0, std::uint64_t dst = 0) {
  std::string out{static_cast<char>(op), 0, 0, 0};
  auto put = [&](std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
  };
  put(payload, 4);
  put(op_data, 8);
  put(src, 8);
  put(dst, 8);
  return out;
}

}  // namespace troupe::test_support
