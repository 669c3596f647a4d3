#include "engine/log_histogram.hpp"

#include <gtest/gtest.h>

namespace troupe {
namespace {

TEST(LogHistogram, SmallValuesAreExact) {
  for (std::uint64_t v = 0; v < log_histogram::exact_below; ++v) {
    EXPECT_EQ(log_histogram::lower_bound(log_histogram::bucket_of(v)), v);
  }
}

TEST(LogHistogram, LargeValuesKeepTheirRelativeErrorBelowAnEighth) {
  std::size_t previous = 0;
  for (std::uint64_t v = 1; v < 5'000'000; v += 1 + v / 1000) {
    const auto b = log_histogram::bucket_of(v);
    EXPECT_GE(b, previous) << v;  // monotonic
    previous = b;
    const auto low = log_histogram::lower_bound(b);
    EXPECT_LE(low, v);
    EXPECT_LE(static_cast<double>(v - low), 0.125 * static_cast<double>(v)) << v;
    EXPECT_EQ(log_histogram::bucket_of(low), b);
  }
  const auto top = log_histogram::bucket_of(~std::uint64_t{0});
  EXPECT_LE(log_histogram::lower_bound(top), ~std::uint64_t{0});
}

TEST(LogHistogram, QuantilesOfAUniformSpreadBeyondTheOldCap) {
  log_histogram h;
  for (std::uint64_t v = 0; v < 1000; ++v) h.add(v);
  EXPECT_EQ(h.total(), 1000u);
  EXPECT_NEAR(h.quantile(0.5), 499, 0.125 * 499);
  // A cap at 256 (the histogram this replaces) reported 256 here.
  EXPECT_NEAR(h.quantile(0.99), 989, 0.125 * 989);
  EXPECT_GT(h.quantile(0.99), 800);
  EXPECT_EQ(h.quantile(0.0), 0);
}

TEST(LogHistogram, MergeAddsBucketsAndEmptyIsZero) {
  log_histogram a, b;
  EXPECT_EQ(a.quantile(0.99), 0);
  a.add(1, 10);
  b.add(5000, 10);
  a.merge(b.buckets());
  EXPECT_EQ(a.total(), 20u);
  EXPECT_EQ(a.quantile(0.25), 1);
  EXPECT_GE(a.quantile(1.0), 5000 * 0.875);
  EXPECT_LE(a.quantile(1.0), 5000);
}

}  // namespace
}  // namespace troupe
