// The pieces of the node daemon that need no second process: the peer
// guard, slot bookkeeping of the node actor, and the metrics registry.
#include <gtest/gtest.h>

#include <atomic>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "actors/actor_config.hpp"
#include "actors/guarded_listener.hpp"
#include "actors/metrics_exporter.hpp"
#include "actors/node.hpp"
#include "actors/peer_guard.hpp"
#include "actors/remote_connect.hpp"
#include "actors/tls_config.hpp"
#include "actors/training_host.hpp"
#include "engine/tcp_probe.hpp"
#include "tests/child_process.hpp"
#include "tests/silent_port.hpp"

namespace troupe {
namespace {

caf::node_id fake_node(std::uint32_t pid, char fill) {
  return *caf::make_node_id(pid, std::string(40, fill));
}

TEST(PeerGuard, AllowsTheLocalNodeAndAuthenticatedPeersOnly) {
  const auto local = fake_node(1, 'a');
  const auto peer = fake_node(2, 'b');
  const auto other = fake_node(3, 'c');
  peer_guard guard(local);
  EXPECT_TRUE(guard.allows(local));
  EXPECT_FALSE(guard.allows(peer));
  EXPECT_FALSE(guard.allows(caf::node_id{}));
  guard.allow(peer);
  EXPECT_TRUE(guard.allows(peer));
  EXPECT_FALSE(guard.allows(other));
  EXPECT_EQ(guard.size(), 1u);
  guard.revoke(peer);
  EXPECT_FALSE(guard.allows(peer));
  guard.revoke(local);  // the local node cannot be revoked
  EXPECT_TRUE(guard.allows(local));
  EXPECT_EQ(guard.size(), 0u);
}

TEST(PeerGuard, IsSafeToShareBetweenThreads) {
  peer_guard guard(fake_node(1, 'a'));
  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < 4; ++t) {
    threads.emplace_back([&guard, t] {
      for (std::uint32_t i = 0; i < 2000; ++i) {
        const auto n = fake_node(100 + t * 10000 + i % 50, 'd');
        guard.allow(n);
        EXPECT_TRUE(guard.allows(n));
        if (i % 2 == 1) guard.revoke(n);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(guard.size(), 200u);
}

// An actor that tells `observer` whether each int it gets comes from an allowed sender.
caf::behavior gatekeeper(caf::event_based_actor* self, std::shared_ptr<peer_guard> guard,
                         caf::actor observer) {
  return {[=](int) { self->send(observer, sender_allowed(self, *guard)); }};
}

TEST(PeerGuard, SenderAllowedAcceptsLocalSendersAndRefusesAnonymousOnes) {
  actor_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto guard = std::make_shared<peer_guard>(sys.node());
  auto gate = sys.spawn(gatekeeper, guard, caf::actor{self});
  auto verdict = [&] {
    bool out = false;
    self->receive([&](bool allowed) { out = allowed; },
                  caf::after(std::chrono::seconds(5)) >> [] { ADD_FAILURE() << "no verdict"; });
    return out;
  };
  self->send(gate, 1);
  EXPECT_TRUE(verdict());
  caf::anon_send(gate, 2);
  EXPECT_FALSE(verdict());
  self->send_exit(gate, caf::exit_reason::user_shutdown);
}

// CAF 0.17.6's BASP broker keeps a handle per node that ever connected,
// for good (~1.2 KB each: a `troupe status` poll every 5 s grew a daemon by
// ~150 MB a week, and peers without the secret grew it as fast as they
// could connect). A Troupe listener drops those of departed nodes.
TEST(GuardedListener, ForgetsPeersThatLeft) {
  actor_config cfg;
  caf::actor_system sys{cfg};
  node_options opts;
  opts.name = "forgets";
  opts.secret = "a-secret-of-sixteen-bytes";
  auto node = spawn_node(sys, std::move(opts));
  listen_options lopts;
  lopts.guard.name = "node forgets";
  auto listener = guarded_listener::publish(sys, node, "127.0.0.1", 0, lopts);
  const auto visit = [&] {
    actor_config peer_cfg;
    caf::actor_system peer{peer_cfg};
    auto handle =
        connect_remote<node_actor>(peer, "127.0.0.1", listener->port(), std::chrono::seconds(10));
    ASSERT_TRUE(handle) << describe(handle.error());
    caf::scoped_actor self{peer};
    self->request(*handle, std::chrono::seconds(5), hello_atom::value)
        .receive([](std::string&) {}, [](caf::error& err) { ADD_FAILURE() << describe(err); });
  };
  for (int i = 0; i < 12; ++i) visit();  // each a process of its own, come and gone
  // Each new connection drops the nodes gone by then; the last one stays
  // while BASP still routes to it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::size_t kept = remembered_nodes(sys);
  while (kept > 2 && std::chrono::steady_clock::now() < deadline) {
    visit();
    kept = remembered_nodes(sys);
  }
  EXPECT_LE(kept, 2u) << "nodes remembered after 12 peers came and went";
  listener.reset();
  caf::scoped_actor owner{sys};  // the node ignores anonymous exit messages
  owner->send_exit(node, caf::exit_reason::user_shutdown);
}

// Pending handshakes are capped; a full table drops its oldest challenge
// rather than refusing the newest hello, so that hellos from made-up node
// ids (sent from connections closed at once) cannot lock real peers out.
// Peers here are separate actor systems (each its own CAF node id) talking
// to the node through the middleman.
TEST(NodeHandshakes, AFullTableOfChallengesMakesRoomForANewHello) {
  actor_config cfg;
  caf::actor_system sys{cfg};
  node_options opts;
  opts.name = "hellos";
  opts.secret = "a-secret-of-sixteen-bytes";
  opts.max_challenges = 2;
  auto node = spawn_node(sys, std::move(opts));
  auto port = sys.middleman().publish(node, 0, "127.0.0.1");
  ASSERT_TRUE(port) << describe(port.error());
  const auto timeout = std::chrono::milliseconds(5000);
  {
    std::vector<std::unique_ptr<actor_config>> cfgs;
    std::vector<std::unique_ptr<caf::actor_system>> peers;
    std::vector<std::unique_ptr<caf::scoped_actor>> selves;
    std::vector<node_actor> handles;
    for (int i = 0; i < 3; ++i) {
      cfgs.push_back(std::make_unique<actor_config>());
      peers.push_back(std::make_unique<caf::actor_system>(*cfgs.back()));
      selves.push_back(std::make_unique<caf::scoped_actor>(*peers.back()));
      auto h = peers.back()->middleman().remote_actor<node_actor>("127.0.0.1", *port);
      ASSERT_TRUE(h) << describe(h.error());
      handles.push_back(*h);
    }
    // Two peers say hello and wait: the table is full.
    for (int i = 0; i < 2; ++i) {
      std::string nonce;
      (*selves[i])
          ->request(handles[i], timeout, hello_atom::value)
          .receive([&](std::string& n) { nonce = std::move(n); },
                   [&](caf::error& err) { ADD_FAILURE() << describe(err); });
      EXPECT_FALSE(nonce.empty());
    }
    // A third still authenticates: the oldest challenge made room.
    EXPECT_FALSE(authenticate(*selves[2], handles[2], "a-secret-of-sixteen-bytes", timeout));
    // The first one's challenge is gone (one try per challenge in any case).
    caf::error err;
    (*selves[0])
        ->request(handles[0], timeout, auth_atom::value, std::string(64, '0'), std::string("x"))
        .receive([](std::string&) { ADD_FAILURE() << "an evicted challenge was answered"; },
                 [&](caf::error& e) { err = std::move(e); });
    EXPECT_NE(describe(err).find("no pending hello"), std::string::npos) << describe(err);
    for (auto& s : selves) s.reset();
  }
  caf::scoped_actor owner{sys};  // the node ignores anonymous exit messages
  owner->send_exit(node, caf::exit_reason::user_shutdown);
}

// Under TLS without a secret every certified node is allowed, so a job's
// scheduler admits its nodes without a session: nothing is recorded, since
// no session would end to take it back (one entry per job for the daemon's
// life, before).
TEST(NodeAdmissions, UnderTlsWithoutASecretAdmittingRecordsNothing) {
  actor_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto guard = std::make_shared<peer_guard>(sys.node());
  guard->trust_every_peer();
  node_options opts;
  opts.name = "tls-only";
  opts.guard = guard;
  auto node = spawn_node(sys, std::move(opts));
  for (std::uint32_t job = 0; job < 3; ++job) {
    std::uint64_t admitted = 0;
    self->request(node, std::chrono::seconds(5), admit_atom::value,
                  std::vector<caf::node_id>{fake_node(100 + job, 'c'), fake_node(200 + job, 'd')},
                  std::int64_t{configured_peer_timeout(sys).count()})
        .receive([&](std::uint64_t n) { admitted = n; },
                 [&](caf::error& err) { ADD_FAILURE() << describe(err); });
    EXPECT_EQ(admitted, 2u);
  }
  EXPECT_EQ(guard->size(), 0u);
  EXPECT_TRUE(guard->allows(fake_node(100, 'c')));  // certified peers are allowed all the same
  self->send_exit(node, caf::exit_reason::user_shutdown);
}

class LocalNode : public ::testing::Test {
 protected:
  LocalNode() : sys(cfg), self(sys) {
    node_options opts;
    opts.name = "local";
    opts.secret = "a-secret-of-sixteen-bytes";
    opts.slots = 2;
    opts.metrics = metrics;
    opts.training = make_training_host("local");
    node = spawn_node(sys, std::move(opts));
  }
  ~LocalNode() override { self->send_exit(node, caf::exit_reason::user_shutdown); }

  caf::expected<shard_actor> spawn(std::uint32_t id) { return spawn_as(self, node, id); }

  // Shard `id` placed on `on` by `owner` (the job's scheduler, as far as the node knows).
  static caf::expected<shard_actor> spawn_as(caf::scoped_actor& owner, const node_actor& on,
                                             std::uint32_t id) {
    table_spec spec;
    spec.id = 1;
    spec.name = "model";
    spec.size = 8;
    spec.optimizer = {optimizer_kind::sgd, 0.1f};
    caf::expected<shard_actor> out{caf::sec::request_timeout};
    owner
        ->request(on, std::chrono::seconds(5), spawn_atom::value,
                  shard_request{id, {{spec, {0, 8}}}})
        .receive([&](shard_actor& s) { out = std::move(s); },
                 [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  node_status status() { return status_of(node); }
  node_status status_of(const node_actor& of) {
    node_status out;
    self->request(of, std::chrono::seconds(5), status_atom::value)
        .receive([&](node_status& s) { out = std::move(s); },
                 [&](caf::error& err) { ADD_FAILURE() << describe(err); });
    return out;
  }

  actor_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  std::shared_ptr<metrics_exporter> metrics = std::make_shared<metrics_exporter>();
  node_actor node;
};

TEST_F(LocalNode, RespectsTheSlotLimitAndFreesASlotWhenAShardEnds) {
  auto a = spawn(0);
  auto b = spawn(1);
  ASSERT_TRUE(a && b);
  auto c = spawn(2);
  ASSERT_FALSE(c);
  EXPECT_NE(describe(c.error()).find("all 2 slots"), std::string::npos) << describe(c.error());
  EXPECT_EQ(status().slots_used, 2u);
  EXPECT_NE(metrics->render().find("troupe_actors_hosted 2"), std::string::npos);

  caf::anon_send_exit(*a, caf::exit_reason::user_shutdown);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (status().slots_used != 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto st = status();
  EXPECT_EQ(st.slots_used, 1u);
  EXPECT_EQ(st.actors_down, 1u);
  ASSERT_EQ(st.actors.size(), 1u);
  EXPECT_EQ(st.actors[0].id, 1u);
  EXPECT_TRUE(spawn(3));
}

// Jobs placed side by side: the slots one job's scheduler set aside are
// neither given to another job's reservation nor to its spawns; the job's
// own spawns take them; they are free again once it gives them back or ends.
TEST_F(LocalNode, SlotsSetAsideForOneJobAreNotGivenToAnother) {
  caf::scoped_actor a{sys};
  caf::scoped_actor b{sys};
  auto reserve = [](caf::scoped_actor& owner, const node_actor& on, std::uint32_t n) {
    caf::expected<std::uint32_t> out{caf::sec::request_timeout};
    owner->request(on, std::chrono::seconds(5), reserve_atom::value, n)
        .receive([&](std::uint32_t got) { out = got; },
                 [&](caf::error& err) { out = std::move(err); });
    return out;
  };
  const auto rejected = status().requests_rejected;
  auto r = reserve(a, node, 2);
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(*r, 2u);
  auto refused = reserve(b, node, 1);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(is_troupe_error(refused.error(), errc::no_capacity)) << describe(refused.error());
  EXPECT_NE(describe(refused.error()).find("has 0 of its 2 slots free (0 hosting, 2 set aside"),
            std::string::npos)
      << describe(refused.error());
  auto other = spawn_as(b, node, 7);
  ASSERT_FALSE(other);
  EXPECT_TRUE(is_troupe_error(other.error(), errc::no_capacity)) << describe(other.error());
  EXPECT_NE(describe(other.error()).find("set aside for other jobs (2)"), std::string::npos)
      << describe(other.error());
  // A full node rejects nothing wrong: a job waiting its turn is no rejected
  // message (troupe_messages_rejected_total) to alert on.
  EXPECT_EQ(status().requests_rejected, rejected);

  auto first = spawn_as(a, node, 0);  // takes one of its two
  ASSERT_TRUE(first) << describe(first.error());
  EXPECT_EQ(status().slots_used, 1u);
  other = spawn_as(b, node, 7);
  ASSERT_FALSE(other);
  EXPECT_NE(describe(other.error()).find("set aside for other jobs (1)"), std::string::npos)
      << describe(other.error());

  r = reserve(a, node, 0);  // placed: the rest goes back
  ASSERT_TRUE(r) << describe(r.error());
  auto second = spawn_as(b, node, 7);
  ASSERT_TRUE(second) << describe(second.error());
  EXPECT_EQ(status().slots_used, 2u);

  // A scheduler that ends frees what it set aside.
  caf::anon_send_exit(*first, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(*second, caf::exit_reason::user_shutdown);
  for (int i = 0; i < 500 && status().slots_used > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(status().slots_used, 0u);
  {
    caf::scoped_actor gone{sys};
    r = reserve(gone, node, 2);
    ASSERT_TRUE(r) << describe(r.error());
    EXPECT_FALSE(reserve(a, node, 1));
  }
  caf::expected<std::uint32_t> after{caf::sec::request_timeout};
  for (int i = 0; i < 500; ++i) {
    after = reserve(a, node, 2);
    if (after) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(after) << describe(after.error());
  EXPECT_EQ(*after, 2u);
}

// Linking to a job's other nodes happens beside the node: a peer that
// drops the connection attempt holds up none of the node's requests, and a
// request naming more peers than any job has is refused.
TEST_F(LocalNode, LinkingToASilentPeerHoldsUpNothingAndHugeLinkListsAreRefused) {
  testing::silent_port silent;
  auto link = [&](std::vector<std::string> peers) -> caf::expected<std::uint64_t> {
    caf::expected<std::uint64_t> out{caf::sec::request_timeout};
    self->request(node, std::chrono::seconds(5), link_atom::value, std::move(peers))
        .receive([&](std::uint64_t n) { out = n; }, [&](caf::error& err) { out = std::move(err); });
    return out;
  };
  auto n = link({"not an address", "127.0.0.1:" + std::to_string(silent.port())});
  ASSERT_TRUE(n) << describe(n.error());
  EXPECT_EQ(*n, 2u);
  // While the linker waits for the silent peer, the node answers at once.
  EXPECT_EQ(status().slots_used, 0u);
  EXPECT_TRUE(spawn(0));

  const auto rejected = status().requests_rejected;
  n = link(std::vector<std::string>(257, "127.0.0.1:1"));
  ASSERT_FALSE(n);
  EXPECT_NE(describe(n.error()).find("257 peers, more than any job has (256)"), std::string::npos)
      << describe(n.error());
  EXPECT_EQ(status().requests_rejected, rejected + 1);

  // A linker is a thread until its peer answers or its deadline passes: a
  // few of them take the addresses from one queue, each address once, and
  // the node keeps at most 256 queued, however many requests come (eight
  // requests of 256 peers each once took a daemon from 10 threads to 2,050).
  testing::silent_port everywhere{true};
  const auto silent_peer = [&](int i) {
    return "127.0." + std::to_string(1 + i / 250) + "." + std::to_string(1 + i % 250) + ":" +
           std::to_string(everywhere.port());
  };
  const auto threads = [] {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
    }
    return -1;
  };
  const auto idle = threads();
  std::vector<std::string> many;
  for (int i = 0; i < 254; ++i) many.push_back(silent_peer(i));  // with the first: 255
  for (int i = 0; i < 8; ++i) {
    n = link(many);  // the same peers again: queued or being linked
    ASSERT_TRUE(n) << describe(n.error());
    EXPECT_EQ(*n, 254u);
  }
  EXPECT_LE(threads(), idle + 16) << "more linkers than the node keeps";
  n = link({silent_peer(300), silent_peer(301)});
  ASSERT_FALSE(n) << "a 257th link under way";
  EXPECT_NE(describe(n.error()).find("links under way and 2 more asked for: at most 256"),
            std::string::npos)
      << describe(n.error());
  EXPECT_TRUE(spawn(1));  // the node serves on

  // A node's linkers give up when it ends: a system whose node links to the
  // silent peer shuts down sooner than a 1 s probe of that peer takes
  // (rather than after the linker's 10 s).
  const auto probe_start = std::chrono::steady_clock::now();
  EXPECT_EQ(probe_tcp("127.0.0.1", silent.port(), std::chrono::seconds(1)).answer,
            tcp_answer::silent);
  const auto probe_took = std::chrono::steady_clock::now() - probe_start;
  const auto start = std::chrono::steady_clock::now();
  {
    actor_config other_cfg;
    caf::actor_system other{other_cfg};
    node_options opts;
    opts.name = "other";
    opts.secret = "a-secret-of-sixteen-bytes";
    opts.slots = 1;
    opts.training = make_training_host("other");
    auto other_node = spawn_node(other, std::move(opts));
    caf::scoped_actor asker{other};
    asker
        ->request(other_node, std::chrono::seconds(5), link_atom::value,
                  std::vector<std::string>{"127.0.0.1:" + std::to_string(silent.port())})
        .receive([](std::uint64_t) {}, [](caf::error& err) { ADD_FAILURE() << describe(err); });
    asker->send_exit(other_node, caf::exit_reason::user_shutdown);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, probe_took);
}

// Issue 12, problem 2: a job's actors belong to the scheduler that placed
// them. When it ends (here: the scoped actor that asked), the node tells them
// to exit and frees their slots, and status no longer lists them.
TEST_F(LocalNode, ActorsOfAJobAreReleasedWhenItsSchedulerEnds) {
  caf::expected<shard_actor> shard{caf::sec::request_timeout};
  {
    caf::scoped_actor scheduler{sys};
    shard = spawn_as(scheduler, node, 0);
    ASSERT_TRUE(shard) << describe(shard.error());
    EXPECT_EQ(status().slots_used, 1u);
    EXPECT_EQ(status().jobs, 1u);
  }
  self->monitor(*shard);
  std::string why;
  self->receive([&](caf::down_msg& dm) { why = describe(dm.reason); },
                caf::after(std::chrono::seconds(20)) >> [] {});
  EXPECT_NE(why.find("released by node local: its scheduler ended"), std::string::npos) << why;
  auto st = status();
  for (int i = 0; i < 500 && st.slots_used > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    st = status();
  }
  EXPECT_EQ(st.slots_used, 0u);
  EXPECT_TRUE(st.actors.empty());
  EXPECT_EQ(st.jobs, 0u);
  EXPECT_EQ(st.jobs_released, 1u);
}

// A scheduler that stops renewing its lease (a lost down message, a hung
// process that still holds its connection) loses its actors after the lease
// timeout; one that renews keeps them.
TEST_F(LocalNode, ALeaseNotRenewedReleasesItsJobAndARenewedOneKeepsIt) {
  node_options opts;
  opts.name = "leased";
  opts.secret = "a-secret-of-sixteen-bytes";
  opts.lease_timeout = std::chrono::milliseconds(1500);
  auto leased = spawn_node(sys, std::move(opts));
  caf::scoped_actor renewing{sys};
  caf::scoped_actor silent{sys};
  auto kept = spawn_as(renewing, leased, 0);
  auto dropped = spawn_as(silent, leased, 1);
  ASSERT_TRUE(kept && dropped);
  self->monitor(*kept);
  self->monitor(*dropped);
  std::string dropped_why, kept_why;
  // Renew the one lease ten times per timeout until the other has lapsed.
  for (int i = 0; i < 300 && dropped_why.empty(); ++i) {
    self->request(leased, std::chrono::seconds(5), lease_atom::value, caf::actor{renewing})
        .receive([](bool held) { EXPECT_TRUE(held); },
                 [](caf::error& err) { ADD_FAILURE() << describe(err); });
    self->receive(
        [&](caf::down_msg& dm) {
          (dm.source == kept->address() ? kept_why : dropped_why) = describe(dm.reason);
        },
        caf::after(std::chrono::milliseconds(100)) >> [] {});
  }
  EXPECT_NE(dropped_why.find("its lease was not renewed for 1500 ms"), std::string::npos)
      << dropped_why;
  EXPECT_TRUE(kept_why.empty()) << kept_why;
  const auto st = status_of(leased);
  EXPECT_EQ(st.leases_expired, 1u);
  EXPECT_EQ(st.jobs, 1u);
  // Nobody renews a lease for another process's job, nor one it never held.
  self->request(leased, std::chrono::seconds(5), lease_atom::value, caf::actor{silent})
      .receive([](bool held) { EXPECT_FALSE(held); },
               [](caf::error& err) { ADD_FAILURE() << describe(err); });
  self->send_exit(leased, caf::exit_reason::user_shutdown);
}

TEST_F(LocalNode, RefusesInvalidTablesWithTypedErrors) {
  table_spec spec;
  spec.id = 1;
  spec.size = 8;
  caf::error err;
  self->request(node, std::chrono::seconds(5), spawn_atom::value,
                shard_request{0, {{spec, {4, 12}}}})
      .receive([](shard_actor&) { ADD_FAILURE() << "spawned"; },
               [&](caf::error& e) { err = std::move(e); });
  ASSERT_EQ(err.category(), troupe_error_category());
  EXPECT_EQ(static_cast<errc>(err.code()), errc::out_of_range);
  EXPECT_NE(describe(err).find("outside [0, 8)"), std::string::npos) << describe(err);

  table_spec rows;
  rows.id = 2;
  rows.kind = table_kind::sparse;
  rows.width = 4;
  self->request(node, std::chrono::seconds(5), spawn_atom::value,
                shard_request{2, {{rows, {}, 2}}})  // shard 2 of 2 hashes no rows
      .receive([](shard_actor&) { ADD_FAILURE() << "spawned"; },
               [&](caf::error& e) { err = std::move(e); });
  EXPECT_NE(describe(err).find("owns no rows"), std::string::npos) << describe(err);

  // Optimizer settings that would make NaN of a zero gradient (Adagrad's
  // epsilon 0: 0/0) are refused as the public API refuses them.
  table_spec zero_eps = spec;
  zero_eps.optimizer.kind = optimizer_kind::adagrad;
  zero_eps.optimizer.epsilon = 0;
  self->request(node, std::chrono::seconds(5), spawn_atom::value,
                shard_request{0, {{zero_eps, {0, 8}}}})
      .receive([](shard_actor&) { ADD_FAILURE() << "spawned"; },
               [&](caf::error& e) { err = std::move(e); });
  EXPECT_NE(describe(err).find("epsilon must be positive and finite"), std::string::npos)
      << describe(err);

  // A dense range larger than the machine (2^62 keys with Adam's state):
  // allocated under overcommit, its filling would have the OOM killer end
  // the daemon; it is refused before anything is allocated.
  table_spec huge;
  huge.id = 3;
  huge.size = std::uint64_t{1} << 62;
  huge.optimizer.kind = optimizer_kind::adam;
  self->request(node, std::chrono::seconds(5), spawn_atom::value,
                shard_request{0, {{huge, {0, huge.size}}}})
      .receive([](shard_actor&) { ADD_FAILURE() << "spawned"; },
               [&](caf::error& e) { err = std::move(e); });
  EXPECT_EQ(static_cast<errc>(err.code()), errc::bad_config);
  EXPECT_NE(describe(err).find("MiB for its dense ranges; this node has"), std::string::npos)
      << describe(err);
  EXPECT_EQ(status().requests_rejected, 4u);
}

TEST_F(LocalNode, HostedShardsEndWithTheirNodeEvenWhenItIsKilled) {
  auto shard = spawn(0);
  ASSERT_TRUE(shard);
  self->monitor(*shard);
  caf::anon_send_exit(node, caf::exit_reason::kill);  // bypasses every exit handler
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; }, caf::after(std::chrono::seconds(2)) >> [] {});
  EXPECT_TRUE(down);
}

TEST_F(LocalNode, AnAnonymousExitDoesNotStopTheNode) {
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
  EXPECT_EQ(status().slots_total, 2u);  // still answering
}

// Pipeline stages: requests that do not fit the job are refused with a
// clear error; a later stage is hosted (shown as kind "stage", id replica x
// stages + stage) without loading the data set, which only the head reads.
TEST_F(LocalNode, HostsAPipelineStageAndRefusesStageRequestsThatDoNotFit) {
  auto shard = spawn(0);
  ASSERT_TRUE(shard);
  auto job = default_job_config();
  job.stages = 2;
  job.shards = 1;
  job.backend = kernels::backend_kind::cpu;
  job.data_dir = "/nonexistent";  // a stage that tried to load data would fail
  const auto ask = [&](stage_request req) {
    caf::expected<stage_actor> out{caf::sec::request_timeout};
    self->request(node, std::chrono::seconds(10), spawn_atom::value, std::move(req))
        .receive([&](stage_actor& s) { out = std::move(s); },
                 [&](caf::error& err) { out = std::move(err); });
    return out;
  };
  const auto me = caf::actor_cast<scheduler_actor>(self);
  const stage_request good{to_toml(job), 0, 0, 1, 2, 0, 0, {*shard}, me};
  auto bad = good;
  bad.stage = 2;
  auto refused = ask(bad);
  ASSERT_FALSE(refused);
  EXPECT_NE(describe(refused.error()).find("stage 2 of replica 0 (of 2"), std::string::npos)
      << describe(refused.error());
  bad = good;
  bad.stages = 3;
  EXPECT_FALSE(ask(bad));
  bad = good;
  bad.job_toml = "[model]\nstages = \"two\"\n";
  refused = ask(bad);
  ASSERT_FALSE(refused);
  EXPECT_NE(describe(refused.error()).find("stages"), std::string::npos)
      << describe(refused.error());
  EXPECT_EQ(status().requests_rejected, 3u);

  auto stage = ask(good);
  ASSERT_TRUE(stage) << describe(stage.error());
  const auto st = status();
  ASSERT_EQ(st.actors.size(), 2u);
  const auto& hosted = st.actors[0].kind == "stage" ? st.actors[0] : st.actors[1];
  EXPECT_EQ(hosted.kind, "stage");
  EXPECT_EQ(hosted.id, 1u);
}

// Jobs the engine cannot build or whose data cannot be read are refused with
// what went wrong, and the node goes on serving: an exception other than a
// troupe_error used to leave the node actor's handler, which ends a CAF actor,
// and with the node actor the daemon and every other job's actors on it.
TEST_F(LocalNode, JobsThatCannotBePreparedAreRefusedAndTheNodeGoesOn) {
  auto shard = spawn(0);
  ASSERT_TRUE(shard);
  const auto ask = [&](const std::string& job_toml) {
    worker_request req;
    req.job_toml = job_toml;
    req.shards = {*shard};
    req.scheduler = caf::actor_cast<scheduler_actor>(self);
    std::string refusal = "spawned";
    self->request(node, std::chrono::seconds(30), spawn_atom::value, std::move(req))
        .receive([&](worker_actor& w) { self->send_exit(w, caf::exit_reason::kill); },
                 [&](caf::error& err) { refusal = describe(err); });
    return refusal;
  };
  // Hidden layers given and the input width left to the data, as a user
  // writes it, but never fitted by a scheduler: the model cannot be built.
  auto refusal =
      ask("[data]\nformat = \"csv\"\ntrain = \"/dev/null\"\ntest_fraction = 0.25\n"
          "[model]\nhidden = [16]\n[train]\nworkers = 1\nshards = 1\nbackend = \"cpu\"\n");
  EXPECT_NE(refusal.find("worker 0: layer sizes must be positive"), std::string::npos) << refusal;
  // An endless data file (a device) is refused before it is read, not read
  // until memory runs out.
  refusal =
      ask("[data]\nformat = \"csv\"\ntrain = \"/dev/zero\"\ntest_fraction = 0.25\n"
          "[model]\nlayers = [4, 16, 3]\n[train]\nworkers = 1\nshards = 1\nbackend = \"cpu\"\n");
  EXPECT_NE(refusal.find("/dev/zero is no regular file"), std::string::npos) << refusal;
  const auto st = status();
  EXPECT_EQ(st.requests_rejected, 2u);
  ASSERT_EQ(st.actors.size(), 1u);  // the shard, still hosted
  EXPECT_EQ(st.actors[0].kind, "shard");
}

// A node without a training host (an engine that serves tables) hosts shards
// only: a stage request is refused with a clear error, nothing is spawned.
TEST(TablesOnlyNode, RefusesTrainingRequests) {
  actor_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  node_options opts;
  opts.name = "tables";
  opts.secret = "a-secret-of-sixteen-bytes";
  auto node = spawn_node(sys, std::move(opts));
  auto job = default_job_config();
  job.stages = 2;
  job.shards = 1;
  const stage_request req{
      to_toml(job), 0, 0, 1, 2, 0, 0, {}, caf::actor_cast<scheduler_actor>(self)};
  std::string refusal;
  self->request(node, std::chrono::seconds(10), spawn_atom::value, req)
      .receive([&](stage_actor&) {}, [&](caf::error& err) { refusal = describe(err); });
  EXPECT_NE(refusal.find("this node hosts tables only"), std::string::npos) << refusal;
  self->send_exit(node, caf::exit_reason::user_shutdown);
}

TEST(MetricsExporter, CountsWithoutServingAndRendersPrometheusText) {
  metrics_exporter m;
  EXPECT_EQ(m.port(), 0u);
  m.add_push(400);
  m.add_push(100);
  m.add_pull(40);
  m.add_rejected();
  m.add_staleness_wait(3);
  m.set_clock_lag(7, 2);
  m.add_inflight(1);
  m.set_actors_hosted(3);
  const auto text = m.render();
  for (const char* line :
       {"troupe_pushes_total 2", "troupe_pulls_total 1", "troupe_bytes_in_total 500",
        "troupe_bytes_out_total 40", "troupe_messages_rejected_total 1",
        "troupe_staleness_waits_total 3", "troupe_clock_lag{worker=\"7\"} 2",
        "troupe_inflight_requests 1", "troupe_actors_hosted 3"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
}

// A request counts as in flight until it is answered, or until the actor
// that sent it ends without an answer (CAF drops its handlers then, and a
// daemon's gauge used to stay up by one for each such request for good).
TEST(MetricsExporter, InflightRequestsOfAnActorThatEndedAreNoLongerCounted) {
  actor_config cfg;
  caf::actor_system sys{cfg};
  auto metrics = std::make_shared<metrics_exporter>();
  auto gauge = [&] {
    const auto text = metrics->render();
    const auto at = text.find("\ntroupe_inflight_requests ");
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + 26));
  };
  // One peer answers at once, the other never. (Each spawned with an
  // argument: CAF 0.17.6 binds a null tuple for a function without any,
  // which UBSan reports.)
  auto answering = sys.spawn([](int) -> caf::behavior { return {[](int x) { return x; }}; }, 0);
  auto silent = sys.spawn(
      [](caf::event_based_actor* self, int) -> caf::behavior {
        return {[=](int) { return self->make_response_promise(); }};
      },
      0);
  caf::scoped_actor self{sys};
  // Set once the answering peer's reply came: until then the gauge may read
  // 1 between the two requests being counted (the test failed so, once).
  auto answered = std::make_shared<std::atomic<bool>>(false);
  auto asker = sys.spawn(
      [=](caf::event_based_actor* me, int x) -> caf::behavior {
        for (const auto& to : {answering, silent}) {
          const auto counted = count_inflight(metrics);
          me->request(to, caf::infinite, x)
              .then([counted, answered](int) { *answered = true; }, [counted](caf::error&) {});
        }
        return {[](caf::ok_atom) {}};
      },
      1);
  for (int i = 0; i < 500 && !*answered; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (int i = 0; i < 500 && gauge() != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(gauge(), 1);  // the silent peer's
  self->send_exit(asker, caf::exit_reason::user_shutdown);
  for (int i = 0; i < 500 && gauge() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(gauge(), 0);
  self->send_exit(silent, caf::exit_reason::user_shutdown);
  self->send_exit(answering, caf::exit_reason::user_shutdown);
}

// A connected socket to 127.0.0.1:port, or -1.
int connect_local(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

// Issue 12, problem 5: 60 clients that connect and send nothing or half a
// request (more than the server serves at once) do not keep a scrape waiting:
// it is answered while the latest of them are still open, i.e. before their
// time is up; the server closes them on its own afterwards.
TEST(MetricsExporter, IdleAndSlowClientsDoNotBlockAScrape) {
  metrics_exporter m("127.0.0.1:0");
  m.add_push(7);
  std::vector<int> idle;
  for (int i = 0; i < 60; ++i) {
    const int fd = connect_local(m.port());
    ASSERT_GE(fd, 0);
    if (i % 3 == 0) ::send(fd, "GET /metr", 9, MSG_NOSIGNAL);  // a slow client
    idle.push_back(fd);
  }
  const auto page = test_support::http_get(m.port(), "/metrics");
  // Still open (no EOF yet) when the scrape was answered.
  char byte = 0;
  const auto still_open = [&](int fd) {
    return ::recv(fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK) < 0 && errno == EAGAIN;
  };
  const bool latest_open = still_open(idle.back());
  EXPECT_NE(page.find("troupe_pushes_total 1"), std::string::npos) << "scrape: [" << page << "]";
  EXPECT_TRUE(latest_open);
  // And every one of them is closed by the server: by the limit (no reply),
  // or by its timeout, which answers a slow client's part of a request 408.
  for (int fd : idle) {
    timeval tv{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string reply;
    char buf[512];
    ssize_t n = 0;
    while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0)
      reply.append(buf, static_cast<std::size_t>(n));
    // EOF, or a reset for one closed with its half request unread.
    EXPECT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET)) << n << " " << std::strerror(errno);
    EXPECT_TRUE(reply.empty() || reply.rfind("HTTP/1.1 408 Request Timeout\r\n", 0) == 0) << reply;
    ::close(fd);
  }
}

// Counts the HTTP endpoint's accept warnings (from its own thread).
class accept_log : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::atomic<int> failures{0};
  std::atomic<int> recovered{0};

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    if (text.find("http endpoint: accept:") != std::string_view::npos) ++failures;
    if (text.find("accepting connections again") != std::string_view::npos) ++recovered;
  }
  void flush_() override {}
};

// Process CPU time (all threads), in seconds.
double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Out of descriptors, a pending connection keeps the listener readable:
// the server used to poll, fail to accept and log in a tight loop for as
// long as that lasted (a core and the disk). It now pauses accepting, logs
// once, and serves the client once descriptors are free again.
TEST(MetricsExporter, RunningOutOfDescriptorsPausesAcceptingInsteadOfSpinning) {
#if defined(__SANITIZE_ADDRESS__)
  // UBSan's vptr check opens a pipe to test that memory is readable; with
  // no descriptor left it reports a valid object as invalid.
  GTEST_SKIP() << "the sanitizers' runtime needs descriptors this test uses up";
#endif
  auto sink = std::make_shared<accept_log>();
  const auto previous = spdlog::default_logger();
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  std::vector<int> filler;
  int client = -1;
  // Whatever fails below, the descriptors, the limit and the logger come back.
  struct restore {
    std::function<void()> f;
    ~restore() { f(); }
  } restored{[&] {
    for (int fd : filler) ::close(fd);
    filler.clear();
    if (client >= 0) ::close(client);
    client = -1;
    ::setrlimit(RLIMIT_NOFILE, &before);
    spdlog::set_default_logger(previous);
  }};
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  metrics_exporter m("127.0.0.1:0");
  m.add_push(7);
  // At most 512 descriptors, all taken but the one the client uses.
  rlimit low = before;
  low.rlim_cur = std::min<rlim_t>(before.rlim_cur, 512);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) filler.push_back(fd);
  ASSERT_EQ(errno, EMFILE);
  ASSERT_FALSE(filler.empty());
  ::close(filler.back());
  filler.pop_back();
  client = connect_local(m.port());  // queued; the server cannot accept it
  ASSERT_GE(client, 0);
  // Over one second: a spinning server burns about that much CPU, a
  // pausing one next to none (compared within this window, on this run).
  const double cpu0 = cpu_seconds();
  const auto wall0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double cpu = cpu_seconds() - cpu0;
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const int logged = sink->failures.load();
  for (int fd : filler) ::close(fd);
  filler.clear();
  EXPECT_LT(cpu, 0.25 * wall) << "the server spins while it cannot accept";
  EXPECT_EQ(logged, 1) << "accept failures logged";
  // Served again once descriptors are free.
  const auto page = test_support::http_get(m.port(), "/metrics");
  EXPECT_NE(page.find("troupe_pushes_total 1"), std::string::npos) << page;
  EXPECT_EQ(sink->recovered.load(), 1);
}

TEST(MetricsExporter, AnAddressInUseIsAnIoError) {
  metrics_exporter first("127.0.0.1:0");
  ASSERT_NE(first.port(), 0u);
  try {
    metrics_exporter second("127.0.0.1:" + std::to_string(first.port()));
    ADD_FAILURE() << "bound a port in use";
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::io_error);
  }
}

}  // namespace
}  // namespace troupe

namespace troupe {
namespace {

// What a failed connection suggests: another service's port (bytes came
// back, not CAF's handshake: `troupe status` at a metrics port said only
// "malformed_basp_message"), or a node that listens with TLS.
TEST(ConnectFailureHint, NamesAnotherServicesPortAndAMissingTls) {
  const tls_files none;
  EXPECT_NE(connect_failure_hint(caf::make_error(caf::sec::malformed_basp_message), none)
                .find("not a troupe node: a metrics port"),
            std::string::npos);
  EXPECT_NE(connect_failure_hint(caf::make_error(caf::sec::disconnect_during_handshake), none)
                .find("does the node listen with TLS?"),
            std::string::npos);
  EXPECT_EQ(connect_failure_hint(caf::make_error(caf::sec::cannot_connect_to_node), none), "");
  // A node that accepted and never spoke (a TLS listener, to a plain try
  // that waited for its greeting) against one that never answered at all.
  EXPECT_NE(
      connect_failure_hint(caf::make_error(caf::sec::request_timeout,
                                           "no greeting from a:1 (a) within 10 ms: it accepted the "
                                           "connection but sent nothing"),
                           none)
          .find("it sends nothing first"),
      std::string::npos);
  EXPECT_EQ(
      connect_failure_hint(
          caf::make_error(caf::sec::request_timeout, "no answer from a:1 within 10 ms"), none),
      "");
}

}  // namespace
}  // namespace troupe
