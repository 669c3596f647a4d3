// Memory a job needs, estimated from its configuration (issue 12, problem 6:
// `troupe train --batch 1048576 --train-limit 2000` reached 22 GB and was
// OOM-killed without a message).
#include <gtest/gtest.h>

#include "engine/errors.hpp"
#include "engine/job_config.hpp"
#include "engine/memory_estimate.hpp"
#include "engine/model/model.hpp"
#include "engine/workloads/workload_factory.hpp"

namespace troupe {
namespace {

constexpr std::uint64_t GB = 1ull << 30;

TEST(MemoryEstimate, GrowsWithTheBatchTheWorkersAndTheCopies) {
  auto job = default_job_config();
  const auto base = estimate_job_memory(job);
  // The reference job: two workers of a 784-256-128-10 MLP on Fashion-MNIST.
  EXPECT_EQ(base.workers, 2u);
  EXPECT_GT(base.per_worker, 4 * 235146 * 4u);  // parameters, gradients, messages in flight
  EXPECT_EQ(base.data, 70000u * (784 * 4 + 4));
  EXPECT_EQ(base.tables, 235146u * 4);  // SGD keeps no optimizer state
  EXPECT_LT(base.in_process(), GB);

  job.batch = 1 << 20;
  job.train_limit = 2000;
  const auto huge = estimate_job_memory(job);
  // 3909 floats a row (input, batch, activations and their gradients), and
  // the next batch's 784 inputs, gathered while a step computes.
  EXPECT_EQ(huge.per_worker - base.per_worker, ((1u << 20) - 64u) * (3909ull + 784) * 4);
  job.stage_batches = false;
  const auto unstaged = estimate_job_memory(job);
  EXPECT_EQ(huge.per_worker - unstaged.per_worker, (1ull << 20) * 784 * 4);
  EXPECT_GT(huge.in_process(), 2 * 15 * GB);
  EXPECT_LT(huge.data, base.data);

  job = default_job_config();
  job.workers = 4;
  job.optimizer.kind = optimizer_kind::adam;
  job.nodes = {"a:1", "b:1"};
  const auto more = estimate_job_memory(job);
  EXPECT_EQ(more.workers, 4u);
  EXPECT_EQ(more.tables, 235146u * (4 * 3 + 4));  // values, two moments, update counts
  EXPECT_EQ(more.copies, 2u);                     // a backup per shard on >= 2 nodes
  EXPECT_EQ(more.held, 0u);

  // keep_best: every copy of a shard holds the state an evaluation read
  // until its checkpoint (a promoted backup writes it).
  job.keep_best = true;
  const auto best = estimate_job_memory(job);
  EXPECT_EQ(best.held, 2 * best.tables);
  EXPECT_EQ(best.in_process(), more.in_process() + 2 * best.tables);
  EXPECT_NE(best.describe().find("held for keep_best"), std::string::npos) << best.describe();
}

// Beyond two workers per thread, the compute pool lets only so many hold a
// step's buffers at once; the others keep their parameters only.
TEST(MemoryEstimate, CountsTheBatchBuffersOfTheWorkersThatHoldThemAtOnce) {
  auto job = default_job_config();
  job.threads = 2;
  job.workers = 1000;
  const auto many = estimate_job_memory(job);
  EXPECT_EQ(many.busy_workers, 4u);
  EXPECT_EQ(many.all_workers(), 4 * many.per_worker + 996 * many.per_worker_idle);
  EXPECT_LT(many.per_worker_idle, many.per_worker);
  job.compute_slots = 10;
  EXPECT_EQ(estimate_job_memory(job).busy_workers, 10u);
  job.workers = 3;
  job.compute_slots = 0;
  EXPECT_EQ(estimate_job_memory(job).busy_workers, 3u);
}

TEST(MemoryEstimate, AJobOverItsShareOfMemoryIsRefusedNamingTheBatch) {
  auto job = default_job_config();
  EXPECT_NO_THROW(check_memory(job, estimate_job_memory(job).in_process(), "job", 16 * GB));
  job.batch = 1 << 20;
  job.train_limit = 2000;
  const auto need = estimate_job_memory(job).in_process();
  try {
    check_memory(job, need, "job 'big'", 16 * GB);
    FAIL() << "a " << need << "-byte job fits 16 GB";
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::bad_config);
    const std::string what = e.what();
    for (const char* part : {"job 'big' needs about 3", "batch 1048576",
                             "limits.memory_share = 0.8", "16.0 GB", "lower the batch"}) {
      EXPECT_NE(what.find(part), std::string::npos) << part << " not in: " << what;
    }
  }
  // The share is the operator's: all of 64 GB is enough, and unknown memory refuses nothing.
  job.memory_share = 1.0;
  EXPECT_NO_THROW(check_memory(job, need, "job", 64 * GB));
  EXPECT_NO_THROW(check_memory(job, need, "job", 0));
  EXPECT_GT(physical_memory_bytes(), 0u);
}

// A user's own file counts as loaded (it counted as nothing), and the
// evaluator is sized for its test rows: 3 rows of 3,000,000 features were
// refused as needing 36.9 GB for an evaluation chunk of 1000 rows.
TEST(MemoryEstimate, CountsAUsersDataAsLoadedAndSizesTheEvaluatorForItsRows) {
  auto job = default_job_config();
  job.data_set.clear();
  job.data.format = "csv";
  job.data.train = "mine.csv";
  job.model.sizes = {3000000, 16, 2};
  auto train = std::make_shared<dataset>();
  train->rows = 2;
  train->cols = 3000000;
  train->features.assign(2 * 3000000, 0.f);
  train->labels = {0, 1};
  auto test = std::make_shared<dataset>(*train);
  test->rows = 1;
  test->features.resize(3000000);
  test->labels = {1};
  workload_data data;
  data.dense_train = train;
  data.dense_test = test;
  const auto est = estimate_job_memory(job, &data);
  EXPECT_EQ(est.data, 3u * 3000000 * 4 + 3 * 4);
  const auto params = mlp_num_params(job.model);
  EXPECT_EQ(est.evaluator, (4 * params + mlp_floats_per_row(job.model.sizes)) * 4);
  EXPECT_LT(est.evaluator, GB);
  // Without the data: a chunk as large as 64 MiB of activations allows (one
  // row of this model takes 36 MB).
  EXPECT_EQ(mlp_eval_rows(job.model, 1000), 1);
  EXPECT_EQ(mlp_eval_rows(default_job_config().model, 10000), 1000);
  EXPECT_EQ(mlp_eval_rows(default_job_config().model, 7), 7);
}

TEST(MemoryEstimate, TheShareIsReadFromTheJobFileAndChecked) {
  auto job = parse_job_config("[limits]\nmemory_share = 0.25\n", "test");
  EXPECT_DOUBLE_EQ(job.memory_share, 0.25);
  EXPECT_DOUBLE_EQ(parse_job_config(to_toml(job), "round trip").memory_share, 0.25);
  for (const char* bad : {"[limits]\nmemory_share = 0.0\n", "[limits]\nmemory_share = 1.5\n",
                          "[limits]\nshare = 0.5\n"}) {
    try {
      parse_job_config(bad, "test");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const troupe_error& e) {
      EXPECT_NE(std::string(e.what()).find("limits."), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace troupe
