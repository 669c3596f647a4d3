#include "engine/data/file_data.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/data/csv_loader.hpp"
#include "engine/data/idx_loader.hpp"
#include "engine/data/libsvm_loader.hpp"
#include "engine/data/normalize.hpp"
#include "engine/data/npy_loader.hpp"
#include "engine/data/ratings_csv.hpp"
#include "engine/data/row_split.hpp"
#include "engine/errors.hpp"

namespace troupe {

namespace {

// 0.2, not 0.200000.
std::string shown(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

// `train_label`: the training file's label column name, which a test or
// validation file's header may place elsewhere (read by name, like its
// features).
dataset load_dense(const file_data_request& r, const std::string& path, const std::string& labels,
                   const std::string& train_label = {}) {
  const auto& s = r.spec;
  dataset d;
  if (s.format == "csv") {
    csv_options o;
    o.delimiter = s.delimiter;
    o.header = s.header;
    o.label_name = s.label_name;
    o.label_index = s.label_index;
    o.label_name_if_present = train_label;
    o.has_label = labels.empty();
    o.regression = r.regression;
    d = load_csv(path, o);
  } else if (s.format == "idx") {
    d = load_idx_features(path);
  } else {
    d = load_npy_features(path);
  }
  if (!labels.empty()) {
    if (s.format == "npy") {
      load_npy_labels(labels, r.regression, d);
    } else {
      load_label_file(labels, r.regression, d);
    }
  }
  return d;
}

// A test or validation file whose header names the training file's
// features in another order is read by name, not by position (which
// trained fine and then tested on shuffled features); one that names other
// features is refused. Without a header on both, position is all there is.
void match_columns(const dataset& train, dataset& other) {
  const auto& want = train.feature_names;
  const auto& have = other.feature_names;
  if (want.empty() || have.empty() || want == have) return;
  // Named twice in the training file: which of its columns another order
  // means cannot be told, and by position the features would be shuffled.
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (std::find(want.begin() + i + 1, want.end(), want[i]) != want.end()) {
      throw troupe_error(errc::bad_config,
                         train.source + ": its header names the feature '" + want[i] +
                             "' twice, and " + other.source +
                             " orders its columns otherwise; give every column its own name");
    }
  }
  std::map<std::string, std::size_t> at;
  for (std::size_t i = 0; i < have.size(); ++i) at.emplace(have[i], i);
  std::vector<std::size_t> from(want.size());
  for (std::size_t j = 0; j < want.size(); ++j) {
    const auto it = at.find(want[j]);
    // Same count, all of train's names distinct: a name missing here is
    // also how a name given twice here shows.
    if (it == at.end()) {
      // A first row of data taken as a header (a value missing in it) shows
      // here as unknown names: say what it more likely is.
      const bool numbers = !numeric_header_warning(other).empty();
      throw troupe_error(errc::bad_config,
                         other.source + ": its header names no feature '" + want[j] + "', which " +
                             train.source +
                             (numbers ? " has; its first line, taken as a header, is mostly "
                                        "numbers: a row of data with a value missing?"
                                      : " has; give both files the same feature columns"));
    }
    from[j] = it->second;
  }
  const auto cols = want.size();
  std::vector<float> reordered(other.features.size());
  for (std::size_t r = 0; r < other.rows; ++r) {
    for (std::size_t j = 0; j < cols; ++j) {
      reordered[r * cols + j] = other.features[r * cols + from[j]];
    }
  }
  other.features = std::move(reordered);
  other.feature_names = want;
}

// The labels a data set has, as a membership test (a sorted list when the
// class numbers are too many for a bitmap: one mistyped label may be 2^31-2).
class label_set {
 public:
  explicit label_set(const dataset& d) {
    if (d.classes <= (1 << 24)) {
      bits_.assign(static_cast<std::size_t>(d.classes), false);
      for (const auto c : d.labels) bits_[static_cast<std::size_t>(c)] = true;
      return;
    }
    sorted_ = d.labels;
    std::sort(sorted_.begin(), sorted_.end());
    sorted_.erase(std::unique(sorted_.begin(), sorted_.end()), sorted_.end());
  }
  bool has(std::int32_t c) const {
    if (!sorted_.empty()) return std::binary_search(sorted_.begin(), sorted_.end(), c);
    return c >= 0 && static_cast<std::size_t>(c) < bits_.size() &&
           bits_[static_cast<std::size_t>(c)];
  }

