#pragma once
// Normalisation of dense features, with statistics from the training rows
// only (the validation and test rows are scaled by what training saw, as at
// prediction time):
//   none         features as loaded;
//   scale        every feature divided by `scale` (e.g. 255 for pixels);
//   standardize  per column (x - mean) / std of the training rows (a column
//                that is constant in training is only centred).
//
//   normalize_features("standardize", 1, train, {&validation, &test});

#include <string>
#include <vector>

#include "engine/data/dataset.hpp"
#include "engine/data/sparse_dataset.hpp"

namespace troupe {

void normalize_features(const std::string& how, double scale, dataset& train,
                        const std::vector<dataset*>& others);

/// `scale` for sparse rows (standardize would make them dense).
void normalize_features(const std::string& how, double scale, sparse_dataset& train,
                        const std::vector<sparse_dataset*>& others);

}  // namespace troupe
