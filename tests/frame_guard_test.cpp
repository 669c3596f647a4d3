// The frame guard's bookkeeping of connections that have not authenticated
// yet (actors/frame_guard.hpp): caps per address and in all, the deadline
// sweep that closes them, and the count of refusals.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <thread>

#include <caf/all.hpp>
#include <caf/binary_serializer.hpp>

#include "actors/actor_config.hpp"
#include "actors/frame_guard.hpp"
#include "actors/metrics_exporter.hpp"
#include "actors/node.hpp"
#include "actors/preauth_payload.hpp"

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

// When as many connections as allowed wait to authenticate (from one
// address, or in all), the oldest makes room for a newcomer once it has
// waited a tenth of the deadline; a burst younger than that refuses the
// newcomer. Refusing every newcomer let 16 idle sockets lock jobs and
// `troupe status` out of a node for as long as they were reopened.
TEST(FrameGuard, TheOldestWaitingConnectionMakesRoomPerAddressAndInAll) {
  frame_guard_options opts;
  opts.max_pending_per_address = 3;
  opts.max_pending = 5;
  opts.auth_deadline = std::chrono::milliseconds(10000);  // room after 1 s
  opts.metrics = std::make_shared<metrics_exporter>();
  frame_guard guard(opts);
  socket_pair a[4], other, third, fourth, fifth;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(guard.admit(a[i].fd[0], "10.0.0.7:" + std::to_string(100 + i)));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_FALSE(guard.admit(a[3].fd[0], "10.0.0.7:103"));   // a burst: the newcomer is refused
  EXPECT_TRUE(guard.admit(other.fd[0], "10.0.0.8:5000"));  // another address still gets in
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_TRUE(guard.admit(a[3].fd[0], "10.0.0.7:103"));  // the oldest of 10.0.0.7 makes room
  EXPECT_TRUE(a[0].peer_closed());
  EXPECT_FALSE(a[1].peer_closed());
  EXPECT_FALSE(other.peer_closed());
  EXPECT_TRUE(guard.swept(a[0].fd[0]));
  EXPECT_EQ(guard.pending(), 4u);
  EXPECT_TRUE(guard.admit(third.fd[0], "10.0.0.9:1"));
  EXPECT_EQ(guard.pending(), 5u);
  EXPECT_TRUE(guard.admit(fourth.fd[0], "10.0.0.10:1"));  // 5 in all: the oldest (a[1]) goes
  EXPECT_TRUE(a[1].peer_closed());
  EXPECT_FALSE(third.peer_closed());
  EXPECT_EQ(guard.pending(), 5u);
  EXPECT_EQ(guard.refused(), 3u);  // the burst's newcomer, a[0], a[1]
  EXPECT_EQ(opts.metrics->snapshot().rejected, 3.0);
  guard.authenticated(fourth.fd[0]);  // leaves the waiting set
  EXPECT_TRUE(guard.admit(fifth.fd[0], "10.0.0.11:1"));
  EXPECT_FALSE(a[2].peer_closed());
}

