#include "engine/store/gradient_scan.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace troupe {

namespace {

// The biased exponent of 2^50: any float whose exponent bits are at least
// this is >= 2^50 in magnitude, infinite or NaN.
constexpr std::uint32_t kLimitBits = (127u + 50u) << 23;
static_assert(kGradientLimit == 1125899906842624.0f);

bool unusable(float v) {
  return !(std::fabs(v) < kGradientLimit);
}

// Whether any of v[0..n) has an exponent at or above the limit's.
__attribute__((target_clones("avx512f", "avx2", "default"))) bool any_unusable(
    const float* __restrict v, std::size_t n) {
  std::uint32_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, v + i, sizeof bits);
    bad |= static_cast<std::uint32_t>((bits & 0x7f800000u) >= kLimitBits);
  }
  return bad != 0;
}

}  // namespace

std::size_t first_unusable(const float* v, std::size_t n) {
  // Blocks that stay in L1: a bad block is searched again, rarely.
  constexpr std::size_t block = 4096;
  for (std::size_t begin = 0; begin < n; begin += block) {
    const std::size_t len = std::min(block, n - begin);
    if (!any_unusable(v + begin, len)) continue;
    for (std::size_t i = begin; i < begin + len; ++i) {
      if (unusable(v[i])) return i;
    }
  }
  return n;
}

std::string describe_unusable(float v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char text[32];
  std::snprintf(text, sizeof text, "%g", static_cast<double>(v));
  return std::string(text) + ", beyond the largest gradient a shard applies (2^50)";
}

}  // namespace troupe
