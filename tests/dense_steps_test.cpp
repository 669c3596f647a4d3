// Adam's step on dense tables counts the updates of each key, not the pushes
// a shard applied: pipeline stages push disjoint ranges of one table to one
// shard in the same step, and each key must still see t = 1, 2, 3, ...
#include <gtest/gtest.h>

#include <vector>

#include "engine/store/shard_store.hpp"

namespace troupe {
namespace {

constexpr std::uint64_t kKeys = 20;

class DenseSteps : public ::testing::Test {
 protected:
  void SetUp() override {
    spec.id = 2;
    spec.name = "layers";
    spec.size = kKeys;
    spec.init = {{kKeys, 0.5f}};
    spec.seed = 11;
    spec.optimizer = {optimizer_kind::adam, 0.01f};
    spec.optimizer.weight_decay = 0.001f;  // reads the values too
    store.add_dense(spec, {0, kKeys});
    for (std::uint64_t k = 0; k < kKeys; ++k) reference.push_back(initial_value(spec, k));
    moments.assign(2 * kKeys, 0.0f);
    counts.assign(kKeys, 0);
  }

  // A gradient that differs per key and per push.
  static float grad(std::uint64_t key, std::uint64_t seq) {
    return 0.3f * static_cast<float>(seq) - 0.07f * static_cast<float>(key) + 0.01f;
  }

  void push(std::uint64_t offset, std::size_t n, std::uint64_t seq) {
    auto w = push_writer::dense({spec.id, 0, 0, seq, 0}, offset, n);
    for (std::size_t i = 0; i < n; ++i) w.values()[i] = grad(offset + i, seq);
    const auto msg = std::move(w).finish();
    push_view v;
    ASSERT_TRUE(decode_push(msg, v).ok());
    push_ack ack;
    ASSERT_TRUE(store.apply_push(v, ack).ok());
    ASSERT_FALSE(ack.duplicate);
    expect_key_by_key(offset, n, seq);
  }

  // What the push must do: each key updated alone with its own step count.
  void expect_key_by_key(std::uint64_t offset, std::size_t n, std::uint64_t seq) {
    const auto opt = make_optimizer(spec.optimizer);
    for (std::uint64_t k = offset; k < offset + n; ++k) {
      const float g = grad(k, seq);
      opt->apply(&reference[k], &g, 1, &moments[k], kKeys, ++counts[k], 1.0f);
    }
  }

  std::vector<std::uint32_t> expected_steps() const {
    return std::vector<std::uint32_t>(counts.begin(), counts.end());
  }

