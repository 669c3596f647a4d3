#pragma once
// A job's own data files ([data] format = csv | libsvm | idx | npy |
// ratings), loaded, split and normalised: the training, validation and test
// sets a workload trains and is scored on.
//
//   file_data_request r;
//   r.spec = job.data;                    // format, files, label column, ...
//   r.regression = is_regression(job.model.loss);
//   auto data = load_file_data(r);        // data.dense_train->cols: the input width
//
// Without a test file, test_fraction of the training rows (seeded by
// split_seed) become the test set; without a validation file,
// validation_fraction of the remaining ones (seeded by split_seed + 1) the
// validation set. Every set must have the training set's width.

#include <cstdint>
#include <memory>

#include "engine/data/data_spec.hpp"
#include "engine/data/dataset.hpp"
#include "engine/data/ratings_dataset.hpp"
#include "engine/data/sparse_dataset.hpp"

namespace troupe {

struct file_data_request {
  data_spec spec;
  bool regression = false;  ///< labels are regression targets, not classes
  std::uint64_t split_seed = 42;
  double test_fraction = 0.2;
  std::uint64_t train_limit = 0, test_limit = 0;  ///< 0: all rows
};

/// The sets of one kind are filled (dense for csv, idx, npy; sparse for
/// libsvm; ratings for ratings); validation may be null.
struct file_data {
  std::shared_ptr<const dataset> dense_train, dense_validation, dense_test;
  std::shared_ptr<const sparse_dataset> sparse_train, sparse_validation, sparse_test;
  std::shared_ptr<const ratings_dataset> ratings_train, ratings_validation, ratings_test;
};

/// Throws troupe_error: missing_dataset naming the file, io_error naming file
/// and line, bad_config for options that do not fit the files.
file_data load_file_data(const file_data_request& r);

}  // namespace troupe
