// Job files: the embedded default is the example file, typos and bad values
// are errors that name the key, and flags' values parse.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/address.hpp"
#include "engine/errors.hpp"
#include "engine/job_config.hpp"
#include "engine/workloads/workload_factory.hpp"
#include "job_error.hpp"

namespace troupe {
namespace {

std::string error_of(const std::string& toml) {
  return test_support::job_error_of(toml);
}

TEST(JobConfig, DefaultIsTheReferenceJob) {
  const auto job = default_job_config();
  EXPECT_EQ(job.workers, 2u);
  EXPECT_EQ(job.shards, 2u);
  EXPECT_EQ(job.staleness, 2);
  EXPECT_EQ(job.batch, 64u);
  EXPECT_FLOAT_EQ(job.optimizer.learning_rate, 0.05f);
  EXPECT_EQ(job.optimizer.kind, optimizer_kind::sgd);
  EXPECT_EQ(job.model.sizes, (std::vector<int>{784, 256, 128, 10}));
  EXPECT_DOUBLE_EQ(job.target_accuracy, 0.87);
}

// A file that names no job is named after its model and data (it took the
// reference job's name and directory whatever it trained); with no output
// directory it writes under runs/ by its name.
TEST(JobConfig, AnUnnamedJobIsNamedAfterItsModelAndData) {
  const auto spam = parse_job_config(
      "[data]\nset = \"spam-assassin\"\n[model]\nkind = \"logreg\"\n", "spam.toml", false);
  EXPECT_EQ(spam.name, "logreg_spam-assassin");
  EXPECT_EQ(spam.output_dir, "runs/logreg_spam-assassin");
  const auto csv = parse_job_config(
      "[data]\nformat = \"csv\"\ntrain = \"data/sk/digits.csv.gz\"\n[model]\nhidden = [8]\n",
      "digits.toml", false);
  EXPECT_EQ(csv.name, "mlp_digits");
  const auto named = parse_job_config("[job]\nname = \"mine\"\n", "mine.toml", false);
  EXPECT_EQ(named.output_dir, "runs/mine");
  const auto placed = parse_job_config("[job]\noutput_dir = \"/tmp/x\"\n", "x.toml", false);
  EXPECT_EQ(placed.name, "fashion_mlp");  // the reference job's model and data
  EXPECT_EQ(placed.output_dir, "/tmp/x");
}

TEST(JobConfig, ExampleFileMatchesTheEmbeddedDefault) {
  std::ifstream in(TROUPE_SOURCE_DIR "/examples/fashion_mlp.toml");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), std::string(default_job_toml()));
}

TEST(JobConfig, RoundTripsThroughToToml) {
  auto job = default_job_config();
  job.staleness = staleness_unbounded;
  job.workers = 5;
  job.optimizer.kind = optimizer_kind::adagrad;
  job.stragglers = "fixed:worker=0,factor=3";
  const auto again = parse_job_config(to_toml(job), "roundtrip");
  EXPECT_EQ(again.staleness, staleness_unbounded);
  EXPECT_EQ(again.workers, 5u);
  EXPECT_EQ(again.optimizer.kind, optimizer_kind::adagrad);
  EXPECT_EQ(again.stragglers, job.stragglers);
  EXPECT_EQ(to_toml(again), to_toml(job));
}

