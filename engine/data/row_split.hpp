#pragma once
// Seeded splits of a loaded data set into train / validation / test, done in
// place: the rows taken out move into a new (small) set and the rest close
// ranks inside the original storage, so a split never holds the data twice.
//
//   auto mask = pick_rows(train.rows, 0.2, /*seed=*/42);
//   dataset test = take_out(train, mask);   // ~20% of the rows; train keeps the others

#include <cstdint>
#include <vector>

#include "engine/data/dataset.hpp"
#include "engine/data/ratings_dataset.hpp"
#include "engine/data/sparse_dataset.hpp"

namespace troupe {

/// round(fraction * rows) of [0, rows), chosen by a seeded shuffle, as a mask.
std::vector<bool> pick_rows(std::size_t rows, double fraction, std::uint64_t seed);

dataset take_out(dataset& d, const std::vector<bool>& take);
sparse_dataset take_out(sparse_dataset& d, const std::vector<bool>& take);
ratings_dataset take_out(ratings_dataset& d, const std::vector<bool>& take);

/// Keeps the first `limit` rows (all when 0 or larger), in place.
void keep_first(dataset& d, std::size_t limit);
void keep_first(sparse_dataset& d, std::size_t limit);
void keep_first(ratings_dataset& d, std::size_t limit);

}  // namespace troupe
