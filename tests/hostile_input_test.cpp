// Issue 12, problem 1: one unauthenticated packet evicted a node from a
// running job (CAF's BASP allocated the 4 GiB a header claimed; RSS 417 MB ->
// 4.3 GB, the node stopped answering and the job declared it lost). Here
// three real daemons run a job while every one of them gets hostile input
// before authentication: the 4 GiB header, random bytes, a truncated header,
// an oversized frame after a valid handshake, and slowloris connections that
// never finish a frame. The job must finish untouched (no failover, no
// replaced worker), no daemon may ever have held the claimed size, the
// rejected-messages counter counts the refusals and the stalled connections
// are closed by the daemon.
#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <thread>

#include "actors/actor_config.hpp"
#include "actors/guarded_listener.hpp"
#include "actors/job_runner.hpp"
#include "actors/metrics_exporter.hpp"
#include "actors/node.hpp"
#include "actors/peer_guard.hpp"
#include "background_job.hpp"
#include "daemon_support.hpp"
#include "engine/errors.hpp"
#include "engine/job_config.hpp"
#include "troupe/client.hpp"

namespace troupe {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using namespace test_support;
using test_support::basp_header;  // not the screen's struct of that name

// A CAF client handshake carrying a real node id (of a throwaway actor
// system): it passes the screen, so what follows is judged by the limits of
// an unauthenticated peer.
std::string valid_handshake() {
  actor_config cfg;  // with the middleman: a system without one has no node id
  caf::actor_system sys{cfg};
  std::vector<char> payload;
  caf::binary_serializer sink{sys, payload};
  if (sink(sys.node()) || payload.size() < 20) throw std::runtime_error("no node id to send");
  return basp_header(1, static_cast<std::uint32_t>(payload.size())) +
         std::string(payload.begin(), payload.end());
}

// A 21-byte direct message whose byte vector claims 4 GiB - 1: CAF 0.17
// sizes the vector (and zero-fills it) before checking the bytes exist.
std::string message_claiming_4gib() {
  actor_config cfg;
  caf::actor_system sys{cfg};
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  std::vector<caf::strong_actor_ptr> stages;
  auto msg = caf::make_message(std::vector<char>{'x'});
  if (sink(stages, msg)) throw std::runtime_error("cannot serialize");
  std::string out(buf.begin(), buf.end() - 2);  // "\x01x": one byte, its length replaced
  return out + std::string("\xff\xff\xff\xff\x0f", 5);
}

// The id of a daemon's node actor: the receiver such a message must name
// (CAF reads no message for a receiver it does not know).
caf::actor_id node_actor_id(std::uint16_t port) {
  actor_config cfg;
  caf::actor_system sys{cfg};
  auto node = sys.middleman().remote_actor<node_actor>("127.0.0.1", port);
  if (!node) throw std::runtime_error("cannot reach the node: " + sys.render(node.error()));
  return node->id();
}

// A client handshake naming the daemon's own node id, which CAF tells
// anyone who connects: read here through a CAF connection of our own.
std::string handshake_naming_the_daemon(std::uint16_t port) {
  actor_config cfg;
  caf::actor_system sys{cfg};
  auto node = sys.middleman().remote_actor<node_actor>("127.0.0.1", port);
  if (!node) throw std::runtime_error("cannot reach the node: " + sys.render(node.error()));
  std::vector<char> payload;
  caf::binary_serializer sink{sys, payload};
  if (sink(node->node())) throw std::runtime_error("cannot serialize the node id");
  return basp_header(1, static_cast<std::uint32_t>(payload.size())) +
         std::string(payload.begin(), payload.end());
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

class HostileInput : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(default_data_dir("fashion-mnist"))) {
      GTEST_FAIL() << "Fashion-MNIST is missing: run scripts/setup.sh";
    }
    dir = fs::temp_directory_path() / ("troupe_hostile_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    write_private_file(dir / "secret", "hostile-test-secret-0123456789abcdef\n");
  }
  void TearDown() override {
    nodes.clear();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  fs::path dir;
  std::vector<daemon> nodes;
};

TEST_F(HostileInput, JobFinishesWhileEveryNodeRefusesHostileInput) {
  for (int i = 0; i < 3; ++i) {
    const auto name = "n" + std::to_string(i);
    nodes.push_back(start_daemon(
        {TROUPE_BINARY, "node", "--listen", "127.0.0.1:0", "--secret", (dir / "secret").string(),
         "--slots", "4", "--name", name, "--metrics", "127.0.0.1:0"},
        dir / (name + ".log")));
    ASSERT_NE(nodes.back().port, 0) << nodes.back().process->log();
  }
  auto job = default_job_config();
  job.train_limit = 12000;
  job.test_limit = 2000;
  job.epochs = 6;
  job.backend = kernels::backend_kind::cpu;
  job.output_dir = (dir / "job").string();
  job.secret_file = (dir / "secret").string();
  for (const auto& n : nodes) job.nodes.push_back(n.address());
  job.shard_nodes = {0, 1};
  job.worker_nodes = {1, 2};
  background_job run(job);
  for (int i = 0; i < 3000 && nodes[2].process->log().find("hosting worker") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }

  const auto handshake = valid_handshake();
  std::vector<std::unique_ptr<raw_connection>> stalled;
  for (const auto& n : nodes) {
    {  // the 4 GiB header of the issue
      raw_connection c(n.port);
      c.send(basp_header(1, 0xffffffffu, 3));
      EXPECT_TRUE(c.closed_by_peer(seconds(10))) << "4 GiB header not refused";
    }
    {  // random bytes
      raw_connection c(n.port);
      c.send(random_bytes(4096, n.port));
      EXPECT_TRUE(c.closed_by_peer(seconds(10))) << "random bytes not refused";
    }
    {  // a valid handshake, then a 64 MiB message before authenticating
      raw_connection c(n.port);
      c.send(handshake + basp_header(2, 64u << 20, 0, 0, 1));
      EXPECT_TRUE(c.closed_by_peer(seconds(10))) << "oversized frame not refused";
    }
    {  // a valid handshake, then 21 bytes whose byte vector claims 4 GiB
      const auto payload = message_claiming_4gib();
      raw_connection c(n.port);
      c.send(
          handshake +
          basp_header(2, static_cast<std::uint32_t>(payload.size()), 0, 0, node_actor_id(n.port)) +
          payload);
      EXPECT_TRUE(c.closed_by_peer(seconds(10))) << "a 4 GiB claim inside a message not refused";
    }
    {  // a truncated header, then gone
      raw_connection c(n.port);
      c.send(basp_header(1, 25).substr(0, 20));
    }
    // Slowloris: half a header, and a connection that never says anything.
    stalled.push_back(std::make_unique<raw_connection>(n.port));
    stalled.back()->send(basp_header(1, 25).substr(0, 10));
    stalled.push_back(std::make_unique<raw_connection>(n.port));
  }
  // The daemons close stalled connections themselves (10 s to authenticate).
  for (auto& c : stalled) EXPECT_TRUE(c->closed_by_peer(seconds(30))) << "slowloris kept open";

  run.join();
  ASSERT_TRUE(run.result) << run.error;
  const auto& s = *run.result;
  EXPECT_EQ(s.epochs, 6u) << summary_line(s);
  EXPECT_EQ(s.shards_failed_over, 0u) << summary_line(s);
  EXPECT_EQ(s.workers_replaced, 0u) << summary_line(s);
  EXPECT_EQ(s.pushes_applied, s.pushes_acked) << summary_line(s);
  EXPECT_GT(s.test_accuracy, 0.70) << summary_line(s);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const auto& n = nodes[i];
    const auto log = n.process->log();
    // Peak RSS: the 4 GiB claimed were never allocated (the job itself
    // needs a few hundred MB per node).
    const long peak_kib = proc_status_kib(n.process->pid(), "VmHWM");
    EXPECT_GT(peak_kib, 0);
    EXPECT_LT(peak_kib, 1536L * 1024) << "node n" << i << " peaked at " << peak_kib << " KiB";
    // 4 GiB header, random bytes, oversized frame, 4 GiB claim inside a
    // message, truncated header, 2 stalled.
    const auto page = http_get(n.metrics_port, "/metrics");
    const auto rejected = series(page, "troupe_messages_rejected_total");
    EXPECT_GE(rejected, 7.0) << page << log;
    std::cout << "node n" << i << ": peak RSS " << peak_kib / 1024 << " MiB, " << rejected
              << " connections refused\n";
    // Each refusal is logged with its reason (right after it is counted).
    for (const char* reason :
         {"claims a payload of 4294967295 bytes", "at most 65536 allowed before authentication",
          "sent before authenticating that this node will not read: a sequence of 4294967295",
          "closed in the middle of a frame", "no authentication within"}) {
      EXPECT_TRUE(wait_for_log(*n.process, reason, seconds(10))) << reason << "\n" << log;
    }
  }
}

