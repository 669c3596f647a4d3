// End to end: skip-gram trained by 2 workers and 2 shards (actors, Cap'n
// Proto pushes and pulls, staleness bound) on a generated Brown-format corpus
// in which related words always share their contexts; the final evaluation's
// report reaches job_summary and report.txt.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "actors/job_runner.hpp"
#include "engine/errors.hpp"
#include "engine/workloads/workload_factory.hpp"

namespace troupe {
namespace {

namespace fs = std::filesystem;

// Pairs from the built-in related-pair list, each with its own context words.
// In a directory of the test's own (`name`): CTest runs the tests of this
// file side by side, and one rewriting the other's corpus broke it.
fs::path write_topic_corpus(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("troupe_skipgram_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::vector<std::vector<std::string>> pairs = {
      {"man", "woman"}, {"monday", "tuesday"}, {"red", "blue"}};
  std::mt19937 rng(9);
  for (int f = 0; f < 4; ++f) {
    std::ofstream out(dir / ("c" + std::string(1, static_cast<char>('a' + f)) + "01"));
    for (int i = 0; i < 150; ++i) {
      const auto t = rng() % pairs.size();
      out << "\t";
      for (int w = 0; w < 6; ++w) {
        if (w == 2) out << pairs[t][rng() % 2] << "/nn ";
        out << "Ctx" << t << (rng() % 4) << "/nn ";
      }
      out << "./.\n\n";
    }
  }
  return dir;
}

TEST(SkipgramTraining, RelatedWordsEndUpNeighboursThroughShardsAndWorkers) {
  job_config job;
  job.name = "skipgram_topics";
  job.data_set = "brown";
  job.model_kind = "skipgram";
  job.data_dir = write_topic_corpus("topics").string();
  job.output_dir = (fs::temp_directory_path() / "troupe_skipgram_run").string();
  job.min_count = 1;
  job.subsample = 0;
  job.test_fraction = 0.1;
  job.embedding_dim = 16;
  job.window = 2;
  job.negatives = 3;
  job.batch = 32;
  job.epochs = 4;
  job.staleness = 1;
  job.optimizer = {optimizer_kind::adagrad, 0.1f};
  job.target_metric = "accuracy";
  job.target_accuracy = 0.8;
  fs::remove_all(job.output_dir);
  const auto s = run_job(job);
  // 3 of the built-in pairs are in this vocabulary, 10 random words each.
  EXPECT_GE(s.test_accuracy, 0.8) << summary_line(s) << "\n" << s.eval_report;
  EXPECT_LT(s.test_loss, 4 * std::log(2.0)) << "no better than untrained vectors";
  EXPECT_EQ(s.pushes_rejected, 0u);
  EXPECT_NE(s.eval_report.find("man -> woman"), std::string::npos) << s.eval_report;
  EXPECT_NE(s.eval_report.find("related pairs: 3 used"), std::string::npos) << s.eval_report;
  std::ifstream in(job.output_dir + "/report.txt");
  const std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(written, s.eval_report);
}

// No held-out sentence: the job was scored on nothing, reporting a loss of
// 0 and its target reached at once. Refused before it starts instead.
TEST(SkipgramTraining, AnEmptyTestSetIsRefused) {
  job_config job;
  job.data_set = "brown";
  job.model_kind = "skipgram";
  job.data_dir = write_topic_corpus("empty_test").string();
  job.min_count = 1;
  job.test_fraction = 0.00001;
  try {
    load_workload_data(job);
    FAIL() << "a job without a test set was accepted";
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::bad_config);
    EXPECT_NE(std::string(e.what()).find("the test set of brown is empty"), std::string::npos)
        << e.what();
  }
  job.test_fraction = 0.1;
  EXPECT_GT(load_workload_data(job)->test_rows(), 0u);
}

}  // namespace
}  // namespace troupe
