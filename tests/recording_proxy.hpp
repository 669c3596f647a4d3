#pragma once
// A loopback TCP proxy for tests that must see what travels on the wire (a
// packet capture without root): clients connect to port(), each connection
// is relayed to the target, and every byte in either direction is recorded.
// With a delay, every chunk leaves that long after it arrived, in order,
// each way: a link with a long round trip (a WAN without root's netem).
//
//   recording_proxy proxy{"127.0.0.1", node_port};
//   job.nodes = {"127.0.0.1:" + std::to_string(proxy.port())};
//   run_job(job);
//   EXPECT_EQ(proxy.bytes().find("[cluster]"), std::string::npos);
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace troupe::test_support {

class recording_proxy {
 public:
  recording_proxy(std::string host, std::uint16_t target,
                  std::chrono::milliseconds delay = std::chrono::milliseconds(0))
      : host_(std::move(host)), target_(target), delay_(delay) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    socklen_t len = sizeof(addr);
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("recording_proxy: cannot listen");
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~recording_proxy() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    for (auto& t : relays_) t.join();
    ::close(listen_fd_);
  }
  recording_proxy(const recording_proxy&) = delete;
  recording_proxy& operator=(const recording_proxy&) = delete;

  std::uint16_t port() const { return port_; }
  /// Everything relayed so far, both directions, in arrival order.
  std::string bytes() const {
    std::lock_guard lock(mutex_);
    return recorded_;
  }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(target_);
      ::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr);
      if (::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::close(client);
        ::close(upstream);
        continue;
      }
      relays_.emplace_back([this, client, upstream] {
        if (delay_.count() > 0) {
          relay_delayed(client, upstream);
        } else {
          relay(client, upstream);
        }
      });
    }
  }

  void relay(int a, int b) {
    char buf[65536];
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    bool open = true;
    while (open && !stop_) {
      if (::poll(fds, 2, 100) <= 0) continue;
      for (int i = 0; i < 2 && open; ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        const ssize_t n = ::recv(fds[i].fd, buf, sizeof(buf), 0);
        if (n <= 0) {
          open = false;
          break;
        }
        record(buf, n);
        open = send_all(fds[1 - i].fd, buf, n);
      }
    }
    ::close(a);
    ::close(b);
  }

  void record(const char* buf, ssize_t n) {
    std::lock_guard lock(mutex_);
    recorded_.append(buf, static_cast<std::size_t>(n));
  }

  static bool send_all(int fd, const char* buf, ssize_t n) {
    for (ssize_t sent = 0; sent < n;) {
      const ssize_t k = ::send(fd, buf + sent, static_cast<std::size_t>(n - sent), MSG_NOSIGNAL);
      if (k <= 0) return false;
      sent += k;
    }
    return true;
  }

  // Both directions of a delayed connection; ends when either side does.
  void relay_delayed(int a, int b) {
    std::atomic<bool> open{true};
    std::thread back([&] { pipe_delayed(b, a, open); });
    pipe_delayed(a, b, open);
    back.join();
    ::close(a);
    ::close(b);
  }

  // One direction: a reader stamps each chunk with when it is due, and a
  // writer sends it then, so that a chunk waits for the delay, not for the
  // chunks ahead of it.
  void pipe_delayed(int from, int to, std::atomic<bool>& open) {
    using clock = std::chrono::steady_clock;
    std::mutex m;
    std::condition_variable cv;
    std::deque<std::pair<clock::time_point, std::string>> due;
    bool ended = false;
    std::thread writer([&] {
      for (;;) {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return !due.empty() || ended; });
        if (due.empty()) return;
        auto [when, data] = std::move(due.front());
        due.pop_front();
        lock.unlock();
        std::this_thread::sleep_until(when);
        if (!send_all(to, data.data(), static_cast<ssize_t>(data.size()))) open = false;
      }
    });
    char buf[65536];
    while (open && !stop_) {
      pollfd p{from, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = ::recv(from, buf, sizeof(buf), 0);
      if (n <= 0) break;
      record(buf, n);
      {
        std::lock_guard lock(m);
        due.emplace_back(clock::now() + delay_, std::string(buf, static_cast<std::size_t>(n)));
      }
      cv.notify_one();
    }
    {
      std::lock_guard lock(m);
      ended = true;
    }
    cv.notify_one();
    writer.join();  // what arrived still goes, then the other direction ends too
    open = false;
  }

  std::string host_;
  std::uint16_t target_;
  std::chrono::milliseconds delay_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> relays_;  // touched by the acceptor thread only until join
  mutable std::mutex mutex_;
  std::string recorded_;
};

}  // namespace troupe::test_support
