#pragma once
// Word pairs that any reader would call related, for a sanity check of word
// embeddings: related words should be more cosine-similar to each other
// than to a random vocabulary word.
//
//   for (const auto& [a, b] : related_word_pairs()) check(vocab.find(a), vocab.find(b));

#include <string>
#include <utility>
#include <vector>

namespace troupe {

/// ~70 pairs of lowercase words (see word_pairs.cpp for how they were chosen).
const std::vector<std::pair<std::string, std::string>>& related_word_pairs();

}  // namespace troupe
