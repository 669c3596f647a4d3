// The MLP workload's two ways of handing over a step's gradients: copied out
// after the step (dense_grad), or written during it into memory bound before
// it (bind_dense_grad: in place on the CPU, downloaded layer by layer while
// the backward pass goes on with CUDA). Both must give the same gradient,
// whatever the bound ranges' boundaries (here cutting through layers). On
// the CPU the bound memory is written through parameter views; the layer by
// layer downloads run only with CUDA (model_test checks the order of the
// layers' hand-over on any backend).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "engine/workloads/mlp_workload.hpp"
#include "kernels/backend.hpp"

namespace troupe {
namespace {

using kernels::backend_kind;

std::shared_ptr<const dataset> random_set(std::size_t rows, std::size_t cols, int classes) {
  auto d = std::make_shared<dataset>();
  d->rows = rows;
  d->cols = cols;
  d->classes = classes;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (std::size_t i = 0; i < rows * cols; ++i) d->features.push_back(u(rng));
  for (std::size_t i = 0; i < rows; ++i)
    d->labels.push_back(static_cast<std::int32_t>(i % classes));
  return d;
}

class MlpWorkloadGradients : public ::testing::TestWithParam<backend_kind> {
 protected:
  void SetUp() override {
    if (GetParam() == backend_kind::cuda && !kernels::cuda_available()) {
      GTEST_SKIP() << "no CUDA device (or no CUDA module)";
    }
    opts_.model.sizes = {12, 16, 8, 5};
    opts_.batch = 6;
    opts_.seed = 3;
    opts_.backend = GetParam();
  }

  std::unique_ptr<workload> make(const std::shared_ptr<const dataset>& data) {
    auto wl = make_mlp_workload(opts_, data, nullptr, 0, 1);
    const auto n = mlp_num_params(opts_.model);
    std::vector<float> values(n);
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> u(-0.3f, 0.3f);
    for (auto& v : values) v = u(rng);
    wl->start_epoch(0);
    EXPECT_EQ(wl->next_batch(), opts_.batch);
    wl->set_dense(0, 0, values.data(), n);
    return wl;
  }

  mlp_workload_options opts_;
};

TEST_P(MlpWorkloadGradients, BoundRangesGetWhatDenseGradCopies) {
  const auto data = random_set(24, 12, 5);
  const std::size_t n = mlp_num_params(opts_.model);

  auto copied = make(data);
  const auto r1 = copied->train_step();
  std::vector<float> expected(n);
  copied->dense_grad(0, 0, n, expected.data());

  // Three ranges: the first ends inside layer 1's weights, the second spans
  // the rest of layer 1 and part of layer 2, the third the remainder.
  auto bound = make(data);
  const std::size_t cut1 = 100, cut2 = 12 * 16 + 16 + 50;
  std::vector<float> a(cut1, NAN), b(cut2 - cut1, NAN), c(n - cut2, NAN);
  ASSERT_TRUE(bound->bind_dense_grad(0, 0, a.data(), a.size()));
  ASSERT_TRUE(bound->bind_dense_grad(0, cut1, b.data(), b.size()));
  ASSERT_TRUE(bound->bind_dense_grad(0, cut2, c.data(), c.size()));
  const auto r2 = bound->train_step();
  EXPECT_DOUBLE_EQ(r1.loss_sum, r2.loss_sum);

  std::vector<float> got(a);
  got.insert(got.end(), b.begin(), b.end());
  got.insert(got.end(), c.begin(), c.end());
  ASSERT_EQ(got.size(), expected.size());
  double norm = 0;
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_FALSE(std::isnan(got[i])) << "gradient " << i << " never arrived";
    EXPECT_FLOAT_EQ(got[i], expected[i]) << "at " << i;
    norm += std::abs(expected[i]);
  }
  EXPECT_GT(norm, 0.0);  // a real gradient, not zeros on both sides

  // The bindings belonged to that step: the next one writes no old message.
  std::fill(a.begin(), a.end(), -1.f);
  EXPECT_EQ(bound->next_batch(), opts_.batch);
  bound->train_step();
  for (float v : a) EXPECT_EQ(v, -1.f);
}

// Two workloads of the same data and options with the same random
// parameters: one gathers its batches itself, the other is staged.
std::pair<std::unique_ptr<workload>, std::unique_ptr<workload>> twins(
    const mlp_workload_options& o, const std::shared_ptr<const dataset>& data, unsigned seed) {
  auto plain = make_mlp_workload(o, data, nullptr, 0, 1);
  auto staged = make_mlp_workload(o, data, nullptr, 0, 1);
  std::vector<float> values(mlp_num_params(o.model));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.3f, 0.3f);
  for (auto& v : values) v = u(rng);
  plain->set_dense(0, 0, values.data(), values.size());
  staged->set_dense(0, 0, values.data(), values.size());
  return {std::move(plain), std::move(staged)};
}

