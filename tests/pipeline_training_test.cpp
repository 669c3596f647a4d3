// Model parallelism end to end: a small MLP split over 2 and 3 pipelined
// stage actors (4 micro-batches) follows the unsplit model's per-step loss
// trajectory, with the same seed and data, for hundreds of steps. The loss
// of every step is read from metrics.csv (log_every = 1), the file the
// scheduler writes for every job.
#include <gtest/gtest.h>
#include <caf/all.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <unistd.h>

#include "actors/actor_config.hpp"
#include "actors/job_runner.hpp"
#include "actors/scheduler.hpp"
#include "engine/errors.hpp"

namespace troupe {
namespace {

// Four Gaussian blobs in 10 dimensions: learnable but not instantly.
std::shared_ptr<const workload_data> blobs(std::size_t rows, std::uint32_t seed) {
  auto make = [](std::size_t n, std::uint32_t s) {
    dataset d;
    d.rows = n;
    d.cols = 10;
    d.classes = 4;
    std::mt19937 rng(s);
    std::normal_distribution<float> noise(0.0f, 1.0f);
    for (std::size_t i = 0; i < n; ++i) {
      const int label = static_cast<int>(rng() % 4);
      d.labels.push_back(label);
      for (int c = 0; c < 10; ++c) {
        d.features.push_back(noise(rng) + (c % 4 == label ? 1.5f : 0.0f));
      }
    }
    return std::make_shared<const dataset>(std::move(d));
  };
  auto data = std::make_shared<workload_data>();
  data->dense_train = make(rows, seed);
  data->dense_test = make(200, seed + 1);
  return data;
}

job_config pipeline_job(std::uint32_t stages, const std::string& optimizer,
                        const std::string& name) {
  auto job = default_job_config();
  job.name = name;
  job.model.sizes = {10, 24, 16, 12, 4};  // four dense layers
  job.stages = stages;
  job.micro_batches = 4;
  job.workers = 1;
  job.shards = 2;
  job.staleness = 0;
  job.batch = 15;  // uneven micro-batches (4, 4, 4, 3) and a short last batch
  job.epochs = 3;  // 1600 rows: 107 steps per epoch, 321 in all
  job.log_every = 1;
  job.backend = kernels::backend_kind::cpu;
  job.optimizer.kind = parse_optimizer_kind(optimizer);
  // Adam normalises each step, so its usual rate is lower; at 0.05 its
  // updates amplify float rounding (split and unsplit sum in other orders)
  // past the tolerance after ~280 steps.
  job.optimizer.learning_rate = job.optimizer.kind == optimizer_kind::adam ? 0.01f : 0.05f;
  job.optimizer.momentum = 0.9f;
  job.data_set = "fashion-mnist";  // only names the data: the test hands in its own
  // Per process: two runs of the suite at once (worktrees, CI jobs) must not share it.
  job.output_dir = (std::filesystem::temp_directory_path() /
                    ("troupe_pipe_" + name + "_" + std::to_string(::getpid())))
                       .string();
  return job;
}

// Runs the job on generated data; returns the loss of every step in order.
std::vector<double> step_losses(const job_config& job, job_summary* summary = nullptr) {
  std::filesystem::remove_all(job.output_dir);
  std::filesystem::create_directories(job.output_dir);
  {
    actor_config cfg;
    caf::actor_system sys{cfg};
    caf::scoped_actor self{sys};
    auto scheduler = spawn_scheduler(sys, job, blobs(1600, 5));
    bool ok = false;
    self->request(scheduler, std::chrono::minutes(5), run_atom::value)
        .receive(
            [&](const job_summary& s) {
              ok = true;
              if (summary) *summary = s;
            },
            [&](caf::error& err) { ADD_FAILURE() << describe(err); });
    if (!ok) return {};
  }
  std::ifstream in(job.output_dir + "/metrics.csv");
  std::string line;
  std::getline(in, line);  // header: time_s,epoch,worker,clock,kind,loss,...
  std::vector<double> out;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) f.push_back(cell);
    // The final report after the last step carries no samples (rate 0).
    if (f.size() < 8 || f[4] != "train" || std::stod(f[7]) == 0) continue;
    out.push_back(std::stod(f[5]));
  }
  return out;
}

