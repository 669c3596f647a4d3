// The public service API in one process: an engine, its clients, every call
// and every typed error. Only the public headers are included.
#include <gtest/gtest.h>

#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "troupe/client.hpp"
#include "troupe/engine.hpp"

namespace troupe {
namespace {

constexpr std::uint32_t width = 4;

engine_options small_engine(std::uint32_t shards = 3, float init = 0.5f) {
  engine_options o;
  o.shards = shards;
  o.threads = 2;
  o.tables = {table::sparse("emb", width).init(init).with_seed(7).sgd(0.5f),
              table::sparse("bounded", 2).sgd(1.0f).max_row_id(100),
              table::dense("bias", 10).init(0.25f).with_seed(3).sgd(0.5f)};
  return o;
}

// A result is a value or an error; an error of code ok made a result<T>
// that was no value (ok() false) and yet said ok, and value() threw
// "ok: x". It is `internal` now; a result<void> of code ok is a success.
TEST(Result, AnErrorOfCodeOkIsNoValueAndSaysSo) {
  const result<int> r(api_errc::ok, "x");
  EXPECT_FALSE(r);
  EXPECT_EQ(r.error().code, api_errc::internal);
  EXPECT_EQ(r.error().message, "an error of code ok: x");
  try {
    (void)r.value();
    FAIL() << "value() of an error";
  } catch (const bad_result_access& e) {
    EXPECT_EQ(e.error().code, api_errc::internal);
  }
  const result<int> v(3);
  EXPECT_TRUE(v);
  EXPECT_EQ(v.error().code, api_errc::ok);
  EXPECT_EQ(*v, 3);
  EXPECT_TRUE(result<void>(api_errc::ok, ""));
  EXPECT_FALSE(result<void>(api_errc::timeout, "late"));
}

struct service : ::testing::Test {
  engine eng = engine::start(small_engine()).value();
  client c = eng.client().value();

