// The rate on the scheduler's progress lines (actors/scheduler_state.hpp).
#include <gtest/gtest.h>

#include <chrono>

#include "actors/scheduler_state.hpp"

namespace troupe {
namespace {

using namespace std::chrono_literals;
using scheduler_detail::interval_totals;

// Two workers reported 6,400 samples each over their last 0.1 s, and the
// line prints 0.1 s after the previous one: 128,000 samples/s.
TEST(ProgressInterval, RateIsSamplesOverTheIntervalsWallTime) {
  interval_totals iv;
  iv.samples = 12800;
  iv.busy_s = 0.2;
  iv.reports = 2;
  EXPECT_NEAR(iv.samples_per_s(iv.start + 100ms), 128000.0, 1.0);
  // A slow line (the scheduler was busy): the wall time counts.
  EXPECT_NEAR(iv.samples_per_s(iv.start + 200ms), 64000.0, 1.0);
}

// At the end of a job every worker flushes its last report at once, a few
// microseconds after the previous line: the rate is still per report
// period (it printed 956,892,145 samples/s before).
TEST(ProgressInterval, ReportsArrivingTogetherAreNotABurstOfSpeed) {
  interval_totals iv;
  iv.samples = 4 * 3200;
  iv.busy_s = 4 * 0.05;
  iv.reports = 4;
  EXPECT_NEAR(iv.samples_per_s(iv.start + 10us), 256000.0, 1.0);
}

TEST(ProgressInterval, NothingReportedIsZero) {
  interval_totals iv;
  EXPECT_EQ(iv.samples_per_s(iv.start), 0.0);
}

}  // namespace
}  // namespace troupe