// A flood from a few addresses, reopened faster than a tenth of the
// deadline, filled the waiting set in all and kept every other address out
// (each newcomer found only young connections to make room). Now, full in
// all, an address holding at least two more waiting connections than the
// newcomer's gives up its oldest once that has waited a hundredth of the
// deadline (a real handshake takes milliseconds); a newcomer from the
// heaviest address itself is still refused.
TEST(FrameGuard, AFloodFromAFewAddressesDoesNotKeepOthersOut) {
  frame_guard_options opts;
  opts.max_pending_per_address = 3;
  opts.max_pending = 5;
  opts.auth_deadline = std::chrono::milliseconds(10000);  // 100 ms for the flood, 1 s for all
  frame_guard guard(opts);
  socket_pair flood[5], more, peer, late;
  for (int i = 0; i < 5; ++i) {
    // 10.0.0.1 x 3, 10.0.0.2 x 2: full in all.
    ASSERT_TRUE(
        guard.admit(flood[i].fd[0], (i < 3 ? "10.0.0.1:" : "10.0.0.2:") + std::to_string(100 + i)));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_FALSE(guard.admit(more.fd[0], "10.0.0.2:200"));     // the flood itself is refused
  EXPECT_TRUE(guard.admit(peer.fd[0], "192.168.1.5:7000"));  // a peer elsewhere gets in
  EXPECT_TRUE(flood[0].peer_closed());  // the oldest of the heaviest address made room
  for (int i = 1; i < 5; ++i) EXPECT_FALSE(flood[i].peer_closed()) << i;
  // 10.0.0.1 x 2, 10.0.0.2 x 2, the peer: a second newcomer takes the
  // oldest of the two heaviest (flood[1]), and never the peer.
  EXPECT_TRUE(guard.admit(late.fd[0], "192.168.1.6:7000"));
  EXPECT_TRUE(flood[1].peer_closed());
  EXPECT_FALSE(flood[3].peer_closed());
  EXPECT_FALSE(peer.peer_closed());
  EXPECT_EQ(guard.pending(), 5u);
  EXPECT_EQ(guard.refused(), 3u);  // the flood's newcomer, flood[0], flood[1]
}

// The rule above must not close a real peer's handshakes: one address with
// two under way among single connections from many others (a flood from
// many addresses) is the "heaviest", but its connections are milliseconds
// old; the newcomer is refused instead.
TEST(FrameGuard, AHandshakeUnderWayIsNotClosedForANewcomer) {
  frame_guard_options opts;
  opts.max_pending_per_address = 3;
  opts.max_pending = 5;
  opts.auth_deadline = std::chrono::milliseconds(10000);
  frame_guard guard(opts);
  socket_pair single[3], honest[2], newcomer;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(guard.admit(single[i].fd[0], "10.2.0." + std::to_string(i + 1) + ":9"));
  }
  ASSERT_TRUE(guard.admit(honest[0].fd[0], "10.1.1.1:5000"));
  ASSERT_TRUE(guard.admit(honest[1].fd[0], "10.1.1.1:5001"));
  EXPECT_FALSE(guard.admit(newcomer.fd[0], "10.2.0.9:9"));
  EXPECT_FALSE(honest[0].peer_closed());
  EXPECT_FALSE(honest[1].peer_closed());
  EXPECT_EQ(guard.pending(), 5u);
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
  EXPECT_TRUE(guard.forget(late.fd[0]));  // it had been swept (and counted)
  EXPECT_FALSE(guard.swept(late.fd[0]));
}

// A direct message's payload (stages, then the message), as a CAF 0.17 peer
// serializes it.
template <class... Ts>
std::vector<std::uint8_t> direct_payload(caf::actor_system& sys, Ts&&... xs) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  std::vector<caf::strong_actor_ptr> stages;
  auto msg = caf::make_message(std::forward<Ts>(xs)...);
  if (auto err = sink(stages, msg)) ADD_FAILURE() << sys.render(err);
  return {buf.begin(), buf.end()};
}

// The last `n` bytes of `payload` replaced by a sequence length of 2^32 - 1.
std::vector<std::uint8_t> claiming_4gib(std::vector<std::uint8_t> payload, std::size_t n) {
  if (payload.size() < n) throw std::invalid_argument("payload too short");
  payload.resize(payload.size() - n);
  for (std::uint8_t b : {0xff, 0xff, 0xff, 0xff, 0x0f}) payload.push_back(b);
  return payload;
}

