#pragma once
// Quality checks of word vectors held as one row per vocabulary id: the
// related-pair test (related words should be closer than random ones) and a
// readable list of nearest neighbours.
//
//   auto c = check_related_pairs(rows, vocab, dim, related_word_pairs(), 10, seed);
//   std::cout << c.win_rate() << "\n" << neighbour_lines(rows, vocab, dim, {"man", "day"}, 5);

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/data/brown_corpus.hpp"

namespace troupe {

struct pair_check {
  std::size_t pairs_used = 0;     ///< pairs whose words are both in the vocabulary
  std::size_t pairs_missing = 0;  ///< pairs skipped for an unknown word
  std::uint64_t comparisons = 0;  ///< (pair, random word) comparisons
  std::uint64_t wins = 0;         ///< of which cos(a, b) > cos(a, r)
  double mean_related_cos = 0;    ///< mean cos(a, b) over used pairs
  double mean_random_cos = 0;     ///< mean cos(a, r) over comparisons
  double win_rate() const {
    return comparisons ? static_cast<double>(wins) / static_cast<double>(comparisons) : 0;
  }
};

/// For each pair (a, b) and each of `per_pair` seeded random words r (neither
/// a nor b), counts a win when cos(a, b) > cos(a, r). rows: vocab.size() x dim.
pair_check check_related_pairs(const float* rows, const vocabulary& vocab, std::size_t dim,
                               const std::vector<std::pair<std::string, std::string>>& pairs,
                               std::uint32_t per_pair, std::uint64_t seed);

/// One line per word in the vocabulary: "  word -> n1 0.71, n2 0.65, ...".
std::string neighbour_lines(const float* rows, const vocabulary& vocab, std::size_t dim,
                            const std::vector<std::string>& words, std::size_t k);

}  // namespace troupe
