// A client call's bookkeeping (actors/client_call.hpp): a call that is
// dropped without completing still answers and returns its ticket, a
// callback that throws anything leaves the tracker consistent, and a call
// ends once whether its parts or its deadline (actors/deadline_watch.hpp)
// come first.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "actors/client_call.hpp"

namespace troupe {
namespace {

TEST(ClientCall, ADroppedCallCompletesWithInternalAndReturnsItsTicket) {
  auto tracker = std::make_shared<call_tracker>();
  std::optional<result<void>> got;
  {
    auto c = std::make_shared<call<void>>([&](result<void> r) { got = std::move(r); }, tracker);
    c->parts_left = 2;  // its parts never answer (e.g. building them threw)
  }
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error().code, api_errc::internal);
  tracker->wait();  // returns: the ticket is closed
}

TEST(ClientCall, CompletesOnceAndSurvivesACallbackThrowingAnything) {
  auto tracker = std::make_shared<call_tracker>();
  int runs = 0;
  {
    auto c = std::make_shared<call<int>>(
        [&](result<int> r) {
          ++runs;
          EXPECT_EQ(r.value(), 7);
          throw 42;  // not a std::exception
        },
        tracker);
    c->value = 7;
    c->parts_left = 1;
    c->part_done();
    c->complete();  // a second completion does nothing
  }
  EXPECT_EQ(runs, 1);
  tracker->wait();
}

using namespace std::chrono_literals;

// Parts that answer after the deadline change nothing the caller sees: one
// callback, with timeout and the call's context; the value they filled in
// is dropped.
TEST(ClientCall, ExpiredCallsIgnoreTheirLateParts) {
  auto tracker = std::make_shared<call_tracker>();
  std::vector<result<int>> got;
  auto c =
      std::make_shared<call<int>>([&](result<int> r) { got.push_back(std::move(r)); }, tracker);
  c->context = "lookup on table 'emb'";
  c->timeout = 20ms;
  c->parts_left = 1;
  c->expire();
  c->value = 5;
  c->part_done();
  c->expire();
  ASSERT_EQ(got.size(), 1u);
  ASSERT_FALSE(got[0]);
  EXPECT_EQ(got[0].error().code, api_errc::timeout);
  EXPECT_EQ(got[0].error().message,
            "lookup on table 'emb': no answer within the call's timeout (20 ms)");
  tracker->wait();
}

// The watch ends live calls at their deadline, on its own thread, and not
// calls that completed first; completed ones leave its queue as new ones
// come; after stop() nothing expires.
TEST(DeadlineWatch, EndsOnlyOpenCallsAtTheirDeadline) {
  auto tracker = std::make_shared<call_tracker>();
  deadline_watch watch;
  std::atomic<int> timeouts{0}, oks{0};
  std::atomic<bool> on_caller_thread{false};
  const auto caller = std::this_thread::get_id();
  auto make = [&] {
    auto c = std::make_shared<call<void>>(
        [&](result<void> r) {
          ++(r ? oks : timeouts);
          if (std::this_thread::get_id() == caller && !r) on_caller_thread = true;
        },
        tracker);
    c->parts_left = 1;
    return c;
  };
  const auto t0 = std::chrono::steady_clock::now();
  auto open = make();
  watch.add(t0 + 30ms, open);
  auto answered = make();
  watch.add(t0 + 1h, answered);
  answered->part_done();  // completes before its deadline
  answered.reset();
  tracker->wait();  // until `open` has expired
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
  EXPECT_EQ(timeouts.load(), 1);
  EXPECT_EQ(oks.load(), 1);
  EXPECT_FALSE(on_caller_thread.load());
  // Completed calls are dropped from the front as new ones come.
  open.reset();
  for (int i = 0; i < 100; ++i) {
    auto c = make();
    watch.add(std::chrono::steady_clock::now() + 1h, c);
    c->part_done();
  }
  EXPECT_LE(watch.waiting(), 1u);
  auto last = make();
  const auto added = std::chrono::steady_clock::now();
  watch.add(added + 100ms, last);
  watch.stop();
  const bool stopped_in_time = std::chrono::steady_clock::now() < added + 100ms;
  std::this_thread::sleep_until(added + 200ms);
  if (stopped_in_time) {
    EXPECT_EQ(timeouts.load(), 1);  // stopped before its deadline came
  }
  last->part_done();
  if (stopped_in_time) {
    EXPECT_EQ(oks.load(), 102);
  }
}

// A callback that destroys its watch (its client) on the watch's own
// thread: it cannot join itself, so the thread ends alone once the
// callback returns; the calls after it in the same round do not expire.
TEST(DeadlineWatch, StoppedFromItsOwnCallbackEndsAlone) {
  auto tracker = std::make_shared<call_tracker>();
  auto watch = std::make_unique<deadline_watch>();
  std::atomic<int> runs{0};
  std::vector<std::shared_ptr<call<void>>> calls;
  const auto at = std::chrono::steady_clock::now() + 5ms;
  for (int i = 0; i < 3; ++i) {
    calls.push_back(std::make_shared<call<void>>(
        [&](result<void>) {
          if (++runs == 1) watch.reset();
        },
        tracker));
    calls.back()->parts_left = 1;
    watch->add(at, calls.back());
  }
  for (int i = 0; i < 200 && runs.load() == 0; ++i) std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(watch, nullptr);
  for (auto& c : calls) c->part_done();  // the others complete normally
  EXPECT_EQ(runs.load(), 3);
}

// One call open at the front, a million completing behind it: the queue
// stays near the calls still open, not the calls made.
TEST(DeadlineWatch, CompletedCallsBehindAnOpenOneAreSweptOut) {
  auto tracker = std::make_shared<call_tracker>();
  deadline_watch watch;
  auto open = std::make_shared<call<void>>([](result<void>) {}, tracker);
  open->parts_left = 1;
  watch.add(std::chrono::steady_clock::now() + 1h, open);
  for (int i = 0; i < 100000; ++i) {
    auto c = std::make_shared<call<void>>([](result<void>) {}, tracker);
    c->parts_left = 1;
    watch.add(std::chrono::steady_clock::now() + 1h, c);
    c->part_done();
  }
  EXPECT_LE(watch.waiting(), 2048u);
  open->part_done();
}

// Parts and the deadline racing from two threads: every call completes
// exactly once, either way.
TEST(DeadlineWatch, APartAndTheDeadlineRacingCompleteACallOnce) {
  auto tracker = std::make_shared<call_tracker>();
  deadline_watch watch;
  std::atomic<int> runs{0};
  std::vector<std::shared_ptr<call<int>>> calls;
  const auto at = std::chrono::steady_clock::now() + 5ms;
  for (int i = 0; i < 2000; ++i) {
    calls.push_back(std::make_shared<call<int>>([&](result<int>) { ++runs; }, tracker));
    calls.back()->parts_left = 1;
    watch.add(at, calls.back());
  }
  std::this_thread::sleep_until(at);
  for (auto& c : calls) c->part_done();
  tracker->wait();
  EXPECT_EQ(runs.load(), 2000);
  calls.clear();
  EXPECT_EQ(runs.load(), 2000);  // the destructor does not answer again
}

}  // namespace
}  // namespace troupe
