#include "engine/tcp_probe.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "engine/unique_fd.hpp"

namespace troupe {

namespace {

using steady = std::chrono::steady_clock;

// 1: answered (accepted or refused), 0: silent until `deadline`, -1: this
// address cannot be tried here (e.g. no IPv6): the next one may.
int try_address(const addrinfo& a, steady::time_point deadline) {
  unique_fd fd(::socket(a.ai_family, a.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a.ai_protocol));
  if (!fd) return -1;
  if (::connect(fd.get(), a.ai_addr, a.ai_addrlen) == 0) return 1;
  if (errno != EINPROGRESS) return errno == ECONNREFUSED ? 1 : -1;
  pollfd p{fd.get(), POLLOUT, 0};
  for (;;) {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - steady::now()).count();
    if (left <= 0) return 0;
    const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n == 0 ? 0 : -1;
    break;
  }
  int err = 0;
  socklen_t len = sizeof(err);
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) return -1;
  return err == 0 || err == ECONNREFUSED ? 1 : err == ETIMEDOUT ? 0 : -1;
}

}  // namespace

bool answers_within(const std::string& host, std::uint16_t port,
                    std::chrono::milliseconds timeout) {
  const auto deadline = steady::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const auto service = std::to_string(port);
  if (::getaddrinfo(host.c_str(), service.c_str(), &hints, &found) != 0) return true;
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(found, freeaddrinfo);
  bool tried = false;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int r = try_address(*a, deadline);
    if (r == 1) return true;
    tried |= r == 0;
    if (steady::now() >= deadline) break;
  }
  // Addresses that failed outright (unreachable network) are an answer too:
  // CAF's connect fails on them as fast.
  return !tried;
}

}  // namespace troupe
