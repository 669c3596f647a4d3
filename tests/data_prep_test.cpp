// From users' files to a configured job: seeded splits done in place,
// normalisation with training statistics only, the [data] / [model] keys,
// and the model checked against the data before anything trains (one-line
// errors naming both numbers).
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "data_files.hpp"
#include "engine/data/baseline.hpp"
#include "engine/data/file_data.hpp"
#include "engine/data/normalize.hpp"
#include "engine/data/row_split.hpp"
#include "engine/early_stopping.hpp"
#include "engine/errors.hpp"
#include "engine/job_config.hpp"
#include "engine/workloads/workload_factory.hpp"
#include "engine/workloads/workload_registry.hpp"
#include "job_error.hpp"

namespace troupe {
namespace {

using testing_files::temp_dir;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

dataset numbered(std::size_t rows) {
  dataset d;
  d.rows = rows;
  d.cols = 2;
  for (std::size_t r = 0; r < rows; ++r) {
    d.features.push_back(static_cast<float>(r));
    d.features.push_back(static_cast<float>(r) * 10);
    d.labels.push_back(static_cast<std::int32_t>(r % 3));
  }
  d.classes = 3;
  return d;
}

TEST(RowSplit, TakesASeededShareInPlaceAndKeepsTheRestInOrder) {
  auto d = numbered(100);
  const auto mask = pick_rows(100, 0.2, 7);
  EXPECT_EQ(std::count(mask.begin(), mask.end(), true), 20);
  EXPECT_EQ(mask, pick_rows(100, 0.2, 7));  // seeded
  EXPECT_NE(mask, pick_rows(100, 0.2, 8));
  const float* storage = d.features.data();
  const auto out = take_out(d, mask);
  EXPECT_EQ(out.rows, 20u);
  EXPECT_EQ(d.rows, 80u);
  EXPECT_EQ(d.features.data(), storage);  // compacted where it was: no second copy
  // Every row is in exactly one part; each part keeps the file's order.
  std::vector<int> seen(100, 0);
  for (const dataset* part : std::initializer_list<const dataset*>{&d, &out}) {
    float last = -1;
    for (std::size_t r = 0; r < part->rows; ++r) {
      const float id = part->row(r)[0];
      EXPECT_EQ(part->row(r)[1], id * 10);
      EXPECT_EQ(part->labels[r], static_cast<int>(id) % 3);
      EXPECT_GT(id, last);
      last = id;
      ++seen[static_cast<std::size_t>(id)];
    }
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 100);
}

TEST(RowSplit, SparseAndRatingsSplitsKeepEveryRowOnce) {
  sparse_dataset s;
  s.features = 10;
  for (std::uint32_t r = 0; r < 30; ++r) s.push_row({r % 10}, {float(r)}, int(r % 2));
  const auto out = take_out(s, pick_rows(30, 0.3, 1));
  EXPECT_EQ(out.rows + s.rows, 30u);
  EXPECT_TRUE(validate(s).ok());
  EXPECT_TRUE(validate(out).ok());
  float sum = 0;
  for (const sparse_dataset* d : std::initializer_list<const sparse_dataset*>{&s, &out})
    sum += std::accumulate(d->values.begin(), d->values.end(), 0.f);
  EXPECT_EQ(sum, 435.f);  // 0 + ... + 29
  ratings_dataset r;
  for (int i = 0; i < 10; ++i) {
    r.users.push_back(i);
    r.items.push_back(i);
    r.ratings.push_back(float(i));
  }
  const auto rt = take_out(r, pick_rows(10, 0.5, 3));
  EXPECT_EQ(rt.size() + r.size(), 10u);
}

TEST(Normalize, StandardizeUsesTrainingStatisticsOnly) {
  dataset train = numbered(4);  // column 0: 0 1 2 3 (mean 1.5, sd sqrt(1.25))
  dataset test = numbered(2);
  test.features = {100, 0, 1.5f, 15};
  normalize_features("standardize", 1, train, {&test});
  const double sd = std::sqrt(1.25);
  EXPECT_NEAR(train.features[0], -1.5 / sd, 1e-6);
  EXPECT_NEAR(test.features[0], (100 - 1.5) / sd, 1e-4);  // not the test set's own mean
  EXPECT_NEAR(test.features[2], 0, 1e-6);
  double mean = 0;
  for (std::size_t r = 0; r < train.rows; ++r) mean += train.row(r)[1];
  EXPECT_NEAR(mean, 0, 1e-5);
  dataset px = numbered(2);
  normalize_features("scale", 255, px, {});
  EXPECT_FLOAT_EQ(px.features[3], 10.f / 255);
  // A column constant in training is only centred, never divided by zero.
  dataset flat = numbered(3);
  for (std::size_t r = 0; r < 3; ++r) flat.features[r * 2] = 5;
  normalize_features("standardize", 1, flat, {});
  for (float v : flat.features) EXPECT_TRUE(std::isfinite(v));
  EXPECT_EQ(flat.features[0], 0.f);
  // Finite values that leave float's range when normalised are the data's
  // error, named here (a job failed later as "a diverging model").
  dataset huge = numbered(3);  // column 0: mean -1.1e38, so 3.4e38 less it is 4.5e38
  huge.source = "huge.csv";
  huge.features[0] = huge.features[2] = -3.4e38f;
  huge.features[4] = 3.4e38f;
  try {
    normalize_features("standardize", 1, huge, {});
    FAIL() << "an overflow went through";
  } catch (const troupe_error& e) {
    EXPECT_NE(std::string(e.what()).find("huge.csv: feature 1 of row"), std::string::npos)
        << e.what();
  }
  dataset tiny = numbered(2);
  EXPECT_THROW(normalize_features("scale", 1e-38, tiny, {}), troupe_error);  // 10 / 1e-38
}

file_data_request csv_request(const std::string& train) {
  file_data_request r;
  r.spec.format = "csv";
  r.spec.train = train;
  return r;
}

// The message of the troupe_error(bad_config) load_file_data(r) throws.
std::string load_error(const file_data_request& r) {
  try {
    load_file_data(r);
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::bad_config) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(FileData, SplitsTestAndValidationOffTheTrainingFile) {
  temp_dir dir("file_data");
  std::string text;
  for (int i = 0; i < 200; ++i) text += std::to_string(i) + "," + std::to_string(i % 4) + "\n";
  auto r = csv_request(dir.write("a.csv", text));
  r.test_fraction = 0.25;
  r.spec.validation_fraction = 0.2;
  const auto f = load_file_data(r);
  EXPECT_EQ(f.dense_test->rows, 50u);
  EXPECT_EQ(f.dense_validation->rows, 30u);  // 20% of the 150 left
  EXPECT_EQ(f.dense_train->rows, 120u);
  EXPECT_EQ(f.dense_train->classes, 4);
  EXPECT_EQ(f.dense_test->classes, 4);
  // The same seeds give the same split.
  const auto again = load_file_data(r);
  EXPECT_EQ(again.dense_test->features, f.dense_test->features);
}

// A split of too few rows rounds to none: said so, with the fraction, not
// only "the test set is empty".
TEST(FileData, AnEmptySplitSaysWhy) {
  temp_dir dir("file_empty_split");
  auto r = csv_request(dir.write("one.csv", "1,2,0\n3,4,1\n"));
  r.test_fraction = 0.2;
  auto msg = load_error(r);
  EXPECT_TRUE(has(msg, "the test set is empty (data.test_fraction 0.2 of ")) << msg;
  EXPECT_TRUE(has(msg, "one.csv's rows rounds to none")) << msg;
  r.test_fraction = 0.5;
  r.spec.validation_fraction = 0.4;
  msg = load_error(r);
  EXPECT_TRUE(has(msg, "the validation set is empty (data.validation_fraction 0.4 of ")) << msg;
}

TEST(FileData, SetsOfDifferentWidthsAreAnErrorNamingBoth) {
  temp_dir dir("file_width");
  auto r = csv_request(dir.write("train.csv", "1,2,0\n3,4,1\n"));
  r.spec.test = dir.write("test.csv", "1,2,3,0\n");
  {
    const auto msg = load_error(r);
    EXPECT_TRUE(has(msg, "test.csv has 3 features but the training file")) << msg;
    EXPECT_TRUE(has(msg, "train.csv has 2")) << msg;
  }
}

// A test file whose header names the features in another order is read by
// name (by position it trained fine and tested at 46% instead of 97.5%); one
// naming other features is refused; without headers, position it is.
TEST(FileData, TestColumnsAreMatchedToTrainingColumnsByHeaderName) {
  temp_dir dir("file_names");
  auto r = csv_request(dir.write("train.csv", "a,b,c,y\n1,2,3,0\n4,5,6,1\n"));
  r.spec.label_name = "y";
  r.spec.test = dir.write("test.csv", "y,c,a,b\n1,30,10,20\n0,60,40,50\n");
  const auto f = load_file_data(r);
  EXPECT_EQ(f.dense_test->features, (std::vector<float>{10, 20, 30, 40, 50, 60}));
  EXPECT_EQ(f.dense_test->labels, (std::vector<std::int32_t>{1, 0}));
  EXPECT_EQ(f.dense_train->features, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  r.spec.test = dir.write("other.csv", "y,c,a,z\n1,30,10,20\n");
  EXPECT_TRUE(has(load_error(r), "other.csv: its header names no feature 'b', which"));
  EXPECT_TRUE(has(load_error(r), "give both files the same feature columns"));
  // A first row of data with a value missing is guessed to be a header: the
  // error says so rather than only that the names differ.
  r.spec.test = dir.write("missing.csv", "1,?,3,0\n4,5,6,1\n");
  auto msg = load_error(r);  // the label by name: not found in that "header"
  EXPECT_TRUE(has(msg, "missing.csv: no column 'y' in the header")) << msg;
  EXPECT_TRUE(has(msg, "is mostly numbers: a row of data with a value missing?")) << msg;
  r.spec.label_name.clear();  // the label by position: the features' names are not found
  msg = load_error(r);
  EXPECT_TRUE(has(msg, "missing.csv: its header names no feature 'a'")) << msg;
  EXPECT_TRUE(has(msg, "is mostly numbers: a row of data with a value missing?")) << msg;
  auto plain = csv_request(dir.write("p.csv", "1,2,0\n3,4,1\n"));
  plain.spec.test = dir.write("pt.csv", "x,w,y\n5,6,1\n");  // only one header: by position
  EXPECT_EQ(load_file_data(plain).dense_test->features, (std::vector<float>{5, 6}));
}

// The same with the label chosen by index (label_column's default, the last
// column): a test file with a header finds it by the training file's name
// for it. It took the test file's last column instead ("label '0.6007' is
// not a class number", or a feature read as the label).
TEST(FileData, ALabelChosenByIndexIsFoundByNameInATestFileInAnotherOrder) {
  temp_dir dir("file_label_index");
  auto r = csv_request(dir.write("train.csv", "a,b,c,y\n1,2,3,0\n4,5,6,1\n"));
  r.spec.test = dir.write("test.csv", "y,c,a,b\n1,30,10,20\n0,60,40,50\n");
  r.spec.validation = dir.write("valid.csv", "c,y,b,a\n3,1,2,1\n");
  const auto f = load_file_data(r);
  EXPECT_EQ(f.dense_test->features, (std::vector<float>{10, 20, 30, 40, 50, 60}));
  EXPECT_EQ(f.dense_test->labels, (std::vector<std::int32_t>{1, 0}));
  EXPECT_EQ(f.dense_validation->features, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(f.dense_validation->labels, (std::vector<std::int32_t>{1}));
  // A test file without the training label's name keeps label_column's index.
  r.spec.validation.clear();
  r.spec.test = dir.write("plain.csv", "7,8,9,1\n");
  const auto g = load_file_data(r);
  EXPECT_EQ(g.dense_test->features, (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(g.dense_test->labels, (std::vector<std::int32_t>{1}));
}

// A training header that names a feature twice cannot tell which column a
// test file in another order means: refused (by position the test set was
// scored on shuffled features, at half the accuracy). The same order is fine.
TEST(FileData, ANameTwiceInTheTrainingHeaderIsRefusedWhenTheTestFileIsInAnotherOrder) {
  temp_dir dir("file_twice");
  auto r = csv_request(dir.write("train.csv", "a,a,c,y\n1,2,3,0\n4,5,6,1\n"));
  r.spec.label_name = "y";
  r.spec.test = dir.write("test.csv", "a,c,a,y\n1,3,2,1\n");
  {
    const auto msg = load_error(r);
    EXPECT_TRUE(has(msg, "train.csv: its header names the feature 'a' twice")) << msg;
    EXPECT_TRUE(has(msg, "test.csv orders its columns otherwise")) << msg;
  }
  r.spec.test = dir.write("same.csv", "a,a,c,y\n1,2,3,1\n");
  EXPECT_EQ(load_file_data(r).dense_test->features, (std::vector<float>{1, 2, 3}));
}

// A test or validation label the training data never has would give the
// model an output it never trains (silently: 6 outputs for 3 classes), and
// its rows could never be right; it is refused, naming the file and row,
// also below the training data's largest label.
TEST(FileData, ATestLabelTheTrainingDataLacksIsRefusedNamingItsFile) {
  temp_dir dir("file_labels");
  auto r = csv_request(dir.write("train.csv", "1,2,0\n3,4,1\n5,6,2\n"));
  r.spec.test = dir.write("test.csv", "1,2,0\n3,4,5\n");
  {
    const auto msg = load_error(r);
    EXPECT_TRUE(
        has(msg, "test.csv has label 5 (its data row 2), which no row of the training data"))
        << msg;
    EXPECT_TRUE(has(msg, "train.csv has")) << msg;
  }
  r.spec.test = dir.write("fine.csv", "1,2,0\n3,4,2\n");
  r.spec.validation = dir.write("valid.csv", "1,2,3\n");
  EXPECT_TRUE(has(load_error(r), "valid.csv has label 3 (its data row 1)"));
  r.spec.validation.clear();
  EXPECT_EQ(load_file_data(r).dense_test->classes, 3);
  auto gap = csv_request(dir.write("gap.csv", "1,2,0\n3,4,2\n"));
  gap.spec.test = dir.write("middle.csv", "1,2,1\n");
  EXPECT_TRUE(has(load_error(gap), "middle.csv has label 1 (its data row 1)"));
}

// A cut of the training file (--train-limit on a file sorted by label, a
// validation_fraction) may leave the training rows without a class that the
// test rows have: said in a warning (before, the check ran before the cut
// and said nothing, and after the validation split, where it refused a test
// file's label that the training file has, saying the file did not).
TEST(FileData, ClassesACutOfTheTrainingFileLeftOutAreNamedInAWarning) {
  temp_dir dir("file_cut_classes");
  std::string sorted;
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < 20; ++i) sorted += std::to_string(i) + "," + std::to_string(c) + "\n";
  }
  auto r = csv_request(dir.write("train.csv", sorted));
  r.spec.test = dir.write("test.csv", "1,0\n2,1\n3,2\n4,2\n");
  r.train_limit = 20;  // class 0 only
  auto f = load_file_data(r);
  auto notes = untrained_classes_warnings(*f.dense_train, {{f.dense_test.get(), "test"}});
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_TRUE(has(notes[0], "the test rows (of " + r.spec.test +
                                "): 3 of 4 are of classes 1, 2, which no training row has"))
      << notes[0];
  r.train_limit = 0;
  r.spec.validation_fraction = 0.97;  // 2 training rows are left
  f = load_file_data(r);              // not refused: train.csv has every test label
  ASSERT_EQ(f.dense_train->rows, 2u);
  notes = untrained_classes_warnings(
      *f.dense_train, {{f.dense_test.get(), "test"}, {f.dense_validation.get(), "validation"}});
  ASSERT_EQ(notes.size(), 2u);  // each set its own
  EXPECT_TRUE(has(notes[0], "the test rows")) << notes[0];
  EXPECT_TRUE(has(notes[1], "the validation rows")) << notes[1];
  r.spec.validation_fraction = 0;
  f = load_file_data(r);
  EXPECT_TRUE(
      untrained_classes_warnings(*f.dense_train, {{f.dense_test.get(), "test"}, {nullptr, "x"}})
          .empty());
}

// One mistyped label sets the number of classes (2000000: a model of two
// million outputs, trained as usual): a warning names it and the next one.
// Gaps alone (a few rows of many classes) are no sign.
TEST(FileData, ALabelFarAboveAllOthersIsNamedInAWarning) {
  dataset d;
  d.source = "data.csv";
  d.labels = {0, 1, 2, 1, 0, 2000000, 2};
  d.rows = d.labels.size();
  d.classes = 2000001;
  const auto note = unused_classes_warning(d);
  EXPECT_TRUE(has(note,
                  "data.csv: the largest label, 2000000 (on 1 row), is far above the next "
                  "one, 2: the model gets 2000001 outputs, 1999997 of them"))
      << note;
  d.labels = {0, 1, 2, 7};
  d.classes = 8;
  EXPECT_NE(unused_classes_warning(d), "");
  d.labels = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  d.classes = 10;
  EXPECT_EQ(unused_classes_warning(d), "");
  d.labels = {1, 2, 3};  // numbered from 1
  d.classes = 4;
  EXPECT_EQ(unused_classes_warning(d), "");
  d.labels = {3, 11, 17, 20, 25};  // 5 rows of 26 classes
  d.classes = 26;
  EXPECT_EQ(unused_classes_warning(d), "");
  // The outlier's row split off into the test rows: still named (it was
  // not, and 48 outputs of 51 trained on nothing without a word).
  dataset train, test;
  train.source = test.source = "mine.csv";
  train.labels = {0, 1, 2, 2, 1};
  test.labels = {1, 50};
  train.classes = test.classes = 51;
  EXPECT_TRUE(has(unused_classes_warning({&train, &test, nullptr}),
                  "mine.csv: the largest label, 50 (on 1 row), is far above the next one, 2"));
  EXPECT_EQ(unused_classes_warning(train), "");
  d.labels.clear();
  d.targets = {0.5f, 1.5f};
  d.classes = 0;
  EXPECT_EQ(unused_classes_warning(d), "");
}

// A checkpoint records what it was trained on, and a resume compares: one
// changed label, or fewer rows, is another data set.
TEST(FileData, TheDataSignatureNamesTheRowsAndChangesWithAnyValue) {
  auto train = std::make_shared<dataset>();
  train->rows = 2;
  train->cols = 2;
  train->features = {1, 2, 3, 4};
  train->labels = {0, 1};
  auto test = std::make_shared<dataset>(*train);
  workload_data a;
  a.dense_train = train;
  a.dense_test = test;
  const auto sig = data_signature(a);
  EXPECT_EQ(sig.rfind("train=2 test=2 validation=0 crc=", 0), 0u) << sig;
  EXPECT_EQ(data_signature(a), sig);
  auto changed = std::make_shared<dataset>(*train);
  changed->labels = {1, 1};
  workload_data b = a;
  b.dense_train = changed;
  EXPECT_NE(data_signature(b), sig);
  auto fewer = std::make_shared<dataset>(*train);
  fewer->rows = 1;
  fewer->features.resize(2);
  fewer->labels.resize(1);
  b.dense_train = fewer;
  EXPECT_EQ(data_signature(b).rfind("train=1 ", 0), 0u);
}

// A label past any real class count (1e9) is refused naming its row: it
// was refused as a model too large for memory, with advice to lower the batch.
TEST(FileData, ALabelOfABillionClassesIsRefusedNamingItsRow) {
  temp_dir dir("file_huge_label");
  const auto msg = load_error(csv_request(dir.write("big.csv", "1,2,0\n3,4,1000000000\n5,6,1\n")));
  EXPECT_TRUE(has(msg,
                  "big.csv: label 1000000000 (its data row 2) would make a model of "
                  "1000000001 outputs"))
      << msg;
}

job_config csv_job(const std::string& train, const std::string& model) {
  const std::string toml = "[data]\nformat = \"csv\"\ntrain = \"" + train +
                           "\"\ntest_fraction = 0.25\n[model]\n" + model +
                           "\n[train]\nworkers = 1\nshards = 1\nbackend = \"cpu\"\n";
  return parse_job_config(toml, "job.toml");
}

std::string fit_error(job_config job) {
  try {
    auto data = load_workload_data(job);
    fit_job_to_data(job, *data);
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::bad_config);
    return e.what();
  }
  return "";
}

// 26 classes, 5 features: the case the built-in-only command line could not train.
std::string letters(const temp_dir& dir) {
  std::string text;
  for (int i = 0; i < 104; ++i) {
    for (int c = 0; c < 5; ++c) text += std::to_string((i * 7 + c) % 11) + ",";
    text += std::to_string(i % 26) + "\n";
  }
  return dir.write("letters.csv", text);
}

TEST(FitToData, HiddenLayersTakeWidthAndClassesFromTheData) {
  temp_dir dir("fit_hidden");
  auto job = csv_job(letters(dir), "hidden = [16]");
  EXPECT_EQ(job.data_set, "files");
  EXPECT_EQ(job.model.sizes, (std::vector<int>{0, 16, 0}));
  const auto data = load_workload_data(job);
  fit_job_to_data(job, *data);
  EXPECT_EQ(job.model.sizes, (std::vector<int>{5, 16, 26}));
  // The fitted job round-trips (it is what nodes receive).
  EXPECT_EQ(parse_job_config(to_toml(job), "again").model.sizes, job.model.sizes);
}

TEST(FitToData, WidthAndClassMismatchesAreOneLineErrorsNamingBothNumbers) {
  temp_dir dir("fit_errors");
  const auto file = letters(dir);
  auto msg = fit_error(csv_job(file, "layers = [784, 16, 26]"));
  EXPECT_TRUE(has(msg, "model.layers: the model takes 784 inputs but")) << msg;
  EXPECT_TRUE(has(msg, "letters.csv has 5 features")) << msg;
  msg = fit_error(csv_job(file, "layers = [5, 16, 10]"));
  EXPECT_TRUE(has(msg, "model.layers: the model has 10 outputs but")) << msg;
  EXPECT_TRUE(has(msg, "has 26 classes (labels up to 25)")) << msg;
  msg = fit_error(csv_job(file, "hidden = [8]\nloss = \"logistic\""));
  EXPECT_TRUE(has(msg, "model.loss: the logistic loss takes labels 0 and 1")) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  EXPECT_EQ(fit_error(csv_job(file, "layers = [5, 16, 30]")), "");  // spare outputs are fine
}

TEST(JobConfigData, NewKeysParseValidateAndRoundTrip) {
  const auto job = parse_job_config(
      "[data]\nformat = \"npy\"\ntrain = \"x.npy\"\ntrain_labels = \"y.npy\"\ntest = \"tx.npy\"\n"
      "test_labels = \"ty.npy\"\nvalidation_fraction = 0.1\nnormalize = \"standardize\"\n"
      "[model]\nhidden = [32, 16]\nactivation = \"sigmoid\"\nloss = \"mse\"\n"
      "[train]\nearly_stopping = 4\nkeep_best = true\n",
      "t.toml");
  EXPECT_EQ(job.data.format, "npy");
  EXPECT_EQ(job.model.activation, activation_kind::sigmoid);
  EXPECT_EQ(job.model.loss, loss_kind::mse);
  EXPECT_EQ(job.early_stopping, 4u);
  EXPECT_TRUE(job.keep_best);
  EXPECT_TRUE(has_validation(job));
  const auto again = parse_job_config(to_toml(job), "again");
  EXPECT_EQ(to_toml(again), to_toml(job));
  EXPECT_EQ(again.data.test_labels, "ty.npy");
}

TEST(JobConfigData, BadDataAndModelKeysNameTheKey) {
  const auto error = test_support::job_error_of;
  EXPECT_TRUE(
      has(error("[data]\nformat = \"xml\"\ntrain = \"a\"\n"), "data.format: unknown format"));
  EXPECT_TRUE(has(error("[data]\nformat = \"csv\"\n"), "data.train"));
  EXPECT_TRUE(has(error("[data]\nformat = \"idx\"\ntrain = \"a\"\n"), "data.train_labels"));
  EXPECT_TRUE(has(error("[data]\nformat = \"csv\"\ntrain = \"a\"\ntrain_labels = \"b\"\n"
                        "label_column = 2\n"),
                  "data.label_column: the labels are in a file of their own"));
  EXPECT_TRUE(has(error("[data]\nformat = \"csv\"\ntrain = \"a\"\nnormalize = \"zscore\"\n"),
                  "data.normalize"));
  EXPECT_TRUE(has(error("[data]\nformat = \"csv\"\ntrain = \"a\"\nvalidation_fraction = 1.5\n"),
                  "data.validation_fraction"));
  // 1 / 1e-300 is infinite as a float: every feature would become NaN.
  EXPECT_TRUE(has(error("[data]\nformat = \"csv\"\ntrain = \"a\"\nnormalize = \"scale\"\n"
                        "scale = 1e-300\n"),
                  "data.scale: must lie in [1e-30, 1e30]"));
  EXPECT_TRUE(has(error("[model]\nactivation = \"gelu\"\n"), "model.activation"));
  EXPECT_TRUE(has(error("[model]\nloss = \"hinge\"\n"), "model.loss"));
  EXPECT_TRUE(has(error("[model]\nhidden = [8]\nlayers = [784, 8, 10]\n"), "model.hidden"));
  EXPECT_TRUE(
      has(error("[train]\nearly_stopping = 3\n"), "train.early_stopping: needs a validation set"));
  EXPECT_TRUE(has(error("[model]\nkind = \"gpt\"\n"), "unknown model 'gpt' (known: "));
  EXPECT_TRUE(has(error("[data]\nformat = \"libsvm\"\ntrain = \"a\"\n[model]\nkind = \"mlp\"\n"),
                  "libsvm data trains the logreg model"));
  EXPECT_TRUE(has(error("[data]\nformat = \"csv\"\ntrain = \"a\"\n[model]\nkind = \"mf\"\n"),
                  "the mf model trains on movielens or ratings files"));
}

TEST(WorkloadRegistry, BuiltInsAreEntriesAndNamesAreUnique) {
  const auto names = workload_kind_names();
  for (const char* n : {"mlp", "logreg", "mf", "skipgram"}) {
    EXPECT_NE(find_workload_kind(n), nullptr) << n;
    EXPECT_TRUE(std::count(names.begin(), names.end(), n)) << n;
  }
  workload_kind copy = *find_workload_kind("mlp");
  EXPECT_THROW(register_workload_kind(copy), troupe_error);  // the name is taken
  workload_kind empty;
  empty.name = "incomplete";
  EXPECT_THROW(register_workload_kind(empty), troupe_error);
  EXPECT_EQ(find_workload_kind("incomplete"), nullptr);
  // Several kinds at once (a plugin's) go in all or none: one taken name,
  // also one taken by another thread since the plugin checked, or one given
  // twice, and none is registered.
  workload_kind fresh = copy;
  fresh.name = "registry_test_fresh";
  EXPECT_THROW(register_workload_kinds({fresh, copy}), troupe_error);
  EXPECT_EQ(find_workload_kind("registry_test_fresh"), nullptr);
  EXPECT_THROW(register_workload_kinds({fresh, fresh}), troupe_error);
  EXPECT_EQ(find_workload_kind("registry_test_fresh"), nullptr);
  workload_kind other = copy;
  other.name = "registry_test_other";
  register_workload_kinds({fresh, other});
  EXPECT_NE(find_workload_kind("registry_test_fresh"), nullptr);
  EXPECT_NE(find_workload_kind("registry_test_other"), nullptr);
}

TEST(Baseline, MajorityClassAndMeanPredictor) {
  dataset train, test;
  train.labels = {1, 1, 0, 2};
  test.labels = {1, 0, 1, 1};
  EXPECT_DOUBLE_EQ(baseline_of(train, test).accuracy, 0.75);
  dataset rt, rs;
  rt.targets = {1, 3};  // mean 2
  rs.targets = {2, 4, 0};
  const auto b = baseline_of(rt, rs);
  EXPECT_TRUE(b.regression);
  EXPECT_NEAR(b.rmse, std::sqrt(8.0 / 3), 1e-9);
  EXPECT_NEAR(b.mae, 4.0 / 3, 1e-9);
}

TEST(EarlyStopping, StopsAfterPatienceEvaluationsWithoutABetterLoss) {
  early_stopping es(2);
  EXPECT_TRUE(es.record(1.0, 1, 10).improved);
  EXPECT_TRUE(es.record(0.8, 2, 20).improved);
  auto v = es.record(0.9, 3, 30);
  EXPECT_FALSE(v.improved);
  EXPECT_FALSE(v.stop);
  v = es.record(NAN, 4, 40);  // never an improvement
  EXPECT_TRUE(v.stop);
  EXPECT_FALSE(es.record(0.95, 5, 50).stop);  // reported once
  EXPECT_EQ(es.best_epoch(), 2u);
  EXPECT_EQ(es.best_clock(), 20);
  EXPECT_DOUBLE_EQ(es.best_loss(), 0.8);
  early_stopping never(0);
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(never.record(1.0 + i, i + 1, i).stop);
}

}  // namespace
}  // namespace troupe