void expect_same_trajectory(const std::string& optimizer) {
  const auto whole = step_losses(pipeline_job(1, optimizer, optimizer + "_s1"));
  ASSERT_GE(whole.size(), 300u);
  // Training works at all: the loss falls well below its start.
  EXPECT_LT(whole.back(), 0.7 * whole.front());
  for (std::uint32_t stages : {2u, 3u}) {
    job_summary s;
    const auto split =
        step_losses(pipeline_job(stages, optimizer, optimizer + "_s" + std::to_string(stages)), &s);
    ASSERT_EQ(split.size(), whole.size()) << stages << " stages";
    for (std::size_t i = 0; i < whole.size(); ++i) {
      ASSERT_NEAR(split[i], whole[i], 1e-4 * std::fabs(whole[i]))
          << stages << " stages, step " << i;
    }
    EXPECT_EQ(s.pushes_rejected, 0u);
    EXPECT_EQ(s.pushes_applied, s.pushes_acked);
    EXPECT_GT(s.test_accuracy, 0.5);
  }
}

TEST(PipelineTraining, SgdTrajectoryMatchesTheUnsplitModel) {
  expect_same_trajectory("sgd");
}

TEST(PipelineTraining, MomentumTrajectoryMatchesTheUnsplitModel) {
  expect_same_trajectory("momentum");
}

// Stages push disjoint key ranges of one table to the same shard in one
// step; Adam's bias correction must count the updates of each key, not the
// pushes the shard applied.
TEST(PipelineTraining, AdamTrajectoryMatchesTheUnsplitModel) {
  expect_same_trajectory("adam");
}

TEST(PipelineTraining, TwoReplicasOfTwoStagesTrain) {
  auto job = pipeline_job(2, "sgd", "replicas");
  job.workers = 2;
  job.staleness = 1;
  job.log_every = 20;
  job_summary s;
  const auto losses = step_losses(job, &s);
  ASSERT_FALSE(losses.empty());
  EXPECT_EQ(s.steps, 324u);  // 2 replicas x 3 epochs x 54 batches of their 800 rows
  EXPECT_EQ(s.pushes_applied, s.pushes_acked);
  EXPECT_GT(s.test_accuracy, 0.5);
  // The summary describes pipelines as it does data-parallel workers. It
  // said mean staleness 1.27 with p99 0 (stages sent no histogram), every
  // time share 0 (stages charged nothing) and clock spread 0 (heads advance
  // by request, which did not count).
  EXPECT_GT(s.mean_staleness, 0.0) << summary_line(s);
  EXPECT_GE(static_cast<double>(s.staleness_p99), s.mean_staleness) << summary_line(s);
  EXPECT_LE(s.staleness_p50, s.staleness_p99) << summary_line(s);
  EXPECT_LE(s.staleness_p99, s.max_staleness) << summary_line(s);
  EXPECT_GT(s.compute_fraction, 0.0) << summary_line(s);
  EXPECT_GT(s.pull_fraction, 0.0) << summary_line(s);
  EXPECT_GT(s.push_fraction, 0.0) << summary_line(s);
  EXPECT_LE(s.compute_fraction + s.pull_fraction + s.push_fraction + s.wait_fraction, 1.0)
      << summary_line(s);
  EXPECT_GE(s.max_clock_spread, 1) << summary_line(s);  // two replicas advance one at a time
  EXPECT_LE(s.max_clock_spread, 2) << summary_line(s);  // the bound (1), plus the one advancing
}

// The error names the key at fault.
void expect_rejected(const job_config& job, const std::string& key) {
  try {
    validate(job);
    ADD_FAILURE() << "accepted; expected a complaint about " << key;
  } catch (const troupe_error& e) {
    EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
  }
}

TEST(PipelineTraining, BadPipelineConfigsAreRejected) {
  auto job = default_job_config();  // 784-256-128-10: three dense layers, batch 64
  job.stages = 3;
  validate(job);
  job.stages = 4;
  expect_rejected(job, "model.stages");
  job.stages = 0;
  expect_rejected(job, "model.stages");
  job.stages = 2;
  job.micro_batches = 65;
  expect_rejected(job, "model.micro_batches");
  job.micro_batches = 0;
  expect_rejected(job, "model.micro_batches");
  job.micro_batches = 4;
  // Cluster placement of stages is supported (tests/cluster_test.cpp).
  job.nodes = {"127.0.0.1:7000"};
  job.secret_file = "secret";
  validate(job);
  auto toml = parse_job_config("[model]\nstages = 2\nmicro_batches = 8\n", "t.toml");
  EXPECT_EQ(toml.stages, 2u);
  EXPECT_EQ(toml.micro_batches, 8u);
  EXPECT_EQ(parse_job_config(to_toml(toml), "again").stages, 2u);
}

}  // namespace
}  // namespace troupe
