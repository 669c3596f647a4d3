#pragma once
// What a model has to beat: the test score of predicting without features,
// from the training labels only. A classifier's baseline is the majority
// class (its accuracy); a regression's is the training mean (its RMSE).
//
//   const auto b = baseline_of(*data.dense_train, *data.dense_test);
//   // b.accuracy (classification) or b.rmse and b.mae (regression)

#include "engine/data/dataset.hpp"
#include "engine/data/ratings_dataset.hpp"
#include "engine/data/sparse_dataset.hpp"

namespace troupe {

struct baseline {
  bool regression = false;
  double accuracy = 0;       ///< classification: the majority class's share of the test set
  double rmse = 0, mae = 0;  ///< regression: of the training mean on the test set
};

baseline baseline_of(const dataset& train, const dataset& test);
baseline baseline_of(const sparse_dataset& train, const sparse_dataset& test);
baseline baseline_of(const ratings_dataset& train, const ratings_dataset& test);

}  // namespace troupe