  std::vector<float> row_of(const std::string& t, std::uint64_t id) {
    auto r = c.lookup(t, {id}).get().value();
    return r.values;
  }
};

TEST_F(service, LookupCreatesSeededRowsAndRepeatsThem) {
  auto first = c.lookup("emb", {1, 2, 1000000007}).get();
  ASSERT_TRUE(first) << first.error().to_string();
  ASSERT_EQ(first->size(), 3u);
  ASSERT_EQ(first->width, width);
  bool any_nonzero = false;
  for (float v : first->values) {
    EXPECT_LE(std::fabs(v), 0.5f);
    any_nonzero |= v != 0;
  }
  EXPECT_TRUE(any_nonzero);
  auto again = c.lookup("emb", {1, 2, 1000000007}).get().value();
  EXPECT_EQ(again.values, first->values);
  // Same seed in another engine (other shard count): the same rows.
  auto other = engine::start(small_engine(1)).value();
  auto oc = other.client().value();
  EXPECT_EQ(oc.lookup("emb", {1, 2, 1000000007}).get().value().values, first->values);
}

TEST_F(service, PushThenLookupShowsTheSgdStepExactly) {
  const auto before = row_of("emb", 11);
  const std::vector<float> g{1, -2, 3, 0.5f};
  auto pushed = c.push("emb", {11}, g).get();
  ASSERT_TRUE(pushed) << pushed.error().to_string();
  const auto after = row_of("emb", 11);
  for (std::uint32_t j = 0; j < width; ++j) EXPECT_EQ(after[j], before[j] - 0.5f * g[j]);
}

// An empty callback makes a call fire and forget: it was called, and
// logged "a completion callback threw: bad_function_call" per call. A
// failure is wait()'s to report.
TEST_F(service, AnEmptyCallbackFiresAndForgets) {
  const auto before = row_of("emb", 12);
  ::testing::internal::CaptureStdout();  // where the engine logs
  c.push("emb", {12}, std::vector<float>(width, 1.0f), nullptr);
  c.push("emb", {12}, std::vector<float>(width + 1, 1.0f), nullptr);  // refused
  c.lookup("emb", {12}, nullptr);
  const auto waited = c.wait();
  const auto log = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(log.find("callback threw"), std::string::npos) << log;
  ASSERT_FALSE(waited);
  EXPECT_EQ(waited.error().code, api_errc::wrong_width) << waited.error().to_string();
  const auto after = row_of("emb", 12);
  for (std::uint32_t j = 0; j < width; ++j) EXPECT_EQ(after[j], before[j] - 0.5f);
  EXPECT_TRUE(c.wait());  // each failure is reported once
}

TEST_F(service, DuplicateIdsAreLookedUpAndSummed) {
  auto r = c.lookup("emb", {3, 9, 3, 3}).get().value();
  ASSERT_EQ(r.size(), 4u);
  for (std::uint32_t j = 0; j < width; ++j) {
    EXPECT_EQ(r.row(0)[j], r.row(2)[j]);
    EXPECT_EQ(r.row(0)[j], r.row(3)[j]);
    EXPECT_EQ(r.row(1)[j], row_of("emb", 9)[j]);
  }
  const auto before = row_of("emb", 3);
  ASSERT_TRUE(c.push("emb", {3, 3}, {1, 1, 1, 1, 2, 2, 2, 2}).get());
  const auto after = row_of("emb", 3);
  for (std::uint32_t j = 0; j < width; ++j) EXPECT_EQ(after[j], before[j] - 0.5f * 3.0f);
}

TEST_F(service, DenseRangesAcrossShards) {
  auto all = c.pull("bias", 0, 10).get();
  ASSERT_TRUE(all) << all.error().to_string();
  ASSERT_EQ(all->size(), 10u);
  for (float v : *all) EXPECT_LE(std::fabs(v), 0.25f);
  std::vector<float> g{1, 2, 3, 4, 5, 6};
  ASSERT_TRUE(c.push_dense("bias", 2, g).get());  // [2, 8) spans all three shards
  auto mid = c.pull("bias", 1, 8).get().value();
  ASSERT_EQ(mid.size(), 8u);
  for (std::uint64_t k = 1; k < 9; ++k) {
    const float step = (k >= 2 && k < 8) ? 0.5f * g[k - 2] : 0.0f;
    EXPECT_EQ(mid[k - 1], (*all)[k] - step) << "key " << k;
  }
  EXPECT_TRUE(c.pull("bias", 4, 0).get().value().empty());
}

TEST(ServiceConcurrency, ManyThreadsPushesSumExactly) {
  auto o = small_engine(2, 0.0f);
  o.tables[0].sgd(1.0f);
  auto eng = engine::start(o).value();
  client_options small_window;
  small_window.window = 2;  // most requests wait in the client's backlog
  auto c = eng.client(small_window).value();
  constexpr int threads = 8, pushes = 150;
  const std::vector<std::uint64_t> ids{0, 1, 2, 3, 4, 5, 6, 7};
  std::atomic<int> failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < pushes; ++i) {
        // Thread t pushes 1 to row t % 8 and t+1 to row (t+i) % 8, each column alike.
        std::vector<std::uint64_t> rows{ids[t % 8], ids[(t + i) % 8]};
        std::vector<float> g(2 * width);
        for (std::uint32_t j = 0; j < width; ++j) g[j] = 1, g[width + j] = float(t + 1);
        if (i % 2 == 0) {
          c.push("emb", rows, g, [&](result<void> r) { failures += !r; });
        } else {
          failures += !c.push("emb", rows, g).get();
        }
        if (i % 10 == 0) failures += !c.lookup("emb", ids).get();
      }
    });
  }
  for (auto& th : pool) th.join();
  c.wait();
  EXPECT_EQ(failures.load(), 0);
  std::vector<double> expected(8, 0);
  for (int t = 0; t < threads; ++t) {
    for (int i = 0; i < pushes; ++i) {
      expected[t % 8] -= 1;
      expected[(t + i) % 8] -= t + 1;
    }
  }
  auto r = c.lookup("emb", ids).get().value();
  for (std::size_t k = 0; k < 8; ++k) {
    for (std::uint32_t j = 0; j < width; ++j) EXPECT_EQ(r.row(k)[j], expected[k]) << "row " << k;
  }
}

