#include "engine/tcp_probe.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "engine/name_lookup.hpp"
#include "engine/unique_fd.hpp"

namespace troupe {

namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A silent address must not take the whole deadline from the next one (a
// host whose IPv6 is blocked but whose IPv4 answers): attempts overlap, the
// next starting this long after the last unless that one already failed.
constexpr milliseconds kStagger{250};
constexpr milliseconds kCancelCheck{100};

std::string numeric(const addrinfo& a) {
  // A link-local IPv6 address needs its scope, which a numeric string
  // handed to CAF loses: such an address is not offered.
  if (a.ai_family == AF_INET6 &&
      reinterpret_cast<const sockaddr_in6*>(a.ai_addr)->sin6_scope_id != 0) {
    return {};
  }
  char host[NI_MAXHOST] = {};
  if (::getnameinfo(a.ai_addr, a.ai_addrlen, host, sizeof(host), nullptr, 0, NI_NUMERICHOST) != 0) {
    return {};
  }
  return host;
}

struct attempt {
  unique_fd fd;
  std::string address;
};

// After `fd` connected: waits for the peer's first byte until `deadline`.
// `accepted` once it spoke; else silent, refused (closed) or cancelled, and why.
std::pair<tcp_answer, std::string> await_first_byte(int fd, steady::time_point deadline,
                                                    const std::atomic<bool>* cancel) {
  for (;;) {
    if (cancel != nullptr && cancel->load()) return {tcp_answer::cancelled, "cancelled"};
    const auto now = steady::now();
    if (now >= deadline) return {tcp_answer::silent, accepted_but_silent_why};
    auto wake = deadline;
    if (cancel != nullptr) wake = std::min(wake, now + kCancelCheck);
    pollfd p{fd, POLLIN, 0};
    const auto wait = std::chrono::ceil<milliseconds>(wake - now).count();
    const int n = ::poll(&p, 1, static_cast<int>(std::max<long long>(wait, 0)));
    if (n < 0 && errno != EINTR) return {tcp_answer::refused, std::strerror(errno)};
    if (n <= 0) continue;
    char byte = 0;
    const auto got = ::recv(fd, &byte, 1, MSG_PEEK);
    if (got > 0) return {tcp_answer::accepted, {}};
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    return {tcp_answer::refused, "it closed the connection without a word"};
  }
}

}  // namespace

tcp_probe_result probe_tcp(const std::string& host, std::uint16_t port, milliseconds timeout,
                           const std::atomic<bool>* cancel, const name_resolver& resolve,
                           bool until_peer_speaks) {
  const auto deadline = steady::now() + timeout;
  const auto where = host + ":" + std::to_string(port);
  tcp_probe_result out;
  auto lookup = lookup_tcp(host, port, timeout, cancel, resolve);
  switch (lookup.status) {
    case lookup_status::found:
      break;
    case lookup_status::timed_out:
      out.answer = tcp_answer::silent;
      out.why = std::move(lookup.why);
      return out;
    case lookup_status::cancelled:
      out.answer = tcp_answer::cancelled;
      out.why = std::move(lookup.why);
      return out;
    case lookup_status::failed:
      out.answer = tcp_answer::unresolved;
      out.why = std::move(lookup.why);
      return out;
  }
  const addrinfo* found = lookup.addresses.get();
  out.answer = tcp_answer::refused;
  auto failed = [&](const std::string& address, int err) {
    if (out.why.empty()) {
      out.why = "cannot connect to " + where + " (" + (address.empty() ? host : address) +
                "): " + std::strerror(err);
    }
  };
  auto accepted = [&](std::string address, int fd) {
    if (until_peer_speaks) {
      auto [answer, why] = await_first_byte(fd, deadline, cancel);
      if (answer != tcp_answer::accepted) {
        out.answer = answer;
        out.address = std::move(address);
        out.why = "no greeting from " + where + " (" + out.address + ") within " +
                  std::to_string(timeout.count()) + " ms: " + why;
        return out;
      }
    }
    out.answer = tcp_answer::accepted;
    out.address = std::move(address);
    out.why.clear();
    return out;
  };

  std::vector<attempt> pending;
  const addrinfo* next = found;
  auto next_start = steady::now();
  for (;;) {
    if (cancel != nullptr && cancel->load()) {
      out.answer = tcp_answer::cancelled;
      out.why = "cancelled while connecting to " + where;
      return out;
    }
    auto now = steady::now();
    if (now >= deadline) break;
    // Start the next address when its turn comes, or at once when nothing
    // is under way any more.
    while (next != nullptr && (now >= next_start || pending.empty())) {
      const addrinfo& a = *next;
      next = next->ai_next;
      auto address = numeric(a);
      if (address.empty()) continue;
      unique_fd fd(
          ::socket(a.ai_family, a.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a.ai_protocol));
      if (!fd) {
        failed(address, errno);
        continue;
      }
      if (::connect(fd.get(), a.ai_addr, a.ai_addrlen) == 0) {
        return accepted(std::move(address), fd.get());
      }
      if (errno != EINPROGRESS) {
        failed(address, errno);
        continue;
      }
      pending.push_back({std::move(fd), std::move(address)});
      next_start = now + kStagger;
      break;
    }
    if (pending.empty()) {
      if (next == nullptr) {  // every address refused or failed
        if (out.why.empty()) out.why = "cannot connect to " + where + ": no address to try";
        return out;
      }
      continue;
    }
    auto wake = deadline;
    if (next != nullptr) wake = std::min(wake, next_start);
    if (cancel != nullptr) wake = std::min(wake, now + kCancelCheck);
    std::vector<pollfd> polls;
    for (const auto& p : pending) polls.push_back({p.fd.get(), POLLOUT, 0});
    const auto wait = std::chrono::ceil<milliseconds>(wake - now).count();
    const int n =
        ::poll(polls.data(), polls.size(), static_cast<int>(std::max<long long>(wait, 0)));
    if (n < 0 && errno != EINTR) {
      failed(pending.front().address, errno);
      return out;
    }
    for (std::size_t i = polls.size(); i-- > 0;) {
      if (polls[i].revents == 0) continue;
      int err = 0;
      socklen_t len = sizeof(err);
      if (::getsockopt(polls[i].fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err == 0) return accepted(std::move(pending[i].address), polls[i].fd);
      failed(pending[i].address, err);
      pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
  if (!pending.empty()) {
    out.answer = tcp_answer::silent;
    out.why = "no answer from " + where + " (" + pending.front().address + ") within " +
              std::to_string(timeout.count()) + " ms";
  } else if (out.why.empty()) {
    // The lookup took (about) the whole deadline, so no address was tried:
    // a slow name server, which is a timeout rather than a refusal.
    out.answer = tcp_answer::silent;
    out.why = "no time left within " + std::to_string(timeout.count()) + " ms to connect to " +
              where + " after resolving it";
  }
  return out;
}

}  // namespace troupe