// A built-in data set's validation rows come out of its training rows, as a
// file's do: the fraction was read, then ignored (and keep_best refused the
// job for want of a validation set). It also survives job.toml.
TEST(JobConfig, ABuiltInDataSetTakesItsValidationRowsFromItsTrainingRows) {
  auto job = default_job_config();
  job.data.validation_fraction = 0.1;
  job.keep_best = true;
  EXPECT_TRUE(has_validation(job));
  EXPECT_NO_THROW(validate(job));
  const auto back = parse_job_config(to_toml(job), "round trip");
  EXPECT_DOUBLE_EQ(back.data.validation_fraction, 0.1);
  EXPECT_TRUE(back.keep_best);
  if (!std::ifstream("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST is missing: run scripts/setup.sh";
  }
  job.train_limit = 5000;
  const auto data = load_workload_data(job);
  EXPECT_EQ(data->validation_rows(), 6000u);  // of 60,000, before the limit
  EXPECT_EQ(data->train_rows(), 5000u);
  EXPECT_EQ(data->test_rows(), 10000u);
}

TEST(JobConfig, TomlRoundTripIsExactForStringsAndNumbers) {
  auto job = default_job_config();
  job.output_dir = "runs/with \"quotes\" and \\backslash";
  // Control characters may not appear raw in a TOML string: a path with a
  // carriage return was written back unreadable (found by fuzzing).
  job.data_dir = std::string("/usr/sh\re/da\tta\nset\x01\x1f\x7f") + '\0' + "end";
  job.test_fraction = 0.123456789012345;
  job.target_accuracy = 0.8765432109876;
  const auto again = parse_job_config(to_toml(job), "exact");
  EXPECT_EQ(again.output_dir, job.output_dir);
  EXPECT_EQ(again.data_dir, job.data_dir);
  EXPECT_EQ(again.test_fraction, job.test_fraction);
  EXPECT_EQ(again.target_accuracy, job.target_accuracy);
}

// Floats where integers go, and numbers beyond a float where floats go, are
// refused naming the key, never converted (toml++ converts a float beyond an
// integer's range with undefined behaviour; found by fuzzing under UBSan).
TEST(JobConfig, NumbersBeyondTheirTypeAreErrorsNamingTheKey) {
  EXPECT_NE(error_of("[train]\nworkers = 1e30\n").find("train.workers: expected an integer"),
            std::string::npos);
  EXPECT_NE(error_of("[model]\nlayers = [784, 1e30, 10]\n").find("model.layers"),
            std::string::npos);
  EXPECT_NE(error_of("[cluster]\nshard_nodes = [-1e300]\n").find("cluster.shard_nodes"),
            std::string::npos);
  EXPECT_NE(error_of("[train]\nlearning_rate = 1e300\n").find("train.learning_rate"),
            std::string::npos);
  EXPECT_NE(error_of("[train]\nlearning_rate = 1e300\n").find("float's range"), std::string::npos);
  // What every node would refuse for the job's shards is refused here, so a
  // job cannot run locally and fail on a cluster.
  EXPECT_NE(error_of("[train]\nmomentum = 1.0\n").find("train: momentum must be in [0, 1)"),
            std::string::npos)
      << error_of("[train]\nmomentum = 1.0\n");
}

TEST(JobConfig, UnknownKeysAreErrorsNamingThem) {
  EXPECT_NE(error_of("[train]\nworkerz = 3\n").find("train.workerz"), std::string::npos);
  EXPECT_NE(error_of("[trian]\n").find("trian"), std::string::npos);
}

TEST(JobConfig, BadValuesAreErrorsNamingTheKey) {
  EXPECT_NE(error_of("[train]\nworkers = 0\n").find("train.workers"), std::string::npos);
  EXPECT_NE(error_of("[train]\nworkers = \"two\"\n").find("train.workers"), std::string::npos);
  EXPECT_NE(error_of("[train]\nstaleness = -1\n").find("train.staleness"), std::string::npos);
  EXPECT_NE(error_of("[train]\nstaleness = \"often\"\n").find("often"), std::string::npos);
  EXPECT_NE(error_of("[train]\nbackend = \"tpu\"\n").find("train.backend"), std::string::npos);
  EXPECT_NE(error_of("[train]\noptimizer = \"lbfgs\"\n").find("train.optimizer"),
            std::string::npos);
  EXPECT_NE(error_of("[train]\nlearning_rate = -0.1\n").find("learning_rate"), std::string::npos);
  EXPECT_NE(error_of("[model]\nlayers = [784, 0, 10]\n").find("model.layers"), std::string::npos);
  EXPECT_NE(error_of("[model]\nlayers = [100, 10]\n").find("model.layers"), std::string::npos);
  EXPECT_NE(error_of("[data]\nset = \"imagenet\"\n").find("data.set"), std::string::npos);
  EXPECT_NE(error_of("[job\n").find("test.toml:1"), std::string::npos);
}

// Settings the job would not read were ignored without a word: momentum
// with plain SGD (or Adam), an activation with no hidden layer or for a
// model that has none. Each is named in a warning (not refused: a sweep over
// optimizers may set momentum for all); their defaults, which every job.toml
// writes, are not.
TEST(JobConfig, SettingsTheJobWouldNotReadAreNamed) {
  auto notes = [](const std::string& text) {
    return unread_settings_warnings(parse_job_config(text, "t.toml", false));
  };
  auto one = notes("[train]\noptimizer = \"sgd\"\nmomentum = 0.5\n");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0],
            "train.momentum = 0.5 is not used: only optimizer = \"momentum\" reads it (this "
            "job's optimizer is \"sgd\")");
  one = notes("[train]\noptimizer = \"adam\"\nmomentum = 0.5\n");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_NE(one[0].find("\"adam\""), std::string::npos) << one[0];
  EXPECT_TRUE(notes("[train]\noptimizer = \"momentum\"\nmomentum = 0.5\n").empty());
  EXPECT_TRUE(notes("[train]\noptimizer = \"sgd\"\nmomentum = 0.9\n").empty());
  one = notes("[model]\nlayers = [784, 10]\nactivation = \"tanh\"\n");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0],
            "model.activation = \"tanh\" is not used: it applies between hidden layers, and this "
            "model has none (784 inputs straight to 10 outputs)");
  EXPECT_TRUE(notes("[model]\nlayers = [784, 10]\nactivation = \"relu\"\n").empty());
  EXPECT_TRUE(notes("[model]\nlayers = [784, 32, 10]\nactivation = \"tanh\"\n").empty());
  one = notes("[model]\nkind = \"mf\"\nactivation = \"sigmoid\"\n");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_NE(one[0].find("only model.kind = \"mlp\" reads it (this job's is \"mf\")"),
            std::string::npos)
      << one[0];
  EXPECT_TRUE(unread_settings_warnings(default_job_config()).empty());
  // A user's own kind may read the job's momentum for tables of its own.
  auto custom = parse_job_config("[train]\noptimizer = \"sgd\"\nmomentum = 0.5\n", "t.toml", false);
  custom.model_kind = "my_plugin_kind";
  custom.test_fraction = 0.1;  // and its own data
  EXPECT_TRUE(unread_settings_warnings(custom).empty());
}

