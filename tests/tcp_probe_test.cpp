// answers_within: a host that accepts or refuses answers; one that drops the
// connection attempt does not, and the probe gives up at its deadline.
#include <gtest/gtest.h>

#include <chrono>

#include "engine/tcp_probe.hpp"
#include "tests/silent_port.hpp"

namespace troupe {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

TEST(TcpProbe, ListeningRefusingAndSilentPortsAreToldApart) {
  testing::silent_port silent;
  // A listening socket with room in its queue accepts.
  unique_fd open_listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  ASSERT_EQ(::bind(open_listener.get(), sa, len), 0);
  ASSERT_EQ(::listen(open_listener.get(), 16), 0);
  ASSERT_EQ(::getsockname(open_listener.get(), sa, &len), 0);
  const auto open_port = ntohs(addr.sin_port);
  // A port nothing listens on refuses: that is an answer too.
  unique_fd closed(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  addr.sin_port = 0;
  ASSERT_EQ(::bind(closed.get(), sa, len), 0);
  ASSERT_EQ(::getsockname(closed.get(), sa, &len), 0);
  const auto closed_port = ntohs(addr.sin_port);

  EXPECT_TRUE(answers_within("127.0.0.1", open_port, 5s));
  EXPECT_TRUE(answers_within("localhost", open_port, 5s));
  EXPECT_TRUE(answers_within("127.0.0.1", closed_port, 5s));

  // The silent port gives up at the deadline, which a longer deadline shows
  // (compared within this test, not against a fixed time).
  auto timed = [&](std::chrono::milliseconds deadline) {
    const auto start = steady::now();
    EXPECT_FALSE(answers_within("127.0.0.1", silent.port(), deadline));
    return steady::now() - start;
  };
  const auto short_wait = timed(200ms);
  const auto long_wait = timed(1200ms);
  EXPECT_GE(short_wait, 200ms);
  EXPECT_GE(long_wait, 1200ms);
  EXPECT_LT(short_wait, long_wait);
}

}  // namespace
}  // namespace troupe
