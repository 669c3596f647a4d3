// Server-side optimizer arithmetic against hand-computed updates.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/store/optimizer.hpp"

namespace troupe {
namespace {

TEST(Optimizer, SgdStepsAgainstTheGradient) {
  optimizer_spec spec{optimizer_kind::sgd, 0.1f};
  auto opt = make_optimizer(spec);
  EXPECT_EQ(opt->state_slots(), 0u);
  float w[] = {1.0f, -2.0f};
  const float g[] = {0.5f, -1.0f};
  opt->apply(w, g, 2, nullptr, 2, 1, 1.0f);
  EXPECT_FLOAT_EQ(w[0], 0.95f);
  EXPECT_FLOAT_EQ(w[1], -1.9f);
}

TEST(Optimizer, SgdWeightDecayAddsL2Gradient) {
  optimizer_spec spec{optimizer_kind::sgd, 0.1f};
  spec.weight_decay = 0.5f;
  auto opt = make_optimizer(spec);
  float w[] = {2.0f};
  const float g[] = {0.0f};
  opt->apply(w, g, 1, nullptr, 1, 1, 1.0f);
  EXPECT_FLOAT_EQ(w[0], 2.0f - 0.1f * 0.5f * 2.0f);
}

TEST(Optimizer, MomentumAccumulatesVelocity) {
  optimizer_spec spec{optimizer_kind::momentum, 0.1f};
  spec.momentum = 0.9f;
  auto opt = make_optimizer(spec);
  ASSERT_EQ(opt->state_slots(), 1u);
  float w[] = {0.0f};
  float v[] = {0.0f};
  const float g[] = {1.0f};
  opt->apply(w, g, 1, v, 1, 1, 1.0f);
  EXPECT_FLOAT_EQ(v[0], 1.0f);
  EXPECT_FLOAT_EQ(w[0], -0.1f);
  opt->apply(w, g, 1, v, 1, 2, 1.0f);
  EXPECT_FLOAT_EQ(v[0], 1.9f);
  EXPECT_FLOAT_EQ(w[0], -0.1f - 0.19f);
}

TEST(Optimizer, AdagradScalesByAccumulatedSquares) {
  optimizer_spec spec{optimizer_kind::adagrad, 0.5f};
  spec.epsilon = 0.0f;
  auto opt = make_optimizer(spec);
  float w[] = {1.0f};
  float h[] = {0.0f};
  const float g1[] = {2.0f}, g2[] = {1.0f};
  opt->apply(w, g1, 1, h, 1, 1, 1.0f);
  EXPECT_FLOAT_EQ(h[0], 4.0f);
  EXPECT_FLOAT_EQ(w[0], 1.0f - 0.5f * 2.0f / 2.0f);
  opt->apply(w, g2, 1, h, 1, 2, 1.0f);
  EXPECT_FLOAT_EQ(h[0], 5.0f);
  EXPECT_NEAR(w[0], 0.5f - 0.5f / std::sqrt(5.0f), 1e-6);
}

TEST(Optimizer, AdamFirstStepMovesByLearningRate) {
  optimizer_spec spec{optimizer_kind::adam, 0.01f};
  auto opt = make_optimizer(spec);
  ASSERT_EQ(opt->state_slots(), 2u);
  // Two values with stride 2: m at state[0..1], v at state[2..3].
  float w[] = {1.0f, 1.0f};
  float state[4] = {};
  const float g[] = {3.0f, -0.5f};
  opt->apply(w, g, 2, state, 2, 1, 1.0f);
  // Bias-corrected first step is lr * sign(g) (up to epsilon).
  EXPECT_NEAR(w[0], 0.99f, 1e-6);
  EXPECT_NEAR(w[1], 1.01f, 1e-6);
  EXPECT_NEAR(state[0], 0.3f, 1e-6);
  EXPECT_NEAR(state[2], 0.009f, 1e-6);
}

// Rows of a sparse push applied in one call (the shard's path) give exactly
// what applying each row on its own gives, for the stateless fast path and
// the default per-row path alike, including a row updated twice.
TEST(Optimizer, ApplyRowsMatchesRowByRow) {
  for (const auto kind : {optimizer_kind::sgd, optimizer_kind::adagrad, optimizer_kind::adam}) {
    optimizer_spec spec{kind, 0.1f};
    spec.weight_decay = 0.01f;
    const auto opt = make_optimizer(spec);
    const std::size_t width = 3, table_rows = 5;
    const std::uint32_t rows[] = {4, 0, 2, 4};
    const float g[] = {1, -2, 3, 0.5f, 0.25f, -1, 2, 2, 2, -3, 1, 0.75f};
    std::vector<float> values(table_rows * width), expect;
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = 0.1f * static_cast<float>(i);
    expect = values;
    const std::size_t slots = opt->state_slots();
    std::vector<float> state(table_rows * slots * width, 0.0f), expect_state = state;
    std::vector<std::uint64_t> steps(table_rows, 0), expect_steps = steps;
    // A staleness-aware rule's learning-rate scale reaches every row.
    opt->apply_rows(values.data(), rows, g, 4, width, state.data(), steps.data(), 0.5f);
    for (std::size_t i = 0; i < 4; ++i) {
      const std::size_t r = rows[i];
      opt->apply(expect.data() + r * width, g + i * width, width,
                 slots ? expect_state.data() + r * slots * width : nullptr, width,
                 ++expect_steps[r], 0.5f);
    }
    EXPECT_EQ(values, expect) << to_string(kind);
    EXPECT_EQ(state, expect_state) << to_string(kind);
    EXPECT_EQ(steps, expect_steps) << to_string(kind);
    EXPECT_EQ(steps[4], 2u);
  }
}

TEST(Optimizer, RejectsBadSpecs) {
  EXPECT_THROW(make_optimizer({optimizer_kind::sgd, 0.0f}), std::invalid_argument);
  EXPECT_THROW(make_optimizer({optimizer_kind::sgd, NAN}), std::invalid_argument);
  EXPECT_THROW(parse_optimizer_kind("rmsprop"), std::invalid_argument);
  EXPECT_EQ(parse_optimizer_kind("adagrad"), optimizer_kind::adagrad);
}

}  // namespace
}  // namespace troupe
