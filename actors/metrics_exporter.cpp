#include "actors/metrics_exporter.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <string_view>
#include <thread>
#include <utility>

#include "engine/errors.hpp"

// /metrics is served by a small HTTP server of our own rather than
// prometheus-cpp's Exposer. The Exposer runs on civetweb, and Debian's
// civetweb 1.15 starts every thread with a fixed 100 KiB stack
// (USE_STACK_SIZE=102400). glibc carves the static TLS of all the libraries
// loaded at startup out of each thread's stack, and pthread_create refuses
// with EINVAL when the stack cannot hold it. A troupe built with CUDA loads
// cuBLASLt, cuBLAS, cudart and OpenBLAS, about 182 KiB of static TLS, so
// civetweb could start no thread at all: it failed with "Cannot create
// threads" (and a stale errno), which prometheus-cpp turned into "null context
// when constructing CivetServer. Possible problem binding to port." The thread
// below is a std::thread with the default (8 MiB) stack, which has room for any
// TLS, and stops at once when asked instead of within civetweb's 2 s rounds.

namespace troupe {

using prometheus::BuildCounter;
using prometheus::BuildGauge;

namespace {

using steady = std::chrono::steady_clock;

// How long one client may take to send its request and read the answer.
constexpr auto client_deadline = std::chrono::seconds(2);
// The most of a request head the server reads; Prometheus sends a few hundred bytes.
constexpr std::size_t max_request_head = 8192;

std::string errno_text(int err) {
  return std::string(std::strerror(err));
}

struct fd_guard {
  int fd = -1;
  fd_guard() = default;
  explicit fd_guard(int f) : fd(f) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() { reset(); }
  void reset(int f = -1) {
    if (fd >= 0) ::close(fd);
    fd = f;
  }
  int release() {
    const int f = fd;
    fd = -1;
    return f;
  }
};

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

// A listening socket on `bind`; throws troupe_error(io_error) naming the cause.
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
    fd_guard fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (fd.fd < 0) {
      why = "socket: " + errno_text(errno);
      continue;
    }
    // Rebinding right after a restart (TIME_WAIT); a port in LISTEN stays refused.
    const int on = 1;
    ::setsockopt(fd.fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (::bind(fd.fd, a->ai_addr, a->ai_addrlen) != 0) {
      why = "bind: " + errno_text(errno);
      continue;
    }
    if (::listen(fd.fd, 64) != 0) {
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

// Waits until `fd` is ready for `events`, the stop pipe is readable, or the
// deadline passes; true only in the first case.
bool wait_ready(int fd, short events, int stop_fd, steady::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
    if (left <= 0) return false;
    pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
    const int n = ::poll(fds, 2, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || fds[1].revents != 0) return false;
    return true;
  }
}

std::string response(std::string_view status, std::string_view content_type,
                     const std::string& body, bool head_only) {
  std::string out;
  out.reserve(160 + (head_only ? 0 : body.size()));
  out.append("HTTP/1.1 ").append(status).append("\r\n");
  out.append("Content-Type: ").append(content_type).append("\r\n");
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  out.append("Connection: close\r\n\r\n");
  if (!head_only) out.append(body);
  return out;
}

}  // namespace

struct metrics_exporter::impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Counter& counter(const char* name, const char* help) {
    return BuildCounter().Name(name).Help(help).Register(*registry).Add({});
  }
  prometheus::Gauge& gauge(const char* name, const char* help) {
    return BuildGauge().Name(name).Help(help).Register(*registry).Add({});
  }
  prometheus::Counter& pushes = counter("troupe_pushes_total", "Pushes applied or acknowledged");
  prometheus::Counter& pulls = counter("troupe_pulls_total", "Pulls answered");
  prometheus::Counter& bytes_in = counter("troupe_bytes_in_total", "Payload bytes received");
  prometheus::Counter& bytes_out = counter("troupe_bytes_out_total", "Payload bytes sent");
  prometheus::Counter& rejected = counter("troupe_messages_rejected_total",
                                          "Messages refused (malformed, unauthenticated, limits)");
  prometheus::Counter& staleness_waits =
      counter("troupe_staleness_waits_total", "Worker steps that waited on the staleness bound");
  prometheus::Family<prometheus::Gauge>& clock_lag =
      BuildGauge()
          .Name("troupe_clock_lag")
          .Help("Clocks a worker is behind the fastest worker")
          .Register(*registry);
  prometheus::Gauge& inflight =
      gauge("troupe_inflight_requests", "Requests sent and not yet answered");
  prometheus::Gauge& hosted =
      gauge("troupe_actors_hosted", "Shards and workers hosted by this node");
  prometheus::Counter& failovers =
      counter("troupe_shard_failovers_total", "Shards whose primary was lost and replaced");
  prometheus::Counter& workers_replaced =
      counter("troupe_workers_replaced_total", "Lost workers whose partition was taken over");
  prometheus::Counter& resent =
      counter("troupe_pushes_resent_total", "Pushes resent after a shard failover");

  // The HTTP server; all unset when not serving.
  fd_guard listener;
  fd_guard stop_read;   // readable once the server is to stop
  fd_guard stop_write;  // closed by the destructor to wake the server
  std::uint16_t port = 0;
  std::thread server;

  std::string render() const { return prometheus::TextSerializer().Serialize(registry->Collect()); }

