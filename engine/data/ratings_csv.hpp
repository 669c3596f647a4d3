#pragma once
// Users' own ratings: a CSV file (plain or .gz) with user, item and rating
// columns, named in its header (or, without a header, given by index).
// User and item ids are integers >= 0; ratings are finite numbers.
//
//   ratings_csv_options o;   // userId, movieId, rating: MovieLens's names
//   ratings_dataset r = load_ratings_csv("data/movielens/ratings.csv", o);

#include <string>

#include "engine/data/ratings_dataset.hpp"

namespace troupe {

struct ratings_csv_options {
  std::string user_column = "userId", item_column = "movieId", rating_column = "rating";
  std::string delimiter = "auto";
  int header = -1;  ///< -1: a first line with a field that is no number
};

/// Throws troupe_error: missing_dataset, io_error naming file and line,
/// bad_config for a column that is not in the header.
ratings_dataset load_ratings_csv(const std::string& path, const ratings_csv_options& o);

}  // namespace troupe
