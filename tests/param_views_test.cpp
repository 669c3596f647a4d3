// Zero-copy parameters and gradients: a model that reads its parameters in
// place from several buffers (pull replies) and writes its gradients into
// several others (pushes) computes what the copying model computes, wherever
// the buffers' boundaries cut the weight matrices.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "engine/model/model.hpp"

namespace troupe {
namespace {

struct result {
  double loss;
  std::vector<float> grads;
};

class ParamViews : public ::testing::Test {
 protected:
  void SetUp() override {
    be = kernels::make_backend(kernels::backend_kind::cpu, 1);
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.0f, 0.3f);
    params.resize(mlp_num_params(spec));
    for (auto& p : params) p = normal(rng);
    x.resize(static_cast<std::size_t>(rows) * spec.sizes[0]);
    for (auto& v : x) v = normal(rng);
    for (int r = 0; r < rows; ++r) labels.push_back(r % spec.sizes.back());
  }

  // The copying path: parameters uploaded into the model, gradients read back.
  result copied() {
    mlp net(spec, *be, rows);
    be->upload(params.data(), params.size(), net.params());
    const auto r = net.train_step(x.data(), labels.data(), rows);
    std::vector<float> g(params.size());
    be->download(net.grads(), g.size(), g.data());
    return {r.loss_sum, g};
  }

  // The same step with the flat vector cut at `cuts` into separate buffers,
  // for values and gradients alike; gradients of keys no view covers (from
  // `uncovered_from` on) are read from grads() as a worker would.
  result viewed(const std::vector<std::uint64_t>& cuts, std::uint64_t uncovered_from = ~0ull) {
    mlp net(spec, *be, rows);
    std::vector<std::vector<float>> values, grads;
    std::vector<std::uint64_t> bounds = cuts;
    bounds.insert(bounds.begin(), 0);
    bounds.push_back(params.size());
    for (std::size_t i = 0; i + 1 < bounds.size(); ++i) {
      values.emplace_back(params.begin() + static_cast<long>(bounds[i]),
                          params.begin() + static_cast<long>(bounds[i + 1]));
      grads.emplace_back(bounds[i + 1] - bounds[i], -1.0f);  // garbage: must be overwritten
    }
    // Views see other memory than the model's own buffer: poison it.
    std::vector<float> poison(params.size(), 1e30f);
    be->upload(poison.data(), poison.size(), net.params());
    for (std::size_t i = 0; i < values.size(); ++i) {
      net.views().add_values(bounds[i], values[i].size(), values[i].data());
      if (bounds[i] < uncovered_from)
        net.views().add_grads(bounds[i], grads[i].size(), grads[i].data());
    }
    const auto r = net.train_step(x.data(), labels.data(), rows);
    EXPECT_TRUE(net.views().empty()) << "views last one step";
    std::vector<float> g(params.size());
    for (std::size_t i = 0; i < grads.size(); ++i) {
      if (bounds[i] < uncovered_from) {
        std::copy(grads[i].begin(), grads[i].end(), g.begin() + static_cast<long>(bounds[i]));
      } else {
        be->download(net.grads() + bounds[i], grads[i].size(), g.data() + bounds[i]);
      }
    }
    return {r.loss_sum, g};
  }

  void expect_same(const result& a, const result& b) {
    EXPECT_NEAR(a.loss, b.loss, 1e-4 * std::abs(a.loss));
    ASSERT_EQ(a.grads.size(), b.grads.size());
    double worst = 0;
    for (std::size_t i = 0; i < a.grads.size(); ++i) {
      worst = std::max(worst, static_cast<double>(std::abs(a.grads[i] - b.grads[i])));
    }
    EXPECT_LT(worst, 1e-5) << "largest gradient difference";
  }

  const mlp_spec spec{{37, 16, 9, 4}};  // fc1: 37 rows of 16, bias 16, fc2: 16 x 9, ...
  const int rows = 6;
  std::unique_ptr<kernels::backend> be;
  std::vector<float> params, x;
  std::vector<std::int32_t> labels;
};

TEST_F(ParamViews, OneBufferIsTheModelItself) {
  expect_same(copied(), viewed({}));
}

TEST_F(ParamViews, CutsOnRowBoundariesAndInsideRows) {
  // 16 * 10 = a row boundary of fc1; 16 * 20 + 7 inside row 20; 600 inside fc1's bias
  // (592..607); 700 inside fc2's weight rows (608 + 16 * 9 = 752).
  expect_same(copied(), viewed({16 * 10, 16 * 20 + 7, 600, 700}));
}

TEST_F(ParamViews, ManyThinCutsFallBackToAssemblingTheMatrix) {
  std::vector<std::uint64_t> cuts;
  // Views of 20 keys hold at most one whole row of 16: about 60 runs over fc1.
  for (std::uint64_t k = 13; k < 700; k += 20) cuts.push_back(k);
  expect_same(copied(), viewed(cuts));
}

TEST_F(ParamViews, GradientsWithoutAViewStayInTheModel) {
  expect_same(copied(), viewed({300, 650}, 650));
}

TEST_F(ParamViews, ReleasedWorkspaceIsAllocatedAgain) {
  mlp net(spec, *be, rows);
  be->upload(params.data(), params.size(), net.params());
  const auto first = net.train_step(x.data(), labels.data(), rows);
  net.release_workspace();
  const auto second = net.train_step(x.data(), labels.data(), rows);
  EXPECT_EQ(first.loss_sum, second.loss_sum);
  EXPECT_EQ(first.correct, second.correct);
}

}  // namespace
}  // namespace troupe
