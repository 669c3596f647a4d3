#include "engine/store/finite_scan.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace troupe {

namespace {

// Whether any of v[0..n) has all exponent bits set (NaN or infinity).
__attribute__((target_clones("avx512f", "avx2", "default"))) bool any_non_finite(
    const float* __restrict v, std::size_t n) {
  std::uint32_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, v + i, sizeof bits);
    bad |= static_cast<std::uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  return bad != 0;
}

}  // namespace

std::size_t first_non_finite(const float* v, std::size_t n) {
  // Blocks that stay in L1: a bad block is searched again, rarely.
  constexpr std::size_t block = 4096;
  for (std::size_t begin = 0; begin < n; begin += block) {
    const std::size_t len = std::min(block, n - begin);
    if (!any_non_finite(v + begin, len)) continue;
    for (std::size_t i = begin; i < begin + len; ++i) {
      if (!std::isfinite(v[i])) return i;
    }
  }
  return n;
}

}  // namespace troupe