// A message whose argument is a config_value of an unknown type, found by
// libFuzzer (scripts/fuzz.sh preauth_payload): CAF 0.17 throws
// std::runtime_error("invalid type found") reading it, and the check of
// payloads sent before authentication let that escape, on the daemon's
// network thread: std::terminate, the node and its jobs gone, for one
// packet from anyone who can connect.
std::string message_with_a_config_value_of_no_type() {
  static const char bytes[] =
      "\x00\x00\x00\x76\x40\x3c\x3e\x2b\x40\x63\x6f\x6e\x66\x69\x67\x5f"
      "\x76\x61\x6c\x75\x65\x2b\x61\x61\x26\x40\x63\x26\x5b\x3e\x40\x63"
      "\x73\x73\x61\x67\x65\x00\x00\x40\x6d\x65\x73\x73\x61\x67\x65\x00"
      "\x01\x00\x7f\xfd\x31\x47\xde\xfe\x65\x00\x00\x0c\x40\x3c\x3e\x2b"
      "\x61\x3e\x2b\x61\x26\x40\x63\x26\x3e\x40\x63\x73\x73\x61\x2b\x40"
      "\x00\x00\x00\x00\x00\x00\x00\x2b\x40\x6d\x65\x73\x73\x73\x73\x61"
      "\x91\x00\x00\x0c\x40\x2b\x40\x63\x26\x3e\x40\x63\x3e\x2b\x0c\x40"
      "\x61\x7a\x7a\x7a\x7a\x7a\x7a\x7a\x7a\x7a\x7a\x7a\x7a\x67\x65\x00"
      "\x3c\x3e\x2b\x3e\x33\x00";
  return std::string(bytes, sizeof(bytes) - 1);
}

