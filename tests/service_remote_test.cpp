// The public client against an engine in another process (`troupe serve`):
// calls across processes, the secret, a hung engine (timeout) and a killed
// one (peer_lost, promptly, also for calls already in flight).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "recording_proxy.hpp"
#include "troupe/client.hpp"

namespace troupe {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using test_support::child_process;

const std::string secret = "service-test-secret-0123456789abcdef";

class remote : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("troupe_service_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    test_support::write_private_file(dir / "secret", secret + "\n");
    std::ofstream(dir / "tables.toml") << "shards = 2\n"
                                          "[[table]]\nname = \"emb\"\nkind = \"sparse\"\n"
                                          "width = 8\nlr = 0.5\ninit = 0.1\nseed = 5\n"
                                          "[[table]]\nname = \"w\"\nkind = \"dense\"\nsize = 6\n";
    server = std::make_unique<child_process>(serve_args(), dir / "serve.log");
    const auto port = server->wait_for_line("listening on 127.0.0.1:", seconds(15));
    ASSERT_FALSE(port.empty()) << server->log();
    address = "127.0.0.1:" + port;
  }
  virtual std::vector<std::string> serve_args() const {
    return {TROUPE_BINARY, "serve",    (dir / "tables.toml").string(), "--listen",
            "127.0.0.1:0", "--secret", (dir / "secret").string()};
  }
  void TearDown() override {
    server.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  // SIGSTOP, and wait until the kernel has stopped it: kill() returns
  // before, and a loopback round trip is fast enough to slip through.
  void stop_server() {
    server->signal(SIGSTOP);
    const auto stat = "/proc/" + std::to_string(server->pid()) + "/stat";
    for (int i = 0; i < 500; ++i) {
      const auto text = test_support::read_file(stat);
      const auto paren = text.rfind(')');
      if (paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'T') return;
      std::this_thread::sleep_for(milliseconds(2));
    }
    FAIL() << "the engine did not stop";
  }

  fs::path dir;
  std::unique_ptr<child_process> server;
  std::string address;
};

// Lookups, sparse and dense pushes and pulls, and a refused call.
void check_calls(const std::string& address) {
  auto c = client::connect(address, secret);
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->table("emb")->width, 8u);
  auto before = c->lookup("emb", {4, 400000, 4}).get();
  ASSERT_TRUE(before) << before.error().to_string();
  ASSERT_EQ(before->size(), 3u);
  std::vector<float> g(8, 2.0f);
  ASSERT_TRUE(c->push("emb", {4}, g).get());
  auto after = c->lookup("emb", {4}).get().value();
  for (int j = 0; j < 8; ++j) EXPECT_EQ(after.values[j], before->values[j] - 1.0f);
  ASSERT_TRUE(c->push_dense("w", 0, {1, 1, 1, 1, 1, 1}).get());
  auto w = c->pull("w", 0, 6).get().value();
  for (float v : w) EXPECT_FLOAT_EQ(v, -0.05f);  // default lr 0.05, init 0
  EXPECT_EQ(c->push("emb", {4}, {1}).get().error().code, api_errc::wrong_width);
}

TEST_F(remote, CallsWorkAcrossProcesses) {
  check_calls(address);
}

// `troupe serve --network-thread`: the shards answer on the engine's
// network thread; every call behaves as before, for several clients at once.
class remote_on_network_thread : public remote {
 protected:
  std::vector<std::string> serve_args() const override {
    auto args = remote::serve_args();
    args.push_back("--network-thread");
    return args;
  }
};

TEST_F(remote_on_network_thread, CallsWorkAcrossProcesses) {
  check_calls(address);
  auto a = client::connect(address, secret);
  auto b = client::connect(address, secret);
  ASSERT_TRUE(a && b);
  std::vector<std::future<void>> both;
  for (auto* c : {&*a, &*b}) {
    both.push_back(std::async(std::launch::async, [c] {
      for (int i = 0; i < 200; ++i) ASSERT_TRUE(c->push_dense("w", 0, {1, 1, 1, 1, 1, 1}).get());
    }));
  }
  for (auto& f : both) f.get();
  auto w = a->pull("w", 0, 6).get().value();
  for (float v : w) EXPECT_NEAR(v, -0.05f * 401, 1e-3);  // check_calls' push and 400 more
  EXPECT_EQ(client::connect(address, "not-the-secret-0123456789abcdef").error().code,
            api_errc::auth_failed);
}

