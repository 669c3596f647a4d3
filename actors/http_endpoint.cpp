#include "actors/http_endpoint.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <thread>
#include <utility>
#include <vector>

#include "engine/errors.hpp"
#include "engine/unique_fd.hpp"

namespace troupe {

namespace {

using steady = std::chrono::steady_clock;

std::string errno_text(int err) {
  return std::string(std::strerror(err));
}

// "HOST:PORT", "[V6]:PORT" or "PORT" (every address) into host and port.
std::pair<std::string, std::string> split_bind(const std::string& bind) {
  const auto colon = bind.rfind(':');
  if (colon == std::string::npos) return {"", bind};
  std::string host = bind.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return {host, bind.substr(colon + 1)};
}

// A non-blocking listening socket on `bind`; throws troupe_error(io_error) naming the cause.
int open_listener(const std::string& bind) {
  const auto [host, port] = split_bind(bind);
  auto fail = [&](const std::string& why) {
    return troupe_error(errc::io_error, "cannot serve metrics on " + bind + ": " + why);
  };
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535) {
    throw fail("expected HOST:PORT with a port from 0 to 65535");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc =
          getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    throw fail(std::string("cannot resolve '") + host + "': " + gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(found, freeaddrinfo);
  std::string why = "no address to bind";
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    unique_fd fd(
        ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol));
    if (!fd) {
      why = "socket: " + errno_text(errno);
      continue;
    }
    // Rebinding right after a restart (TIME_WAIT); a port in LISTEN stays refused.
    const int on = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (::bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      why = "bind: " + errno_text(errno);
      continue;
    }
    if (::listen(fd.get(), 128) != 0) {
      why = "listen: " + errno_text(errno);
      continue;
    }
    return fd.release();
  }
  throw fail(why);
}

std::uint16_t local_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in&>(addr).sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6&>(addr).sin6_port);
  return 0;
}

const char* status_text(int status) {
  switch (status) {
    case 200:
      return "200 OK";
    case 400:
      return "400 Bad Request";
    case 404:
      return "404 Not Found";
    case 405:
      return "405 Method Not Allowed";
    case 408:
      return "408 Request Timeout";
    case 431:
      return "431 Request Header Fields Too Large";
    default:
      return "500 Internal Server Error";
  }
}

std::string render(const http_reply& r, bool head_only) {
  std::string out;
  out.reserve(160 + (head_only ? 0 : r.body.size()));
  out.append("HTTP/1.1 ").append(status_text(r.status)).append("\r\n");
  out.append("Content-Type: ").append(r.content_type).append("\r\n");
  out.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n");
  if (r.status == 405) out.append("Allow: GET, HEAD\r\n");
  out.append("Connection: close\r\n\r\n");
  if (!head_only) out.append(r.body);
  return out;
}

struct connection {
  unique_fd fd;
  steady::time_point opened;
  steady::time_point deadline;
  std::string in;
  std::string out;  // non-empty: writing the reply
  std::size_t sent = 0;
};

// Descriptors the endpoint's connections may take: at most an eighth of the
// process's limit, so that scrapers never starve the node's own sockets and
// files (a daemon run with `ulimit -n 64` would otherwise give 32 of them).
std::size_t connection_cap(std::size_t wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return wanted;
  const auto cap = std::max<std::size_t>(1, static_cast<std::size_t>(lim.rlim_cur / 8));
  if (cap < wanted) {
    spdlog::info(
        "http endpoint: at most {} connections at once (an eighth of the {} descriptors this "
        "process may open)",
        cap, static_cast<unsigned long long>(lim.rlim_cur));
  }
  return std::min(wanted, cap);
}

}  // namespace