TEST_F(HostileInput, AnArgumentCafCannotReadIsRefusedAndTheNodeGoesOn) {
  nodes.push_back(start_daemon({TROUPE_BINARY, "node", "--listen", "127.0.0.1:0", "--secret",
                                (dir / "secret").string(), "--name", "cv"},
                               dir / "cv.log"));
  const auto& n = nodes.back();
  ASSERT_NE(n.port, 0) << n.process->log();
  const auto payload = message_with_a_config_value_of_no_type();
  raw_connection c(n.port);
  c.send(valid_handshake() +
         basp_header(2, static_cast<std::uint32_t>(payload.size()), 0, 0, node_actor_id(n.port)) +
         payload);
  EXPECT_TRUE(c.closed_by_peer(seconds(10))) << n.process->log();
  EXPECT_TRUE(wait_for_log(*n.process, "invalid type found", seconds(10))) << n.process->log();
  // Still up and answering: a CAF client reaches its node actor.
  EXPECT_NO_THROW(node_actor_id(n.port)) << n.process->log();
  EXPECT_FALSE(n.process->wait_exit(milliseconds(200)).has_value()) << n.process->log();
}

// A message holding a config_value nested `depth` lists deep, serialized by
// hand: CAF's own writer would recurse as deep as its reader.
std::string message_nested(std::size_t depth) {
  actor_config cfg;
  caf::actor_system sys{cfg};
  const auto serialized = [&](const caf::config_value& v) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    std::vector<caf::strong_actor_ptr> stages;
    auto msg = caf::make_message(v);
    if (sink(stages, msg)) throw std::runtime_error("cannot serialize");
    return std::string(buf.begin(), buf.end());
  };
  caf::config_value::list inner;
  inner.emplace_back(std::int64_t{1});
  caf::config_value::list outer;  // push_back: a braced list of one list would copy it
  outer.emplace_back(inner);
  const auto one = serialized(caf::config_value{inner});
  const auto two = serialized(caf::config_value{outer});
  // `two` is `one` with a level's bytes (list tag, length 1) inserted.
  const auto level = two.size() - one.size();
  std::size_t at = 0;
  while (at < one.size() && one[at] == two[at]) ++at;
  if (level == 0 || at < level) throw std::runtime_error("cannot find a level's bytes");
  at -= at > 0 && two.compare(at - level, level, two, at, level) == 0 ? level : 0;
  std::string out = one.substr(0, at);
  for (std::size_t i = 1; i < depth; ++i) out += two.substr(at, level);
  return out + one.substr(at);
}

