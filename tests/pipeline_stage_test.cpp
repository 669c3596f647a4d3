// Pipeline stages: the split of an MLP into stages, and that the stages'
// micro-batched forward/backward reproduces the unsplit model's loss and
// batch gradient.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/model/pipeline_stage.hpp"

namespace troupe {
namespace {

TEST(PipelineStage, SplitsTheReferenceMlpByParameters) {
  const mlp_spec spec{{784, 256, 128, 10}};
  const auto two = split_mlp(spec, 2);
  ASSERT_EQ(two.size(), 2u);
  // fc1 alone holds 200960 of the 235146 parameters: it is a stage by itself.
  EXPECT_EQ(two[0].first, 0u);
  EXPECT_EQ(two[0].last, 1u);
  EXPECT_EQ(two[0].keys.begin, 0u);
  EXPECT_EQ(two[0].keys.end, 784u * 256u + 256u);
  EXPECT_EQ(two[0].out_width, 256);
  EXPECT_EQ(two[1].in_width, 256);
  EXPECT_EQ(two[1].out_width, 10);
  EXPECT_EQ(two[1].keys.end, mlp_num_params(spec));
  const auto three = split_mlp(spec, 3);
  ASSERT_EQ(three.size(), 3u);
  for (std::uint32_t s = 0; s < 3; ++s) {
    EXPECT_EQ(three[s].first, s);
    EXPECT_EQ(three[s].last, s + 1);
    if (s > 0) {
      EXPECT_EQ(three[s].keys.begin, three[s - 1].keys.end);
    }
  }
  EXPECT_THROW(split_mlp(spec, 4), troupe_error);
  EXPECT_THROW(split_mlp(spec, 0), troupe_error);
}

TEST(PipelineStage, BalancesEqualLayers) {
  const auto r = split_mlp({{8, 8, 8, 8, 8}}, 2);  // four equal layers
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].last, 2u);
  EXPECT_EQ(r[1].first, 2u);
}

TEST(PipelineStage, MicroBatchRowsCoverTheBatch) {
  int offset = -1;
  EXPECT_EQ(micro_batch_rows(10, 4, 0, &offset), 3);
  EXPECT_EQ(offset, 0);
  EXPECT_EQ(micro_batch_rows(10, 4, 1, &offset), 3);
  EXPECT_EQ(offset, 3);
  EXPECT_EQ(micro_batch_rows(10, 4, 2, &offset), 2);
  EXPECT_EQ(offset, 6);
  EXPECT_EQ(micro_batch_rows(10, 4, 3, &offset), 2);
  EXPECT_EQ(offset, 8);
}

TEST(PipelineStage, PlansOnlyTheStageKeysOfEachShard) {
  auto be = kernels::make_backend(kernels::backend_kind::cpu, 1);
  const mlp_spec spec{{4, 3, 2}};  // fc1: 15 keys, fc2: 8 keys
  const auto ranges = split_mlp(spec, 2);
  pipeline_stage s1(spec, ranges[1], *be, 2, 1);
  const auto plan = s1.plan(mlp_num_params(spec), 2);  // shards own [0, 12) and [12, 23)
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].shard, 1u);
  EXPECT_EQ(plan[0].keys.begin, 15u);
  EXPECT_EQ(plan[0].keys.end, 23u);
  pipeline_stage s0(spec, ranges[0], *be, 2, 1);
  const auto plan0 = s0.plan(mlp_num_params(spec), 2);
  ASSERT_EQ(plan0.size(), 2u);
  EXPECT_EQ(plan0[0].keys.end, 12u);
  EXPECT_EQ(plan0[1].keys.begin, 12u);
  EXPECT_EQ(plan0[1].keys.end, 15u);
}