// An engine behind a link that delays everything 300 ms each way. CAF 0.17
// drops a new connection whose peer's handshake has not beaten the next
// heartbeat (every 100 ms by default): with the default peer timeout the
// client cannot connect; with 20 s on both ends it connects and calls work.
class remote_over_a_long_link : public remote {
 protected:
  std::vector<std::string> serve_args() const override {
    auto args = remote::serve_args();
    args.insert(args.end(), {"--peer-timeout", "20"});
    return args;
  }
};

TEST_F(remote_over_a_long_link, ConnectsOnlyWithALongerPeerTimeout) {
  const auto port = static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  test_support::recording_proxy link{"127.0.0.1", port, milliseconds(300)};
  const auto far = "127.0.0.1:" + std::to_string(link.port());
  client_options plain;
  plain.connect_timeout = seconds(5);
  auto refused = client::connect(far, secret, plain);
  ASSERT_FALSE(refused) << "connected over a 600 ms link";
  // Dropped before the handshake on every try, until the deadline.
  EXPECT_TRUE(refused.error().code == api_errc::timeout ||
              refused.error().code == api_errc::unreachable)
      << refused.error().to_string();
  client_options patient;
  patient.connect_timeout = seconds(20);
  patient.peer_timeout = seconds(20);
  auto c = client::connect(far, secret, patient);
  ASSERT_TRUE(c) << c.error().to_string();
  ASSERT_TRUE(c->push_dense("w", 0, {1, 1, 1, 1, 1, 1}).get());
  auto w = c->pull("w", 0, 6).get();
  ASSERT_TRUE(w) << w.error().to_string();
  for (float v : *w) EXPECT_FLOAT_EQ(v, -0.05f);
  // Out of range on either end: refused before anything connects.
  client_options hasty;
  hasty.peer_timeout = milliseconds(10);
  EXPECT_EQ(client::connect(far, secret, hasty).error().code, api_errc::bad_argument);
}

// Either end would drop the other once its heartbeats come too seldom for
// its own timeout: connect() refuses at once, with both values.
TEST_F(remote, AClientWithAnotherPeerTimeoutIsRefused) {
  client_options other;
  other.peer_timeout = seconds(3);
  auto c = client::connect(address, secret, other);
  ASSERT_FALSE(c) << "connected with a 3 s peer timeout to an engine with 1 s";
  EXPECT_EQ(c.error().code, api_errc::bad_argument) << c.error().to_string();
  EXPECT_NE(c.error().message.find("peer timeout mismatch: the engine's is 1000 ms, "
                                   "client_options::peer_timeout 3000 ms"),
            std::string::npos)
      << c.error().to_string();
  check_calls(address);  // the engine still serves clients with its own
}

TEST_F(remote, WrongSecretOrAddressIsRefused) {
  auto c = client::connect(address, "not-the-secret-0123456789abcdef");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, api_errc::auth_failed) << c.error().to_string();
  auto d = client::connect("127.0.0.1:1", secret, {milliseconds(500), milliseconds(2000)});
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, api_errc::unreachable) << d.error().to_string();
  EXPECT_EQ(client::connect("nonsense", secret).error().code, api_errc::bad_argument);
  EXPECT_TRUE(client::connect(address, secret));  // the engine still serves
  // A listener that accepts nothing (a stopped process): each try to connect
  // left a connection in its accept queue, and once the queue was full CAF's
  // blocking connect held the client's shutdown for the kernel's two
  // minutes. Now `timeout`, at about the deadline.
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(fd, 4), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    const auto t0 = std::chrono::steady_clock::now();
    auto silent = client::connect("127.0.0.1:" + std::to_string(ntohs(addr.sin_port)), secret,
                                  {milliseconds(500), milliseconds(1500)});
    const auto took = std::chrono::steady_clock::now() - t0;
    ::close(fd);
    ASSERT_FALSE(silent);
    EXPECT_EQ(silent.error().code, api_errc::timeout) << silent.error().to_string();
    EXPECT_LT(took, seconds(20)) << "the deadline was 1.5 s";
  }
  // The secret file's text as a service reads it, final newline and all
  // (`troupe serve` trims it): auth_failed before.
  const auto as_read = test_support::read_file(dir / "secret");
  ASSERT_EQ(as_read.back(), '\n');
  auto verbatim = client::connect(address, as_read);
  EXPECT_TRUE(verbatim) << verbatim.error().to_string();
}

