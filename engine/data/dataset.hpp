#pragma once
// In-memory labelled data sets and the readers of the real ones.
//
//   auto train = load_fashion_mnist("/usr/share/datasets/fashion-mnist", "train");
//   // train.rows == 60000, train.cols == 784, pixels scaled to [0, 1]

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace troupe {

/// Dense features (row-major, rows x cols) with integer class labels, or
/// with regression targets (one per row) instead.
struct dataset {
  std::size_t rows = 0;
  std::size_t cols = 0;
  int classes = 0;  ///< 0 for regression
  std::vector<float> features;
  std::vector<std::int32_t> labels;
  std::vector<float> targets;  ///< regression only (then labels is empty)
  std::string source;          ///< the file it came from, for error messages
  /// The features' names from a CSV header, in column order; empty: none.
  std::vector<std::string> feature_names;
  /// The header's name of the label column (CSV files with a header).
  std::string label_name;
  /// What loading decided that the user should hear of (a pandas index
  /// column left out of the features), one line each, for a warning.
  std::vector<std::string> notes;

  const float* row(std::size_t i) const { return features.data() + i * cols; }
};

/// Default install directory of Debian's dataset-fashion-mnist package.
inline constexpr const char* fashion_mnist_default_dir = "/usr/share/datasets/fashion-mnist";

/// Reads a gzip-compressed (or plain) idx3 image file and idx1 label file,
/// scaling pixels by 1/255. Throws troupe_error (io_error, malformed data).
dataset load_idx(const std::string& images_path, const std::string& labels_path);

/// Loads split "train" (60k) or "t10k"/"test" (10k) of Fashion-MNIST from
/// `dir`. A missing directory or file throws troupe_error(missing_dataset)
/// that names the Debian package to install.
dataset load_fashion_mnist(const std::string& dir, const std::string& split);

/// A warning when the largest label is far above all others (one mistyped
/// label, 2000000 say, makes a model of two million outputs that trains as
/// usual): it names that label and the next one. Empty otherwise, and for
/// regression. Over all the sets one file was split into (the label's row
/// may be among the test rows), naming the set that holds it.
std::string unused_classes_warning(const std::vector<const dataset*>& sets);
std::string unused_classes_warning(const dataset& d);
/// A test or validation set (null: none) and which of them it is.
struct scored_set {
  const dataset* set;
  const char* role;  ///< "test" or "validation"
};
/// A warning for each test or validation set (`scored`, null ones skipped)
/// has rows of a class that no training row has: they can never be scored
/// right. A test file's own labels must be in the training file (refused
/// otherwise); this is what a cut of it leaves (--train-limit on a file
/// sorted by label, a validation_fraction that took a class's rows, a
/// split that left a rare class out). Empty otherwise, and for regression.
std::vector<std::string> untrained_classes_warnings(const dataset& train,
                                                    const std::vector<scored_set>& scored);

/// The first `limit` rows (all when limit is 0 or larger than the set).
dataset take_rows(dataset d, std::size_t limit);

}  // namespace troupe