// Runs one batch through S stages in micro-batches (a GPipe order: all
// forwards, then all backwards) and compares with the unsplit mlp.
void expect_split_matches_unsplit(std::uint32_t stages, int micro) {
  auto be = kernels::make_backend(kernels::backend_kind::cpu, 1);
  const mlp_spec spec{{12, 16, 9, 7, 5}};
  const int batch = 10;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::vector<float> params(mlp_num_params(spec)), x(batch * 12);
  for (auto& p : params) p = u(rng);
  for (auto& v : x) v = u(rng);
  std::vector<std::int32_t> y(batch);
  for (int i = 0; i < batch; ++i) y[i] = i % 5;

  mlp whole(spec, *be, batch);
  be->upload(params.data(), params.size(), whole.params());
  const auto ref = whole.train_step(x.data(), y.data(), batch);
  std::vector<float> ref_grad(params.size());
  be->download(whole.grads(), ref_grad.size(), ref_grad.data());

  const auto ranges = split_mlp(spec, stages);
  const int max_rows = micro_batch_rows(batch, micro, 0);
  std::vector<std::unique_ptr<pipeline_stage>> st;
  for (const auto& r : ranges) {
    st.push_back(std::make_unique<pipeline_stage>(spec, r, *be, max_rows, micro));
    be->upload(params.data() + r.keys.begin, r.keys.size(), st.back()->params());
    st.back()->begin_step();
  }
  double loss = 0;
  int correct = 0;
  // acts[s][m]: input of stage s for micro-batch m.
  std::vector<std::vector<std::vector<float>>> acts(stages, std::vector<std::vector<float>>(micro));
  for (int m = 0; m < micro; ++m) {
    int offset = 0;
    const int rows = micro_batch_rows(batch, micro, m, &offset);
    acts[0][m].assign(x.begin() + offset * 12, x.begin() + (offset + rows) * 12);
    for (std::uint32_t s = 0; s + 1 < stages; ++s) {
      acts[s + 1][m].resize(static_cast<std::size_t>(rows) * ranges[s].out_width);
      st[s]->forward(m, acts[s][m].data(), rows, batch, acts[s + 1][m].data());
    }
  }
  for (int m = 0; m < micro; ++m) {
    int offset = 0;
    const int rows = micro_batch_rows(batch, micro, m, &offset);
    std::vector<float> dy(static_cast<std::size_t>(rows) * ranges.back().in_width);
    const auto r = st.back()->forward_backward(m, acts[stages - 1][m].data(), y.data() + offset,
                                               rows, batch, dy.data());
    loss += r.loss_sum;
    correct += r.correct;
    for (std::uint32_t s = stages - 1; s-- > 0;) {
      std::vector<float> dx(static_cast<std::size_t>(rows) * ranges[s].in_width);
      st[s]->backward(m, dy.data(), s == 0 ? nullptr : dx.data());
      dy.swap(dx);
    }
  }
  EXPECT_NEAR(loss, ref.loss_sum, 1e-5 * std::fabs(ref.loss_sum));
  EXPECT_EQ(correct, ref.correct);
  for (std::uint32_t s = 0; s < stages; ++s) {
    std::vector<float> g(ranges[s].keys.size());
    be->download(st[s]->grads(), g.size(), g.data());
    for (std::size_t i = 0; i < g.size(); ++i) {
      ASSERT_NEAR(g[i], ref_grad[ranges[s].keys.begin + i], 1e-5f)
          << "stage " << s << " key " << ranges[s].keys.begin + i;
    }
  }
}

TEST(PipelineStage, TwoStagesMatchTheUnsplitBatchGradient) {
  expect_split_matches_unsplit(2, 4);
}
TEST(PipelineStage, FourStagesOfOneLayerMatch) {
  expect_split_matches_unsplit(4, 3);
}
TEST(PipelineStage, OneMicroBatchMatches) {
  expect_split_matches_unsplit(3, 1);
}

TEST(PipelineStage, RejectsBadMicroBatchesWithoutCrashing) {
  auto be = kernels::make_backend(kernels::backend_kind::cpu, 1);
  const mlp_spec spec{{4, 3, 2}};
  const auto ranges = split_mlp(spec, 2);
  pipeline_stage first(spec, ranges[0], *be, 2, 2), last(spec, ranges[1], *be, 2, 2);
  std::vector<float> x(3 * 4), out(3 * 3);
  std::vector<std::int32_t> y(3, 0);
  EXPECT_THROW(first.forward(2, x.data(), 1, 4, out.data()), troupe_error);  // micro out of range
  EXPECT_THROW(first.forward(0, x.data(), 3, 4, out.data()), troupe_error);  // rows > max
  EXPECT_THROW(first.forward(0, x.data(), 2, 1, out.data()), troupe_error);  // rows > batch
  EXPECT_THROW(first.backward(1, out.data(), nullptr), troupe_error);        // no forward yet
  EXPECT_THROW(last.forward(0, x.data(), 1, 4, out.data()), troupe_error);   // last: loss needed
  EXPECT_THROW(first.forward_backward(0, x.data(), y.data(), 1, 4, nullptr), troupe_error);
}

}  // namespace
}  // namespace troupe