TEST_F(remote, HungEngineTimesOutThenIsLost) {
  auto c = client::connect(address, secret, {milliseconds(300), seconds(5)}).value();
  ASSERT_TRUE(c.lookup("emb", {1}).get());
  stop_server();
  auto r = c.lookup("emb", {1, 2, 3}).get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, api_errc::timeout) << r.error().to_string();
  // The middleman's heartbeat then declares the silent engine lost (~1 s).
  api_errc code = api_errc::timeout;
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (code == api_errc::timeout && std::chrono::steady_clock::now() < deadline) {
    code = c.lookup("emb", {1}).get().error().code;
  }
  EXPECT_EQ(code, api_errc::peer_lost);
  server->signal(SIGCONT);
}

TEST_F(remote, KilledEngineFailsPendingAndLaterCallsPromptly) {
  auto c = client::connect(address, secret, {seconds(30), seconds(5)}).value();
  ASSERT_TRUE(c.lookup("emb", {1}).get());
  stop_server();  // so that the next call is surely still pending
  auto pending = c.lookup("emb", {1, 2, 3, 4, 5, 6});
  std::this_thread::sleep_for(milliseconds(100));
  const auto t0 = std::chrono::steady_clock::now();
  server->signal(SIGKILL);
  // Promptly means: long before the call's own 30 s timeout, and as peer_lost.
  ASSERT_EQ(pending.wait_for(seconds(20)), std::future_status::ready) << "no answer within 20 s";
  auto r = pending.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, api_errc::peer_lost) << r.error().to_string();
  auto later = c.push("emb", {1}, std::vector<float>(8, 1.0f));
  ASSERT_EQ(later.wait_for(seconds(20)), std::future_status::ready);
  EXPECT_EQ(later.get().error().code, api_errc::peer_lost);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(30) / 3);
}

