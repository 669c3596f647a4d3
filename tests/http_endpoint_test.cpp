// The HTTP endpoint behind --metrics, spoken to over raw sockets: what it
// refuses (a request head beyond its limit, a protocol that is no HTTP/1.x,
// methods other than GET and HEAD) and that a flood of silent connections
// cannot keep a scrape from being answered.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "actors/http_endpoint.hpp"

namespace troupe {
namespace {

using namespace std::chrono_literals;

struct client_socket {
  int fd = -1;
  explicit client_socket(std::uint16_t port)
      : fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ~client_socket() {
    if (fd >= 0) ::close(fd);
  }
  client_socket(const client_socket&) = delete;
  client_socket& operator=(const client_socket&) = delete;
  void send_all(const std::string& text) const {
    for (std::size_t sent = 0; sent < text.size();) {
      const auto n = ::send(fd, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;  // closed by the server: what it answered tells
      sent += static_cast<std::size_t>(n);
    }
  }
  // Everything until the server closes (or 5 s pass).
  std::string reply() const {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) out.append(buf, n);
    return out;
  }
};

class HttpEndpoint : public ::testing::Test {
 protected:
  HttpEndpoint() {
    http_limits limits;
    limits.max_connections = 4;
    limits.max_request_head = 256;
    ep = std::make_unique<http_endpoint>(
        "127.0.0.1:0",
        [this](std::string_view) {
          ++served;
          return http_reply{200, "text/plain", "ok\n"};
        },
        limits);
  }
  std::string ask(const std::string& request) const {
    client_socket c(ep->port());
    c.send_all(request);
    return c.reply();
  }
  static std::string status_line(const std::string& reply) {
    return reply.substr(0, reply.find("\r\n"));
  }

  std::atomic<int> served{0};
  std::unique_ptr<http_endpoint> ep;
};

TEST_F(HttpEndpoint, ServesGetAndRefusesWhatIsNoRequestItServes) {
  EXPECT_EQ(status_line(ask("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")), "HTTP/1.1 200 OK");
  EXPECT_EQ(served.load(), 1);
  // A head that never ends was cut off at the limit and served as it was.
  EXPECT_EQ(status_line(ask("GET /metrics " + std::string(10000, 'A'))),
            "HTTP/1.1 431 Request Header Fields Too Large");
  std::string endless = "GET /metrics HTTP/1.1\r\n";
  for (int i = 0; i < 100; ++i) endless += "X: y\r\n";
  EXPECT_EQ(status_line(ask(endless)), "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_EQ(status_line(ask("GET /metrics FOO/9\r\n\r\n")), "HTTP/1.1 400 Bad Request");
  {
    // Part of a request line, then the client's end: answered, not just closed.
    client_socket c(ep->port());
    c.send_all("GET /met");
    ::shutdown(c.fd, SHUT_WR);
    EXPECT_EQ(status_line(c.reply()), "HTTP/1.1 400 Bad Request");
  }
  const auto post = ask("POST /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(status_line(post), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_NE(post.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos) << post;
  EXPECT_EQ(served.load(), 1);  // none of those reached the handler
}

// Silent connections beyond the limit evict each other, not a client that
// sent its request and waits for the reply (before, each new connection
// closed the oldest, whatever it was doing: a flood of silent ones closed
// every scrape).
TEST_F(HttpEndpoint, SilentConnectionsCannotCrowdOutARequest) {
  client_socket scraper(ep->port());
  scraper.send_all("GET /metrics HTTP/1.1\r\n");  // half a head: still reading it
  std::this_thread::sleep_for(50ms);
  std::vector<std::unique_ptr<client_socket>> silent;
  for (int i = 0; i < 12; ++i) {
    silent.push_back(std::make_unique<client_socket>(ep->port()));
    std::this_thread::sleep_for(5ms);
  }
  scraper.send_all("\r\n");
  EXPECT_EQ(status_line(scraper.reply()), "HTTP/1.1 200 OK");
}

std::string first_line(const std::string& reply) {
  return reply.substr(0, reply.find("\r\n"));
}

// Part of a head, then nothing: 408 once the time is up, not a silent
// close; a connection that sent nothing at all is just closed.
TEST(HttpEndpointLimits, ARequestSentTooSlowlyIsAnswered408) {
  http_limits limits;
  limits.request_timeout = 300ms;
  http_endpoint ep(
      "127.0.0.1:0",
      [](std::string_view) {
        return http_reply{200, "text/plain", "ok\n"};
      },
      limits);
  client_socket slow(ep.port()), silent(ep.port());
  slow.send_all("GET /metrics HTTP/1.1\r\nHost: x\r\n");
  EXPECT_EQ(first_line(slow.reply()), "HTTP/1.1 408 Request Timeout");
  EXPECT_EQ(silent.reply(), "");
}

// The cap follows the descriptor limit: with 16 descriptors allowed, at most
// 2 connections are kept, whatever the limits ask (a third evicts one).
TEST(HttpEndpointLimits, ConnectionsAreCappedByTheDescriptorLimit) {
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = 16;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::unique_ptr<http_endpoint> ep;
  try {
    http_limits limits;
    limits.request_timeout = 60s;  // nobody is closed for being slow here
    ep = std::make_unique<http_endpoint>(
        "127.0.0.1:0",
        [](std::string_view) {
          return http_reply{200, "text/plain", "ok\n"};
        },
        limits);
  } catch (...) {
  }
  ::setrlimit(RLIMIT_NOFILE, &old);  // before anything else opens descriptors
  ASSERT_TRUE(ep);
  client_socket a(ep->port()), b(ep->port());
  a.send_all("GET / HTTP/1.1\r\n");  // both still reading their heads
  b.send_all("GET / HTTP/1.1\r\n");
  std::this_thread::sleep_for(50ms);
  client_socket c(ep->port());  // the third: `a`, the longest open, goes
  char byte = 0;                // end of stream (0), not the 5 s receive timeout (-1)
  EXPECT_EQ(::recv(a.fd, &byte, 1, 0), 0);
  b.send_all("\r\n");
  EXPECT_EQ(first_line(b.reply()), "HTTP/1.1 200 OK");
}

}  // namespace
}  // namespace troupe
