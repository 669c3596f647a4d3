#pragma once
// Finding a value no shard may apply, before a push is applied or sent (a
// push holding one is refused whole: nothing of it is applied): NaN,
// infinity, or a finite magnitude of 2^50 (about 1.1e15) or more. The bound
// keeps parameters and optimizer state finite: two finite gradients of
// 3e38 for one row made a parameter -inf, and the square of one above 2^64
// made Adagrad's or Adam's state inf, after which the row silently stopped
// learning. No sane gradient comes near it; a diverged model's does.
// Every push of every worker passes through this, so it is a branch-free
// scan that vectorises, comparing exponent bits, with no early exit.
//
//   if (auto i = first_unusable(g, n); i < n) return refuse(describe_unusable(g[i]));

#include <cstddef>
#include <string>

namespace troupe {

/// The smallest magnitude a shard refuses to apply: 2^50.
inline constexpr float kGradientLimit = 1125899906842624.0f;

/// Index of the first value among v[0..n) that is NaN, infinite or of
/// magnitude >= kGradientLimit; n when there is none.
std::size_t first_unusable(const float* v, std::size_t n);

/// What is wrong with such a value, for an error message ("nan", "inf",
/// "3e+38, beyond the largest gradient a shard applies (2^50)").
std::string describe_unusable(float v);

}  // namespace troupe