// Issue 12, problem 5: a client holds a bounded queue. With the engine
// stalled, ten calls for one row (one shard) come in: one goes on the wire
// (window 1), four wait (max_queued 4), and the rest are refused with
// `overloaded` before lookup() even returns, having sent nothing. The
// accepted ones complete once the engine goes on.
TEST_F(remote, AFullClientQueueAnswersOverloadedAtOnce) {
  client_options opts;
  opts.window = 1;
  opts.max_queued = 4;
  auto c = client::connect(address, secret, opts).value();
  ASSERT_TRUE(c.lookup("emb", {1}).get());
  stop_server();
  std::vector<std::future<result<rows>>> accepted;
  std::size_t refused = 0;
  for (int i = 0; i < 10; ++i) {
    auto promise = std::make_shared<std::promise<result<rows>>>();
    // Shared, not a reference to this iteration's stack: an accepted call is
    // answered later, on another thread, after the loop has moved on.
    auto answered_in_call = std::make_shared<std::atomic<bool>>(false);
    const auto caller = std::this_thread::get_id();
    c.lookup("emb", {7}, [answered_in_call, caller, promise](result<rows> r) {
      // true only if still inside lookup(), on this thread
      if (std::this_thread::get_id() == caller) *answered_in_call = true;
      promise->set_value(std::move(r));
    });
    auto f = promise->get_future();
    if (!*answered_in_call) {
      accepted.push_back(std::move(f));
      continue;
    }
    ++refused;
    const auto r = f.get();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, api_errc::overloaded) << r.error().to_string();
    EXPECT_NE(r.error().message.find("max_queued"), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(accepted.size(), opts.max_queued + opts.window);
  EXPECT_EQ(refused + accepted.size(), 10u);
  server->signal(SIGCONT);
  for (auto& f : accepted) {
    auto r = f.get();
    EXPECT_TRUE(r) << r.error().to_string();
  }
  EXPECT_TRUE(c.lookup("emb", {7}).get());  // room again
}

// Pushes fired and forgotten (their futures dropped, as client.hpp's example
// did) that the full queue refused were lost unseen: wait() said nothing. It
// now reports them, once, and how many; the accepted ones are applied.
TEST_F(remote, WaitReportsTheCallsThatFailedSinceTheLastWait) {
  client_options opts;
  opts.window = 1;
  opts.max_queued = 4;
  auto c = client::connect(address, secret, opts).value();
  const auto before = c.lookup("emb", {3}).get().value().values;
  stop_server();
  for (int i = 0; i < 10; ++i) c.push("emb", {3}, std::vector<float>(8, 1.0f));
  server->signal(SIGCONT);
  const auto r = c.wait();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, api_errc::overloaded) << r.error().to_string();
  EXPECT_NE(r.error().message.find("5 calls failed since the last wait() (5 overloaded)"),
            std::string::npos)
      << r.error().message;
  const auto after = c.lookup("emb", {3}).get().value().values;
  for (std::size_t j = 0; j < after.size(); ++j) {
    EXPECT_FLOAT_EQ(after[j], before[j] - 5 * 0.5f) << "the 5 accepted pushes, lr 0.5";
  }
  EXPECT_TRUE(c.wait()) << "each failure is reported once";
  auto bad = c.push("emb", {3}, {1.0f});  // read by the caller, reported by wait() too
  EXPECT_EQ(bad.get().error().code, api_errc::wrong_width);
  EXPECT_EQ(c.wait().error().code, api_errc::wrong_width);
}

// Issue 12, problem 5: the call's timeout counts from the call, so requests
// that wait in the client behind a full window fail at their deadline too,
// together with the one on the wire, instead of one timeout after another.
TEST_F(remote, QueuedCallsFailAtTheirOwnDeadline) {
  client_options opts;
  opts.window = 1;
  opts.timeout = milliseconds(300);
  auto c = client::connect(address, secret, opts).value();
  ASSERT_TRUE(c.lookup("emb", {1}).get());
  stop_server();
  std::mutex mutex;
  std::vector<std::pair<std::chrono::steady_clock::time_point, api_errc>> done;
  for (std::uint64_t i = 0; i < 5; ++i) {
    c.lookup("emb", {i}, [&](result<rows> r) {
      std::lock_guard<std::mutex> lock(mutex);
      done.emplace_back(std::chrono::steady_clock::now(), r ? api_errc::ok : r.error().code);
    });
  }
  c.wait();
  server->signal(SIGCONT);
  ASSERT_EQ(done.size(), 5u);
  for (const auto& d : done) EXPECT_EQ(d.second, api_errc::timeout);
  // Before: the four queued calls were sent one after another as each
  // predecessor timed out, the last 4 x 300 ms after the first.
  EXPECT_LT(done.back().first - done.front().first, opts.timeout);
}

// A call that timed out keeps its slot of the shard's window until the
// engine answers it: freed at the call's deadline, the window bounded
// nothing, and a client with 5 ms timeouts flooding 16 MB pulls got every
// client of the engine disconnected. With the engine stopped: one request
// holds the window past its timeout, the next waits in the queue, and the
// one after finds the queue full at once (before, the timed-out request's
// slot went to the next, which was sent to the stopped engine too).
// A peer timeout of 10 s on both ends: the engine stays stopped for about
// half a second, and a loaded machine must not take that for a lost link.
class remote_patient : public remote {
 protected:
  std::vector<std::string> serve_args() const override {
    auto args = remote::serve_args();
    args.insert(args.end(), {"--peer-timeout", "10"});
    return args;
  }
};