// max_queued counts requests waiting for a free slot of a shard's window.
// It counted every part from the call until the session sent it: four
// threads doing one synchronous lookup at a time on an engine of 32 shards
// (at most 4 requests per shard, a quarter of the window) were refused as
// `overloaded` on most calls (596 of 800), since two calls' parts on their
// way to the session already made 64.
TEST(ServiceConcurrency, CallsWithinTheShardsWindowsAreNeverOverloaded) {
  auto o = small_engine(32);
  auto eng = engine::start(o).value();
  auto c = eng.client().value();
  std::vector<std::uint64_t> ids(1000);
  for (std::uint64_t i = 0; i < ids.size(); ++i) ids[i] = i * 7919;
  constexpr int threads = 4, calls = 50;
  std::atomic<int> overloaded{0}, other{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = 0; i < calls; ++i) {
        auto r = c.lookup("emb", ids).get();
        if (!r) ++(r.error().code == api_errc::overloaded ? overloaded : other);
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(overloaded.load(), 0) << "of " << threads * calls << " calls";
  EXPECT_EQ(other.load(), 0);
  EXPECT_TRUE(c.wait());
}

TEST_F(service, TypedErrorsApplyNothingAndTheShardsKeepServing) {
  const auto before = row_of("emb", 5);
  auto code = [](const auto& r) { return r ? api_errc::ok : r.error().code; };
  EXPECT_EQ(code(c.lookup("nope", {1}).get()), api_errc::unknown_table);
  EXPECT_EQ(code(c.push("nope", {1}, {1, 2, 3, 4}).get()), api_errc::unknown_table);
  EXPECT_EQ(code(c.push("emb", {5}, {1, 2, 3}).get()), api_errc::wrong_width);
  EXPECT_EQ(code(c.push("emb", {5, 6}, {1, 2, 3, 4}).get()), api_errc::wrong_width);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto bad = c.push("emb", {5, 6}, {1, 2, 3, 4, 5, nan, 7, 8}).get();
  EXPECT_EQ(code(bad), api_errc::non_finite);
  EXPECT_NE(bad.error().message.find("row 6"), std::string::npos) << bad.error().message;
  EXPECT_EQ(code(c.push("emb", {5}, {1, std::numeric_limits<float>::infinity(), 0, 0}).get()),
            api_errc::non_finite);
  EXPECT_EQ(code(c.lookup("bounded", {99, 100}).get()), api_errc::out_of_range);
  EXPECT_EQ(code(c.push("bounded", {1000}, {1, 1}).get()), api_errc::out_of_range);
  EXPECT_EQ(code(c.pull("bias", 5, 6).get()), api_errc::out_of_range);
  EXPECT_EQ(code(c.push_dense("bias", 9, {1, 2}).get()), api_errc::out_of_range);
  EXPECT_EQ(code(c.push_dense("bias", 0, {nan}).get()), api_errc::non_finite);
  EXPECT_EQ(code(c.pull("emb", 0, 1).get()), api_errc::bad_argument);
  EXPECT_EQ(code(c.lookup("bias", {0}).get()), api_errc::bad_argument);
  c.wait();
  EXPECT_EQ(row_of("emb", 5), before);  // nothing applied
  EXPECT_TRUE(c.lookup("bounded", {99}).get());
  ASSERT_TRUE(c.push("emb", {5}, {2, 2, 2, 2}).get());  // still serving
  EXPECT_EQ(row_of("emb", 5)[0], before[0] - 1.0f);
}

TEST_F(service, TablesAndIdsAreDescribed) {
  auto t = c.table("emb");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->is_sparse);
  EXPECT_EQ(t->width, width);
  EXPECT_EQ(c.table("bounded")->row_id_limit, 100u);
  EXPECT_EQ(c.table("bias")->size, 10u);
  EXPECT_EQ(c.table("x").error().code, api_errc::unknown_table);
  EXPECT_EQ(c.tables().size(), 3u);
  auto second = eng.client().value();
  EXPECT_NE(second.id(), c.id());  // pushes of two clients never share (id, seq)
  client third = std::move(second);
  EXPECT_TRUE(third.lookup("emb", {1}).get());
  EXPECT_EQ(second.lookup("emb", {1}).get().error().code, api_errc::stopped);  // NOLINT: moved from
}

// Assigned to itself, an engine goes on serving (it used to stop itself,
// and its clients then got peer_lost).
TEST_F(service, AnEngineAssignedToItselfKeepsServing) {
  auto& same = eng;
  eng = std::move(same);
  EXPECT_TRUE(c.lookup("emb", {1}).get());
  EXPECT_TRUE(eng.client());
}

