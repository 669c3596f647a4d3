// The public service API at its limits: oversized calls, overflowing sums,
// throwing callbacks, invalid optimizer settings and table files. Each call
// is refused with a typed error, nothing is applied, and the engine and the
// client keep serving. Only the public headers are included.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <sstream>

#include "troupe/client.hpp"
#include "troupe/engine.hpp"

namespace troupe {
namespace {

using namespace std::chrono_literals;

// The most floats one message may carry (2^28 bytes, engine/wire/wire_codec.hpp).
constexpr std::uint64_t max_floats = std::uint64_t{1} << 26;

template <class R>
api_errc code(const R& r) {
  return r ? api_errc::ok : r.error().code;
}

// Whether c.wait() returns within a generous bound (a hang is the bug).
bool wait_returns(client& c) {
  auto w = std::async(std::launch::async, [&] { c.wait(); });
  if (w.wait_for(20s) == std::future_status::ready) return true;
  std::fprintf(stderr, "client::wait() hangs\n");
  std::_Exit(3);  // a hung wait() cannot be joined; end the test binary loudly
}

// A bounded table's shard takes at most max_rows rows a request: a call
// with more for one shard is refused before any shard applies its part
// (the shards refused it alone, after the others had applied theirs).
TEST(ServiceLimits, ACallWithMoreRowsThanAShardHoldsChangesNothing) {
  engine_options o;
  o.shards = 2;
  o.threads = 2;
  o.tables = {table::sparse("lru", 1).sgd(1.0f).max_rows(4)};
  auto eng = engine::start(o).value();
  auto c = eng.client().value();
  std::vector<std::uint64_t> ids(9);
  for (std::uint64_t i = 0; i < ids.size(); ++i) ids[i] = i;  // 5 rows on one shard at least
  // Row by row: looking up all nine at once is refused as well. The bound
  // keeps the last four of each shard; nine fit in neither order.
  const auto rows = [&] {
    std::vector<float> out;
    for (auto id : ids) out.push_back(c.lookup("lru", {id}).get().value().values.at(0));
    return out;
  };
  const auto before = rows();
  auto pushed = c.push("lru", ids, std::vector<float>(ids.size(), 1.0f)).get();
  ASSERT_FALSE(pushed);
  EXPECT_EQ(pushed.error().code, api_errc::bad_argument) << pushed.error().to_string();
  EXPECT_NE(pushed.error().message.find("holds at most 4 per shard (max_rows); split the call"),
            std::string::npos)
      << pushed.error().to_string();
  auto looked = c.lookup("lru", ids).get();
  ASSERT_FALSE(looked);
  EXPECT_EQ(looked.error().code, api_errc::bad_argument);
  EXPECT_EQ(rows(), before);  // nothing applied
}

TEST(ServiceLimits, DuplicateSumsThatOverflowAreRefusedAndNothingIsApplied) {
  engine_options o;
  o.shards = 2;
  o.threads = 2;
  o.tables = {table::sparse("emb", 1).init(0.5f).sgd(1.0f)};
  auto e = engine::start(o).value();
  auto c = e.client().value();
  const std::vector<std::uint64_t> ids{1, 2, 3, 4};
  const auto before = c.lookup("emb", ids).get().value().values;
  // Each value is finite; the sum of row 1's two gradients is not.
  auto r = c.push("emb", {1, 1, 2, 3, 4}, {3e38f, 3e38f, 1, 1, 1}).get();
  ASSERT_EQ(code(r), api_errc::non_finite);
  EXPECT_NE(r.error().message.find("row 1"), std::string::npos) << r.error().message;
  c.wait();
  EXPECT_EQ(c.lookup("emb", ids).get().value().values, before);  // no shard applied its part
  // One such gradient alone: finite, but two of them, or its square in an
  // optimizer's state, would not be; refused before anything is sent.
  r = c.push("emb", {2, 3}, {1, 3e38f}).get();
  ASSERT_EQ(code(r), api_errc::non_finite);
  EXPECT_NE(r.error().message.find("row 3 holds 3e+38, beyond the largest gradient"),
            std::string::npos)
      << r.error().message;
  c.wait();
  EXPECT_EQ(c.lookup("emb", ids).get().value().values, before);
  ASSERT_TRUE(c.push("emb", {1, 1}, {1, 2}).get());  // a finite sum still lands
  EXPECT_FLOAT_EQ(c.lookup("emb", {1}).get().value().values[0], before[0] - 3.0f);
}

TEST(ServiceLimits, OversizedCallsAreRefusedAndTheShardKeepsServing) {
  engine_options o;
  o.shards = 1;
  o.threads = 2;
  const std::uint64_t n = max_floats + 16;  // just over one message: 256 MiB of table
  o.tables = {table::dense("big", n).sgd(1.0f), table::sparse("wide", 1u << 20).sgd(1.0f)};
  auto e = engine::start(o).value();
  auto c = e.client().value();
  auto pulled = c.pull("big", 0, n).get();
  ASSERT_EQ(code(pulled), api_errc::bad_argument);
  EXPECT_NE(pulled.error().message.find("split"), std::string::npos) << pulled.error().message;
  // 65 rows of 2^20 floats are one row over the limit; refused before any is made.
  std::vector<std::uint64_t> ids(65);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = i;
  EXPECT_EQ(code(c.lookup("wide", ids).get()), api_errc::bad_argument);
  // 100,000 rows would be ~400 GB: refused before the result is sized (it
  // was sized first, and std::bad_alloc left the API or the OOM killer came).
  ids.resize(100000);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = i;
  EXPECT_EQ(code(c.lookup("wide", ids).get()), api_errc::bad_argument);
  {
    auto pushed = c.push_dense("big", 0, std::vector<float>(n, 0.5f));
    ASSERT_EQ(pushed.wait_for(20s), std::future_status::ready);
    EXPECT_EQ(code(pushed.get()), api_errc::bad_argument);
  }
  EXPECT_TRUE(wait_returns(c));
  // The shard is alive and nothing was applied.
  auto tail = c.pull("big", n - 4, 4).get();
  ASSERT_TRUE(tail) << tail.error().to_string();
  EXPECT_EQ(tail->size(), 4u);
  ASSERT_TRUE(c.lookup("wide", {1}).get());
  auto part = c.pull("big", 0, max_floats).get();  // exactly one message is fine
  ASSERT_TRUE(part) << part.error().to_string();
  EXPECT_EQ(part->size(), max_floats);
}

TEST(ServiceLimits, ACallbackThrowingAnythingLeavesTheClientServing) {
  engine_options o;
  o.shards = 1;
  o.threads = 2;
  o.tables = {table::sparse("emb", 4)};
  auto e = engine::start(o).value();
  auto c = e.client().value();
  std::promise<void> ran;
  c.lookup("emb", {1}, [&](result<rows>) {
    ran.set_value();
    throw 42;  // not a std::exception
  });
  ASSERT_EQ(ran.get_future().wait_for(20s), std::future_status::ready);
  auto next = c.lookup("emb", {2});
  ASSERT_EQ(next.wait_for(20s), std::future_status::ready);
  EXPECT_TRUE(next.get());
  EXPECT_TRUE(wait_returns(c));
}

// A call's timeout holds while the engine's threads are busy. With one
// scheduler thread applying a push of a million new rows, a lookup with a
// 20 ms timeout used to hear `timeout` only when the shard let the client's
// session run again (after 0.4-0.6 s: the session is an actor on the same
// thread). Now it hears it at its deadline, long before the push is done.
TEST(ServiceLimits, ACallTimesOutAtItsDeadlineWhileTheEnginesThreadsAreBusy) {
  engine_options o;
  o.shards = 1;
  o.threads = 1;
  o.tables = {table::sparse("emb", 16).sgd(0.1f)};
  auto e = engine::start(o).value();
  auto bulk = e.client().value();
  client_options quick;
  quick.timeout = 20ms;
  auto c = e.client(quick).value();
  ASSERT_TRUE(bulk.lookup("emb", {1}).get());  // the shard is up
  const std::size_t n = 1000000;
  std::vector<std::uint64_t> ids(n);
  for (std::size_t i = 0; i < n; ++i) ids[i] = 1000 + i;  // new rows: the slow case
  const auto t0 = std::chrono::steady_clock::now();
  auto pushed = bulk.push("emb", std::move(ids), std::vector<float>(n * 16, 0.5f));
  const auto t1 = std::chrono::steady_clock::now();
  auto looked = c.lookup("emb", {1});
  ASSERT_EQ(looked.wait_for(20s), std::future_status::ready);
  const auto t2 = std::chrono::steady_clock::now();
  const bool push_done_first = pushed.wait_for(0s) == std::future_status::ready;
  auto r = looked.get();
  ASSERT_TRUE(pushed.get());
  const auto t3 = std::chrono::steady_clock::now();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, api_errc::timeout) << r.error().to_string();
  EXPECT_NE(r.error().message.find("lookup on table 'emb': no answer within the call's timeout"),
            std::string::npos)
      << r.error().message;
  EXPECT_FALSE(push_done_first);
  // Compared with the push it waited behind, not with a clock: the lookup
  // ended in well under half the push's time.
  EXPECT_LT((t2 - t1) * 2, t3 - t0)
      << "lookup " << (t2 - t1).count() / 1000 << " us, push " << (t3 - t0).count() / 1000 << " us";
  // Nothing is left behind: the late reply changes nothing, the push landed
  // whole, and no call stays open.
  auto again = bulk.lookup("emb", {1000});
  ASSERT_EQ(again.wait_for(20s), std::future_status::ready);
  auto row = again.get();
  ASSERT_TRUE(row) << row.error().to_string();
  EXPECT_TRUE(wait_returns(c));
  EXPECT_TRUE(wait_returns(bulk));
}

TEST(ServiceLimits, InvalidOptimizerSettingsAreRefusedNamingTheTable) {
  auto refused = [](void (*edit)(optimizer_options&)) {
    engine_options o;
    o.shards = 1;
    o.tables = {table::sparse("emb", 2).adam(0.1f)};
    edit(o.tables[0].optimizer);
    auto e = engine::start(o);
    if (e) return std::string("started");
    EXPECT_EQ(e.error().code, api_errc::bad_argument);
    EXPECT_NE(e.error().message.find("'emb'"), std::string::npos) << e.error().message;
    return e.error().message;
  };
  static constexpr float nan = std::numeric_limits<float>::quiet_NaN();
  static constexpr float inf = std::numeric_limits<float>::infinity();
  EXPECT_NE(refused([](optimizer_options& o) { o.epsilon = 0; }).find("epsilon"),
            std::string::npos);
  EXPECT_NE(refused([](optimizer_options& o) { o.epsilon = inf; }), "started");
  EXPECT_NE(refused([](optimizer_options& o) { o.beta1 = 1; }).find("beta1"), std::string::npos);
  EXPECT_NE(refused([](optimizer_options& o) { o.beta2 = -0.1f; }).find("beta2"),
            std::string::npos);
  EXPECT_NE(refused([](optimizer_options& o) { o.momentum = 1; }).find("momentum"),
            std::string::npos);
  EXPECT_NE(refused([](optimizer_options& o) { o.weight_decay = nan; }).find("decay"),
            std::string::npos);
  EXPECT_NE(refused([](optimizer_options& o) { o.weight_decay = -1; }), "started");
  // Finite, but one push of 1e10 set a value to -inf, which was then served.
  EXPECT_NE(refused([](optimizer_options& o) {
              o.learning_rate = 1e30f;
            }).find("the learning rate must be at most 1e6"),
            std::string::npos);
  // Finite, but the shards served inf, then NaN, while every push was acknowledged.
  EXPECT_NE(refused([](optimizer_options& o) { o.weight_decay = 1e30f; }).find("at most 1e6"),
            std::string::npos);
  for (const auto kind : {optimizer_type::sgd, optimizer_type::momentum}) {
    engine_options o;
    o.shards = 1;
    o.tables = {table::sparse("emb", 2).sgd(1.0f)};
    o.tables[0].optimizer.type = kind;
    o.tables[0].optimizer.momentum = 0.5f;
    o.tables[0].optimizer.weight_decay = 1e3f;  // reached inf after 13 pushes of zeros
    auto e = engine::start(o);
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().message.find("learning rate x weight decay"), std::string::npos)
        << e.error().message;
    o.tables[0].optimizer.weight_decay = 0.5f;
    EXPECT_TRUE(engine::start(o));
  }
  // Adagrad's first step from values of 1e38 with a decay of 1e6 was NaN,
  // served after an acknowledged push.
  engine_options huge;
  huge.shards = 1;
  huge.tables = {table::sparse("emb", 2).adagrad(1e-3f).init(1e38f)};
  huge.tables[0].optimizer.weight_decay = 1e6f;
  auto refused_init = engine::start(huge);
  ASSERT_FALSE(refused_init);
  EXPECT_NE(refused_init.error().message.find("init bound must be at most 1e6"), std::string::npos)
      << refused_init.error().message;
  huge.tables[0].init_bound = 1e6f;
  EXPECT_TRUE(engine::start(huge));
  engine_options fine;
  fine.shards = 1;
  fine.tables = {table::sparse("emb", 2).adam(0.1f)};
  fine.tables[0].optimizer.momentum = 0;
  fine.tables[0].optimizer.weight_decay = 0.01f;
  EXPECT_TRUE(engine::start(fine));
}

TEST(ServiceLimits, TableFileValuesAboveTheirTypeAreRefusedNamingTheKey) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / ("troupe-limits-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "tables.toml") << "shards = 4294967298\n"  // 2^32 + 2: wraps to 2
                                     << "[[table]]\nname = \"emb\"\nwidth = 4\n";
  // A secret too short to use: a run that got past the table file would
  // complain about it instead.
  std::ofstream(dir / "secret") << "short";
  const std::string cmd = std::string(TROUPE_BINARY) + " serve " + (dir / "tables.toml").string() +
                          " --listen 127.0.0.1:0 --secret " + (dir / "secret").string() + " > " +
                          (dir / "out.log").string() + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::stringstream log;
  log << std::ifstream(dir / "out.log").rdbuf();
  EXPECT_NE(rc, 0);
  EXPECT_NE(log.str().find("shards = 4294967298 is above its limit"), std::string::npos)
      << log.str();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace troupe