// CAF sizes a byte vector by the length it reads before checking the bytes
// exist: 21 bytes claiming 4 GiB made a daemon allocate 4 GiB for ~25 s.
// Before authentication such a payload is refused unread; the requests an
// unauthenticated peer really sends (hello, auth) pass.
TEST(PreauthPayload, RefusesLengthsLongerThanTheBytesLeftAndPassesHelloAndAuth) {
  actor_config cfg;
  caf::actor_system sys{cfg};
  basp_header direct;
  direct.operation = 2;
  EXPECT_TRUE(check_preauth_payload(sys, direct, direct_payload(sys, hello_atom::value)));
  EXPECT_TRUE(check_preauth_payload(
      sys, direct, direct_payload(sys, auth_atom::value, std::string(32, 'p'), std::string("x"))));

  // "\x01x": a vector<char> of one byte, its length replaced.
  auto chars = direct_payload(sys, std::vector<char>{'x'});
  ASSERT_EQ(chars.back(), 'x');
  const auto t0 = std::chrono::steady_clock::now();
  auto st = check_preauth_payload(sys, direct, claiming_4gib(chars, 2));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));  // not 25 s
  ASSERT_FALSE(st);
  EXPECT_EQ(st.code(), errc::malformed_message);
  EXPECT_NE(st.message().find("sent before authenticating that this node will not read"),
            std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("a sequence of 4294967295 elements"), std::string::npos)
      << st.message();
  // Cut short anywhere: refused, never read past the end.
  const auto hello = direct_payload(sys, hello_atom::value);
  for (std::size_t n = 0; n + 1 < hello.size(); ++n) {
    EXPECT_FALSE(check_preauth_payload(sys, direct, {hello.begin(), hello.begin() + n})) << n;
  }
  // A group handle: CAF's group module would spawn a broker for it and
  // keep it for good.
  const auto in_group = direct_payload(sys, sys.groups().get_local("troupe-test"));
  st = check_preauth_payload(sys, direct, in_group);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("a message holding a @group"), std::string::npos) << st.message();
  // Actor handles: of this node or of the peer (named in its handshake)
  // pass; of a third node they are refused.
  actor_config other_cfg;
  caf::actor_system other{other_cfg};
  // With an argument: CAF 0.17 dereferences a null argument tuple when a
  // function actor is spawned with none (UBSan stops there).
  auto theirs = other.spawn([](int) -> caf::behavior { return {[](int) {}}; }, 0);
  const auto with_handle = direct_payload(sys, hello_atom::value, caf::actor{theirs});
  const auto peer = other.node();
  EXPECT_TRUE(check_preauth_payload(sys, direct, with_handle, &peer));
  const auto stranger = sys.node();  // as if the peer had said it was this node
  st = check_preauth_payload(sys, direct, with_handle, &stranger);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("a handle of an actor on another node"), std::string::npos)
      << st.message();
  caf::anon_send_exit(theirs, caf::exit_reason::kill);
  // An empty message: the response to a request whose handler returns void.
  basp_header response = direct;
  response.operation_data = 0x8000000000000000ull | 7;
  EXPECT_TRUE(check_preauth_payload(sys, response, direct_payload(sys)));
  // A down message's error carries a message: checked the same way.
  basp_header down;
  down.operation = 5;
  std::vector<char> buf;
  {
    caf::binary_serializer sink{sys, buf};
    caf::node_id a = sys.node(), b = sys.node();
    caf::error reason = caf::make_error(caf::sec::runtime_error, std::vector<char>{'x'});
    ASSERT_FALSE(sink(a, b, reason));
  }
  const std::vector<std::uint8_t> down_ok(buf.begin(), buf.end());
  const auto self_node = sys.node();  // the down message's source, here
  EXPECT_TRUE(check_preauth_payload(sys, down, down_ok, &self_node));
  EXPECT_FALSE(check_preauth_payload(sys, down, claiming_4gib(down_ok, 2), &self_node));
}

// The source and destination nodes of a monitor or down message.
std::vector<std::uint8_t> node_pair(caf::actor_system& sys, caf::node_id from, caf::node_id to,
                                    bool with_reason) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  if (with_reason) {
    caf::error reason = caf::make_error(caf::exit_reason::kill);
    EXPECT_FALSE(sink(from, to, reason));
  } else {
    EXPECT_FALSE(sink(from, to));
  }
  return {buf.begin(), buf.end()};
}

