#pragma once
// A small HTTP/1.x server for read-only endpoints (the Prometheus /metrics
// page): one thread, non-blocking sockets multiplexed with poll(), so that
// idle or slow clients cannot hold it up for anyone else.
//
//   http_endpoint ep("127.0.0.1:0", [](std::string_view target) -> http_reply {
//     if (target != "/metrics") return {404, "text/plain", "not here\n"};
//     return {200, "text/plain; version=0.0.4", render()};
//   });
//   ep.port();   // the port it listens on
//
//   client connects ---> [reading] until the request head is complete
//                          | head complete: handler(target)
//                          v
//                        [writing] the reply, then closed
//   a head beyond `max_request_head` ---> 431; not HTTP/1.x ---> 400
//   more than `max_connections` open ---> the longest-open one that sent
//     nothing is closed (else the longest-open one still reading)
//   part of a request head, but not all of it within `request_timeout` of
//     connecting ---> 408; nothing at all, or the reply not taken within
//     as long again ---> closed
//   connections are capped at an eighth of the process's descriptor limit
//
// Only GET and HEAD; every reply closes its connection.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace troupe {

struct http_reply {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
};

struct http_limits {
  /// Connections served at once; a new one beyond closes the longest-open one.
  std::size_t max_connections = 32;
  /// The time a client has to send its request head and to take the reply.
  std::chrono::milliseconds request_timeout{2000};
  /// The most of a request head read; Prometheus sends a few hundred bytes.
  std::size_t max_request_head = 8192;
};

class http_endpoint {
 public:
  using handler = std::function<http_reply(std::string_view target)>;

  /// Listens on `bind` ("HOST:PORT", "[V6]:PORT" or "PORT"; port 0 picks a
  /// free one) and serves from a thread of its own. Throws troupe_error
  /// (io_error) naming the address if it cannot listen.
  http_endpoint(const std::string& bind, handler serve, http_limits limits = {});
  ~http_endpoint();  ///< stops at once: open connections are closed
  http_endpoint(const http_endpoint&) = delete;
  http_endpoint& operator=(const http_endpoint&) = delete;

  std::uint16_t port() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace troupe