  // Accepts and answers one client at a time until stop_read turns readable.
  void serve() {
    for (;;) {
      pollfd fds[2] = {{listener.fd, POLLIN, 0}, {stop_read.fd, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        spdlog::error("metrics server: poll: {}; no longer serving", errno_text(errno));
        return;
      }
      if (fds[1].revents != 0) return;
      if ((fds[0].revents & POLLIN) == 0) continue;
      fd_guard client(::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (client.fd < 0) {
        const int err = errno;
        if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
          // The pending connection stays queued; pause instead of spinning on it.
          spdlog::warn("metrics server: accept: {}", errno_text(err));
          pollfd stop{stop_read.fd, POLLIN, 0};
          if (::poll(&stop, 1, 100) > 0) return;
        }
        continue;  // EAGAIN, ECONNABORTED, EINTR, ...
      }
      answer(client.fd);
    }
  }

  void answer(int fd) {
    const auto deadline = steady::now() + client_deadline;
    std::string head;
    char buf[1024];
    while (head.find("\r\n\r\n") == std::string::npos && head.find("\n\n") == std::string::npos) {
      if (head.size() >= max_request_head) break;
      if (!wait_ready(fd, POLLIN, stop_read.fd, deadline)) return;
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) return;
      head.append(buf, static_cast<std::size_t>(n));
    }
    // Request line: METHOD SP TARGET SP VERSION.
    const std::string_view line(head.data(), std::min(head.find_first_of("\r\n"), head.size()));
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    std::string reply;
    if (sp2 == std::string_view::npos) {
      reply = response("400 Bad Request", "text/plain", "bad request\n", false);
    } else {
      const auto method = line.substr(0, sp1);
      auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      target = target.substr(0, target.find('?'));
      const bool head_only = method == "HEAD";
      if (method != "GET" && !head_only) {
        reply = response("405 Method Not Allowed", "text/plain", "only GET and HEAD\n", false);
      } else if (target != "/metrics") {
        reply = response("404 Not Found", "text/plain", "metrics are at /metrics\n", head_only);
      } else {
        reply = response("200 OK", "text/plain; version=0.0.4; charset=utf-8", render(), head_only);
      }
    }
    std::size_t sent = 0;
    while (sent < reply.size()) {
      if (!wait_ready(fd, POLLOUT, stop_read.fd, deadline)) return;
      const ssize_t n = ::send(fd, reply.data() + sent, reply.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) return;
      sent += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
  }
};

metrics_exporter::metrics_exporter(const std::string& bind) : impl_(std::make_unique<impl>()) {
  if (bind.empty() || bind == "0") return;
  impl_->listener.reset(open_listener(bind));
  impl_->port = local_port(impl_->listener.fd);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw troupe_error(errc::io_error,
                       "cannot serve metrics on " + bind + ": pipe: " + errno_text(errno));
  }
  impl_->stop_read.reset(pipe_fds[0]);
  impl_->stop_write.reset(pipe_fds[1]);
  try {
    impl_->server = std::thread([impl = impl_.get()] { impl->serve(); });
  } catch (const std::exception& e) {
    throw troupe_error(errc::io_error, "cannot serve metrics on " + bind +
                                           ": cannot start the server thread: " + e.what());
  }
}

metrics_exporter::~metrics_exporter() {
  if (!impl_->server.joinable()) return;
  impl_->stop_write.reset();  // the read end turns readable (EOF): the server returns
  impl_->server.join();
}

std::uint16_t metrics_exporter::port() const {
  return impl_->port;
}

void metrics_exporter::add_push(std::uint64_t bytes_in) {
  impl_->pushes.Increment();
  impl_->bytes_in.Increment(static_cast<double>(bytes_in));
}

void metrics_exporter::add_pull(std::uint64_t bytes_out) {
  impl_->pulls.Increment();
  impl_->bytes_out.Increment(static_cast<double>(bytes_out));
}

void metrics_exporter::add_bytes_in(std::uint64_t n) {
  impl_->bytes_in.Increment(static_cast<double>(n));
}

void metrics_exporter::add_bytes_out(std::uint64_t n) {
  impl_->bytes_out.Increment(static_cast<double>(n));
}

void metrics_exporter::add_rejected(std::uint64_t n) {
  impl_->rejected.Increment(static_cast<double>(n));
}

void metrics_exporter::add_failover() {
  impl_->failovers.Increment();
}
void metrics_exporter::add_worker_replaced() {
  impl_->workers_replaced.Increment();
}
void metrics_exporter::add_resent(std::uint64_t n) {
  impl_->resent.Increment(static_cast<double>(n));
}

void metrics_exporter::add_staleness_wait(std::uint64_t n) {
  impl_->staleness_waits.Increment(static_cast<double>(n));
}

void metrics_exporter::set_clock_lag(std::uint32_t worker, double lag) {
  impl_->clock_lag.Add({{"worker", std::to_string(worker)}}).Set(lag);
}

void metrics_exporter::add_inflight(double delta) {
  impl_->inflight.Increment(delta);
}

void metrics_exporter::set_actors_hosted(double n) {
  impl_->hosted.Set(n);
}

metrics_exporter::totals metrics_exporter::snapshot() const {
  return {impl_->pushes.Value(),    impl_->pulls.Value(),    impl_->bytes_in.Value(),
          impl_->bytes_out.Value(), impl_->rejected.Value(), impl_->staleness_waits.Value()};
}

std::string metrics_exporter::render() const {
  return impl_->render();
}

}  // namespace troupe