// The other keys a kind or data source leaves unread: model keys of other
// kinds, data keys of other formats or of data that comes prepared. A job
// file that sets them expected them to matter.
TEST(JobConfig, DataAndModelKeysOtherKindsReadAreNamed) {
  auto notes = [](const std::string& text) {
    return unread_settings_warnings(parse_job_config(text, "t.toml", false));
  };
  auto one = notes("[data]\ntest_fraction = 0.1\n");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0],
            "data.test_fraction = 0.1 is not used: fashion-mnist has a test set of its own");
  one = notes(
      "[data]\nformat = \"csv\"\ntrain = \"a.csv\"\ntest = \"b.csv\"\n"
      "test_fraction = 0.3\nscale = 255\n");
  ASSERT_EQ(one.size(), 2u);
  EXPECT_EQ(one[0],
            "data.test_fraction = 0.3 is not used: the test rows come from data.test (b.csv)");
  EXPECT_EQ(one[1],
            "data.scale = 255 is not used: only normalize = \"scale\" reads it (this job's "
            "normalize is \"none\")");
  one = notes(
      "[data]\nformat = \"csv\"\ntrain = \"a.csv\"\ntest_labels = \"t.csv\"\n"
      "validation_labels = \"v.csv\"\nvalidation_fraction = 0.1\n");
  ASSERT_EQ(one.size(), 2u);
  EXPECT_EQ(one[0],
            "data.test_labels = \"t.csv\" is not used: there is no data.test: the test rows are "
            "split off the training file");
  EXPECT_EQ(one[1],
            "data.validation_labels = \"v.csv\" is not used: there is no data.validation file: "
            "the validation rows are split off the training file");
  EXPECT_TRUE(notes("[data]\nformat = \"csv\"\ntrain = \"a.csv\"\ntest_fraction = 0.3\n"
                    "normalize = \"scale\"\nscale = 255\n")
                  .empty());
  one = notes(
      "[data]\nformat = \"libsvm\"\ntrain = \"a.svm\"\ndelimiter = \";\"\n"
      "label_column = 0\nuser_column = \"u\"\n");
  ASSERT_EQ(one.size(), 3u);
  EXPECT_NE(one[0].find("data.delimiter = \";\" is not used: only csv and ratings files"),
            std::string::npos)
      << one[0];
  EXPECT_NE(one[1].find("data.user_column = \"u\" is not used: only format = \"ratings\""),
            std::string::npos)
      << one[1];
  EXPECT_EQ(one[2], "data.label_column = 0 is not used: a libsvm row begins with its label");
  one = notes("[data]\nnormalize = \"standardize\"\nmin_count = 3\n");
  ASSERT_EQ(one.size(), 2u);
  EXPECT_NE(one[0].find("data.min_count = 3 is not used: only the spam-assassin and brown"),
            std::string::npos)
      << one[0];
  EXPECT_NE(one[1].find("data.normalize = \"standardize\" is not used: only data from files"),
            std::string::npos)
      << one[1];
  one = notes("[model]\ndim = 64\nl2 = 0.1\nwindow = 3\nmicro_batches = 8\n");
  ASSERT_EQ(one.size(), 4u);
  EXPECT_EQ(one[0],
            "model.dim = 64 is not used: only the mf and skipgram models have embeddings (this "
            "job's is \"mlp\")");
  EXPECT_NE(one[1].find("model.l2 = 0.1 is not used"), std::string::npos) << one[1];
  EXPECT_NE(one[2].find("model.window = 3 is not used: only model.kind = \"skipgram\""),
            std::string::npos)
      << one[2];
  EXPECT_NE(one[3].find("model.micro_batches = 8 is not used"), std::string::npos) << one[3];
  EXPECT_TRUE(notes("[model]\nkind = \"skipgram\"\ndim = 64\nwindow = 3\n"
                    "[data]\nset = \"brown\"\nmin_count = 3\nsubsample = 0.01\n")
                  .empty());
  // A job.toml writes every key at its value: re-running one names nothing.
  EXPECT_TRUE(notes(to_toml(default_job_config())).empty());
  // Nor does any shipped example, each set for what it trains.
  for (const auto& entry : std::filesystem::directory_iterator(TROUPE_SOURCE_DIR "/examples")) {
    // embedding_tables.toml is a service's tables, not a job.
    if (entry.path().extension() != ".toml" || entry.path().stem() == "embedding_tables") continue;
    const auto job = load_job_config(entry.path().string());
    EXPECT_TRUE(unread_settings_warnings(job).empty())
        << entry.path() << ": " << ::testing::PrintToString(unread_settings_warnings(job));
  }
}

