#include "engine/tcp_probe.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "engine/unique_fd.hpp"

namespace troupe {

namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kCancelCheck{100};

// Waits for a non-blocking connect on `fd` to finish; 0 or the errno it
// ended with, ETIMEDOUT at the deadline, ECANCELED when cancelled.
int await_connect(int fd, steady::time_point deadline, const std::atomic<bool>* cancel) {
  pollfd p{fd, POLLOUT, 0};
  for (;;) {
    if (cancel != nullptr && cancel->load()) return ECANCELED;
    const auto left = std::chrono::ceil<milliseconds>(deadline - steady::now());
    if (left.count() <= 0) return ETIMEDOUT;
    const auto slice = cancel != nullptr ? std::min(left, kCancelCheck) : left;
    const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(slice.count(), 1 << 30)));
    if (n < 0 && errno != EINTR) return errno;
    if (n > 0) break;
  }
  int err = 0;
  socklen_t len = sizeof(err);
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

std::string numeric(const addrinfo& a) {
  char host[NI_MAXHOST] = {};
  if (::getnameinfo(a.ai_addr, a.ai_addrlen, host, sizeof(host), nullptr, 0, NI_NUMERICHOST) != 0) {
    return {};
  }
  return host;
}

}  // namespace

tcp_probe_result probe_tcp(const std::string& host, std::uint16_t port, milliseconds timeout,
                           const std::atomic<bool>* cancel) {
  const auto deadline = steady::now() + timeout;
  const auto where = host + ":" + std::to_string(port);
  tcp_probe_result out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const auto service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    out.why = "cannot resolve " + where + ": " + gai_strerror(rc);
    return out;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(found, freeaddrinfo);
  out.answer = tcp_answer::refused;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    unique_fd fd(
        ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol));
    int err = fd ? 0 : errno;
    if (fd && ::connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      err = errno == EINPROGRESS ? await_connect(fd.get(), deadline, cancel) : errno;
    }
    const auto address = numeric(*a);
    if (err == 0 && address.empty()) err = EADDRNOTAVAIL;
    if (err == 0) {
      out.answer = tcp_answer::accepted;
      out.address = address;
      out.why.clear();
      return out;
    }
    if (err == ECANCELED) {
      out.answer = tcp_answer::cancelled;
      out.why = "cancelled while connecting to " + where;
      return out;
    }
    if (err == ETIMEDOUT) {
      out.answer = tcp_answer::silent;
      out.why = "no answer from " + where + " (" + (address.empty() ? host : address) +
                ") within " + std::to_string(timeout.count()) + " ms";
    } else if (out.answer != tcp_answer::silent) {
      out.why = "cannot connect to " + where + " (" + (address.empty() ? host : address) +
                "): " + std::strerror(err);
    }
    if (steady::now() >= deadline) break;
  }
  return out;
}

}  // namespace troupe
