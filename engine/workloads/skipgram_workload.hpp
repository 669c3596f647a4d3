#pragma once
// Word embeddings by skip-gram with negative sampling (word2vec's SGNS) as a
// workload: two sparse tables keyed by word id, `in` (the word vectors) and
// `out` (the context vectors), rows created on the shards on first touch. A
// batch is `batch` centre words of the worker's sentences (subsampled each
// epoch), each with its dynamic-window contexts and `negatives` draws from
// the unigram^0.75 distribution; gradients are summed over the batch, so the
// server's learning rate acts like word2vec's per-pair rate.
//
// Evaluation: the held-out SGNS loss per pair (seeded negatives) as "loss",
// and as "accuracy" the related-pair check: for each pair (a, b) of
// related_word_pairs() and each of `random_per_pair` seeded random words r,
// a win when cos(a, b) > cos(a, r) (0.5 = chance). eval_report() adds
// nearest neighbours of a few common words.
//
//   auto corpus = std::make_shared<const brown_corpus>(load_brown(dir, 5, 42, 0.05));
//   auto wl = make_skipgram_workload(opts, corpus, /*part=*/0, /*parts=*/2);

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/data/brown_corpus.hpp"
#include "engine/data/word_pairs.hpp"
#include "engine/workloads/workload.hpp"

namespace troupe {

struct skipgram_workload_options {
  std::uint32_t dim = 100;
  std::uint32_t batch = 256;  ///< centre words per step
  std::uint32_t window = 5;   ///< contexts within [1, window] words each side
  std::uint32_t negatives = 5;
  double subsample = 1e-3;  ///< word2vec's t; 0 keeps every word
  std::uint64_t seed = 42;
  optimizer_spec optimizer{optimizer_kind::sgd, 0.025f};
  std::uint32_t random_per_pair = 10;
  std::vector<std::pair<std::string, std::string>> pairs = related_word_pairs();
  std::vector<std::string> report_words = {"man",   "day",  "monday", "city", "war",
                                           "money", "good", "said",   "three"};
};

/// `in` word vectors (id 1, uniform in +-0.5/dim) and `out` context vectors (id 2, zeros).
std::vector<table_spec> skipgram_tables(const skipgram_workload_options& o);

/// Trains on partition `part` of `parts` of corpus->train and evaluates on corpus->test.
std::unique_ptr<workload> make_skipgram_workload(const skipgram_workload_options& o,
                                                 std::shared_ptr<const brown_corpus> corpus,
                                                 std::uint32_t part, std::uint32_t parts);

}  // namespace troupe
