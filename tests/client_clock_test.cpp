// Clock groups of the public client (include/troupe/client.hpp): a
// service's own training loops, each with its own client, kept to a
// staleness bound by the engine. Only the public headers are included.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "troupe/client.hpp"
#include "troupe/engine.hpp"

namespace troupe {
namespace {

using namespace std::chrono_literals;

engine start_engine(const std::string& listen = {}) {
  engine_options o;
  o.shards = 2;
  o.threads = 2;
  o.tables = {table::dense("w", 8).sgd(0.1f)};
  o.listen = listen;
  if (!listen.empty()) o.secret = "clock-test-secret-0123456789abcdef";
  return engine::start(o).value();
}

// `members` loops of `steps` steps; member 0 is slow. After each advance
// returns, every member must have finished at least (own steps - s): the
// returned value is the slowest member's clock, and `done` (counted before
// each advance) must agree with it. Returns the largest lead seen.
std::int64_t run_loops(engine& eng, std::int64_t s, int members, int steps,
                       const std::string& group) {
  std::vector<std::atomic<std::int64_t>> done(members);
  for (auto& d : done) d = 0;
  std::atomic<std::int64_t> max_lead{0};
  std::atomic<int> violations{0};
  std::vector<std::thread> loops;
  for (int m = 0; m < members; ++m) {
    loops.emplace_back([&, m] {
      auto c = eng.client().value();
      const clock_group g{group, static_cast<std::uint32_t>(m), static_cast<std::uint32_t>(members),
                          s};
      for (int step = 1; step <= steps; ++step) {
        if (m == 0) std::this_thread::sleep_for(3ms);
        ASSERT_TRUE(c.push_dense("w", 0, std::vector<float>(8, 0.01f)).get());
        done[m] = step;
        const auto slowest = c.advance_clock(g).get();
        ASSERT_TRUE(slowest) << slowest.error().to_string();
        std::int64_t lowest = steps;
        for (int j = 0; j < members; ++j) lowest = std::min<std::int64_t>(lowest, done[j]);
        if (s >= 0 && (*slowest < step - s || lowest < step - s)) ++violations;
        std::int64_t lead = step - lowest;
        for (auto prev = max_lead.load();
             lead > prev && !max_lead.compare_exchange_weak(prev, lead);) {
        }
      }
      EXPECT_TRUE(c.leave_clock(g).get());
    });
  }
  for (auto& t : loops) t.join();
  EXPECT_EQ(violations.load(), 0);
  return max_lead.load();
}

TEST(ClientClock, LockStepAndBoundedLoopsNeverRunAheadOfTheBound) {
  auto eng = start_engine();
  EXPECT_LE(run_loops(eng, 0, 3, 30, "sync"), 0);
  EXPECT_LE(run_loops(eng, 2, 3, 30, "ssp2"), 2);
}

TEST(ClientClock, UnboundedLoopsDoNotWaitForTheSlowest) {
  auto eng = start_engine();
  auto slow = eng.client().value();
  auto fast = eng.client().value();
  const clock_group gs{"async", 0, 2, -1}, gf{"async", 1, 2, -1};
  // The slow member never advances; the fast one still finishes 20 steps.
  for (int step = 0; step < 20; ++step) {
    auto r = fast.advance_clock(gf);
    ASSERT_EQ(r.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(r.get().value(), 0);  // the slowest member's clock
  }
  (void)slow;
  (void)gs;
}

TEST(ClientClock, AMemberThatLeavesOrEndsNoLongerHoldsTheOthersBack) {
  auto eng = start_engine();
  auto a = eng.client().value();
  const clock_group ga{"g", 0, 3, 1};
  {
    std::optional<client> b = eng.client().value();
    auto c = eng.client().value();
    const clock_group gb{"g", 1, 3, 1}, gc{"g", 2, 3, 1};
    ASSERT_TRUE(b->advance_clock(gb).get());  // b at 1, within 1 of the others at 0
    EXPECT_TRUE(a.advance_clock(ga).get());   // a at 1: 1 - 0 <= 1
    auto blocked = a.advance_clock(ga);       // a at 2: waits for c (at 0)
    EXPECT_EQ(blocked.wait_for(300ms), std::future_status::timeout);
    ASSERT_TRUE(c.leave_clock(gc).get());  // c leaves: min is now b's 1
    ASSERT_EQ(blocked.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(blocked.get().value(), 1);
    auto again = a.advance_clock(ga);  // a at 3: waits for b (at 1)
    EXPECT_EQ(again.wait_for(300ms), std::future_status::timeout);
    // b's client ends here without leaving: the engine sees its end.
    b.reset();
    ASSERT_EQ(again.wait_for(5s), std::future_status::ready);
    EXPECT_TRUE(again.get());
  }
}

// A call still waiting when its own client ends is `stopped`, as ~client
// says of every pending call (it said "left its clock group while waiting").
TEST(ClientClock, ACallWaitingWhenItsClientEndsIsStopped) {
  auto eng = start_engine();
  std::optional<client> b = eng.client().value();
  auto waiting = b->advance_clock({"lone", 0, 2, 0});  // waits for member 1
  EXPECT_EQ(waiting.wait_for(200ms), std::future_status::timeout);
  b.reset();
  ASSERT_EQ(waiting.wait_for(5s), std::future_status::ready);
  const auto r = waiting.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, api_errc::stopped) << r.error().to_string();
}

// wait() flushes table calls. It waited for clock calls too, which have no
// deadline: one member parked until its partner came made the client's
// every wait(), on any thread, block as long (for good, if none came).
TEST(ClientClock, WaitDoesNotWaitForAParkedClockCall) {
  auto eng = start_engine();
  auto c = eng.client().value();
  auto parked = c.advance_clock({"parked", 0, 2, 0});  // waits for member 1
  auto pushed = c.push_dense("w", 0, std::vector<float>(8, 1.0f));
  auto flushed = std::async(std::launch::async, [&] { return c.wait(); });
  ASSERT_EQ(flushed.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(flushed.get());
  EXPECT_EQ(pushed.wait_for(0s), std::future_status::ready);  // what wait() is for
  EXPECT_EQ(parked.wait_for(0s), std::future_status::timeout);
  // A clock call fired and forgotten (no callback) that fails is still
  // wait()'s to report, as a table call's is.
  c.advance_clock({"parked", 5, 2, 0}, nullptr);  // member 5 of 2: refused
  const auto told = c.wait();
  ASSERT_FALSE(told);
  EXPECT_EQ(told.error().code, api_errc::bad_argument) << told.error().to_string();
  auto partner = eng.client().value();
  ASSERT_TRUE(partner.advance_clock({"parked", 1, 2, 0}).get());
  ASSERT_EQ(parked.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(parked.get().value(), 1);
}

// A step the directory refused (here: the wrong group size) was counted on
// the client all the same, so its member's next call claimed two steps and
// let a lock-step partner run one ahead. A refused call changes nothing.
TEST(ClientClock, ARefusedStepIsNotCounted) {
  auto eng = start_engine();
  auto a = eng.client().value();
  auto b = eng.client().value();
  const clock_group ga{"sync", 0, 2, 0}, gb{"sync", 1, 2, 0};
  auto a1 = a.advance_clock(ga);
  ASSERT_EQ(b.advance_clock(gb).get().value(), 1);
  ASSERT_EQ(a1.get().value(), 1);
  auto wrong = a.advance_clock({"sync", 0, 3, 0}).get();
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, api_errc::bad_argument);
  auto a2 = a.advance_clock(ga);
  EXPECT_EQ(b.advance_clock(gb).get().value(), 2);
  ASSERT_EQ(a2.wait_for(5s), std::future_status::ready) << "a's second step counted as its third";
  EXPECT_EQ(a2.get().value(), 2);
  auto b3 = b.advance_clock(gb);  // lock-step: waits for a's third step
  EXPECT_EQ(b3.wait_for(300ms), std::future_status::timeout) << "b ran a step ahead of a";
  EXPECT_EQ(a.advance_clock(ga).get().value(), 3);
  EXPECT_EQ(b3.get().value(), 3);
}

// Each call used to leave a monitor on the directory (CAF 0.17 keeps it
// until the directory ends): ~1.1 KB a step, for good. A long loop's
// memory stays flat: 40,000 steps, against ~45 MB they leaked.
TEST(ClientClock, ALongLoopDoesNotGrowTheProcess) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan holds freed memory back (its quarantine): the RSS grows anyway";
#endif
  auto eng = start_engine();
  auto c = eng.client().value();
  const clock_group g{"long", 0, 1, 0};
  const auto rss_kb = [] {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1L;
  };
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(c.advance_clock(g).get());  // warmed up
  const auto before = rss_kb();
  for (int i = 0; i < 40000; ++i) ASSERT_TRUE(c.advance_clock(g).get());
  EXPECT_LT(rss_kb() - before, 15 * 1024) << "kB grown over 40,000 steps";
}

TEST(ClientClock, BadGroupsAreRefusedWithClearErrors) {
  auto eng = start_engine();
  auto a = eng.client().value();
  auto b = eng.client().value();
  auto bad = a.advance_clock({"g", 3, 3, 0}).get();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, api_errc::bad_argument);
  EXPECT_NE(bad.error().message.find("member 3 of a group of 3"), std::string::npos)
      << bad.error().to_string();
  EXPECT_EQ(a.advance_clock({"", 0, 1, 0}).get().error().code, api_errc::bad_argument);
  // A name too long is refused without being echoed whole (a megabyte of
  // error message for every such call).
  const auto long_name = a.advance_clock({std::string(1 << 20, 'x'), 0, 1, 0}).get();
  EXPECT_EQ(long_name.error().code, api_errc::bad_argument);
  EXPECT_LT(long_name.error().message.size(), 400u);
  EXPECT_NE(long_name.error().message.find("(1048576 bytes)"), std::string::npos);
  EXPECT_EQ(a.advance_clock({"g", 0, 2, -2}).get().error().code, api_errc::bad_argument);
  ASSERT_TRUE(a.advance_clock({"g", 0, 2, -1}).get());
  // The group exists with 2 members and no bound: other sizes or bounds, and
  // member 0 taken by another client, are refused.
  const auto size = b.advance_clock({"g", 1, 3, -1}).get();
  ASSERT_FALSE(size);
  EXPECT_EQ(size.error().code, api_errc::bad_argument);
  EXPECT_NE(size.error().message.find("has 2 members"), std::string::npos)
      << size.error().to_string();
  // Read as the directory wrote it: one group prefix, no internal code name.
  EXPECT_EQ(size.error().message.rfind("clock group 'g'", 0), 0u) << size.error().message;
  EXPECT_EQ(size.error().message.find("clock group", 1), std::string::npos) << size.error().message;
  EXPECT_EQ(size.error().message.find("malformed_message"), std::string::npos)
      << size.error().message;
  EXPECT_EQ(b.advance_clock({"g", 1, 2, 0}).get().error().code, api_errc::bad_argument);
  EXPECT_EQ(b.advance_clock({"g", 0, 2, -1}).get().error().code, api_errc::bad_argument);
  EXPECT_TRUE(b.advance_clock({"g", 1, 2, -1}).get());
  // Nor may b take a's member out of the group: a goes on as before.
  const auto theirs = b.leave_clock({"g", 0, 2, -1}).get();
  ASSERT_FALSE(theirs);
  EXPECT_NE(theirs.error().message.find("member 0 is another client's"), std::string::npos)
      << theirs.error().to_string();
  EXPECT_TRUE(a.advance_clock({"g", 0, 2, -1}).get());
  // A moved-from client answers `stopped`.
  client moved = std::move(a);
  EXPECT_EQ(a.advance_clock({"g", 0, 2, -1}).get().error().code, api_errc::stopped);
}

// One client may drive several members of a group: each member has its own
// step count. Before, the count was the group's, so a client's second member
// claimed step 2 after one step and waited for a step the first never made.
TEST(ClientClock, OneClientDrivesTwoMembersOfAGroup) {
  auto eng = start_engine();
  auto c = eng.client().value();
  for (std::int64_t step = 1; step <= 3; ++step) {
    auto m0 = c.advance_clock({"both", 0, 2, 0});
    auto m1 = c.advance_clock({"both", 1, 2, 0});
    ASSERT_EQ(m1.wait_for(10s), std::future_status::ready) << "step " << step;
    ASSERT_EQ(m0.wait_for(10s), std::future_status::ready) << "step " << step;
    const auto r0 = m0.get(), r1 = m1.get();
    ASSERT_TRUE(r0 && r1);
    EXPECT_EQ(*r0, step);
    EXPECT_EQ(*r1, step);
  }
}

// A call waiting for the slowest member when the engine stops is answered
// (stopped): before, it went unanswered with the directory's promise. And
// the client ends on another thread than the one that started the engine
// and made the call, which lives on: before, the end of the actor system
// waited for good for the logger CAF keeps a reference to in each thread
// that spawned an actor.
TEST(ClientClock, ACallWaitingWhenTheEngineStopsIsAnswered) {
  auto eng = std::make_shared<engine>(start_engine());
  auto a = std::make_shared<client>(eng->client().value());
  auto waiting = a->advance_clock({"g", 0, 2, 0});  // member 1 never comes
  ASSERT_EQ(waiting.wait_for(200ms), std::future_status::timeout);
  auto answered = std::make_shared<std::promise<api_error>>();
  auto ended = std::make_shared<std::promise<void>>();
  // On a thread of its own, which owns everything it touches: a hang fails
  // the test instead of hanging it.
  std::thread([eng, a, w = std::move(waiting), answered, ended]() mutable {
    eng->stop();
    const auto r = w.get();
    answered->set_value(r ? api_error{api_errc::ok, {}} : r.error());
    a->wait();
    a.reset();
    eng.reset();
    ended->set_value();
  }).detach();
  eng.reset();
  a.reset();
  auto code = answered->get_future();
  ASSERT_EQ(code.wait_for(20s), std::future_status::ready) << "the waiting call was never answered";
  const auto err = code.get();
  EXPECT_EQ(err.code, api_errc::stopped) << err.to_string();
  EXPECT_EQ(ended->get_future().wait_for(20s), std::future_status::ready)
      << "the client did not end";
}

// Clock calls of a live client once its engine has stopped answer
// `stopped`, as its table calls do: leave_clock said peer_lost, as if a link
// had failed, while advance_clock said stopped.
TEST(ClientClock, CallsAfterTheEngineStoppedAreStopped) {
  auto eng = start_engine();
  auto c = eng.client().value();
  const clock_group g{"after", 0, 1, 0};
  ASSERT_TRUE(c.advance_clock(g).get());
  eng.stop();
  const auto left = c.leave_clock(g).get();
  ASSERT_FALSE(left);
  EXPECT_EQ(left.error().code, api_errc::stopped) << left.error().to_string();
  const auto advanced = c.advance_clock(g).get();
  ASSERT_FALSE(advanced);
  EXPECT_EQ(advanced.error().code, api_errc::stopped) << advanced.error().to_string();
  const auto pulled = c.pull("w", 0, 8).get();
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code, api_errc::stopped) << pulled.error().to_string();
}

// Calls that wait for the slowest member are kept until it catches up: a
// client may have several under way, but beyond 64 per member the next is
// refused rather than kept. Leaving answers the ones that wait.
TEST(ClientClock, CallsWaitingForTheSlowestAreBounded) {
  auto eng = start_engine();
  auto fast = eng.client().value();
  auto slow = eng.client().value();
  // Both members at clock 1 (each call answered once the other's is in).
  auto slow_first = slow.advance_clock({"bounded", 1, 2, 0});
  ASSERT_TRUE(fast.advance_clock({"bounded", 0, 2, 0}).get());
  ASSERT_TRUE(slow_first.get());
  // Member 0's next calls carry clocks 2..66 with s = 0 while member 1 stays
  // at 1: each must wait, whatever order they arrive in, and the one that
  // finds 64 of member 0's calls waiting is refused.
  std::vector<std::future<result<std::int64_t>>> calls;
  for (int i = 0; i < 65; ++i) calls.push_back(fast.advance_clock({"bounded", 0, 2, 0}));
  std::vector<std::optional<result<std::int64_t>>> got(calls.size());
  auto collect_ready = [&] {
    int refused = 0;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (!got[i] && calls[i].wait_for(0s) == std::future_status::ready) got[i] = calls[i].get();
      if (got[i] && !*got[i]) ++refused;
    }
    return refused;
  };
  for (int i = 0; i < 3000 && collect_ready() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(collect_ready(), 1);
  for (const auto& r : got) {
    EXPECT_TRUE(!r || !*r) << "answered before member 1 moved";
    if (r && !*r) {
      EXPECT_NE(r->error().message.find("member 0 already has 64 calls waiting"), std::string::npos)
          << r->error().to_string();
    }
  }
  // Member 1 leaves: every call still waiting is answered.
  ASSERT_TRUE(slow.leave_clock({"bounded", 1, 2, 0}).get());
  for (std::size_t i = 0; i < calls.size(); ++i) {
    if (!got[i]) got[i] = calls[i].get();
  }
  EXPECT_EQ(std::count_if(got.begin(), got.end(), [](const auto& r) { return r->ok(); }), 64);
  EXPECT_EQ(collect_ready(), 1);
}

// A long-running service sees groups come and go. One whose members all
// left or ended is closed: its memory is freed, and a member calling it
// again gets an error, not a new group waiting for members who are gone.
// All groups are bounded; those with no member in them give way, longest
// idle first, and only when that makes enough room.
TEST(ClientClock, FinishedGroupsAreClosedAndAllGroupsAreBounded) {
  auto eng = start_engine();
  auto a = eng.client().value();
  auto is_closed = [](const result<std::int64_t>& r) {
    return !r && r.error().code == api_errc::bad_argument &&
           r.error().message.find("is closed") != std::string::npos;
  };
  {
    auto b = eng.client().value();
    ASSERT_TRUE(a.advance_clock({"g", 0, 2, -1}).get());
    ASSERT_TRUE(b.advance_clock({"g", 1, 2, -1}).get());
    ASSERT_TRUE(a.leave_clock({"g", 0, 2, -1}).get());
    EXPECT_EQ(a.advance_clock({"g", 1, 3, -1}).get().error().code, api_errc::bad_argument);
    ASSERT_TRUE(b.advance_clock({"h", 0, 1, -1}).get());
    ASSERT_TRUE(b.leave_clock({"g", 1, 2, -1}).get());
  }  // b ends while it is in "h"
  const auto g_again = a.advance_clock({"g", 0, 2, -1}).get();
  EXPECT_TRUE(is_closed(g_again)) << (g_again ? "a new group" : g_again.error().to_string());
  bool h_closed = false;
  for (int i = 0; i < 100 && !h_closed; ++i) {
    h_closed = is_closed(a.advance_clock({"h", 0, 1, -1}).get());
    if (!h_closed) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(h_closed) << "'h' was not closed after its only member's client ended";

  // 2^20 slots; a group takes its members + 32. Two small groups and 15 of
  // 65,536 members fit; a 16th does not.
  auto c = eng.client().value();
  ASSERT_TRUE(a.advance_clock({"live", 0, 2, -1}).get());  // a stays in it
  ASSERT_TRUE(c.advance_clock({"small", 0, 2, -1}).get());
  ASSERT_TRUE(c.leave_clock({"small", 0, 2, -1}).get());  // idle: member 1 never came
  constexpr std::uint32_t wide = 65536;
  auto big = [](int i, std::uint32_t member) {
    return clock_group{"big" + std::to_string(i), member, wide, -1};
  };
  // big0 is lock-step: its member 0 waits there for members who never come.
  auto waiting = c.advance_clock({"big0", 0, wide, 0});
  EXPECT_EQ(waiting.wait_for(200ms), std::future_status::timeout);
  for (int i = 1; i < 15; ++i) ASSERT_TRUE(c.advance_clock(big(i, 0)).get()) << i;
  const auto refused = c.advance_clock(big(15, 0)).get();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, api_errc::bad_argument);
  EXPECT_NE(refused.error().message.find("member slots"), std::string::npos)
      << refused.error().to_string();
  // Closing "small" would not have made room, so it was kept: its late
  // member goes on, not waiting for the one who left.
  EXPECT_TRUE(c.advance_clock({"small", 1, 2, 0}).get().error().code == api_errc::bad_argument);
  EXPECT_TRUE(c.advance_clock({"small", 1, 2, -1}).get());
  // Once the wide groups' one member left, the longest idle gives way. The
  // member that left big0 while waiting there is answered, and its call no
  // longer holds the group.
  for (int i = 0; i < 15; ++i) ASSERT_TRUE(c.leave_clock(big(i, 0)).get());
  ASSERT_EQ(waiting.wait_for(5s), std::future_status::ready);
  const auto answer = waiting.get();
  ASSERT_FALSE(answer);
  EXPECT_NE(answer.error().message.find("left its clock group while waiting"), std::string::npos)
      << answer.error().to_string();
  EXPECT_TRUE(c.advance_clock(big(15, 0)).get());
  EXPECT_TRUE(is_closed(c.advance_clock(big(0, 1)).get()));
  EXPECT_TRUE(c.advance_clock(big(1, 1)).get());
  EXPECT_TRUE(a.advance_clock({"live", 0, 2, -1}).get());
}

TEST(ClientClock, RemoteClientsKeepTheBoundToo) {
  auto eng = start_engine("127.0.0.1:0");
  const std::string secret = "clock-test-secret-0123456789abcdef";
  auto a = client::connect(eng.address(), secret).value();
  auto b = client::connect(eng.address(), secret).value();
  const clock_group ga{"remote", 0, 2, 0}, gb{"remote", 1, 2, 0};
  auto first = a.advance_clock(ga);
  EXPECT_EQ(first.wait_for(300ms), std::future_status::timeout);  // b is at 0
  ASSERT_TRUE(b.advance_clock(gb).get());
  ASSERT_EQ(first.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(first.get().value(), 1);
}

}  // namespace
}  // namespace troupe
