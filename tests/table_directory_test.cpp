// The table directory of a listening engine, seen from a raw CAF peer: it
// answers nothing but the handshake until the peer proved the secret, and
// then hands out shard handles the shards accept requests on.
#include <gtest/gtest.h>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "actors/node.hpp"
#include "actors/service_runtime.hpp"
#include "actors/table_directory.hpp"
#include "engine/wire/wire_codec.hpp"
#include "troupe/engine.hpp"

namespace troupe {
namespace {

const std::string secret = "directory-test-secret-0123456789";

TEST(TableDirectory, RefusesUnauthenticatedPeersAndServesAuthenticatedOnes) {
  engine_options opts;
  opts.tables = {table::dense("w", 8)};
  opts.listen = "127.0.0.1:0";
  opts.secret = secret;
  auto eng = engine::start(opts).value();
  const auto port =
      static_cast<std::uint16_t>(std::stoi(eng.address().substr(eng.address().rfind(':') + 1)));

  actor_runtime peer(2);
  caf::scoped_actor self{peer.sys};
  auto dir = peer.sys.middleman().remote_actor<directory_actor>("127.0.0.1", port);
  ASSERT_TRUE(dir) << caf::to_string(dir.error());
  const auto timeout = std::chrono::seconds(5);
  std::string refusal;
  self->request(*dir, timeout, directory_atom::value)
      .receive([](directory_info&) {}, [&](caf::error& err) { refusal = describe(err); });
  EXPECT_NE(refusal.find("not authenticated"), std::string::npos) << refusal;

  auto wrong =
      authenticate(self, caf::actor_cast<node_actor>(*dir), "a-wrong-secret-0123456789", timeout);
  EXPECT_TRUE(wrong);
  ASSERT_FALSE(authenticate(self, caf::actor_cast<node_actor>(*dir), secret, timeout));
  std::optional<directory_info> info;
  self->request(*dir, timeout, directory_atom::value)
      .receive([&](directory_info& i) { info = std::move(i); },
               [&](caf::error& err) { FAIL() << describe(err); });
  ASSERT_TRUE(info);
  ASSERT_EQ(info->tables.size(), 1u);
  ASSERT_EQ(info->shards.size(), 2u);
  EXPECT_NE(info->client_id, 0u);
  bool pulled = false;
  self->request(info->shards[0], timeout, pull_atom::value,
                encode_dense_pull(info->tables[0].id, info->client_id, 0, 4))
      .receive([&](bytes&) { pulled = true; }, [&](caf::error& err) { FAIL() << describe(err); });
  EXPECT_TRUE(pulled);
}

}  // namespace
}  // namespace troupe