// A stopped engine's clients get `stopped`, table calls and clock calls
// alike: table calls said peer_lost, which a service also gets from a lost
// link, and could not tell a shutdown of its own from a failure.
TEST_F(service, StoppedEngineTurnsCallsIntoStopped) {
  ASSERT_TRUE(c.lookup("emb", {1}).get());
  eng.stop();
  for (int i = 0; i < 2; ++i) {
    auto r = c.lookup("emb", {1, 2, 3}).get();
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().code == api_errc::stopped) << r.error().to_string();
  }
  EXPECT_EQ(c.push("emb", {1}, std::vector<float>(width, 1.0f)).get().error().code,
            api_errc::stopped);
  const auto waited = c.wait();
  ASSERT_FALSE(waited);
  EXPECT_EQ(waited.error().code, api_errc::stopped) << waited.error().to_string();
  EXPECT_EQ(eng.client().error().code, api_errc::stopped);
}

// Calls racing stop(), and calls right after it returned: a request that
// reached a shard already gone failed with peer_lost ("outcome unknown": a
// service would retry or page someone during its own shutdown) before the
// shard's down message said why; 14 of 42 racing calls, and 1 in 50 calls
// made after stop() returned. Each is `stopped` now.
TEST(ServiceClients, CallsAroundStopAreStoppedNeverLost) {
  std::map<api_errc, int> seen;
  for (int round = 0; round < 12; ++round) {
    auto eng = engine::start(small_engine(2)).value();
    auto c = eng.client().value();
    ASSERT_TRUE(c.lookup("emb", {1}).get());
    std::atomic<bool> go{false};
    std::mutex m;
    std::vector<std::thread> callers;
    for (int t = 0; t < 2; ++t) {
      callers.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        for (;;) {
          auto r = c.lookup("emb", {static_cast<std::uint64_t>(t), 7});
          auto got = r.get();
          if (!got) {
            std::lock_guard<std::mutex> lock(m);
            ++seen[got.error().code];
            EXPECT_EQ(got.error().code, api_errc::stopped) << got.error().to_string();
            return;
          }
        }
      });
    }
    go = true;
    std::this_thread::sleep_for(std::chrono::microseconds(300 * round));
    eng.stop();
    for (auto& t : callers) t.join();
    const auto after = c.lookup("emb", {2, 3}).get();
    ASSERT_FALSE(after);
    EXPECT_EQ(after.error().code, api_errc::stopped) << after.error().to_string();
  }
  EXPECT_EQ(seen[api_errc::stopped], 24);
}

// client() racing stop() on another thread: each call gets a client or
// `stopped`, never the timeout or lost peer that the directory's end looks
// like from inside.
TEST(ServiceClients, AClientAskedForWhileTheEngineStopsIsStoppedOrWorks) {
  for (int round = 0; round < 20; ++round) {
    auto eng = engine::start(small_engine(2)).value();
    std::atomic<bool> go{false};
    std::vector<api_error> errors;
    std::thread asker([&] {
      while (!go.load()) std::this_thread::yield();
      for (;;) {
        auto c = eng.client();
        if (!c) {
          errors.push_back(c.error());
          return;
        }
      }
    });
    go = true;
    std::this_thread::sleep_for(std::chrono::microseconds(200 * round));
    eng.stop();
    asker.join();
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].code, api_errc::stopped) << errors[0].to_string();
  }
}

// Bytes the allocator holds for this process right now (glibc), after
// handing freed memory back.
std::size_t heap_in_use() {
  malloc_trim(0);
  return mallinfo2().uordblks;
}

// A table service runs for months while clients connect and go. Each
// client's session monitored the shards, and CAF 0.17 keeps a monitor on
// the monitored actor until *it* ends: every client ever connected left
// ~1.3 KB in the shards. Sessions now take their monitors along.
TEST(ServiceClients, ClientsThatComeAndGoLeaveNothingBehind) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "heap accounting is glibc's; ASan replaces the allocator";
#endif
  auto eng = engine::start(small_engine(2)).value();
  client_options quick;
  quick.timeout = std::chrono::milliseconds(200);  // pending request timeouts hold memory
  const auto come_and_go = [&](int n) {
    for (int i = 0; i < n; ++i) {
      auto c = eng.client(quick);
      ASSERT_TRUE(c) << c.error().to_string();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(400));  // past every deadline
  };
  come_and_go(50);  // caches and pools sized
  const auto before = heap_in_use();
  constexpr int clients = 1000;
  come_and_go(clients);
  const auto after = heap_in_use();
  const double per_client = (static_cast<double>(after) - static_cast<double>(before)) / clients;
  EXPECT_LT(per_client, 200.0) << before << " -> " << after << " bytes of heap";
  // Clients that made a call with a long timeout: each session's sweep for
  // that call's deadline (plus grace) kept its memory until then, ~1.7 KB a
  // client for an hour. Sweeps come at most 2 s apart now.
  client_options patient;
  patient.timeout = std::chrono::hours(1);
  const auto call_and_go = [&](int n) {
    for (int i = 0; i < n; ++i) {
      auto c = eng.client(patient).value();
      ASSERT_TRUE(c.lookup("emb", {1}).get());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  };
  call_and_go(50);
  const auto ready = heap_in_use();
  call_and_go(clients);
  const auto later = heap_in_use();
  const double per_caller = (static_cast<double>(later) - static_cast<double>(ready)) / clients;
  EXPECT_LT(per_caller, 200.0) << ready << " -> " << later << " bytes of heap";
}

