// The MLP: parameter layout, initialisation, and gradients against central
// finite differences of the loss.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/model/model.hpp"
#include "engine/store/table.hpp"

namespace troupe {
namespace {

TEST(Model, LayoutOfTheReferenceMlp) {
  const mlp_spec spec{{784, 256, 128, 10}};
  const auto layout = mlp_layout(spec);
  ASSERT_EQ(layout.size(), 6u);
  EXPECT_EQ(layout[0].name, "fc1.weight");
  EXPECT_EQ(layout[0].size, 784u * 256u);
  EXPECT_EQ(layout[1].offset, 784u * 256u);
  EXPECT_EQ(layout[5].name, "fc3.bias");
  EXPECT_EQ(mlp_num_params(spec), 235146u);
  const auto segs = mlp_init_segments(spec);
  ASSERT_EQ(segs.size(), 6u);
  EXPECT_EQ(segs.back().end, 235146u);
  EXPECT_FLOAT_EQ(segs[0].bound, 1.0f / 28.0f);
  EXPECT_THROW(mlp_layout({{784}}), std::invalid_argument);
}

TEST(Model, InitialValuesAreDeterministicAndWithinBounds) {
  table_spec t;
  t.size = 1000;
  t.init = {{500, 0.1f}, {1000, 2.0f}};
  t.seed = 3;
  double sum_sq = 0;
  for (std::uint64_t k = 0; k < 1000; ++k) {
    const float v = initial_value(t, k);
    EXPECT_LE(std::fabs(v), k < 500 ? 0.1f : 2.0f);
    EXPECT_EQ(v, initial_value(t, k));
    if (k >= 500) sum_sq += v * v;
  }
  // Uniform on [-2, 2] has variance 4/3.
  EXPECT_NEAR(sum_sq / 500, 4.0 / 3.0, 0.25);
  table_spec other = t;
  other.seed = 4;
  EXPECT_NE(initial_value(t, 7), initial_value(other, 7));
}

class ModelGradient : public ::testing::Test {
 protected:
  void SetUp() override {
    be = kernels::make_backend(kernels::backend_kind::cpu, 1);
    net = std::make_unique<mlp>(spec, *be, rows);
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 0.5f);
    params.resize(net->size());
    for (auto& p : params) p = normal(rng);
    x.resize(rows * 5);
    for (auto& v : x) v = normal(rng);
    labels = {0, 1, 2, 2, 1, 0};
  }

  double mean_loss(const std::vector<float>& p) {
    be->upload(p.data(), p.size(), net->params());
    return net->evaluate(x.data(), labels.data(), rows).loss_sum / rows;
  }

  const mlp_spec spec{{5, 7, 4, 3}};
  const int rows = 6;
  std::unique_ptr<kernels::backend> be;
  std::unique_ptr<mlp> net;
  std::vector<float> params, x;
  std::vector<std::int32_t> labels;
};

TEST_F(ModelGradient, MatchesFiniteDifferences) {
  be->upload(params.data(), params.size(), net->params());
  const auto r = net->train_step(x.data(), labels.data(), rows);
  EXPECT_NEAR(r.loss_sum / rows, mean_loss(params), 1e-5);
  std::vector<float> grads(net->size());
  be->download(net->grads(), grads.size(), grads.data());
  const double eps = 1e-3;
  int checked = 0;
  for (std::size_t i = 0; i < params.size(); ++i) {
    auto plus = params, minus = params;
    plus[i] += static_cast<float>(eps);
    minus[i] -= static_cast<float>(eps);
    const double numeric = (mean_loss(plus) - mean_loss(minus)) / (2 * eps);
    EXPECT_NEAR(grads[i], numeric, 2e-3 + 1e-2 * std::fabs(numeric)) << "parameter " << i;
    ++checked;
  }
  EXPECT_EQ(checked, 5 * 7 + 7 + 7 * 4 + 4 + 4 * 3 + 3);
}

// The hook a device backend's caller starts gradient downloads from: dense
// layers last first, together covering every parameter exactly once, each
// layer's gradients complete when it is called (on the CPU, where kernels
// run at once, they can be read right there).
TEST_F(ModelGradient, LayersHandOverTheirGradientsLastFirstCoveringEveryParameterOnce) {
  be->upload(params.data(), params.size(), net->params());
  std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;
  std::vector<float> seen(net->size(), NAN);
  net->train_step(x.data(), batch_targets{labels.data(), nullptr}, rows,
                  [&](std::uint64_t offset, std::uint64_t count) {
                    calls.emplace_back(offset, count);
                    be->download(net->grads() + offset, count, seen.data() + offset);
                  });
  ASSERT_EQ(calls.size(), spec.sizes.size() - 1);  // one per dense layer
  std::uint64_t end = net->size();
  for (const auto& [offset, count] : calls) {
    EXPECT_EQ(offset + count, end) << "not contiguous, or not last layer first";
    end = offset;
  }
  EXPECT_EQ(end, 0u);
  std::vector<float> grads(net->size());
  be->download(net->grads(), grads.size(), grads.data());
  EXPECT_EQ(seen, grads);
}

TEST_F(ModelGradient, TrainingStepsReduceTheLoss) {
  std::vector<float> grads(net->size());
  const double before = mean_loss(params);
  for (int step = 0; step < 200; ++step) {
    be->upload(params.data(), params.size(), net->params());
    net->train_step(x.data(), labels.data(), rows);
    be->download(net->grads(), grads.size(), grads.data());
    for (std::size_t i = 0; i < params.size(); ++i) params[i] -= 0.1f * grads[i];
  }
  EXPECT_LT(mean_loss(params), 0.5 * before);
}

TEST_F(ModelGradient, RejectsOversizedBatches) {
  EXPECT_THROW(net->train_step(x.data(), labels.data(), rows + 1), std::invalid_argument);
  EXPECT_THROW(net->train_step(x.data(), labels.data(), 0), std::invalid_argument);
}

}  // namespace
}  // namespace troupe