 private:
  std::vector<bool> bits_;
  std::vector<std::int32_t> sorted_;
};

template <class Set>
std::shared_ptr<const Set> shared(Set&& s) {
  return std::make_shared<const Set>(std::move(s));
}

// Class labels number the model's outputs 0..K-1: a label of 1e9 gave a
// refusal that blamed the batch size for the memory a model of a billion
// outputs would take. (A smaller outlier trains, with a warning:
// unused_classes_warning.)
void check_class_count(const dataset& train) {
  constexpr int most_classes = 1 << 20;
  if (train.classes <= most_classes || train.labels.empty()) return;
  const auto top = std::max_element(train.labels.begin(), train.labels.end());
  const auto row = static_cast<std::size_t>(top - train.labels.begin()) + 1;
  throw troupe_error(errc::bad_config, train.source + ": label " + std::to_string(*top) +
                                           " (its data row " + std::to_string(row) +
                                           ") would make a model of " +
                                           std::to_string(train.classes) +
                                           " outputs; class labels are numbered from 0, at most " +
                                           std::to_string(most_classes) + " classes");
}

file_data dense_files(const file_data_request& r) {
  const auto& s = r.spec;
  dataset train = load_dense(r, s.train, s.train_labels);
  check_class_count(train);
  // The labels of the whole training file, before any split or cut: a test
  // file's class that only a validation split took out of the training rows
  // was refused as "no row of the training data has"
  // (untrained_classes_warnings says what a cut leaves out).
  std::optional<label_set> trained;
  if (train.classes > 0 && (!s.test.empty() || !s.validation.empty())) trained.emplace(train);
  dataset test, validation;
  const bool has_test = !s.test.empty();
  if (has_test) {
    test = load_dense(r, s.test, s.test_labels, train.label_name);
  } else {
    test = take_out(train, pick_rows(train.rows, r.test_fraction, r.split_seed));
  }
  const bool has_validation = !s.validation.empty() || s.validation_fraction > 0;
  if (!s.validation.empty()) {
    validation = load_dense(r, s.validation, s.validation_labels, train.label_name);
  } else if (s.validation_fraction > 0) {
    validation = take_out(train, pick_rows(train.rows, s.validation_fraction, r.split_seed + 1));
  }
  for (auto* d : {&test, &validation}) {
    if (d->rows > 0 && d->cols != train.cols) {
      throw troupe_error(errc::bad_config, d->source + " has " + std::to_string(d->cols) +
                                               " features but the training file " + train.source +
                                               " has " + std::to_string(train.cols));
    }
    if (d->rows > 0) match_columns(train, *d);
  }
  // A class the training data never shows would get an output it never
  // trains, and its rows could never be right; more often the label column
  // or a label is wrong. (A split or cut of the training file may leave a
  // class out of the training rows: not refused, warned about.)
  if (train.classes > 0) {
    const std::vector<std::pair<const dataset*, bool>> files{{&test, has_test},
                                                             {&validation, !s.validation.empty()}};
    for (const auto& [d, own_file] : files) {
      if (!own_file) continue;
      for (std::size_t i = 0; i < d->labels.size(); ++i) {
        if (trained->has(d->labels[i])) continue;
        throw troupe_error(
            errc::bad_config,
            d->source + " has label " + std::to_string(d->labels[i]) + " (its data row " +
                std::to_string(i + 1) + "), which no row of the training data " + train.source +
                " has: the model would have an output it never trains (check data.label_column, "
                "or move such rows into the training file)");
      }
    }
  }
  keep_first(train, r.train_limit);
  keep_first(test, r.test_limit);
  normalize_features(s.normalize, s.scale, train, {&validation, &test});
  const int classes = std::max({train.classes, test.classes, validation.classes});
  for (auto* d : {&train, &test, &validation}) d->classes = classes;
  if (train.rows == 0) throw troupe_error(errc::bad_config, s.train + ": no training rows left");
  // Said with what made it so: a split of too few rows rounds to none.
  if (test.rows == 0) {
    throw troupe_error(
        errc::bad_config,
        "the test set is empty" +
            (has_test ? std::string(" (") + s.test + " holds no rows" +
                            (r.test_limit > 0 ? " within data.test_limit" : "") + ")"
                      : " (data.test_fraction " + shown(r.test_fraction) + " of " + s.train +
                            "'s rows rounds to none: give more rows, a larger "
                            "fraction or a data.test file)"));
  }
  if (has_validation && validation.rows == 0) {
    throw troupe_error(
        errc::bad_config,
        "the validation set is empty" +
            (s.validation.empty() ? " (data.validation_fraction " + shown(s.validation_fraction) +
                                        " of " + s.train + "'s rows rounds to none)"
                                  : std::string(" (") + s.validation + " holds no rows)"));
  }
  file_data out;
  out.dense_train = shared(std::move(train));
  out.dense_test = shared(std::move(test));
  if (has_validation) out.dense_validation = shared(std::move(validation));
  return out;
}

file_data sparse_files(const file_data_request& r) {
  const auto& s = r.spec;
  sparse_dataset train = load_libsvm(s.train);
  sparse_dataset test = s.test.empty()
                            ? take_out(train, pick_rows(train.rows, r.test_fraction, r.split_seed))
                            : load_libsvm(s.test);
  sparse_dataset validation;
  const bool has_validation = !s.validation.empty() || s.validation_fraction > 0;
  if (!s.validation.empty()) {
    validation = load_libsvm(s.validation);
  } else if (s.validation_fraction > 0) {
    validation = take_out(train, pick_rows(train.rows, s.validation_fraction, r.split_seed + 1));
  }
  keep_first(train, r.train_limit);
  keep_first(test, r.test_limit);
  normalize_features(s.normalize, s.scale, train, {&validation, &test});
  const auto features = std::max({train.features, test.features, validation.features});
  for (auto* d : {&train, &test, &validation}) d->features = features;
  if (train.rows == 0 || test.rows == 0 || (has_validation && validation.rows == 0)) {
    throw troupe_error(errc::bad_config, "a training, validation or test set is empty");
  }
  file_data out;
  out.sparse_train = shared(std::move(train));
  out.sparse_test = shared(std::move(test));
  if (has_validation) out.sparse_validation = shared(std::move(validation));
  return out;
}

file_data ratings_files(const file_data_request& r) {
  const auto& s = r.spec;
  ratings_csv_options o;
  o.user_column = s.user_column;
  o.item_column = s.item_column;
  o.rating_column = s.rating_column;
  o.delimiter = s.delimiter;
  o.header = s.header;
  ratings_dataset train = load_ratings_csv(s.train, o);
  ratings_dataset test =
      s.test.empty() ? take_out(train, pick_rows(train.size(), r.test_fraction, r.split_seed))
                     : load_ratings_csv(s.test, o);
  ratings_dataset validation;
  const bool has_validation = !s.validation.empty() || s.validation_fraction > 0;
  if (!s.validation.empty()) {
    validation = load_ratings_csv(s.validation, o);
  } else if (s.validation_fraction > 0) {
    validation = take_out(train, pick_rows(train.size(), s.validation_fraction, r.split_seed + 1));
  }
  keep_first(train, r.train_limit);
  keep_first(test, r.test_limit);
  if (train.size() == 0 || test.size() == 0 || (has_validation && validation.size() == 0)) {
    throw troupe_error(errc::bad_config, "a training, validation or test set is empty");
  }
  file_data out;
  out.ratings_train = shared(std::move(train));
  out.ratings_test = shared(std::move(test));
  if (has_validation) out.ratings_validation = shared(std::move(validation));
  return out;
}

}  // namespace

file_data load_file_data(const file_data_request& r) {
  validate(r.spec);
  if (r.spec.format == "libsvm") return sparse_files(r);
  if (r.spec.format == "ratings") return ratings_files(r);
  return dense_files(r);
}

}  // namespace troupe
