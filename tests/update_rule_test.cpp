// Staleness-aware update rules: their arithmetic against hand-computed
// cases, alone and through a shard store (dense and sparse tables).
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "engine/store/pulled_values.hpp"
#include "engine/store/shard_store.hpp"
#include "engine/store/update_rule.hpp"

namespace troupe {
namespace {

TEST(UpdateRule, PlainLeavesGradientAndLearningRateAlone) {
  update_rule rule;
  const float g[] = {0.5f, -2.0f};
  const auto plan = rule.plan_push(g, 2, 300);
  EXPECT_EQ(plan.lr_scale, 1.0f);
  EXPECT_EQ(plan.grad_scale, 1.0f);
  const float w[] = {1, 1};
  float out[2] = {};
  EXPECT_EQ(rule.gradient(plan, g, 2, w, w, out), g);
  EXPECT_FALSE(rule.may_rewrite());
}

TEST(UpdateRule, StalenessDividesTheLearningRateByTheStaleness) {
  update_rule rule({update_rule_kind::staleness});
  const float g[] = {1.0f};
  EXPECT_EQ(rule.plan_push(g, 1, 0).lr_scale, 1.0f);  // nothing in between: fresh
  EXPECT_EQ(rule.plan_push(g, 1, 1).lr_scale, 1.0f);
  EXPECT_FLOAT_EQ(rule.plan_push(g, 1, 4).lr_scale, 0.25f);
  EXPECT_FLOAT_EQ(rule.plan_push(g, 1, 256).lr_scale, 1.0f / 256);
  // A floor on the divisor caps what fresh pushes get.
  update_rule_spec floored{update_rule_kind::staleness};
  floored.min_staleness = 8;
  EXPECT_FLOAT_EQ(update_rule(floored).plan_push(g, 1, 0).lr_scale, 0.125f);
  EXPECT_FLOAT_EQ(update_rule(floored).plan_push(g, 1, 16).lr_scale, 0.0625f);
  EXPECT_EQ(describe(floored), "staleness(min=8)");
  // Through SGD: w = 1 - (0.1 / 4) * 0.5.
  auto opt = make_optimizer({optimizer_kind::sgd, 0.1f});
  float w[] = {1.0f};
  const float g2[] = {0.5f};
  const auto plan = rule.plan_push(g2, 1, 4);
  opt->apply(w, rule.gradient(plan, g2, 1, w, nullptr, nullptr), 1, nullptr, 1, 1, plan.lr_scale);
  EXPECT_FLOAT_EQ(w[0], 0.9875f);
}

TEST(UpdateRule, LearningRateScaleReachesEveryOptimizer) {
  // Adagrad with h = 0 and eps = 0 moves by lr * scale * sign(g).
  optimizer_spec spec{optimizer_kind::adagrad, 0.5f};
  spec.epsilon = 0;
  auto opt = make_optimizer(spec);
  float w[] = {1.0f}, h[] = {0.0f};
  const float g[] = {2.0f};
  opt->apply(w, g, 1, h, 1, 1, 0.1f);
  EXPECT_FLOAT_EQ(w[0], 1.0f - 0.05f);
  // Adam's first step moves by lr * scale.
  auto adam = make_optimizer({optimizer_kind::adam, 0.01f});
  float wa[] = {1.0f}, st[2] = {};
  adam->apply(wa, g, 1, st, 1, 1, 0.5f);
  EXPECT_NEAR(wa[0], 0.995f, 1e-6);
  // Momentum: the velocity is unscaled, the step is lr * scale * v.
  auto mom = make_optimizer({optimizer_kind::momentum, 0.1f});
  float wm[] = {0.0f}, v[] = {0.0f};
  mom->apply(wm, g, 1, v, 1, 1, 0.5f);
  EXPECT_FLOAT_EQ(v[0], 2.0f);
  EXPECT_FLOAT_EQ(wm[0], -0.1f);
}

TEST(UpdateRule, DelayCompensationAddsTheFirstOrderTerm) {
  update_rule rule({update_rule_kind::dcasgd, 0.5f});
  EXPECT_TRUE(rule.needs_pulled_values());
  const float g[] = {0.5f, -2.0f, 0.0f};
  const float w_now[] = {1.0f, 0.0f, 3.0f};
  const float w_pulled[] = {0.8f, 0.1f, -1.0f};
  float out[3] = {};
  const auto plan = rule.plan_push(g, 3, 7);
  EXPECT_EQ(plan.lr_scale, 1.0f);  // compensation only; the rate stays
  const float* applied = rule.gradient(plan, g, 3, w_now, w_pulled, out);
  ASSERT_EQ(applied, out);
  // g + lambda * g^2 * (w_now - w_pulled)
  EXPECT_FLOAT_EQ(out[0], 0.5f + 0.5f * 0.25f * 0.2f);     // 0.525
  EXPECT_FLOAT_EQ(out[1], -2.0f + 0.5f * 4.0f * (-0.1f));  // -2.2
  EXPECT_FLOAT_EQ(out[2], 0.0f);                           // no gradient, no correction
  // Unknown w_pulled: the gradient goes through uncompensated.
  EXPECT_EQ(rule.gradient(plan, g, 3, w_now, nullptr, out), g);
}

TEST(UpdateRule, ClippingScalesTheGradientToTheNorm) {
  update_rule_spec spec;
  spec.clip_norm = 1.0f;
  update_rule rule(spec);
  const float g[] = {3.0f, 4.0f};  // norm 5
  float out[2] = {};
  const auto plan = rule.plan_push(g, 2, 0);
  EXPECT_FLOAT_EQ(plan.grad_scale, 0.2f);
  ASSERT_EQ(rule.gradient(plan, g, 2, nullptr, nullptr, out), out);
  EXPECT_FLOAT_EQ(out[0], 0.6f);
  EXPECT_FLOAT_EQ(out[1], 0.8f);
  // Under the norm: untouched.
  spec.clip_norm = 10.0f;
  update_rule loose(spec);
  const auto p2 = loose.plan_push(g, 2, 0);
  EXPECT_EQ(p2.grad_scale, 1.0f);
  EXPECT_EQ(loose.gradient(p2, g, 2, nullptr, nullptr, out), g);
}

TEST(UpdateRule, ClippedGradientIsTheOneCompensated) {
  update_rule_spec spec{update_rule_kind::dcasgd, 1.0f, 1.0f};
  update_rule rule(spec);
  const float g[] = {3.0f, 4.0f};
  const float w_now[] = {1.0f, -1.0f}, w_pulled[] = {0.0f, 0.0f};
  float out[2] = {};
  const auto plan = rule.plan_push(g, 2, 3);
  rule.gradient(plan, g, 2, w_now, w_pulled, out);
  EXPECT_FLOAT_EQ(out[0], 0.6f + 0.36f * 1.0f);
  EXPECT_FLOAT_EQ(out[1], 0.8f - 0.64f * 1.0f);
}

TEST(UpdateRule, ScheduleWarmsUpThenDecaysByPushesApplied) {
  update_rule_spec spec;
  spec.warmup_pushes = 4;
  spec.half_life_pushes = 100;
  update_rule rule(spec);
  const float g[] = {1.0f};
  // Warm-up: (v + 1) / 4 for v < 4, times the decay 1 / (1 + v / 100).
  EXPECT_FLOAT_EQ(rule.plan_push(g, 1, 0, 0).lr_scale, 0.25f);
  EXPECT_FLOAT_EQ(rule.plan_push(g, 1, 0, 1).lr_scale, 0.5f / 1.01f);
  EXPECT_FLOAT_EQ(rule.plan_push(g, 1, 0, 3).lr_scale, 1.0f / 1.03f);
  EXPECT_FLOAT_EQ(rule.plan_push(g, 1, 0, 100).lr_scale, 0.5f);  // one half-life
  EXPECT_FLOAT_EQ(rule.plan_push(g, 1, 0, 300).lr_scale, 0.25f);
  // With the staleness rule the factors multiply: 1/4 at v = 100 -> 0.125.
  spec.kind = update_rule_kind::staleness;
  EXPECT_FLOAT_EQ(update_rule(spec).plan_push(g, 1, 4, 100).lr_scale, 0.125f);
  EXPECT_EQ(describe(spec), "staleness,warmup=4,half_life=100");
}

TEST(UpdateRule, ParsesNamesAndRefusesBadSettings) {
  EXPECT_EQ(parse_update_rule_kind("plain"), update_rule_kind::plain);
  EXPECT_EQ(parse_update_rule_kind("staleness"), update_rule_kind::staleness);
  EXPECT_EQ(parse_update_rule_kind("dcasgd"), update_rule_kind::dcasgd);
  EXPECT_THROW(parse_update_rule_kind("dc-asgd"), std::invalid_argument);
  EXPECT_EQ(describe({update_rule_kind::dcasgd, 0.04f, 0.0f}), "dcasgd(lambda=0.04)");
  EXPECT_EQ(describe({update_rule_kind::staleness, 0.04f, 2.0f}), "staleness,clip=2");
  EXPECT_THROW(update_rule({update_rule_kind::dcasgd, -1.0f}), std::invalid_argument);
  EXPECT_THROW(update_rule({update_rule_kind::plain, 0.0f, -1.0f}), std::invalid_argument);
  EXPECT_THROW(update_rule({update_rule_kind::plain, 0.0f, NAN}), std::invalid_argument);
}

TEST(PulledValues, DenseCopiesAreSharedPerVersionAndFreedWhenUnused) {
  dense_pulled_values mem;
  std::vector<float> v0 = {1, 2, 3};
  mem.remember(1, 0, v0);
  mem.remember(2, 0, v0);
  EXPECT_EQ(mem.copies(), 1u);  // both pulled version 0: one copy
  EXPECT_EQ(mem.bytes(), 3 * sizeof(float));
  std::vector<float> v1 = {4, 5, 6};
  mem.remember(1, 1, v1);
  EXPECT_EQ(mem.copies(), 2u);
  ASSERT_NE(mem.find(2, 0), nullptr);
  EXPECT_EQ(mem.find(2, 0)[2], 3.0f);
  EXPECT_EQ(mem.find(1, 1)[0], 4.0f);
  EXPECT_EQ(mem.find(1, 0), nullptr);  // worker 1's pull of version 0 is superseded
  EXPECT_EQ(mem.find(3, 0), nullptr);  // never pulled
  mem.remember(2, 1, v1);
  EXPECT_EQ(mem.copies(), 1u);  // nobody refers to version 0 any more
  EXPECT_EQ(mem.bytes(), 3 * sizeof(float));
  mem.clear();
  EXPECT_EQ(mem.copies(), 0u);
  EXPECT_EQ(mem.bytes(), 0u);
  EXPECT_EQ(mem.find(1, 1), nullptr);
}

// Worker ids are the peer's (each service client connection is a new one):
// clients that pull once at ever newer versions and leave must not pin a
// copy each for good. Past the bound the oldest copies go, the newest stays.
TEST(PulledValues, DenseCopiesOfVersionsPastTheBoundGoOldestFirst) {
  const std::vector<float> slice(256, 1.0f);  // 1 KiB a copy
  dense_pulled_values mem{4 * 1024};
  for (std::uint32_t worker = 0; worker < 10000; ++worker) {
    mem.remember(worker, worker, slice);  // a new version each time
    ASSERT_LE(mem.bytes(), 4u * 1024) << worker;
  }
  EXPECT_EQ(mem.copies(), 4u);
  EXPECT_NE(mem.find(9999, 9999), nullptr);  // the newest
  EXPECT_NE(mem.find(9996, 9996), nullptr);
  EXPECT_EQ(mem.find(9995, 9995), nullptr);  // gone: its push goes uncompensated
  // Workers sharing the newest version share its one copy: nothing goes.
  for (std::uint32_t worker = 0; worker < 100; ++worker) mem.remember(worker, 10000, slice);
  EXPECT_EQ(mem.find(0, 10000)[0], 1.0f);
  EXPECT_LE(mem.bytes(), 4u * 1024);
  // A bound below one copy keeps just the newest.
  dense_pulled_values tiny{16};
  tiny.remember(1, 1, slice);
  tiny.remember(2, 2, slice);
  EXPECT_EQ(tiny.copies(), 1u);
  EXPECT_NE(tiny.find(2, 2), nullptr);
  EXPECT_EQ(tiny.find(1, 1), nullptr);
}

// Ids that all pulled the newest version share one copy, but each was an
// entry of its own for good: a service's clients, one id per connection,
// grew a shard without bound.
TEST(PulledValues, EntriesOfIdsAtTheNewestVersionAreBoundedToo) {
  const std::vector<float> slice(4, 1.0f);
  dense_pulled_values mem;
  const auto ids = static_cast<std::uint32_t>(dense_pulled_values::max_workers + 1000);
  for (std::uint32_t worker = 0; worker < ids; ++worker) mem.remember(worker, 7, slice);
  EXPECT_EQ(mem.workers(), dense_pulled_values::max_workers);
  EXPECT_EQ(mem.copies(), 1u);
  EXPECT_NE(mem.find(ids - 1, 7), nullptr);  // the one just remembered stays
}

// --- through a shard store ---------------------------------------------------

class RuleStore : public ::testing::Test {
 protected:
  void make(update_rule_spec rule) {
    spec.id = 1;
    spec.name = "model";
    spec.size = 4;
    spec.init = {{4, 0.5f}};
    spec.optimizer = {optimizer_kind::sgd, 0.1f};
    spec.update = rule;
    store.add_dense(spec, {0, 4});
  }