TEST_F(remote_patient, ATimedOutCallKeepsItsWindowSlotUntilTheEngineAnswers) {
  client_options opts;
  opts.peer_timeout = seconds(10);
  opts.window = 1;
  opts.max_queued = 1;
  opts.timeout = milliseconds(200);
  auto c = client::connect(address, secret, opts).value();
  ASSERT_TRUE(c.lookup("emb", {7}).get());
  stop_server();
  EXPECT_EQ(c.lookup("emb", {7}).get().error().code, api_errc::timeout);
  auto queued = c.lookup("emb", {7});
  const auto refused = c.lookup("emb", {7}).get();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, api_errc::overloaded) << refused.error().to_string();
  EXPECT_EQ(queued.get().error().code, api_errc::timeout);
  server->signal(SIGCONT);
  // The engine answers the request it held: the slot is free again.
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  result<rows> r = c.lookup("emb", {7}).get();
  while (!r && std::chrono::steady_clock::now() < deadline) r = c.lookup("emb", {7}).get();
  EXPECT_TRUE(r) << r.error().to_string();
}

// A callback that ends its own client (the last use of a connection, say)
// hung for good: the client waited for its session, which was running that
// callback, and then ended its actor system on one of the system's own
// threads. The teardown now finishes on a thread of its own once the
// callback returns; the engine keeps serving.
TEST_F(remote, ACallbackMayDestroyItsClient) {
  auto owner = std::make_unique<client>(client::connect(address, secret).value());
  std::promise<api_errc> seen;
  owner->lookup("emb", {1}, [&](result<rows> r) {
    owner.reset();
    seen.set_value(r ? api_errc::ok : r.error().code);
  });
  auto done = seen.get_future();
  ASSERT_EQ(done.wait_for(seconds(5)), std::future_status::ready) << "the callback hung";
  EXPECT_EQ(done.get(), api_errc::ok);
  EXPECT_TRUE(client::connect(address, secret).value().lookup("emb", {1}).get());
}

// wait() in a callback would wait for that callback: it says so at once.
TEST_F(remote, WaitInACallbackIsRefused) {
  auto c = client::connect(address, secret).value();
  std::promise<result<void>> waited;
  c.lookup("emb", {1}, [&](result<rows>) { waited.set_value(c.wait()); });
  auto f = waited.get_future();
  ASSERT_EQ(f.wait_for(seconds(5)), std::future_status::ready) << "wait() hung in the callback";
  const auto r = f.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, api_errc::bad_argument);
  EXPECT_NE(r.error().message.find("callback"), std::string::npos) << r.error().message;
  EXPECT_TRUE(c.wait());
}

// A dense table its process cannot allocate (past a memory limit that the
// machine's size does not show: here ulimit -v) fails engine::start, and so
// `troupe serve`, naming the shard; start() said ok and the shard died of
// "unhandled exception: std::bad_alloc", every call to it then peer_lost.
TEST(RemoteEngine, ATableItsProcessCannotAllocateFailsTheStart) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "an ASan build cannot reserve its shadow memory under ulimit -v";
#endif
  const auto dir = fs::temp_directory_path() / ("troupe_serve_oom_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  test_support::write_private_file(dir / "secret", secret + "\n");
  std::ofstream(dir / "big.toml") << "shards = 1\n[[table]]\nname = \"w\"\nkind = \"dense\"\n"
                                     "size = 536870912\n";  // 2 GiB of floats
  child_process serve({"/bin/bash", "-c",
                       "ulimit -v 1500000; exec " + std::string(TROUPE_BINARY) + " serve " +
                           (dir / "big.toml").string() + " --listen 127.0.0.1:0 --secret " +
                           (dir / "secret").string()},
                      dir / "serve.log");
  const auto code = serve.wait_exit(seconds(60));
  ASSERT_TRUE(code.has_value()) << serve.log();
  EXPECT_EQ(*code, 2) << serve.log();
  EXPECT_NE(serve.log().find("out_of_memory: shard 0 cannot allocate its tables"),
            std::string::npos)
      << serve.log();
  EXPECT_EQ(serve.log().find("unhandled exception"), std::string::npos) << serve.log();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace troupe
