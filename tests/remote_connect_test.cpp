// connect_endpoint and client::connect towards an address that drops
// connection attempts: they give up at their deadline, and the process's
// other connects go through meanwhile (CAF 0.17's middleman actor would
// otherwise sit in a blocking connect() for the kernel's SYN timeout, and
// an actor system could not even be shut down before that).
#include <gtest/gtest.h>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <chrono>
#include <future>

#include "actors/actor_config.hpp"
#include "actors/remote_connect.hpp"
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

}  // namespace
}  // namespace troupe