  // Pulls the whole slice as `worker`; returns the version it got.
  std::uint64_t pull(std::uint32_t worker) {
    pull_request_view req;
    EXPECT_TRUE(decode_pull_request(encode_dense_pull(1, worker, 0, 4), req).ok());
    bytes reply;
    EXPECT_TRUE(store.read_pull(req, reply).ok());
    pull_reply_view v;
    EXPECT_TRUE(decode_pull_reply(reply, v).ok());
    return v.shard_version;
  }

  push_ack push(std::uint32_t worker, std::uint64_t seq, std::uint64_t pulled,
                const std::vector<float>& g) {
    auto w = push_writer::dense({1, worker, 0, seq, pulled}, 0, g.size());
    for (std::size_t i = 0; i < g.size(); ++i) w.values()[i] = g[i];
    const auto msg = std::move(w).finish();
    push_view v;
    EXPECT_TRUE(decode_push(msg, v).ok());
    push_ack ack;
    EXPECT_TRUE(store.apply_push(v, ack).ok());
    return ack;
  }

  std::vector<float> values() const { return *store.dense_values(1); }

  table_spec spec;
  shard_store store{0};
};

TEST_F(RuleStore, StalenessRuleScalesEachPushByItsOwnStaleness) {
  make({update_rule_kind::staleness});
  const auto w0 = values();
  const auto v = pull(1);
  pull(2);
  pull(3);
  push(1, 1, v, {1, 1, 1, 1});                   // staleness 0: lr 0.1
  push(2, 1, v, {1, 1, 1, 1});                   // staleness 1: lr 0.1
  const auto ack = push(3, 1, v, {1, 1, 1, 1});  // staleness 2: lr 0.05
  EXPECT_EQ(ack.staleness, 2u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(values()[i], w0[i] - 0.1f - 0.1f - 0.05f);
}

TEST_F(RuleStore, DelayCompensationUsesWhatThePusherPulled) {
  make({update_rule_kind::dcasgd, 2.0f});
  const auto w0 = values();
  const auto va = pull(1);  // A and B both compute on w0
  const auto vb = pull(2);
  // B first: nothing happened since its pull, so no correction: w1 = w0 - 0.1 * gB.
  const std::vector<float> gb = {1, -1, 0.5f, 0};
  push(2, 1, vb, gb);
  auto w1 = values();
  for (std::size_t i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(w1[i], w0[i] - 0.1f * gb[i]);
  // A's gradient is one push stale: g' = g + 2 * g^2 * (w1 - w0).
  const std::vector<float> ga = {0.5f, 0.5f, -1, 2};
  const auto ack = push(1, 1, va, ga);
  EXPECT_EQ(ack.staleness, 1u);
  for (std::size_t i = 0; i < 4; ++i) {
    const float corrected = ga[i] + 2.0f * ga[i] * ga[i] * (w1[i] - w0[i]);
    EXPECT_FLOAT_EQ(values()[i], w1[i] - 0.1f * corrected) << i;
  }
  EXPECT_EQ(store.uncompensated_pushes(1), 0u);
  EXPECT_EQ(store.pulled_bytes(1), 4 * sizeof(float));  // one shared copy of version 0
}

TEST_F(RuleStore, RestoreKeepsTheRuleButForgetsWhatWasPulled) {
  make({update_rule_kind::dcasgd, 2.0f});
  const auto v = pull(1);
  push(2, 1, 0, {1, 1, 1, 1});
  // A checkpoint of another store whose spec says "plain" must not change the rule.
  auto snap = store.snapshot();
  snap.dense[0].spec.update = update_rule_spec{};
  ASSERT_TRUE(store.restore(snap).ok());
  const auto before = values();
  push(1, 1, v, {1, 1, 1, 1});  // its pull was before the restore: not compensated
  for (std::size_t i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(values()[i], before[i] - 0.1f);
  EXPECT_EQ(store.uncompensated_pushes(1), 1u);
  // Fresh pulls are remembered again and compensated.
  const auto v2 = pull(1);
  pull(2);
  push(2, 2, v2, {1, 1, 1, 1});
  const auto w_after_b = values();
  push(1, 2, v2, {1, 1, 1, 1});
  const auto w_after_a = values();
  for (std::size_t i = 0; i < 4; ++i) {
    const float corrected = 1.0f + 2.0f * (w_after_b[i] - before[i] + 0.1f);
    EXPECT_FLOAT_EQ(w_after_a[i], w_after_b[i] - 0.1f * corrected) << i;
  }
  EXPECT_EQ(store.uncompensated_pushes(1), 1u);
}

TEST_F(RuleStore, AnOverflowingCompensationIsRefusedAndChangesNothing) {
  make({update_rule_kind::dcasgd, 1e30f});
  const auto v = pull(1);
  pull(2);
  push(2, 1, v, {1, 1, 1, 1});
  const auto before = values();
  // g + 1e30 * g^2 * (w_now - w_pulled) overflows: refused, nothing applied or recorded.
  auto w = push_writer::dense({1, 1, 0, 1, v}, 0, 4);
  for (int i = 0; i < 4; ++i) w.values()[i] = 1e6f;
  const auto msg = std::move(w).finish();
  push_view view;
  ASSERT_TRUE(decode_push(msg, view).ok());
  push_ack ack;
  const auto st = store.apply_push(view, ack);
  EXPECT_EQ(st.code(), errc::non_finite);
  EXPECT_NE(st.message().find("update rule made"), std::string::npos) << st.message();
  EXPECT_EQ(values(), before);
  EXPECT_EQ(store.version(1), 1u);
  // Its seq was not consumed: the same seq with a sane gradient is applied, not a duplicate.
  EXPECT_FALSE(push(1, 1, v, {0, 0, 0, 0}).duplicate);
  EXPECT_EQ(store.version(1), 2u);
}

TEST(RuleSparseStore, DelayCompensationOnRows) {
  table_spec spec;
  spec.id = 2;
  spec.name = "emb";
  spec.kind = table_kind::sparse;
  spec.width = 2;
  spec.row_init_bound = 0.5f;
  spec.optimizer = {optimizer_kind::sgd, 0.1f};
  spec.update = {update_rule_kind::dcasgd, 1.0f};
  shard_store store(0);
  store.add_sparse(spec, 1);
  const std::vector<std::uint64_t> keys = {7, 3};
  auto pull = [&](std::uint32_t worker) {
    pull_request_view req;
    EXPECT_TRUE(decode_pull_request(encode_sparse_pull(2, worker, keys.data(), 2), req).ok());
    bytes reply;
    EXPECT_TRUE(store.read_pull(req, reply).ok());
    pull_reply_view v;
    EXPECT_TRUE(decode_pull_reply(reply, v).ok());
    return v.shard_version;
  };
  auto push = [&](std::uint32_t worker, std::uint64_t pulled, float g) {
    auto w = push_writer::sparse({2, worker, 0, 1, pulled}, keys.data(), 2, 2);
    for (int i = 0; i < 4; ++i) w.values()[i] = g;
    const auto msg = std::move(w).finish();
    push_view v;
    EXPECT_TRUE(decode_push(msg, v).ok());
    push_ack ack;
    EXPECT_TRUE(store.apply_push(v, ack).ok());
  };
  const auto v = pull(1);
  pull(2);
  const float r7 = store.sparse_row(2, 7)[1];
  push(2, v, 1.0f);  // fresh: r7 - 0.1
  EXPECT_FLOAT_EQ(store.sparse_row(2, 7)[1], r7 - 0.1f);
  push(1, v, 0.5f);  // g' = 0.5 + 1 * 0.25 * (-0.1)
  EXPECT_FLOAT_EQ(store.sparse_row(2, 7)[1], r7 - 0.1f - 0.1f * (0.5f - 0.025f));
  EXPECT_EQ(store.uncompensated_pushes(2), 0u);
  // Each applied push used up the rows its worker pulled: a shard keeps no
  // pulled rows for workers (service clients) that have come and gone.
  EXPECT_EQ(store.pulled_bytes(2), 0u);
  pull(3);
  EXPECT_EQ(store.pulled_bytes(2), 2u * (8u + 2u * 4u));  // 2 rows: id + 2 floats each

  // A late duplicate of an applied push (a resend) leaves the rows of the
  // worker's newer pull for the push they serve.
  const auto v3 = pull(3);
  auto late = push_writer::sparse({2, 1, 0, 1, v}, keys.data(), 2, 2);  // worker 1's seq 1 again
  const auto late_msg = std::move(late).finish();
  push_view late_view;
  ASSERT_TRUE(decode_push(late_msg, late_view).ok());
  push_ack ack;
  ASSERT_TRUE(store.apply_push(late_view, ack).ok());
  EXPECT_TRUE(ack.duplicate);
  auto w3 = push_writer::sparse({2, 3, 0, 1, v3}, keys.data(), 2, 2);
  const auto w3_msg = std::move(w3).finish();
  push_view w3_view;
  ASSERT_TRUE(decode_push(w3_msg, w3_view).ok());
  ASSERT_TRUE(store.apply_push(w3_view, ack).ok());
  EXPECT_EQ(store.uncompensated_pushes(2), 0u);
}

// Over its bound, the rows kept longest go first: one worker too many must
// not cost every other worker its compensation.
TEST(PulledValues, SparseRowsKeptLongestGoFirstOverTheBound) {
  const std::vector<std::uint64_t> keys = {1, 2};
  const std::vector<float> values = {1, 2, 3, 4};
  constexpr std::size_t one = 2 * (8 + 2 * 4);  // 2 rows of width 2
  sparse_pulled_values mem(3 * one);
  for (std::uint32_t worker = 1; worker <= 4; ++worker) {
    mem.remember(worker, 7, keys, values.data(), 2);
  }
  EXPECT_EQ(mem.bytes(), 3 * one);
  EXPECT_EQ(mem.find(1, 7, keys), nullptr);  // the oldest went
  for (std::uint32_t worker = 2; worker <= 4; ++worker) {
    ASSERT_NE(mem.find(worker, 7, keys), nullptr) << worker;
    EXPECT_EQ(mem.find(worker, 7, keys)[3], 4.0f);
  }
  mem.forget(3);
  EXPECT_EQ(mem.bytes(), 2 * one);
  EXPECT_EQ(mem.find(3, 7, keys), nullptr);
}

}  // namespace
}  // namespace troupe