struct http_endpoint::impl {
  handler serve;
  http_limits limits;
  unique_fd listener;
  unique_fd stop_read;   // readable once the server is to stop
  unique_fd stop_write;  // closed by the destructor to wake the server
  std::uint16_t port = 0;
  std::list<connection> open;
  std::thread thread;
  // Out of descriptors or memory, the listener stays readable: it is left
  // out of poll until then (else the loop spins), and logged once per spell.
  steady::time_point accept_paused_until{};
  bool accept_failing = false;
  static constexpr std::chrono::milliseconds kAcceptPause{200};

  // The reply to a complete (or oversized) request head.
  std::string answer(const std::string& head) {
    // Cut off at the limit: a head that never ended is refused, not served.
    if (!head_ended(head)) {
      return render({431, "text/plain", "request head larger than the limit\n"}, false);
    }
    const std::string_view line(head.data(), std::min(head.find_first_of("\r\n"), head.size()));
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) return render({400, "text/plain", "bad request\n"}, false);
    const auto version = line.substr(sp2 + 1);
    if (version != "HTTP/1.0" && version != "HTTP/1.1") {
      return render({400, "text/plain", "bad request: HTTP/1.0 or HTTP/1.1 only\n"}, false);
    }
    const auto method = line.substr(0, sp1);
    auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    target = target.substr(0, target.find('?'));
    const bool head_only = method == "HEAD";
    if (method != "GET" && !head_only) {
      return render({405, "text/plain", "only GET and HEAD\n"}, false);
    }
    try {
      return render(serve(target), head_only);
    } catch (const std::exception& e) {
      spdlog::error("http endpoint: handler failed: {}", e.what());
      return render({500, "text/plain", "internal error\n"}, head_only);
    }
  }

  static bool head_ended(const std::string& in) {
    return in.find("\r\n\r\n") != std::string::npos || in.find("\n\n") != std::string::npos;
  }
  bool head_complete(const std::string& in) const {
    return head_ended(in) || in.size() >= limits.max_request_head;
  }

  // Reads what arrived; false when the connection is finished with.
  bool on_readable(connection& c) {
    char buf[2048];
    while (!head_complete(c.in)) {
      const ssize_t n = ::recv(c.fd.get(), buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      if (n < 0) return false;
      if (n == 0) break;  // the client sent all it will (maybe a whole request)
      c.in.append(buf, static_cast<std::size_t>(n));
    }
    if (!head_complete(c.in) && c.in.find('\n') == std::string::npos) {
      if (c.in.empty()) return false;  // connected, sent nothing, left
      // Part of a request line, then the end: answered, not just closed.
      c.out = render({400, "text/plain", "bad request: incomplete request line\n"}, false);
      return true;
    }
    // A client that closed its side after the request line (no blank line):
    // answered as the request it is.
    if (!head_complete(c.in)) c.in += "\r\n\r\n";
    c.out = answer(c.in);
    return true;
  }

  // Sends what the socket takes; false once all is sent or it failed.
  bool on_writable(connection& c) {
    while (c.sent < c.out.size()) {
      const ssize_t n =
          ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      if (n <= 0) return false;
      c.sent += static_cast<std::size_t>(n);
    }
    ::shutdown(c.fd.get(), SHUT_WR);
    return false;
  }

  void accept_all(steady::time_point now) {
    for (;;) {
      unique_fd fd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (!fd) {
        const int err = errno;
        if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
          if (!accept_failing) {
            spdlog::warn("http endpoint: accept: {}; pausing new connections", errno_text(err));
          }
          accept_failing = true;
          accept_paused_until = now + kAcceptPause;
        }
        return;  // EAGAIN: none left; the rest: the next poll round retries
      }
      if (accept_failing) spdlog::info("http endpoint: accepting connections again");
      accept_failing = false;
      if (open.size() >= limits.max_connections) {
        // Room for a fresh client (more likely a scraper than one silent for
        // a while): the longest-open connection that has sent nothing, else
        // the longest-open one still reading its request, and only when every
        // one is sending its reply (or was just accepted), the longest-open. A flood of
        // silent connections then evicts its own, not a scrape on its way.
        // Only connections a poll round has seen count as silent: one
        // accepted in this batch has had no chance to send (a scrape among
        // the flood's connections was taken for silent and dropped).
        const auto seen = [&](const connection& c) { return c.opened < now; };
        auto victim = std::find_if(open.begin(), open.end(),
                                   [&](const connection& c) { return seen(c) && c.in.empty(); });
        if (victim == open.end()) {
          victim = std::find_if(open.begin(), open.end(),
                                [&](const connection& c) { return seen(c) && c.out.empty(); });
        }
        if (victim == open.end()) victim = open.begin();  // all sending or new: the oldest
        open.erase(victim);
      }
      open.push_back({std::move(fd), now, now + limits.request_timeout, {}, {}, 0});
    }
  }

  void run() {
    std::vector<pollfd> fds;
    for (;;) {
      const auto now = steady::now();
      const bool paused = now < accept_paused_until;
      // A negative descriptor is skipped by poll: the listener sits out a pause.
      fds.assign({{stop_read.get(), POLLIN, 0}, {paused ? -1 : listener.get(), POLLIN, 0}});
      long long wait_ms = -1;  // until the next deadline, or for ever without connections
      if (paused) {
        wait_ms = std::chrono::ceil<std::chrono::milliseconds>(accept_paused_until - now).count();
      }
      for (const auto& c : open) {
        fds.push_back({c.fd.get(), static_cast<short>(c.out.empty() ? POLLIN : POLLOUT), 0});
        const auto left = std::max<long long>(
            0, std::chrono::ceil<std::chrono::milliseconds>(c.deadline - now).count());
        wait_ms = wait_ms < 0 ? left : std::min(wait_ms, left);
      }
      if (::poll(fds.data(), fds.size(), static_cast<int>(wait_ms)) < 0 && errno != EINTR) {
        spdlog::error("http endpoint: poll: {}; no longer serving", errno_text(errno));
        return;
      }
      if (fds[0].revents != 0) return;
      const auto after = steady::now();
      std::size_t i = 2;
      for (auto it = open.begin(); it != open.end(); ++i) {
        const short ev = fds[i].revents;
        bool keep = true;
        if (ev != 0) keep = it->out.empty() ? on_readable(*it) : true;
        if (keep && !it->out.empty() && (ev & (POLLOUT | POLLIN)) != 0) keep = on_writable(*it);
        if (keep && after >= it->deadline) {
          // Part of a request came, too slowly: told so (once, with as
          // long again to take it), not just closed.
          keep = it->out.empty() && !it->in.empty();
          if (keep) {
            it->out = render({408, "text/plain", "request head not received in time\n"}, false);
            it->deadline = after + limits.request_timeout;
            keep = on_writable(*it);
          }
        }
        it = keep ? std::next(it) : open.erase(it);
      }
      if ((fds[1].revents & POLLIN) != 0) accept_all(after);
    }
  }
};

http_endpoint::http_endpoint(const std::string& bind, handler serve, http_limits limits)
    : impl_(std::make_unique<impl>()) {
  impl_->serve = std::move(serve);
  impl_->limits = limits;
  impl_->limits.max_connections = connection_cap(limits.max_connections);
  impl_->listener.reset(open_listener(bind));
  impl_->port = local_port(impl_->listener.get());
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw troupe_error(errc::io_error,
                       "cannot serve metrics on " + bind + ": pipe: " + errno_text(errno));
  }
  impl_->stop_read.reset(pipe_fds[0]);
  impl_->stop_write.reset(pipe_fds[1]);
  try {
    impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
  } catch (const std::exception& e) {
    throw troupe_error(errc::io_error, "cannot serve metrics on " + bind +
                                           ": cannot start the server thread: " + e.what());
  }
}

http_endpoint::~http_endpoint() {
  impl_->stop_write.reset();  // the read end turns readable (EOF): the server returns
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::uint16_t http_endpoint::port() const {
  return impl_->port;
}

}  // namespace troupe
