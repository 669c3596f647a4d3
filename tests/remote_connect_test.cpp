// connect_endpoint and client::connect towards a host that drops connection
// attempts: they give up at their deadline, and the process's other
// connects go through meanwhile (CAF 0.17's middleman actor would otherwise
// sit in a blocking connect() for the kernel's SYN timeout).
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
  auto echo = server.spawn([]() -> caf::behavior { return {[](int x) { return x; }}; });
  auto published = server.middleman().publish(echo, 0, "127.0.0.1");
  ASSERT_TRUE(published) << caf::to_string(published.error());

  auto stuck = std::async(std::launch::async, [&] {
    auto ep = connect_endpoint(client, "127.0.0.1", silent.port(), 3s);
    return std::make_pair(std::move(ep), steady::now());
  });
  std::this_thread::sleep_for(300ms);  // the silent connect is under way
  auto live = connect_endpoint(client, "127.0.0.1", *published, 20s);
  const auto live_done = steady::now();
  ASSERT_TRUE(live) << caf::to_string(live.error());
  auto [silent_ep, silent_done] = stuck.get();
  ASSERT_FALSE(silent_ep);
  EXPECT_EQ(silent_ep.error(), caf::make_error(caf::sec::request_timeout));
  // The live connect did not queue behind the silent one.
  EXPECT_LT(live_done, silent_done);
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
}

TEST(RemoteConnect, AClientConnectingToASilentHostGetsATimeout) {
  testing::silent_port silent;
  client_options options;
  options.connect_timeout = 500ms;
  auto c =
      client::connect("127.0.0.1:" + std::to_string(silent.port()), std::string(32, 's'), options);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, api_errc::timeout) << c.error().message;
}

}  // namespace
}  // namespace troupe
