#pragma once
// A user's own data, as the [data] section of a job file describes it:
// which files in which format, how to split and normalise them. The four
// built-in data sets (data.set) keep their own readers; `format` selects
// the generic loaders of engine/data/file_data.hpp instead.
//
//   [data]
//   format = "csv"                      # csv | libsvm | idx | npy | ratings
//   train = "data/sklearn/digits.csv.gz"
//   test_fraction = 0.2                 # no test file: a seeded split of train
//   validation_fraction = 0.1           # no validation file: split off train
//   label_column = -1                   # csv: index (negative: from the end) or header name
//   normalize = "scale"                 # none | scale | standardize
//   scale = 16                          # scale: features are divided by this

#include <cstdint>
#include <set>
#include <string>

namespace troupe {

struct data_spec {
  std::string format;  ///< "" = the built-in data.set; csv, libsvm, idx, npy, ratings
  std::string train, test, validation;  ///< files (plain or .gz)
  /// Labels (or regression targets) in files of their own (csv: one value a
  /// line; idx: idx1; npy: 1-D); empty: in the feature file (csv, libsvm).
  std::string train_labels, test_labels, validation_labels;
  /// Without a validation file: this share of the training rows (seeded by
  /// data.split_seed) is held out for validation; 0 = no validation set.
  double validation_fraction = 0;
  // csv (and ratings)
  std::string label_name;          ///< the label column by header name; empty: label_index
  long long label_index = -1;      ///< the label column by index; negative counts from the end
  std::string delimiter = "auto";  ///< auto, ",", ";", "\t", " " (runs of blanks)
  int header = -1;                 ///< -1: auto (a first line with a non-number), 0 no, 1 yes
  // ratings
  std::string user_column = "userId", item_column = "movieId", rating_column = "rating";
  // normalisation of dense features, statistics from the training rows only
  std::string normalize = "none";  ///< none, scale, standardize
  double scale = 1;                ///< normalize = "scale": features are divided by this

  bool from_files() const { return !format.empty(); }
};

/// The [data] keys this section adds to the built-in ones.
const std::set<std::string>& data_spec_keys();

/// Checks values and their consistency; throws troupe_error(bad_config).
void validate(const data_spec& spec);

/// The keys as TOML lines (for the [data] section of to_toml); empty when
/// no format is set, so built-in jobs keep their job.toml unchanged.
std::string to_toml_lines(const data_spec& spec);

}  // namespace troupe