TEST(ServiceOptions, InvalidEnginesAreRefused) {
  auto code = [](engine_options o) {
    auto e = engine::start(std::move(o));
    return e ? api_errc::ok : e.error().code;
  };
  EXPECT_EQ(code({}), api_errc::bad_argument);  // no table
  auto o = small_engine();
  o.tables.push_back(table::dense("bias", 3));
  EXPECT_EQ(code(o), api_errc::bad_argument);  // duplicate name
  o = small_engine();
  o.tables[0].width = 0;
  EXPECT_EQ(code(o), api_errc::bad_argument);
  o = small_engine();
  o.tables[2].sgd(-1.0f);
  EXPECT_EQ(code(o), api_errc::bad_argument);
  o = small_engine();
  o.tables[2].max_rows(100);  // a dense table has no rows: was ignored
  EXPECT_EQ(code(o), api_errc::bad_argument);
  o = small_engine();
  o.tables[2].max_row_id(100);
  EXPECT_EQ(code(o), api_errc::bad_argument);
  o = small_engine();
  o.listen = "127.0.0.1:0";
  o.secret = "short";
  EXPECT_EQ(code(o), api_errc::bad_argument);
  o.secret = "a-long-enough-secret-0123456789";
  o.listen = "not an address";
  EXPECT_EQ(code(o), api_errc::bad_argument);
  o = small_engine();
  o.shards = 0;
  EXPECT_EQ(code(o), api_errc::bad_argument);
  o = small_engine();
  o.threads = 100000;  // CAF would throw creating them
  EXPECT_EQ(code(o), api_errc::bad_argument);
  o = small_engine();
  o.peer_timeout = std::chrono::milliseconds(10);  // heartbeats every 1 ms
  EXPECT_EQ(code(o), api_errc::bad_argument);
  o.peer_timeout = std::chrono::minutes(11);
  EXPECT_EQ(code(o), api_errc::bad_argument);
  // 2^34 floats (64 GiB, 192 with Adam's moments): refused before any shard
  // allocates them (on a machine with less memory than that).
  o = small_engine();
  o.tables.push_back(table::dense("huge", std::uint64_t{1} << 34).adam(0.01f));
  auto e = engine::start(o);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("the dense tables need"), std::string::npos)
      << e.error().to_string();
}

// A deadline of "never" written as milliseconds::max() overflowed the call's
// deadline into the past: every call failed at once with `timeout`. Options
// no client can work with are refused when the client is made.
TEST(ServiceOptions, ClientOptionsNoCallCouldUseAreRefused) {
  auto e = engine::start(small_engine()).value();
  for (const auto t : {std::chrono::milliseconds::max(), std::chrono::milliseconds(0),
                       std::chrono::milliseconds(-5)}) {
    client_options o;
    o.timeout = t;
    const auto c = e.client(o);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, api_errc::bad_argument);
    EXPECT_NE(c.error().message.find("client_options::timeout"), std::string::npos)
        << c.error().message;
  }
  client_options none;
  none.window = 0;
  EXPECT_EQ(e.client(none).error().code, api_errc::bad_argument);
  client_options no_queue;
  no_queue.max_queued = 0;  // was taken as 1, silently
  EXPECT_EQ(e.client(no_queue).error().code, api_errc::bad_argument);
  client_options far;
  far.connect_timeout = std::chrono::hours(24 * 400);
  EXPECT_EQ(client::connect("127.0.0.1:1", "a-long-enough-secret-0123456789", far).error().code,
            api_errc::bad_argument);
  client_options year;
  year.timeout = std::chrono::hours(24 * 365);  // the longest allowed: calls work
  auto c = e.client(year).value();
  EXPECT_TRUE(c.lookup("emb", {1}).get());
}

