#pragma once
// Finding NaN and infinity in a gradient before a shard applies it (a push
// with one is refused whole: nothing of it is applied). Every push of every
// worker passes through this, so it is a branch-free scan that vectorises,
// looking at the exponent bits, rather than std::isfinite with an early exit.
//
//   if (auto i = first_non_finite(g, n); i < n) return refuse(i, g[i]);

#include <cstddef>

namespace troupe {

/// Index of the first NaN or infinity among v[0..n), or n when all are finite.
std::size_t first_non_finite(const float* v, std::size_t n);

}  // namespace troupe
