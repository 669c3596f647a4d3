// End to end on users' own files: a 26-class CSV (what the built-in-only
// command line could not train), a regression, sparse libsvm rows, ratings
// with named columns, and early stopping with keep_best. Every data set is
// generated here, with a signal the model must find to beat its baseline.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <tuple>

#include "actors/job_runner.hpp"
#include "data_files.hpp"
#include "engine/errors.hpp"
#include "engine/store/checkpoint.hpp"
#include "engine/store/shard_store.hpp"
#include "engine/wire/exchange_plan.hpp"
#include "engine/workloads/workload_factory.hpp"
#include "run_refusal.hpp"

namespace troupe {
namespace {

using testing_files::temp_dir;

job_config files_job(const temp_dir& dir, const std::string& data, const std::string& model,
                     const std::string& train = "") {
  const std::string toml =
      "[job]\nepochs = 12\nlog_every = 1000\noutput_dir = \"" + dir.file("run") + "\"\n[data]\n" +
      data + "\n[model]\n" + model +
      "\n[train]\nworkers = 2\nshards = 2\nstaleness = 2\nbackend = \"cpu\"\n" + train;
  return parse_job_config(toml, "test job");
}

// 26 Gaussian blobs in 8 dimensions, one per class.
std::string blobs(const temp_dir& dir, int rows) {
  std::mt19937 rng(5);
  std::normal_distribution<float> noise(0.f, 0.35f);
  std::uniform_int_distribution<int> cls(0, 25);
  std::ostringstream out;
  out << "f0,f1,f2,f3,f4,f5,f6,f7,letter\n";
  for (int i = 0; i < rows; ++i) {
    const int c = cls(rng);
    for (int d = 0; d < 8; ++d)
      out << ((c >> (d % 5)) & 1) * 2.f + (d == c % 8) + noise(rng) << ",";
    out << c << "\n";
  }
  return dir.write("letters.csv", out.str());
}

// The fields of metrics.csv's rows of `kind` (test, train), in order; a row
// of another number of fields is a failure.
std::vector<std::vector<std::string>> test_rows(const std::string& metrics_csv,
                                                const std::string& kind = "test") {
  std::ifstream csv(metrics_csv);
  std::string line;
  std::getline(csv, line);
  std::vector<std::vector<std::string>> rows;
  while (std::getline(csv, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string field; std::getline(ss, field, ',');) f.push_back(field);
    EXPECT_EQ(f.size(), 12u) << line;
    if (f.size() == 12 && f[4] == kind) rows.push_back(std::move(f));
  }
  return rows;
}

TEST(UserDataTraining, TwentySixClassesFromACsvFile) {
  temp_dir dir("train_letters");
  const auto job = files_job(dir,
                             "format = \"csv\"\ntrain = \"" + blobs(dir, 3000) +
                                 "\"\nlabel_column = \"letter\"\nnormalize = \"standardize\"",
                             "hidden = [64]", "learning_rate = 0.1\nbatch = 32\n");
  const auto s = run_job(job);
  EXPECT_FALSE(s.regression);
  EXPECT_GT(s.test_accuracy, 0.9) << summary_line(s);
  EXPECT_LT(s.baseline, 0.1) << summary_line(s);  // the majority class of 26
  EXPECT_NE(summary_line(s).find("test_log_loss="), std::string::npos);
  // The fitted model went to job.toml: 8 inputs from the data, 26 outputs.
  const auto written = load_job_config(dir.file("run/job.toml"));
  EXPECT_EQ(written.model.sizes, (std::vector<int>{8, 64, 26}));
}

TEST(UserDataTraining, RegressionReportsRmseAndMae) {
  temp_dir dir("train_regression");
  std::mt19937 rng(9);
  std::normal_distribution<float> x(0.f, 1.f), noise(0.f, 0.1f);
  std::ostringstream features, targets;
  for (int i = 0; i < 1500; ++i) {
    const float a = x(rng), b = x(rng), c = x(rng);
    features << a << " " << b << " " << c << "\n";
    targets << 3 * a - 2 * b + 0.5f * c + 10 + noise(rng) << "\n";
  }
  auto job = files_job(dir,
                       "format = \"csv\"\ntrain = \"" + dir.write("x.txt", features.str()) +
                           "\"\ntrain_labels = \"" + dir.write_gz("y.txt.gz", targets.str()) + "\"",
                       "hidden = [16]\nactivation = \"tanh\"\nloss = \"mse\"",
                       "optimizer = \"adam\"\nlearning_rate = 0.02\nbatch = 32\n");
  // Lock-step: what is checked is the metrics, and an asynchronous run of
  // these 456 steps on a loaded machine ended at RMSE 1.15 about once in a
  // hundred (0.29 of the baseline).
  job.staleness = 0;
  job.log_every = 10;
  const auto s = run_job(job);
  EXPECT_TRUE(s.regression);
  // metrics.csv's loss is an RMSE in train rows too, as in test rows (train
  // rows held the mean squared error: ~110 at the start, where the RMSE is
  // ~10, about 3x the mean predictor's).
  const auto train = test_rows(dir.file("run/metrics.csv"), "train");
  ASSERT_FALSE(train.empty());
  EXPECT_LT(std::stod(train.front()[5]), 6 * s.baseline) << train.front()[5];
  EXPECT_LT(std::stod(train.back()[5]), s.baseline) << train.back()[5];
  EXPECT_GT(s.baseline, 3.0) << summary_line(s);  // the mean predictor: sd ~3.6
  EXPECT_LT(s.test_loss, 0.25 * s.baseline) << summary_line(s);
  EXPECT_GT(s.test_mae, 0.0);
  EXPECT_LT(s.test_mae, s.test_loss * 1.01);  // MAE <= RMSE
  const auto line = summary_line(s);
  EXPECT_NE(line.find("test_rmse="), std::string::npos) << line;
  EXPECT_EQ(line.find("test_accuracy="), std::string::npos) << line;
}

TEST(UserDataTraining, SparseLibsvmTrainsLogisticRegression) {
  temp_dir dir("train_libsvm");
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> word(1, 400);
  std::ostringstream out;
  for (int i = 0; i < 2000; ++i) {
    const bool spam = i % 2 == 0;
    out << (spam ? "+1" : "-1");
    std::set<int> words;
    for (int k = 0; k < 12; ++k) words.insert(word(rng));
    words.insert(spam ? 401 + i % 5 : 410 + i % 5);  // the signal
    for (int w : words) out << " " << w << ":1";
    out << "\n";
  }
  const auto job =
      files_job(dir, "format = \"libsvm\"\ntrain = \"" + dir.write("a.svm", out.str()) + "\"",
                "kind = \"logreg\"", "optimizer = \"adagrad\"\nlearning_rate = 0.1\n");
  const auto s = run_job(job);
  EXPECT_GT(s.test_accuracy, 0.95) << summary_line(s);
  EXPECT_NEAR(s.baseline, 0.5, 0.1) << summary_line(s);
}

TEST(UserDataTraining, RatingsWithNamedColumnsAndOwnTestFile) {
  temp_dir dir("train_ratings");
  // rating = user taste + item quality: biases explain most of it.
  std::mt19937 rng(4);
  std::normal_distribution<float> noise(0.f, 0.2f);
  std::ostringstream train, test;
  train << "movie,stars,person\n";
  test << "movie,stars,person\n";
  for (int i = 0; i < 6000; ++i) {
    const int u = i % 97, m = (i * 31) % 53;
    const float r = 3 + 0.02f * (u % 50) - 0.03f * (m % 40) + noise(rng);
    (i % 10 == 0 ? test : train) << m << "," << r << "," << u << "\n";
  }
  const auto job = files_job(dir,
                             "format = \"ratings\"\ntrain = \"" + dir.write("r.csv", train.str()) +
                                 "\"\ntest = \"" + dir.write("t.csv", test.str()) +
                                 "\"\nuser_column = \"person\"\nitem_column = \"movie\"\n"
                                 "rating_column = \"stars\"",
                             "kind = \"mf\"\ndim = 4\nl2 = 0.001",
                             "optimizer = \"adam\"\nlearning_rate = 0.02\nbatch = 64\n");
  const auto s = run_job(job);
  EXPECT_TRUE(s.regression);
  EXPECT_LT(s.test_loss, 0.6 * s.baseline) << summary_line(s);
}

// A bounded table too small for what one evaluation reads from a shard is
// refused before training, naming the key; one large enough trains. It
// trained until its first evaluation and then failed ("... rows in one
// request, but table 'user_embedding' holds at most ...").
TEST(UserDataTraining, AMaxRowsNoEvaluationFitsIsRefusedBeforeTraining) {
  temp_dir dir("train_max_rows");
  std::ostringstream train, test;
  train << "user,item,rating\n";
  test << "user,item,rating\n";
  for (int i = 0; i < 4000; ++i) {
    const int u = i % 400, m = (i * 7) % 60;
    (i >= 3200 ? test : train) << u << "," << m << "," << (1 + (u + m) % 5) << "\n";
  }
  const std::string data =
      "format = \"ratings\"\ntrain = \"" + dir.write("r.csv", train.str()) + "\"\ntest = \"" +
      dir.write("t.csv", test.str()) +
      "\"\nuser_column = \"user\"\nitem_column = \"item\"\nrating_column = \"rating\"";
  auto job = files_job(dir, data, "kind = \"mf\"\ndim = 4\nmax_rows = 100");
  job.epochs = 1;
  // 400 users in the test file, on 2 shards: ~200 per shard in one evaluation.
  const auto why = test_support::refusal_of(job);
  EXPECT_NE(why.find("model.max_rows: table 'user_embedding' holds at most 100 rows per shard, but "
                     "an evaluation reads"),
            std::string::npos)
      << why;
  EXPECT_FALSE(std::filesystem::exists(dir.file("run") + "/metrics.csv"));
  job.max_rows = 400;
  const auto s = run_job(job);
  EXPECT_EQ(s.epochs, 1u) << summary_line(s);
}

// 300 rows of 20 uniform features and a random label of 4: nothing to
// learn, so a model only memorises its training rows.
std::string random_labels(unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> x(-1.f, 1.f);
  std::uniform_int_distribution<int> label(0, 3);
  std::ostringstream out;
  for (int i = 0; i < 300; ++i) {
    for (int d = 0; d < 20; ++d) out << x(rng) << ",";
    out << label(rng) << "\n";
  }
  return out.str();
}

TEST(UserDataTraining, EarlyStoppingEndsAJobThatOnlyOverfitsAndKeepsTheBest) {
  temp_dir dir("train_early");
  // Random labels: training memorises them, validation only gets worse.
  const auto noise = random_labels(8);
  auto job =
      files_job(dir,
                "format = \"csv\"\ntrain = \"" + dir.write("noise.csv", noise) +
                    "\"\nvalidation_fraction = 0.3",
                "hidden = [128]", "learning_rate = 0.2\nearly_stopping = 3\nkeep_best = true\n");
  job.epochs = 200;
  const auto s = run_job(job);
  EXPECT_TRUE(s.stopped_early) << summary_line(s);
  EXPECT_LT(s.epochs, 200u);
  ASSERT_GT(s.best_epoch, 0);
  EXPECT_EQ(s.epochs, static_cast<std::uint32_t>(s.best_epoch) + 3);  // patience 3
  EXPECT_TRUE(std::filesystem::exists(dir.file("run/best/best.txt")));
  bool checkpoint = false;
  for (const auto& e : std::filesystem::directory_iterator(dir.file("run/best"))) {
    checkpoint = checkpoint || e.path().extension() == ".ckpt";
  }
  EXPECT_TRUE(checkpoint);
  EXPECT_EQ(s.pushes_rejected, 0u);
}

// Each epoch's evaluation scores a model at most one epoch past that
// epoch's end, however much longer an evaluation takes than an epoch: here
// 4 steps an epoch against 40,000 test rows. The evaluations ran behind
// training, one at a time, each on the parameters of when its turn came,
// until every one of them scored the last model: early stopping then
// counted that one model as epochs of no progress. A worker now waits for
// the evaluation an epoch behind it.
TEST(UserDataTraining, EveryEpochIsScoredOnItsOwnModelWhenEvaluationsTakeLonger) {
  temp_dir dir("train_eval_lag");
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> x(-1.f, 1.f);
  const auto rows = [&](int n) {
    std::ostringstream out;
    for (int i = 0; i < n; ++i) {
      float sum = 0;
      for (int d = 0; d < 20; ++d) {
        const float v = x(rng);
        sum += v;
        out << v << ",";
      }
      out << (sum > 0 ? 1 : 0) << "\n";
    }
    return out.str();
  };
  auto job = files_job(dir,
                       "format = \"csv\"\ntrain = \"" + dir.write("small.csv", rows(64)) +
                           "\"\ntest = \"" + dir.write("large.csv", rows(40000)) + "\"",
                       "hidden = [64]", "batch = 16\n");
  job.epochs = 30;
  job.workers = 1;
  job.shards = 1;
  job.staleness = 0;
  const auto s = run_job(job);
  EXPECT_EQ(s.epochs, 30u) << summary_line(s);
  std::vector<std::int64_t> clocks;
  for (const auto& f : test_rows(dir.file("run/metrics.csv"))) {
    const std::string line = "epoch " + f[1] + ", clock " + f[3];
    const auto epoch = std::stoll(f[1]);
    const auto clock = std::stoll(f[3]);
    // 4 steps an epoch: scored no earlier than the epoch's end, and at most
    // one epoch later (the next epoch trains while it is scored).
    EXPECT_GE(clock, (epoch + 1) * 4) << line;
    EXPECT_LE(clock, (epoch + 2) * 4) << line;
    // Two in a row may read the same model: the next epoch trained while
    // the one before was scored, up to its end.
    if (!clocks.empty()) {
      EXPECT_GE(clock, clocks.back()) << line;
    }
    clocks.push_back(clock);
  }
  EXPECT_EQ(clocks.size(), 30u);
}

// A resumed job goes on with what the interrupted run's evaluations found:
// resumed, it reported its own first epoch as the best (and overwrote best/
// with it), and a target reached before the interruption as never reached.
TEST(UserDataTraining, AResumedJobKeepsItsBestModelAndItsTarget) {
  temp_dir dir("train_resume_best");
  // Random labels: validation is best early and only gets worse.
  const auto noise = random_labels(9);
  auto job = files_job(dir,
                       "format = \"csv\"\ntrain = \"" + dir.write("noise.csv", noise) +
                           "\"\nvalidation_fraction = 0.3",
                       "hidden = [128]", "learning_rate = 0.2\nkeep_best = true\n");
  job.epochs = 6;
  job.checkpoint_every = 1;
  job.target_accuracy = 0.01;  // reached by the first evaluation
  const auto first = run_job(job);
  ASSERT_GT(first.best_epoch, 0) << summary_line(first);
  ASSERT_LT(first.best_epoch, 6) << "the noise did not overfit: " << summary_line(first);
  ASSERT_EQ(first.epoch_of_target, 1) << summary_line(first);
  std::ifstream in(dir.file("run/best/best.txt"));
  const std::string best_txt{std::istreambuf_iterator<char>(in), {}};

  job.resume_from = job.output_dir + "/checkpoints";
  job.epochs = 8;
  const auto resumed = run_job(job);
  EXPECT_EQ(resumed.epochs, 8u) << summary_line(resumed);
  EXPECT_EQ(resumed.best_epoch, first.best_epoch) << summary_line(resumed);
  EXPECT_NEAR(resumed.best_val_loss, first.best_val_loss, 1e-9) << summary_line(resumed);
  EXPECT_DOUBLE_EQ(resumed.test_accuracy, first.test_accuracy) << summary_line(resumed);
  EXPECT_NEAR(resumed.test_loss, first.test_loss, 1e-9) << summary_line(resumed);
  EXPECT_EQ(resumed.epoch_of_target, 1) << summary_line(resumed);
  EXPECT_NEAR(resumed.time_to_target_s, first.time_to_target_s, 1e-4) << summary_line(resumed);
  std::ifstream again(dir.file("run/best/best.txt"));
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(again), {}), best_txt);

