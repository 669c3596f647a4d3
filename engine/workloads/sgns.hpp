#pragma once
// The pieces of skip-gram with negative sampling (word2vec's SGNS) that do
// not depend on where the vectors live: a small seeded generator, frequent
// word subsampling, dynamic windows, the unigram^0.75 negative sampler, the
// loss and gradient of one (word, context) pair on raw float rows, and
// cosine nearest neighbours. The skip-gram workload trains through shards
// with them; a service can apply them to a live table just as well.
//
//   sgns_rng rng(seed);
//   negative_sampler negs(vocab.counts);
//   auto keep = subsample_keep_probabilities(vocab.counts, 1e-3);
//   subsample(sentence, keep, rng, kept);
//   for_each_context(kept, pos, /*window=*/5, rng, [&](std::uint32_t ctx) {
//     loss += sgns_pair_grad(in[kept[pos]], out[ctx], 1.0f, dim, g_in, g_out);
//     for (int k = 0; k < 5; ++k)
//       loss += sgns_pair_grad(in[kept[pos]], out[negs.draw(rng)], 0.0f, dim, g_in, g_neg);
//   });
//   auto top = nearest_rows(in_rows, vocab.size(), dim, in[day], 5, day);

#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace troupe {

/// splitmix64: a fast, seedable UniformRandomBitGenerator for the hot loop.
class sgns_rng {
 public:
  using result_type = std::uint64_t;
  explicit sgns_rng(std::uint64_t seed) : s_(seed) {}
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
  result_type operator()() {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n) (n > 0).
  std::uint32_t below(std::uint32_t n) {
    return static_cast<std::uint32_t>(((*this)() >> 32) * n >> 32);
  }
  /// Uniform in [0, 1).
  float unit() { return static_cast<float>((*this)() >> 40) * (1.0f / 16777216.0f); }

 private:
  std::uint64_t s_;
};

/// Draws word ids with probability proportional to count^power from a
/// precomputed table (word2vec's sampler; O(1) per draw).
class negative_sampler {
 public:
  explicit negative_sampler(const std::vector<std::uint64_t>& counts, double power = 0.75,
                            std::size_t table_size = 1 << 22);
  std::uint32_t draw(sgns_rng& rng) const { return table_[rng.below(size_)]; }
  bool empty() const { return table_.empty(); }

 private:
  std::vector<std::uint32_t> table_;
  std::uint32_t size_ = 0;
};

/// word2vec's keep probability of each word, min(1, (sqrt(f / t) + 1) t / f)
/// with f = count / total: frequent words are dropped more often.
std::vector<float> subsample_keep_probabilities(const std::vector<std::uint64_t>& counts,
                                                double threshold);

/// The words of `s` that survive subsampling, into `out` (cleared first).
void subsample(const std::vector<std::uint32_t>& s, const std::vector<float>& keep, sgns_rng& rng,
               std::vector<std::uint32_t>& out);

/// Calls f(context word) for the words around s[pos] within a window drawn
/// uniformly from [1, window] (word2vec's dynamic window: near words count more).
template <class F>
void for_each_context(const std::vector<std::uint32_t>& s, std::size_t pos, std::uint32_t window,
                      sgns_rng& rng, F&& f) {
  const std::size_t b = 1 + rng.below(window);
  const std::size_t lo = pos >= b ? pos - b : 0;
  const std::size_t hi = std::min(s.size(), pos + b + 1);
  for (std::size_t j = lo; j < hi; ++j) {
    if (j != pos) f(s[j]);
  }
}

/// Loss of one pair, -log sigma(u.v) for label 1 (a real context) or
/// -log sigma(-u.v) for label 0 (a negative); adds its gradient with respect
/// to `in` (u) to g_in and with respect to `out` (v) to g_out. Either
/// gradient pointer may be null.
float sgns_pair_grad(const float* in, const float* out, float label, std::size_t dim, float* g_in,
                     float* g_out);

float dot(const float* a, const float* b, std::size_t dim);
/// Cosine similarity; 0 when either vector is zero.
float cosine(const float* a, const float* b, std::size_t dim);

/// The k rows of `rows` (n rows of dim floats) most cosine-similar to
/// `query`, best first, skipping row `exclude` (pass n to skip none).
std::vector<std::pair<std::uint32_t, float>> nearest_rows(const float* rows, std::size_t n,
                                                          std::size_t dim, const float* query,
                                                          std::size_t k, std::size_t exclude);

}  // namespace troupe
