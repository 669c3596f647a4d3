// The throttle that keeps refusals of a hostile peer's requests from
// flooding a daemon's log.
#include <gtest/gtest.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <sstream>

#include "actors/log_throttle.hpp"

namespace troupe {
namespace {

using std::chrono::milliseconds;

TEST(LogThrottle, AdmitsAFewLinesASecondAndCountsTheRestInOneLine) {
  std::ostringstream captured;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_st>(captured)));

  log_throttle throttle{"node n1: refusals", 3};
  const auto t0 = log_throttle::clock::now();
  int admitted = 0;
  for (int i = 0; i < 1000; ++i) admitted += throttle.admit(t0 + milliseconds(i / 2)) ? 1 : 0;
  EXPECT_EQ(admitted, 3);  // 1,000 in half a second
  EXPECT_EQ(throttle.suppressed_total(), 997u);
  EXPECT_EQ(captured.str(), "");  // counted, not yet said
  // The next second: the count first, then lines again.
  EXPECT_TRUE(throttle.admit(t0 + milliseconds(1500)));
  EXPECT_NE(captured.str().find("node n1: refusals: 997 more alike warnings not logged"),
            std::string::npos)
      << captured.str();
  EXPECT_TRUE(throttle.admit(t0 + milliseconds(1501)));
  EXPECT_TRUE(throttle.admit(t0 + milliseconds(1502)));
  EXPECT_FALSE(throttle.admit(t0 + milliseconds(1503)));
  // The end of a burst is told by the periodic flush, once its second is
  // over, even if no later line comes (it was never told).
  captured.str("");
  log_throttle burst{"node n3: connections refused", 3};
  for (int i = 0; i < 16; ++i) burst.admit(t0 + milliseconds(i));
  burst.flush(t0 + milliseconds(500));  // the second is not over
  EXPECT_EQ(captured.str(), "");
  burst.flush(t0 + milliseconds(1100));
  EXPECT_NE(captured.str().find("node n3: connections refused: 13 more alike warnings not logged"),
            std::string::npos)
      << captured.str();
  captured.str("");
  burst.flush(t0 + milliseconds(2500));  // told once
  EXPECT_TRUE(burst.admit(t0 + milliseconds(2600)));
  EXPECT_EQ(captured.str(), "");
  // A quiet stretch that left nothing out says nothing.
  captured.str("");
  log_throttle calm{"calm", 3};
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(calm.admit(t0 + milliseconds(2000 * i)));
  EXPECT_EQ(captured.str(), "");
  EXPECT_EQ(calm.suppressed_total(), 0u);

  spdlog::set_default_logger(previous);
}

}  // namespace
}  // namespace troupe