// Before authenticating, a peer may ask CAF's spawn server who this node is
// (CAF does so on every new connection), but may not reach CAF's services
// otherwise: its config server keeps every key put into it, so a flood of
// puts grew a daemon without bound. Routed messages, and monitor or down
// messages naming a node other than the peer, make CAF keep state for, or
// act on the word of, a node nobody authenticated: refused.
TEST(PreauthPayload, CafServicesAndForgedNodesAreRefusedBeforeAuthentication) {
  actor_config cfg;
  caf::actor_system sys{cfg};
  actor_config other_cfg;
  caf::actor_system other{other_cfg};
  const auto peer = other.node();
  basp_header named;
  named.operation = basp_op::direct_message;
  named.flags = basp_flag::named_receiver;
  named.dest_actor = static_cast<std::uint64_t>(caf::atom("SpawnServ"));
  EXPECT_TRUE(check_preauth_payload(
      sys, named, direct_payload(sys, caf::sys_atom::value, caf::get_atom::value, "info"), &peer));
  auto st = check_preauth_payload(
      sys, named, direct_payload(sys, caf::sys_atom::value, caf::get_atom::value, "other"), &peer);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("a message to a named CAF service"), std::string::npos)
      << st.message();
  named.dest_actor = static_cast<std::uint64_t>(caf::atom("ConfigServ"));
  const auto put = direct_payload(sys, caf::put_atom::value, std::string("k1"),
                                  caf::make_message(std::string(60000, 'x')));
  EXPECT_FALSE(check_preauth_payload(sys, named, put, &peer));
  basp_header by_id;
  by_id.operation = basp_op::direct_message;
  by_id.dest_actor = sys.config_serv()->id();
  st = check_preauth_payload(sys, by_id, put, &peer);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("a message to a CAF service"), std::string::npos) << st.message();
  by_id.dest_actor = sys.spawn_serv()->id();
  EXPECT_FALSE(check_preauth_payload(sys, by_id, put, &peer));
  by_id.dest_actor = 4711;  // any other actor decides for itself (a node's or a shard's guard)
  EXPECT_TRUE(check_preauth_payload(sys, by_id, direct_payload(sys, hello_atom::value), &peer));

  basp_header routed;
  routed.operation = basp_op::routed_message;
  routed.dest_actor = 4711;
  std::vector<char> buf;
  {
    caf::binary_serializer sink{sys, buf};
    std::vector<caf::strong_actor_ptr> stages;
    auto msg = caf::make_message(hello_atom::value);
    caf::node_id from = peer, to = sys.node();
    ASSERT_FALSE(sink(from, to, stages, msg));
  }
  st = check_preauth_payload(sys, routed, {buf.begin(), buf.end()}, &peer);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("a routed message"), std::string::npos) << st.message();

  basp_header monitor;
  monitor.operation = basp_op::monitor_message;
  monitor.dest_actor = 4711;
  EXPECT_TRUE(check_preauth_payload(sys, monitor, node_pair(sys, peer, sys.node(), false), &peer));
  const auto stranger = caf::make_node_id(12345, std::string(40, 'a'));
  ASSERT_TRUE(stranger);
  st = check_preauth_payload(sys, monitor, node_pair(sys, *stranger, sys.node(), false), &peer);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("of another node"), std::string::npos) << st.message();
  st = check_preauth_payload(sys, monitor, node_pair(sys, peer, *stranger, false), &peer);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("for another node"), std::string::npos) << st.message();
  EXPECT_FALSE(check_preauth_payload(sys, monitor, node_pair(sys, peer, sys.node(), false)));
  basp_header down;
  down.operation = basp_op::down_message;
  down.source_actor = 4711;
  EXPECT_TRUE(check_preauth_payload(sys, down, node_pair(sys, peer, sys.node(), true), &peer));
  EXPECT_FALSE(
      check_preauth_payload(sys, down, node_pair(sys, *stranger, sys.node(), true), &peer));
  // CAF clients repeat their handshake (select-connection flag): it must
  // name the node the first one did.
  basp_header again;
  again.operation = basp_op::client_handshake;
  again.flags = basp_flag::select_connection;
  const auto handshake = [&](caf::node_id id) {
    std::vector<char> out;
    caf::binary_serializer sink{sys, out};
    EXPECT_FALSE(sink(id));
    return std::vector<std::uint8_t>(out.begin(), out.end());
  };
  EXPECT_TRUE(check_preauth_payload(sys, again, handshake(peer), &peer));
  st = check_preauth_payload(sys, again, handshake(*stranger), &peer);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("a second handshake naming another node"), std::string::npos)
      << st.message();
}

// The frame screen hands every payload that arrives before authentication,
// whole, to its check, and refuses the stream when the check does; nothing
// once the peer has authenticated.
TEST(PreauthPayload, TheScreenChecksWholePayloadsUntilThePeerAuthenticates) {
  std::vector<std::size_t> seen;
  frame_screen screen{{}, [&](const basp_header& h, const std::vector<std::uint8_t>& p) -> status {
                        seen.push_back(p.size());
                        if (p.front() == 'x') return {errc::malformed_message, "an x"};
                        EXPECT_EQ(h.operation, 2);
                        return {};
                      }};
  auto header = [](std::uint8_t op, std::uint32_t len, std::uint64_t dst) {
    std::vector<std::uint8_t> out{op, 0, 0, 0};
    auto put = [&](std::uint64_t v, int n) {
      for (int i = n - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    };
    put(len, 4);
    put(0, 8);
    put(0, 8);
    put(dst, 8);
    return out;
  };
  auto stream = header(1, 3, 0);  // the client handshake: not the check's
  stream.insert(stream.end(), {'h', 's', 'k'});
  auto frame = header(2, 5, 7);
  frame.insert(frame.end(), {'a', 'b', 'c', 'd', 'e'});
  stream.insert(stream.end(), frame.begin(), frame.end());
  for (std::uint8_t b : stream) ASSERT_TRUE(screen.feed(&b, 1, false));  // byte by byte
  EXPECT_EQ(seen, std::vector<std::size_t>{5});
  auto bad = header(2, 2, 7);
  bad.insert(bad.end(), {'x', 'y'});
  EXPECT_TRUE(screen.feed(bad.data(), bad.size(), true));  // authenticated: not checked
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_FALSE(screen.feed(bad.data(), bad.size(), false));
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_FALSE(screen.feed(frame.data(), frame.size(), false));  // refused for good
}

}  // namespace
}  // namespace troupe
