#include "engine/workloads/embedding_check.hpp"

#include <cstdio>

#include "engine/workloads/sgns.hpp"

namespace troupe {

pair_check check_related_pairs(const float* rows, const vocabulary& vocab, std::size_t dim,
                               const std::vector<std::pair<std::string, std::string>>& pairs,
                               std::uint32_t per_pair, std::uint64_t seed) {
  pair_check c;
  const auto n = static_cast<std::uint32_t>(vocab.size());
  sgns_rng rng(seed);
  double related = 0, random = 0;
  for (const auto& [wa, wb] : pairs) {
    const auto a = vocab.find(wa), b = vocab.find(wb);
    if (a < 0 || b < 0 || n < 3) {
      ++c.pairs_missing;
      continue;
    }
    ++c.pairs_used;
    const float* ra = rows + static_cast<std::size_t>(a) * dim;
    const float cab = cosine(ra, rows + static_cast<std::size_t>(b) * dim, dim);
    related += cab;
    for (std::uint32_t i = 0; i < per_pair; ++i) {
      std::uint32_t r = rng.below(n);
      while (r == a || r == b) r = rng.below(n);
      const float car = cosine(ra, rows + static_cast<std::size_t>(r) * dim, dim);
      random += car;
      ++c.comparisons;
      c.wins += cab > car;
    }
  }
  if (c.pairs_used) c.mean_related_cos = related / static_cast<double>(c.pairs_used);
  if (c.comparisons) c.mean_random_cos = random / static_cast<double>(c.comparisons);
  return c;
}

std::string neighbour_lines(const float* rows, const vocabulary& vocab, std::size_t dim,
                            const std::vector<std::string>& words, std::size_t k) {
  std::string out;
  char buf[64];
  for (const auto& w : words) {
    const auto id = vocab.find(w);
    if (id < 0) continue;
    out += "  " + w + " ->";
    const auto top =
        nearest_rows(rows, vocab.size(), dim, rows + static_cast<std::size_t>(id) * dim, k,
                     static_cast<std::size_t>(id));
    for (std::size_t i = 0; i < top.size(); ++i) {
      std::snprintf(buf, sizeof buf, " %.2f", static_cast<double>(top[i].second));
      out += (i ? ", " : " ") + vocab.words[top[i].first] + buf;
    }
    out += "\n";
  }
  return out;
}

}  // namespace troupe
