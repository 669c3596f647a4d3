// The frame guard's bookkeeping of connections that have not authenticated
// yet (actors/frame_guard.hpp): caps per address and in all, the deadline
// sweep that closes them, and the count of refusals.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <thread>

#include "actors/frame_guard.hpp"
#include "actors/metrics_exporter.hpp"

namespace troupe {
namespace {

struct socket_pair {
  socket_pair() { ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd); }
  ~socket_pair() {
    ::close(fd[0]);
    ::close(fd[1]);
  }
  // Whether the other end reads as closed right now.
  bool peer_closed() const {
    pollfd p{fd[1], POLLIN, 0};
    char c;
    return ::poll(&p, 1, 0) == 1 && ::recv(fd[1], &c, 1, MSG_DONTWAIT) == 0;
  }
  int fd[2] = {-1, -1};
};

TEST(FrameGuard, CapsConnectionsWaitingToAuthenticatePerAddressAndInAll) {
  frame_guard_options opts;
  opts.max_pending_per_address = 3;
  opts.max_pending = 5;
  opts.metrics = std::make_shared<metrics_exporter>();
  frame_guard guard(opts);
  for (int fd = 100; fd < 103; ++fd) EXPECT_TRUE(guard.admit(fd, "10.0.0.7:" + std::to_string(fd)));
  EXPECT_FALSE(guard.admit(103, "10.0.0.7:103"));  // a 4th from the same address
  EXPECT_TRUE(guard.admit(104, "10.0.0.8:5000"));  // another address still gets in
  guard.authenticated(100);                        // leaves the waiting set
  EXPECT_TRUE(guard.admit(105, "10.0.0.7:105"));
  EXPECT_TRUE(guard.admit(106, "10.0.0.9:1"));
  EXPECT_EQ(guard.pending(), 5u);
  EXPECT_FALSE(guard.admit(107, "10.0.0.10:1"));  // 5 in all
  EXPECT_EQ(guard.refused(), 2u);
  EXPECT_EQ(opts.metrics->snapshot().rejected, 2.0);
  guard.forget(101);
  EXPECT_TRUE(guard.admit(107, "10.0.0.10:1"));
}

TEST(FrameGuard, SweepClosesOnlyConnectionsPastTheDeadline) {
  frame_guard_options opts;
  opts.auth_deadline = std::chrono::milliseconds(200);
  frame_guard guard(opts);
  socket_pair late, authenticated, fresh;
  ASSERT_TRUE(guard.admit(late.fd[0], "127.0.0.1:1"));
  ASSERT_TRUE(guard.admit(authenticated.fd[0], "127.0.0.1:2"));
  guard.authenticated(authenticated.fd[0]);
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  ASSERT_TRUE(guard.admit(fresh.fd[0], "127.0.0.1:3"));
  EXPECT_EQ(guard.sweep(), 1u);
  EXPECT_TRUE(late.peer_closed());
  EXPECT_FALSE(authenticated.peer_closed());
  EXPECT_FALSE(fresh.peer_closed());
  EXPECT_TRUE(guard.swept(late.fd[0]));
  EXPECT_EQ(guard.sweep(), 0u);  // counted once
  EXPECT_EQ(guard.refused(), 1u);
  guard.forget(late.fd[0]);
  EXPECT_FALSE(guard.swept(late.fd[0]));
}

}  // namespace
}  // namespace troupe