// A direct message's payload (stages, message) as CAF writes it.
template <class Message>
std::string direct_message_of(Message x) {
  actor_config cfg;
  caf::actor_system sys{cfg};
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  std::vector<caf::strong_actor_ptr> stages;
  auto msg = caf::make_message(std::move(x));
  if (sink(stages, msg)) throw std::runtime_error("cannot serialize");
  return std::string(buf.begin(), buf.end());
}

// An actor answering x + 1, published by a guarded listener with metrics;
// `trust_all`: every peer counts as authenticated (as under TLS).
struct echo_listener {
  echo_listener(caf::actor_system& sys, bool trust_all)
      : echo(sys.spawn([](caf::event_based_actor*,
                          int) -> caf::behavior { return {[](int x) { return x + 1; }}; },
                       0)) {
    opts.guard.name = "test listener";
    opts.guard.peers = std::make_shared<peer_guard>(sys.node());
    if (trust_all) opts.guard.peers->trust_every_peer();
    opts.guard.metrics = std::make_shared<metrics_exporter>();
    listener = guarded_listener::publish(sys, echo, "127.0.0.1", 0, opts);
  }
  caf::actor echo;
  listen_options opts;
  std::unique_ptr<guarded_listener> listener;
};

// Once a peer has authenticated, what it sends was read by CAF unscreened: a
// message CAF cannot read (it throws) made the BASP broker quit, and with it
// every connection of the process; a byte vector claiming 4 GiB was
// allocated; lists nested a hundred thousand deep would overflow the
// network thread's stack. A cluster member with a bug or a stolen secret
// took a node down with one message, and an exit message of
// exit_reason::kill (which CAF obeys past any exit handler) stopped the
// actor it named. Now each closes its own connection, the listener serves
// on and the actor lives.
TEST(HostileAuthenticatedInput, AMessageCafCannotReadClosesOnlyItsConnection) {
  actor_config cfg;
  caf::actor_system sys{cfg};
  echo_listener l(sys, true);  // as under TLS: every peer is authenticated
  auto& echo = l.echo;
  auto& opts = l.opts;
  auto& listener = l.listener;
  const auto port = listener->port();
  const auto served = [&] {
    actor_config client_cfg;
    caf::actor_system client{client_cfg};
    auto remote = client.middleman().remote_actor("127.0.0.1", port);
    if (!remote) return false;
    caf::scoped_actor self{client};
    bool answered = false;
    self->request(*remote, std::chrono::seconds(10), 41)
        .receive([&](int y) { answered = y == 42; }, [](caf::error&) {});
    return answered;
  };
  ASSERT_TRUE(served());
  const std::vector<std::pair<std::string, std::string>> cases{
      {"invalid type found", message_with_a_config_value_of_no_type()},
      {"a sequence of 4294967295 elements", message_claiming_4gib()},
      {"nested more than 64 deep", message_nested(100000)},
      {"exit_reason::kill",
       direct_message_of(caf::exit_msg{caf::actor_addr{}, caf::exit_reason::kill})},
  };
  for (const auto& [why, payload] : cases) {
    raw_connection c(port);
    c.send(valid_handshake() +
           basp_header(2, static_cast<std::uint32_t>(payload.size()), 0, 0, echo.id()) + payload);
    EXPECT_TRUE(c.closed_by_peer(seconds(10))) << why;
    EXPECT_TRUE(served()) << why << ": the listener stopped serving";
  }
  EXPECT_EQ(opts.guard.metrics->snapshot().rejected, static_cast<double>(cases.size()));
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
}