  table_spec spec;
  shard_store store{0};
  std::vector<float> reference, moments;
  std::vector<std::uint64_t> counts;
};

TEST_F(DenseSteps, DisjointPushesInOneStepEachCountFromOne) {
  std::uint64_t seq = 0;
  for (int step = 0; step < 3; ++step) {  // two "stages" per step, as a pipeline pushes
    push(0, 8, ++seq);
    push(8, 12, ++seq);
  }
  EXPECT_EQ(store.version(2), 6u);
  EXPECT_EQ(*store.dense_values(2), reference);  // bit for bit
  EXPECT_EQ(store.snapshot().dense[0].steps, std::vector<std::uint32_t>(kKeys, 3));
}

TEST_F(DenseSteps, APushOverKeysWithDifferentCountsUsesEachKeysOwn) {
  push(0, 20, 1);
  push(5, 10, 2);  // keys 5..14 now ahead
  push(12, 8, 3);  // 12..14 at 3, 15..19 at 2
  push(0, 20, 4);  // four runs of counts: 2, 3, 4, 3
  EXPECT_EQ(*store.dense_values(2), reference);
  const auto steps = store.snapshot().dense[0].steps;
  EXPECT_EQ(steps, expected_steps());
  EXPECT_EQ(steps[0], 2u);
  EXPECT_EQ(steps[13], 4u);
  EXPECT_EQ(steps[19], 3u);
}

TEST_F(DenseSteps, RejectedAndRetriedPushesCountNothing) {
  push(0, 20, 1);
  const auto before = store.snapshot().dense[0].steps;
  auto w = push_writer::dense({spec.id, 0, 0, 1, 0}, 0, 20);  // seq 1 again: a retry
  for (std::size_t i = 0; i < 20; ++i) w.values()[i] = 1.0f;
  const auto retry = std::move(w).finish();
  push_view v;
  ASSERT_TRUE(decode_push(retry, v).ok());
  push_ack ack;
  ASSERT_TRUE(store.apply_push(v, ack).ok());
  EXPECT_TRUE(ack.duplicate);
  auto bad = push_writer::dense({spec.id, 0, 0, 2, 0}, 10, 11);  // past the range
  const auto too_long = std::move(bad).finish();
  ASSERT_TRUE(decode_push(too_long, v).ok());
  EXPECT_EQ(store.apply_push(v, ack).code(), errc::out_of_range);
  EXPECT_EQ(store.snapshot().dense[0].steps, before);
  EXPECT_EQ(*store.dense_values(2), reference);
}

TEST_F(DenseSteps, SnapshotsCarryTheCountsAndRestoreChecksTheirSize) {
  push(0, 20, 1);
  push(4, 6, 2);
  const auto snap = store.snapshot();
  ASSERT_EQ(snap.dense.size(), 1u);
  EXPECT_EQ(snap.dense[0].steps, expected_steps());

  shard_store copy(0);
  ASSERT_TRUE(copy.restore(snap).ok());
  EXPECT_EQ(copy.snapshot().dense[0].steps, expected_steps());
  // The next push moves the copy exactly like the original and the reference.
  push(0, 20, 3);
  push_view v;
  auto w = push_writer::dense({spec.id, 0, 0, 3, 0}, 0, 20);
  for (std::size_t i = 0; i < 20; ++i) w.values()[i] = grad(i, 3);
  const auto msg = std::move(w).finish();
  ASSERT_TRUE(decode_push(msg, v).ok());
  push_ack ack;
  ASSERT_TRUE(copy.apply_push(v, ack).ok());
  EXPECT_EQ(*copy.dense_values(2), reference);
  EXPECT_EQ(copy.snapshot().dense[0].steps, expected_steps());

  // Adam needs one count per key; other optimizers none.
  auto missing = snap;
  missing.dense[0].steps.pop_back();
  auto st = copy.restore(missing);
  EXPECT_EQ(st.code(), errc::wrong_size);
  EXPECT_NE(st.message().find("19 step counts, expected 20"), std::string::npos) << st.message();
  // A store made for Adam's table takes no snapshot of another optimizer;
  // one without tables of its own takes it as it is: no counts for SGD.
  auto sgd = snap;
  sgd.dense[0].spec.optimizer.kind = optimizer_kind::sgd;
  sgd.dense[0].state.clear();
  const auto refused = copy.restore(sgd);
  EXPECT_EQ(refused.code(), errc::bad_config);
  EXPECT_NE(refused.message().find("trained with sgd, this job uses adam"), std::string::npos)
      << refused.message();
  shard_store blank(copy.id());
  EXPECT_EQ(blank.restore(sgd).code(), errc::wrong_size);
  sgd.dense[0].steps.clear();
  EXPECT_TRUE(blank.restore(sgd).ok());
  EXPECT_TRUE(blank.snapshot().dense[0].steps.empty());
}

TEST_F(DenseSteps, OptimizersWithoutAStepKeepNoCounts) {
  for (auto kind : {optimizer_kind::sgd, optimizer_kind::momentum, optimizer_kind::adagrad}) {
    EXPECT_FALSE(make_optimizer({kind, 0.1f})->uses_step()) << to_string(kind);
    table_spec plain = spec;
    plain.id = 3;
    plain.optimizer.kind = kind;
    shard_store other(0);
    other.add_dense(plain, {0, kKeys});
    EXPECT_TRUE(other.snapshot().dense[0].steps.empty()) << to_string(kind);
  }
  EXPECT_TRUE(make_optimizer({optimizer_kind::adam, 0.1f})->uses_step());
}

}  // namespace
}  // namespace troupe