// A regression has no accuracy: judged by one, a sweep over a regression
// found every run at "test accuracy >= 0" after three steps. Its target is
// the test RMSE unless the file says otherwise, and "accuracy" is refused.
TEST(JobConfig, ARegressionsTargetIsItsLoss) {
  EXPECT_EQ(parse_job_config("[model]\nloss = \"mse\"\n", "t", false).target_metric, "loss");
  EXPECT_EQ(parse_job_config("[model]\nkind = \"mf\"\n", "t", false).target_metric, "loss");
  EXPECT_EQ(parse_job_config("[model]\nloss = \"softmax\"\n", "t", false).target_metric,
            "accuracy");
  const auto why = error_of("[job]\ntarget_metric = \"accuracy\"\n[model]\nloss = \"mse\"\n");
  EXPECT_NE(why.find("job.target_metric"), std::string::npos) << why;
  EXPECT_NE(why.find("a regression has no accuracy"), std::string::npos) << why;
}

TEST(JobConfig, StalenessParsing) {
  EXPECT_EQ(parse_staleness("0"), 0);
  EXPECT_EQ(parse_staleness("16"), 16);
  EXPECT_EQ(parse_staleness("inf"), staleness_unbounded);
  EXPECT_THROW(parse_staleness("-2"), troupe_error);
  EXPECT_THROW(parse_staleness("2x"), troupe_error);
  EXPECT_EQ(staleness_to_string(staleness_unbounded), "inf");
}

TEST(JobConfig, MissingJobFileIsAnIoError) {
  try {
    load_job_config("/nonexistent/job.toml");
    FAIL() << "no error";
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::io_error);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/job.toml"), std::string::npos);
  }
}

}  // namespace
}  // namespace troupe

namespace troupe {
namespace {

TEST(JobConfig, ClusterSectionParsesValidatesAndRoundTrips) {
  const auto job = parse_job_config(
      "[cluster]\nnodes = [\"127.0.0.1:7001\", \"localhost:7002\"]\nsecret_file = \"s.key\"\n"
      "shard_nodes = [0]\nworker_nodes = [1]\n",
      "c.toml");
  ASSERT_EQ(job.nodes.size(), 2u);
  EXPECT_EQ(parse_address(job.nodes[1]),
            (std::pair<std::string, std::uint16_t>{"localhost", 7002}));
  EXPECT_EQ(job.shard_nodes, (std::vector<std::uint32_t>{0}));
  const auto again = parse_job_config(to_toml(job), "again");
  EXPECT_EQ(again.nodes, job.nodes);
  EXPECT_EQ(again.worker_nodes, job.worker_nodes);
  EXPECT_EQ(again.secret_file, "s.key");
  EXPECT_NE(
      error_of("[cluster]\nnodes = [\"nohost\"]\nsecret_file = \"s\"\n").find("cluster.nodes"),
      std::string::npos);
  EXPECT_NE(error_of("[cluster]\nnodes = [\"a:1\"]\n").find("cluster.secret_file"),
            std::string::npos);
  EXPECT_NE(error_of("[cluster]\nnodes = [\"a:1\"]\nsecret_file = \"s\"\nshard_nodes = [3]\n")
                .find("cluster.shard_nodes"),
            std::string::npos);
  EXPECT_THROW(parse_address("host:99999"), troupe_error);
  EXPECT_THROW(parse_address("127.0.0.1:0"), troupe_error);  // a node to reach needs a port
  // Listeners there warn when they rely on the secret alone.
  for (const char* host : {"127.0.0.1", "127.1.2.3", "localhost", "::1"}) {
    EXPECT_TRUE(is_loopback_host(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "10.0.0.5", "::", "example.org", "128.0.0.1"}) {
    EXPECT_FALSE(is_loopback_host(host)) << host;
  }
  EXPECT_EQ(parse_address("127.0.0.1:0", true).second, 0);  // one to listen on may take any
  EXPECT_EQ(parse_address("[::1]:7000").first, "::1");
}

}  // namespace
}  // namespace troupe
