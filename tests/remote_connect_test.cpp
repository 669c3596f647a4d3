// connect_endpoint and client::connect towards an address that drops
// connection attempts: they give up at their deadline, and the process's
// other connects go through meanwhile (CAF 0.17's middleman actor would
// otherwise sit in a blocking connect() for the kernel's SYN timeout, and
// an actor system could not even be shut down before that).
#include <gtest/gtest.h>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "actors/actor_config.hpp"
#include "actors/remote_connect.hpp"
#include "actors/tls_config.hpp"
#include "tests/silent_port.hpp"
#include "troupe/client.hpp"

namespace troupe {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

TEST(RemoteConnect, ASilentHostTimesOutWithoutHoldingUpOtherConnects) {
  testing::silent_port silent;
  actor_config server_cfg, client_cfg;
  caf::actor_system server{server_cfg}, client{client_cfg};
  // (An argument: CAF 0.17 dereferences a null argument tuple without one.)
  auto echo = server.spawn(
      [](caf::event_based_actor*, int) -> caf::behavior { return {[](int x) { return x; }}; }, 0);
  auto published = server.middleman().publish(echo, 0, "127.0.0.1");
  ASSERT_TRUE(published) << caf::to_string(published.error());

  auto stuck = std::async(std::launch::async, [&] {
    auto ep = connect_endpoint(client, "127.0.0.1", silent.port(), 8s);
    return std::make_pair(std::move(ep), steady::now());
  });
  std::this_thread::sleep_for(300ms);  // the silent connect is under way
  auto live = connect_endpoint(client, "127.0.0.1", *published, 60s);
  const auto live_done = steady::now();
  ASSERT_TRUE(live) << caf::to_string(live.error());
  auto [silent_ep, silent_done] = stuck.get();
  ASSERT_FALSE(silent_ep);
  EXPECT_EQ(silent_ep.error(), caf::make_error(caf::sec::request_timeout));
  EXPECT_EQ(describe(silent_ep.error()),
            "request_timeout: no answer from 127.0.0.1:" + std::to_string(silent.port()) +
                " (127.0.0.1) within 8000 ms");
  // The live connect did not queue behind the silent one.
  EXPECT_LT(live_done, silent_done);
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
}

// The whole call, the client's own actor system's shutdown included, ends
// with its deadline: a 3x longer deadline takes longer (compared within this
// test; before, both took the kernel's two minutes).
TEST(RemoteConnect, AClientConnectingToASilentHostGetsATimeoutAtItsDeadline) {
  testing::silent_port silent;
  auto timed = [&](std::chrono::milliseconds deadline) {
    client_options options;
    options.connect_timeout = deadline;
    const auto start = steady::now();
    auto c = client::connect("127.0.0.1:" + std::to_string(silent.port()), std::string(32, 's'),
                             options);
    const auto took = steady::now() - start;
    EXPECT_FALSE(c);
    if (!c) {
      EXPECT_EQ(c.error().code, api_errc::timeout) << c.error().message;
    }
    return took;
  };
  const auto short_call = timed(500ms);
  const auto long_call = timed(1500ms);
  EXPECT_GT(long_call, 2 * short_call);
}

// A node refusing newcomers (its table of unauthenticated connections full
// during a flood of them) accepts and closes at once: CAF reports
// disconnect_during_handshake, and the job failed on its first try while
// the node took connections again a moment later. The first `refuse`
// connections to this port are closed so; later ones are relayed to `to`.
class refusing_relay {
 public:
  refusing_relay(std::uint16_t to, int refuse) : to_(to), refuse_(refuse) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    socklen_t len = sizeof(addr);
    auto* sa = reinterpret_cast<sockaddr*>(&addr);
    if (!listener_ || ::bind(listener_.get(), sa, len) != 0 || ::listen(listener_.get(), 16) != 0 ||
        ::getsockname(listener_.get(), sa, &len) != 0) {
      throw std::runtime_error("cannot listen on a loopback port");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~refusing_relay() {
    stop_ = true;
    ::shutdown(listener_.get(), SHUT_RDWR);
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  int refused() const { return refused_; }

 private:
  void run() {
    std::vector<std::thread> pipes;
    while (!stop_) {
      unique_fd in(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!in) break;
      if (refused_ < refuse_) {
        ++refused_;
        continue;  // closed as it goes out of scope, before any byte
      }
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(to_);
      auto out = std::make_shared<unique_fd>(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (::connect(out->get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) break;
      auto shared_in = std::make_shared<unique_fd>(std::move(in));
      auto copy = [](std::shared_ptr<unique_fd> from, std::shared_ptr<unique_fd> to) {
        char buf[65536];
        for (;;) {
          const auto n = ::read(from->get(), buf, sizeof buf);
          // send, not write: a peer gone first must not SIGPIPE the test.
          if (n <= 0 || ::send(to->get(), buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n)
            break;
        }
        ::shutdown(to->get(), SHUT_WR);
      };
      pipes.emplace_back(copy, shared_in, out);
      pipes.emplace_back(copy, out, shared_in);
    }
    for (auto& t : pipes) t.detach();  // they end with the connection
  }

  unique_fd listener_;
  std::uint16_t to_ = 0, port_ = 0;
  int refuse_ = 0;
  std::atomic<int> refused_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(RemoteConnect, ANodeThatClosesNewcomersForAMomentIsAskedAgain) {
  actor_config server_cfg, client_cfg;
  caf::actor_system server{server_cfg}, client{client_cfg};
  auto echo = server.spawn(
      [](caf::event_based_actor*, int) -> caf::behavior { return {[](int x) { return x; }}; }, 0);
  // Ended however the test ends: an actor left running holds ~actor_system.
  const std::shared_ptr<void> stop_echo(
      nullptr, [&](void*) { caf::anon_send_exit(echo, caf::exit_reason::user_shutdown); });
  auto published = server.middleman().publish(echo, 0, "127.0.0.1");
  ASSERT_TRUE(published) << caf::to_string(published.error());
  {
    refusing_relay busy(*published, 3);
    auto ep = connect_endpoint(client, "127.0.0.1", busy.port(), 10s);
    ASSERT_TRUE(ep) << caf::to_string(ep.error());
    EXPECT_EQ(busy.refused(), 3);
    caf::scoped_actor self{client};
    self->request(caf::actor_cast<caf::actor>(ep->actor), 10s, 7)
        .receive([](int x) { EXPECT_EQ(x, 7); },
                 [](caf::error& err) { FAIL() << caf::to_string(err); });
  }
  // One that never lets anyone in: the error comes within a few seconds,
  // not at the whole deadline, and says what it may be.
  refusing_relay closed(*published, 1 << 30);
  const auto start = steady::now();
  auto ep = connect_endpoint(client, "127.0.0.1", closed.port(), 60s);
  const auto took = steady::now() - start;
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error(), caf::make_error(caf::sec::disconnect_during_handshake));
  EXPECT_GT(closed.refused(), 3);
  EXPECT_LT(took, 20s);
  EXPECT_NE(connect_failure_hint(ep.error(), tls_files{}).find("refuses newcomers"),
            std::string::npos);
}

}  // namespace
}  // namespace troupe
