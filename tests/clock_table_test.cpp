// SSP clock semantics: s = 0 is lock-step, the fastest worker never leads the
// slowest by more than s, s = inf never blocks, removed workers stop blocking.
#include <gtest/gtest.h>

#include <random>

#include "engine/clock_table.hpp"

namespace troupe {
namespace {

TEST(ClockTable, ZeroStalenessIsLockStep) {
  clock_table t(0);
  t.add_worker(0);
  t.add_worker(1);
  EXPECT_TRUE(t.may_start(0));
  ASSERT_TRUE(t.advance(0, 1).ok());
  EXPECT_FALSE(t.may_start(1)) << "worker 0 may not start step 1 before worker 1 finished step 0";
  ASSERT_TRUE(t.advance(1, 1).ok());
  EXPECT_TRUE(t.may_start(1));
}

TEST(ClockTable, BoundedStalenessAllowsExactlySStepsOfLead) {
  clock_table t(2);
  t.add_worker(0);
  t.add_worker(1);
  for (int c = 1; c <= 2; ++c) {
    ASSERT_TRUE(t.advance(0, c).ok());
    EXPECT_TRUE(t.may_start(c));
  }
  ASSERT_TRUE(t.advance(0, 3).ok());
  EXPECT_FALSE(t.may_start(3));
  ASSERT_TRUE(t.advance(1, 1).ok());
  EXPECT_TRUE(t.may_start(3));
  EXPECT_EQ(t.min_clock(), 1);
  EXPECT_EQ(t.max_clock(), 3);
}

TEST(ClockTable, UnboundedNeverBlocks) {
  clock_table t(staleness_unbounded);
  t.add_worker(0);
  t.add_worker(1);
  ASSERT_TRUE(t.advance(0, 1000000).ok());
  EXPECT_TRUE(t.unbounded());
  EXPECT_TRUE(t.may_start(1000000));
}

TEST(ClockTable, RemovedWorkerNoLongerHoldsOthersBack) {
  clock_table t(0);
  t.add_worker(0);
  t.add_worker(1);
  ASSERT_TRUE(t.advance(0, 5).ok());
  EXPECT_FALSE(t.may_start(5));
  EXPECT_TRUE(t.remove_worker(1));
  EXPECT_TRUE(t.may_start(5));
  EXPECT_FALSE(t.remove_worker(1));
}

TEST(ClockTable, RejectsUnknownWorkersAndClocksGoingBack) {
  clock_table t(1);
  t.add_worker(0);
  EXPECT_EQ(t.advance(9, 1).code(), errc::out_of_range);
  ASSERT_TRUE(t.advance(0, 4).ok());
  EXPECT_EQ(t.advance(0, 3).code(), errc::out_of_range);
  EXPECT_EQ(t.clock_of(0), 4);
}

// Simulates random workers that start a step only when allowed; checks at
// every moment that the fastest never leads the slowest by more than s + 1
// completed clocks (s steps of lead plus the step in flight).
class ClockTableRandomSchedule : public ::testing::TestWithParam<std::int64_t> {};

TEST_P(ClockTableRandomSchedule, LeadIsBounded) {
  const std::int64_t s = GetParam();
  const int workers = 5;
  clock_table t(s);
  for (int w = 0; w < workers; ++w) t.add_worker(static_cast<std::uint32_t>(w));
  std::mt19937 rng(static_cast<unsigned>(s) + 3);
  std::vector<std::int64_t> clock(workers, 0);
  std::int64_t max_lead = 0;
  for (int event = 0; event < 20000; ++event) {
    const int w = static_cast<int>(rng() % workers);
    if (!t.may_start(clock[w])) continue;  // blocked: would wait
    ++clock[w];
    ASSERT_TRUE(t.advance(static_cast<std::uint32_t>(w), clock[w]).ok());
    max_lead = std::max(max_lead, t.max_clock() - t.min_clock());
  }
  EXPECT_LE(max_lead, s + 1);
  if (s == 0) {
    EXPECT_EQ(max_lead, 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Bounds, ClockTableRandomSchedule, ::testing::Values(0, 1, 2, 4, 8));

}  // namespace
}  // namespace troupe