  // metrics.csv: one test row per epoch, in order, on one time axis.
  std::vector<std::uint32_t> epochs;
  double last_time = -1;
  for (const auto& f : test_rows(dir.file("run/metrics.csv"))) {
    epochs.push_back(static_cast<std::uint32_t>(std::stoul(f[1])));
    EXPECT_GE(std::stod(f[0]), last_time) << f[0];
    last_time = std::stod(f[0]);
  }
  EXPECT_EQ(epochs, (std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
}

// keep_best checkpoints the very model it reports, although the workers
// train on while it is scored: the best/ files, read back and scored on the
// test rows as the evaluator does, give the summary's test log-loss.
TEST(UserDataTraining, TheBestCheckpointIsTheModelTheSummaryReports) {
  // Fashion-MNIST's images with random labels: a model large enough that
  // pushes land while an evaluation is scored, whose validation loss is best
  // early and only gets worse while the workers train on.
  const std::string fm = "/usr/share/datasets/fashion-mnist/";
  if (!std::filesystem::exists(fm + "t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST is missing: run scripts/setup.sh";
  }
  temp_dir dir("train_best");
  std::mt19937 rng(11);
  auto random_labels = [&](const std::string& name, std::uint32_t n) {
    std::vector<unsigned char> idx{0,
                                   0,
                                   8,
                                   1,
                                   static_cast<unsigned char>(n >> 24),
                                   static_cast<unsigned char>(n >> 16),
                                   static_cast<unsigned char>(n >> 8),
                                   static_cast<unsigned char>(n)};
    for (std::uint32_t i = 0; i < n; ++i) idx.push_back(static_cast<unsigned char>(rng() % 10));
    return dir.write_bytes(name, idx);
  };
  auto job = files_job(dir,
                       "format = \"idx\"\ntrain = \"" + fm + "train-images-idx3-ubyte.gz\"\n" +
                           "train_labels = \"" + random_labels("train-labels", 60000) + "\"\n" +
                           "test = \"" + fm + "t10k-images-idx3-ubyte.gz\"\n" + "test_labels = \"" +
                           random_labels("test-labels", 10000) + "\"\n" +
                           "normalize = \"scale\"\nscale = 255\nvalidation_fraction = 0.2",
                       "hidden = [256, 128]", "learning_rate = 0.1\nkeep_best = true\n");
  job.epochs = 4;
  job.train_limit = 3000;
  job.test_limit = 1000;
  const auto s = run_job(job);
  ASSERT_GT(s.best_epoch, 0) << summary_line(s);
  std::ifstream best(dir.file("run/best/best.txt"));
  std::string line;
  std::int64_t clock = -1;
  while (std::getline(best, line)) {
    if (line.rfind("clock=", 0) == 0) clock = std::stoll(line.substr(6));
  }
  ASSERT_GE(clock, 0) << "no clock in best/best.txt";

  const auto fitted = load_job_config(dir.file("run/job.toml"));
  auto wl = make_eval_workload(fitted, load_workload_data(fitted));
  wl->prepare_eval();
  std::vector<shard_store> stores;
  for (std::uint32_t k = 0; k < fitted.shards; ++k) {
    checkpoint ck;
    const auto path = dir.file("run/best/" + checkpoint_file_name(k, clock));
    ASSERT_TRUE(read_checkpoint(path, ck).ok()) << path;
    stores.emplace_back(k);
    ASSERT_TRUE(stores.back().restore(std::move(ck.snapshot)).ok());
  }
  for (const auto& op : plan_exchange(*wl, fitted.shards)) {
    pull_request_view pull;
    ASSERT_TRUE(decode_pull_request(encode_pull(op, 0), pull).ok());
    bytes reply;
    ASSERT_TRUE(stores[op.shard].read_pull(pull, reply).ok());
    std::uint64_t version = 0;
    ASSERT_TRUE(accept_pull_reply(op, reply, *wl, version).ok());
  }
  const auto scored = wl->evaluate();
  ASSERT_GT(scored.rows, 0u);
  EXPECT_NEAR(scored.loss_sum / static_cast<double>(scored.rows), s.test_loss, 1e-6 * s.test_loss)
      << summary_line(s);
}

// A run that fails in a directory an earlier run finished in takes that
// run's summary.txt away with its job.toml: left, it reported the earlier
// accuracy beside a job.toml that never reached it.
TEST(UserDataTraining, AFailedRunLeavesNoEarlierSummaryBesideItsJob) {
  temp_dir dir("train_rerun");
  auto job = files_job(
      dir, "format = \"csv\"\ntrain = \"" + blobs(dir, 600) + "\"\nlabel_column = \"letter\"",
      "hidden = [16]");
  job.epochs = 1;
  run_job(job);
  ASSERT_TRUE(std::filesystem::exists(dir.file("run/summary.txt")));
  // Fails once its job.toml is written: no node listens where it points.
  job.nodes = {"127.0.0.1:1"};
  job.secret_file = dir.write("secret", "a-cluster-secret-of-enough-length-0123\n");
  std::filesystem::permissions(
      job.secret_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  try {
    run_job(job);
    FAIL() << "no error";
  } catch (const troupe_error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:1"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("run/summary.txt")));
  EXPECT_EQ(load_job_config(dir.file("run/job.toml")).nodes,
            (std::vector<std::string>{"127.0.0.1:1"}));
}

// A shard's part of a dense table travels in one message: a model whose
// part is larger is refused before anything runs, naming the shards it
// needs (it trained nothing and failed the job at its first pull).
TEST(UserDataTraining, AModelTooLargeForItsShardsMessagesIsRefusedBeforeTraining) {
  temp_dir dir("train_too_large");
  auto job = files_job(
      dir, "format = \"csv\"\ntrain = \"" + blobs(dir, 100) + "\"\nlabel_column = \"letter\"",
      "hidden = [16777216]");
  const auto why = test_support::refusal_of(job);
  EXPECT_NE(why.find("exceeds what one message carries"), std::string::npos) << why;
  EXPECT_NE(why.find("train.shards = 9 at least"), std::string::npos) << why;
  EXPECT_FALSE(std::filesystem::exists(dir.file("run/metrics.csv")));  // nothing started
}

TEST(UserDataTraining, MismatchesAreCaughtBeforeTraining) {
  temp_dir dir("train_mismatch");
  const auto job = files_job(
      dir, "format = \"csv\"\ntrain = \"" + blobs(dir, 100) + "\"\nlabel_column = \"letter\"",
      "layers = [8, 16, 10]");
  try {
    run_job(job);
    FAIL() << "no error";
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::bad_config);
    EXPECT_NE(std::string(e.what()).find("the model has 10 outputs but"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("run/metrics.csv")));  // nothing started
}

}  // namespace
}  // namespace troupe
