// first_unusable: NaN, infinity and magnitudes of 2^50 and more are found,
// wherever they sit (the scan works in blocks); everything below passes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "engine/store/gradient_scan.hpp"

namespace troupe {
namespace {

TEST(GradientScan, FindsTheFirstValueNoShardMayApply) {
  const float below = std::nextafter(kGradientLimit, 0.0f);
  std::vector<float> v(10000, 0.5f);
  v[3] = below;
  v[4] = -below;
  v[5] = std::numeric_limits<float>::denorm_min();
  v[6] = -0.0f;
  EXPECT_EQ(first_unusable(v.data(), v.size()), v.size());
  EXPECT_EQ(first_unusable(v.data(), 0), 0u);
  for (float bad : {kGradientLimit, -kGradientLimit, 3e38f, std::numeric_limits<float>::max(),
                    std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN()}) {
    for (std::size_t at :
         {std::size_t{0}, std::size_t{4095}, std::size_t{4096}, std::size_t{9999}}) {
      auto w = v;
      w[at] = bad;
      w[9999 - at / 2] = bad;  // a later one is not the first
      EXPECT_EQ(first_unusable(w.data(), w.size()), std::min(at, 9999 - at / 2))
          << bad << " " << at;
    }
  }
}

TEST(GradientScan, SaysWhatIsWrong) {
  EXPECT_EQ(describe_unusable(std::numeric_limits<float>::quiet_NaN()), "nan");
  EXPECT_EQ(describe_unusable(std::numeric_limits<float>::infinity()), "inf");
  EXPECT_EQ(describe_unusable(-std::numeric_limits<float>::infinity()), "-inf");
  EXPECT_EQ(describe_unusable(3e38f), "3e+38, beyond the largest gradient a shard applies (2^50)");
}

}  // namespace
}  // namespace troupe
