// probe_tcp: an address that accepts or refuses answers; one that drops the
// connection attempt does not, and the probe gives up at its deadline or
// when cancelled.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "engine/tcp_probe.hpp"
#include "tests/silent_port.hpp"

namespace troupe {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// A loopback port bound with `listening` or not (then it refuses).
std::pair<unique_fd, std::uint16_t> loopback_port(bool listening) {
  unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  EXPECT_EQ(::bind(fd.get(), sa, len), 0);
  if (listening) {
    EXPECT_EQ(::listen(fd.get(), 16), 0);
  }
  EXPECT_EQ(::getsockname(fd.get(), sa, &len), 0);
  return {std::move(fd), ntohs(addr.sin_port)};
}

// until_peer_speaks: a port whose kernel accepts for a process that never
// reads or writes (a stopped one) is silent; one whose peer sends a byte is
// accepted (and the byte stays unread).
TEST(TcpProbe, UntilThePeerSpeaksAnAcceptingButMutePortIsSilent) {
  const auto [mute_fd, mute_port] = loopback_port(true);
  auto p = probe_tcp("127.0.0.1", mute_port, 300ms, nullptr, system_resolver(), true);
  EXPECT_EQ(p.answer, tcp_answer::silent) << p.why;
  EXPECT_NE(p.why.find("sent nothing"), std::string::npos) << p.why;
  EXPECT_EQ(probe_tcp("127.0.0.1", mute_port, 300ms).answer, tcp_answer::accepted);

  const auto [talk_fd, talk_port] = loopback_port(true);
  std::thread greeter([fd = talk_fd.get()] {
    const unique_fd conn(::accept(fd, nullptr, nullptr));
    if (conn) {
      EXPECT_EQ(::send(conn.get(), "x", 1, MSG_NOSIGNAL), 1);
      std::this_thread::sleep_for(200ms);
    }
  });
  p = probe_tcp("127.0.0.1", talk_port, 5s, nullptr, system_resolver(), true);
  greeter.join();
  EXPECT_EQ(p.answer, tcp_answer::accepted) << p.why;
}

TEST(TcpProbe, AcceptingRefusingAndSilentPortsAreToldApart) {
  const auto [open_fd, open_port] = loopback_port(true);
  const auto [closed_fd, closed_port] = loopback_port(false);
  testing::silent_port silent;

  auto p = probe_tcp("127.0.0.1", open_port, 5s);
  EXPECT_EQ(p.answer, tcp_answer::accepted) << p.why;
  EXPECT_EQ(p.address, "127.0.0.1");
  // A name: the numeric address that accepted comes back, for CAF to use.
  p = probe_tcp("localhost", open_port, 5s);
  EXPECT_EQ(p.answer, tcp_answer::accepted) << p.why;
  EXPECT_EQ(p.address, "127.0.0.1");

  p = probe_tcp("127.0.0.1", closed_port, 5s);
  EXPECT_EQ(p.answer, tcp_answer::refused);
  EXPECT_EQ(p.why, "cannot connect to 127.0.0.1:" + std::to_string(closed_port) +
                       " (127.0.0.1): Connection refused");

  // The silent port gives up at the deadline, which a longer deadline shows
  // (compared within this test, not against a fixed time).
  auto timed = [&](std::chrono::milliseconds deadline) {
    const auto start = steady::now();
    const auto r = probe_tcp("127.0.0.1", silent.port(), deadline);
    EXPECT_EQ(r.answer, tcp_answer::silent);
    EXPECT_EQ(r.why, "no answer from 127.0.0.1:" + std::to_string(silent.port()) +
                         " (127.0.0.1) within " + std::to_string(deadline.count()) + " ms");
    return steady::now() - start;
  };
  const auto short_wait = timed(200ms);
  const auto long_wait = timed(1200ms);
  EXPECT_GE(short_wait, 200ms);
  EXPECT_GE(long_wait, 1200ms);
  EXPECT_LT(short_wait, long_wait);

  // Cancelled 200 ms into a 30 s deadline: done long before a 1.2 s probe.
  std::atomic<bool> cancel{false};
  std::thread owner([&] {
    std::this_thread::sleep_for(200ms);
    cancel = true;
  });
  const auto start = steady::now();
  p = probe_tcp("127.0.0.1", silent.port(), 30s, &cancel);
  const auto cancelled_wait = steady::now() - start;
  owner.join();
  EXPECT_EQ(p.answer, tcp_answer::cancelled) << p.why;
  EXPECT_LT(cancelled_wait, long_wait);
}

}  // namespace
}  // namespace troupe