// A callback may end its client: on an engine thread (it waited 10 s for
// the session that ran it), before the call that ran it has returned (a
// refusal calls back at once; the call must not lose its client half-way),
// or by assigning another client to it.
TEST(ServiceClients, ACallbackMayEndItsClient) {
  auto e = engine::start(small_engine()).value();
  auto a = std::make_unique<client>(e.client().value());
  std::promise<bool> answered;
  a->lookup("emb", {1}, [&](result<rows> r) {
    a.reset();
    answered.set_value(static_cast<bool>(r));
  });
  auto f = answered.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(f.get());

  auto b = std::make_unique<client>(e.client().value());
  api_errc code = api_errc::ok;
  b->lookup("no-such-table", {1}, [&](result<rows> r) {
    code = r.error().code;
    b.reset();
  });
  EXPECT_EQ(code, api_errc::unknown_table);
  EXPECT_EQ(b, nullptr);

  client c = e.client().value();
  client spare = e.client().value();
  const auto spare_id = spare.id();
  c.lookup("no-such-table", {1}, [&](result<rows>) { c = std::move(spare); });
  EXPECT_EQ(c.id(), spare_id);
  EXPECT_TRUE(c.lookup("emb", {1}).get());
}

// Calls on a moved-from client answer `stopped`; a callback that throws
// there is logged and dropped as everywhere else, not thrown at the caller.
TEST(ServiceOptions, AMovedFromClientsThrowingCallbackStaysInside) {
  auto e = engine::start(small_engine()).value();
  auto a = e.client().value();
  client b = std::move(a);
  bool called = false;
  EXPECT_NO_THROW(a.lookup("emb", {1}, [&](result<rows> r) {  // NOLINT: moved from
    called = true;
    EXPECT_EQ(r.error().code, api_errc::stopped);
    throw std::runtime_error("a user's callback");
  }));
  EXPECT_TRUE(called);
  EXPECT_EQ(a.wait().error().code, api_errc::stopped);              // NOLINT: moved from
  EXPECT_EQ(a.table("emb").error().code, api_errc::stopped);        // NOLINT: moved from
  EXPECT_NO_THROW(a.lookup("emb", {1}, client::callback<rows>{}));  // NOLINT: moved from
  EXPECT_TRUE(b.lookup("emb", {1}).get());
}

TEST(ServiceOptions, EnginesInOneProcessAreIndependent) {
  auto a = engine::start(small_engine(2)).value();
  auto b = engine::start(small_engine(2)).value();
  auto ca = a.client().value();
  auto cb = b.client().value();
  const auto before = cb.lookup("emb", {1}).get().value().values;
  ASSERT_TRUE(ca.push("emb", {1}, {1, 1, 1, 1}).get());
  EXPECT_EQ(cb.lookup("emb", {1}).get().value().values, before);
  EXPECT_NE(ca.lookup("emb", {1}).get().value().values, before);
}

TEST(ServiceTrain, RunsAJobFileAndReportsBadOnes) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist")) {
    GTEST_SKIP() << "Fashion-MNIST is not installed (scripts/setup.sh)";
  }
  const auto dir = std::filesystem::temp_directory_path() /
                   ("troupe_service_train_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto job = dir / "job.toml";
  std::ofstream(job) << "[job]\nepochs = 1\noutput_dir = \"" << (dir / "run").string()
                     << "\"\n[data]\ntrain_limit = 2048\ntest_limit = 512\n"
                        "[train]\nbackend = \"cpu\"\n";
  auto s = engine::train(job.string());
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_EQ(s->epochs, 1u);
  EXPECT_GT(s->test_accuracy, 0.3);  // 10 classes: well above chance after one epoch
  EXPECT_NE(s->line.find("test_accuracy="), std::string::npos);
  std::ofstream(job) << "[job]\nepochs = -3\n";
  EXPECT_EQ(engine::train(job.string()).error().code, api_errc::bad_argument);
  EXPECT_EQ(engine::train((dir / "missing.toml").string()).error().code, api_errc::bad_argument);
  // A directory read as an empty job: the reference job ran in its place.
  const auto in_dir = engine::train(dir.string());
  ASSERT_FALSE(in_dir);
  EXPECT_EQ(in_dir.error().code, api_errc::bad_argument);
  EXPECT_NE(in_dir.error().message.find("is a directory"), std::string::npos)
      << in_dir.error().message;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace troupe