// A first frame announced and never finished: CAF drops the connection by
// itself (no handshake came), so no read fails, and it went unlogged and
// uncounted. Now it is refused like every other hostile connection.
TEST(HostileUnauthenticatedInput, AFrameLeftUnfinishedIsCountedWhenCafDropsIt) {
  actor_config cfg;
  caf::actor_system sys{cfg};
  echo_listener l(sys, false);
  auto& echo = l.echo;
  auto& opts = l.opts;
  auto& listener = l.listener;
  {
    raw_connection c(listener->port());
    c.send(basp_header(1, 1000) + std::string(100, 'x'));  // a handshake of 1000 bytes: 100 come
    EXPECT_TRUE(c.closed_by_peer(seconds(15)));
  }
  for (int i = 0; i < 200 && opts.guard.metrics->snapshot().rejected < 1; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(opts.guard.metrics->snapshot().rejected, 1.0);
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
}

// CAF's own system messages, sent to the node actor before authenticating:
// an exit_msg with exit_reason::kill ends any CAF 0.17 actor whatever its
// exit handler says; an error ends one without an error handler (the node
// has none); a forged down_msg naming one of the node's own actors (its id
// is the daemon's, told in CAF's handshake) made it forget a hosted actor.
// Each one ended the daemon (or corrupted it) for anyone who could connect.
TEST_F(HostileInput, SystemMessagesBeforeAuthenticationAreRefused) {
  nodes.push_back(start_daemon({TROUPE_BINARY, "node", "--listen", "127.0.0.1:0", "--secret",
                                (dir / "secret").string(), "--name", "sys"},
                               dir / "sys.log"));
  const auto& n = nodes.back();
  ASSERT_NE(n.port, 0) << n.process->log();
  const std::vector<std::pair<std::string, std::string>> messages{
      {"@exit", direct_message_of(caf::exit_msg{caf::actor_addr{}, caf::exit_reason::kill})},
      {"@error", direct_message_of(caf::make_error(caf::sec::runtime_error))},
      {"@down", direct_message_of(caf::down_msg{caf::actor_addr{}, caf::exit_reason::kill})},
  };
  const auto receiver = node_actor_id(n.port);
  for (const auto& [type, payload] : messages) {
    raw_connection c(n.port);
    c.send(valid_handshake() +
           basp_header(2, static_cast<std::uint32_t>(payload.size()), 0, 0, receiver) + payload);
    EXPECT_TRUE(c.closed_by_peer(seconds(10))) << type << "\n" << n.process->log();
    EXPECT_TRUE(wait_for_log(*n.process, "a message holding a " + type, seconds(10)))
        << n.process->log();
    EXPECT_FALSE(n.process->wait_exit(milliseconds(200)).has_value())
        << type << " ended the daemon\n"
        << n.process->log();
  }
  EXPECT_EQ(node_actor_id(n.port), receiver) << n.process->log();  // the same node actor
}

// A peer that sends request after request without authenticating, and
// reads none of the refusals: the node held every unsent answer (16 such
// connections took it from 22 MB to 458 MB until the deadline closed
// them). A real peer needs a hello and an auth; past 64 messages the
// connection is refused, and the node serves on.
TEST_F(HostileInput, ManyMessagesBeforeAuthenticatingCloseTheConnection) {
  nodes.push_back(start_daemon({TROUPE_BINARY, "node", "--listen", "127.0.0.1:0", "--secret",
                                (dir / "secret").string(), "--name", "chatty"},
                               dir / "chatty.log"));
  const auto& n = nodes.back();
  ASSERT_NE(n.port, 0) << n.process->log();
  const auto receiver = node_actor_id(n.port);
  const auto payload = direct_message_of(42);
  std::string burst = valid_handshake();
  for (int i = 0; i < 100; ++i) {
    burst += basp_header(2, static_cast<std::uint32_t>(payload.size()), 0, 0, receiver) + payload;
  }
  raw_connection c(n.port);
  c.send(burst);
  EXPECT_TRUE(c.closed_by_peer(seconds(10))) << n.process->log();
  EXPECT_TRUE(wait_for_log(*n.process, "more than 64 messages before authenticating", seconds(10)))
      << n.process->log();
  EXPECT_EQ(node_actor_id(n.port), receiver) << n.process->log();  // serving, the same node
}

// The node guard lets the node's own id through (its local actors send
// under it), and CAF's handshake tells that id to anyone who connects: a
// peer without the secret that claimed it passed as authenticated (~1 GiB
// frames allowed, no deadline, its messages taken for the node's own), and
// stayed connected as long as it sent heartbeats. Such a handshake is now
// refused at once.
TEST_F(HostileInput, AHandshakeNamingTheNodeItselfIsRefused) {
  nodes.push_back(start_daemon({TROUPE_BINARY, "node", "--listen", "127.0.0.1:0", "--secret",
                                (dir / "secret").string(), "--name", "self"},
                               dir / "self.log"));
  const auto& n = nodes.back();
  ASSERT_NE(n.port, 0) << n.process->log();
  // Heartbeats (BASP operation 6) every 100 ms keep CAF's 1 s connection
  // timeout from closing it: only the guard can, within these 3 s.
  auto heartbeating_is_closed = [&](raw_connection& c) {
    for (int i = 0; i < 30; ++i) {
      c.send(basp_header(6, 0));
      if (c.closed_by_peer(milliseconds(100))) return true;
    }
    return false;
  };
  raw_connection c(n.port);
  c.send(handshake_naming_the_daemon(n.port));
  EXPECT_TRUE(heartbeating_is_closed(c)) << n.process->log();
  EXPECT_TRUE(wait_for_log(*n.process, "client handshake naming this node's own id", seconds(10)))
      << n.process->log();
  // A peer with a node id of its own is judged by the screen as before: it
  // may heartbeat while it authenticates (within 10 s).
  raw_connection other(n.port);
  other.send(valid_handshake());
  EXPECT_FALSE(heartbeating_is_closed(other)) << n.process->log();
}

// A second connection naming a node that is connected to the daemon already
// (here a CAF client, as a scheduler would be) is an alternative route to
// it, which is normal; but CAF's repeated handshake with the
// select-connection flag would make it the route in use, and the daemon's
// messages for the scheduler would go to whoever opened it. That repeat is
// refused and the connection closed; the real client goes on.
TEST_F(HostileInput, AConnectionCannotTakeOverTheRouteOfAConnectedNode) {
  nodes.push_back(start_daemon({TROUPE_BINARY, "node", "--listen", "127.0.0.1:0", "--secret",
                                (dir / "secret").string(), "--name", "taken"},
                               dir / "taken.log"));
  const auto& n = nodes.back();
  ASSERT_NE(n.port, 0) << n.process->log();
  actor_config cfg;
  caf::actor_system sys{cfg};
  auto node = sys.middleman().remote_actor<node_actor>("127.0.0.1", n.port);
  ASSERT_TRUE(node) << sys.render(node.error());
  std::vector<char> payload;
  caf::binary_serializer sink{sys, payload};
  ASSERT_FALSE(sink(sys.node()));
  const std::string id(payload.begin(), payload.end());
  const auto size = static_cast<std::uint32_t>(payload.size());
  raw_connection c(n.port);
  c.send(basp_header(1, size) + id);
  EXPECT_FALSE(c.closed_by_peer(milliseconds(300))) << n.process->log();  // an alternative
  std::string select = basp_header(1, size) + id;
  select[3] = 0x02;  // the select-connection flag
  c.send(select);
  EXPECT_TRUE(c.closed_by_peer(seconds(5))) << n.process->log();
  EXPECT_TRUE(wait_for_log(*n.process, "which another connection serves", seconds(10)))
      << n.process->log();
  // The real client goes on as before: the node answers it.
  caf::scoped_actor self{sys};
  bool answered = false;
  self->request(*node, seconds(5), hello_atom::value)
      .receive([&](std::string&) { answered = true; },
               [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
  EXPECT_TRUE(answered);
}

// `troupe serve` was hit the same way (3.5 GB): its engine listens behind the
// same screen, and a client with the secret is served right after.
TEST_F(HostileInput, ServeRefusesHostileInputAndKeepsServing) {
  std::ofstream(dir / "tables.toml") << "shards = 2\n[[table]]\nname = \"emb\"\nkind = "
                                        "\"sparse\"\nwidth = 8\ninit = 0.1\n";
  auto server = start_daemon({TROUPE_BINARY, "serve", (dir / "tables.toml").string(), "--listen",
                              "127.0.0.1:0", "--secret", (dir / "secret").string()},
                             dir / "serve.log");
  ASSERT_NE(server.port, 0) << server.process->log();
  for (int i = 0; i < 3; ++i) {
    raw_connection big(server.port);
    big.send(basp_header(1, 0xffffffffu, 3));
    EXPECT_TRUE(big.closed_by_peer(seconds(10)));
    raw_connection noise(server.port);
    noise.send(random_bytes(4096, static_cast<unsigned>(i)));
    EXPECT_TRUE(noise.closed_by_peer(seconds(10)));
  }
  auto c = client::connect(server.address(), "hostile-test-secret-0123456789abcdef");
  ASSERT_TRUE(c) << c.error().to_string() << server.process->log();
  const auto rows = c->lookup("emb", {1, 2, 3}).get();
  ASSERT_TRUE(rows) << rows.error().to_string();
  EXPECT_EQ(rows->size(), 3u);
  const long peak_kib = proc_status_kib(server.process->pid(), "VmHWM");
  EXPECT_GT(peak_kib, 0);
  EXPECT_LT(peak_kib, 1024L * 1024) << "troupe serve peaked at " << peak_kib << " KiB";
  const auto log = server.process->log();
  EXPECT_NE(log.find("engine: refused the connection"), std::string::npos) << log;
}

}  // namespace
}  // namespace troupe