// A batch staged ahead (on another thread, while the loaded one trains) is
// the batch next_batch() would have gathered: the same rows in the same
// order, a short last batch and the end of each epoch included, for class
// labels and for regression targets alike. Losses on the same parameters
// tell the batches apart.
TEST(MlpWorkloadStaging, StagedBatchesAreTheSameBatchesInTheSameOrder) {
  for (const auto loss : {loss_kind::softmax, loss_kind::mse}) {
    auto data = std::const_pointer_cast<dataset>(random_set(27, 12, 5));
    for (std::size_t i = 0; i < data->rows; ++i) data->targets.push_back(0.1f * float(i));
    mlp_workload_options o;
    o.model.sizes = {12, 16, loss == loss_kind::mse ? 1 : 5};
    o.model.loss = loss;
    o.batch = 6;  // 27 rows: 4 batches of 6, then 3
    o.seed = 5;
    auto [plain, staged] = twins(o, data, 13);
    std::size_t batches = 0, short_batches = 0;
    for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
      plain->start_epoch(epoch);
      staged->start_epoch(epoch);
      for (;;) {
        const auto rows = plain->next_batch();
        ASSERT_EQ(staged->next_batch(), rows) << "epoch " << epoch << " batch " << batches;
        if (rows == 0) break;
        ++batches;
        short_batches += rows < o.batch;
        step_result b;
        std::thread stager([&] { EXPECT_TRUE(staged->stage_next_batch()); });
        b = staged->train_step();
        stager.join();
        const auto a = plain->train_step();
        EXPECT_EQ(a.rows, b.rows);
        EXPECT_DOUBLE_EQ(a.loss_sum, b.loss_sum) << "epoch " << epoch << " batch " << batches;
        EXPECT_EQ(a.correct, b.correct);
      }
    }
    EXPECT_EQ(batches, 3u * 5u);
    EXPECT_EQ(short_batches, 3u);
  }
}

// The stager's message may arrive at any time: before the worker's next
// next_batch() (which then swaps), after it (the worker gathered itself, and
// the stage takes the batch after), around an epoch's end and start. Here a
// second thread stages at random moments throughout three epochs; every
// batch must still be the one the plain workload gathers.
TEST(MlpWorkloadStaging, StagesAtAnyMomentKeepTheBatchesAndTheirOrder) {
  auto data = random_set(61, 12, 5);
  mlp_workload_options o;
  o.model.sizes = {12, 8, 5};
  o.batch = 4;  // 16 batches an epoch, the last of 1 row
  o.seed = 9;
  // Named references, not a structured binding: the stager's lambda captures it.
  auto pair = twins(o, data, 17);
  auto& plain = pair.first;
  auto& staged = pair.second;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> stages{0};
  std::thread stager([&] {
    std::mt19937 pause_rng(23);
    std::uniform_int_distribution<int> pause(0, 150);
    while (!done) {
      staged->stage_next_batch();
      ++stages;
      std::this_thread::sleep_for(std::chrono::microseconds(pause(pause_rng)));
    }
  });
  while (stages == 0) std::this_thread::yield();
  std::mt19937 step_rng(29);
  std::uniform_int_distribution<int> step_pause(0, 100);
  std::size_t batches = 0;
  for (int round = 0; round < 40; ++round) {
    for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
      plain->start_epoch(epoch);
      staged->start_epoch(epoch);
      for (;;) {
        const auto rows = plain->next_batch();
        ASSERT_EQ(staged->next_batch(), rows) << "round " << round << " epoch " << epoch;
        if (rows == 0) break;
        ++batches;
        const auto a = plain->train_step();
        const auto b = staged->train_step();
        ASSERT_DOUBLE_EQ(a.loss_sum, b.loss_sum) << "round " << round << " epoch " << epoch;
        std::this_thread::sleep_for(std::chrono::microseconds(step_pause(step_rng)));
      }
    }
  }
  done = true;
  stager.join();
  EXPECT_EQ(batches, 40u * 3u * 16u);
  EXPECT_GT(stages.load(), 100u);
}

INSTANTIATE_TEST_SUITE_P(Backends, MlpWorkloadGradients,
                         ::testing::Values(backend_kind::cpu, backend_kind::cuda),
                         [](const auto& info) {
                           return info.param == backend_kind::cpu ? "cpu" : "cuda";
                         });

}  // namespace
}  // namespace troupe
