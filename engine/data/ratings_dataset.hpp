#pragma once
// Explicit ratings (user, item, rating) and the MovieLens reader.
// scripts/fetch-data.sh movielens exports data/movielens/ratings.csv from
// Debian's r-cran-dslabs (never committed: its licence forbids it).
//
//   auto split = load_movielens("data/movielens", /*seed=*/42, /*test_fraction=*/0.1);
//   // split.train.size() ~ 90,004, ids are the raw userId / movieId values

#include <cstdint>
#include <string>
#include <vector>

namespace troupe {

struct ratings_dataset {
  std::vector<std::uint64_t> users;
  std::vector<std::uint64_t> items;
  std::vector<float> ratings;
  std::size_t size() const { return ratings.size(); }
  double mean() const;
};

struct ratings_split {
  ratings_dataset train, test;
};

/// Reads `<dir>/ratings.csv` (header userId,movieId,rating[,timestamp]) and
/// splits it with a seeded shuffle. Throws troupe_error: missing_dataset
/// naming scripts/fetch-data.sh when the file is absent, io_error on a
/// malformed line (with its number).
ratings_split load_movielens(const std::string& dir, std::uint64_t seed, double test_fraction);

}  // namespace troupe
