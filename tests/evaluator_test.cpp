// The evaluator actor: requests are answered in the order asked, each with
// the scores of one snapshot of the parameters, and a shard that refuses the
// pull fails that evaluation with the shard's typed error, not the evaluator.
#include <gtest/gtest.h>
#include <caf/all.hpp>

#include <random>

#include "actors/actor_config.hpp"
#include "actors/evaluator.hpp"
#include "actors/shard.hpp"
#include "engine/job_config.hpp"
#include "engine/workloads/workload_factory.hpp"

namespace troupe {
namespace {

std::shared_ptr<const workload_data> small_test_set(std::size_t rows) {
  auto d = std::make_shared<dataset>();
  d->rows = rows;
  d->cols = 784;
  d->classes = 10;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> pixel(0.f, 1.f);
  d->features.resize(rows * d->cols);
  for (auto& v : d->features) v = pixel(rng);
  for (std::size_t i = 0; i < rows; ++i) d->labels.push_back(static_cast<std::int32_t>(i % 10));
  auto data = std::make_shared<workload_data>();
  data->dense_test = std::move(d);
  return data;
}

class Evaluator : public ::testing::Test {
 protected:
  Evaluator() : sys(cfg), self(sys) { job.shards = 1; }

  shard_actor spawn_model_shard() {
    std::vector<shard_table> slices;
    for (const auto& t : workload_tables(job)) slices.push_back({t, key_range{0, t.size}, 1});
    return spawn_shard(sys, 0, std::move(slices));
  }

  std::uint64_t pulls_served(const shard_actor& shard) {
    std::uint64_t pulls = 0;
    self->request(shard, std::chrono::seconds(5), stats_atom::value)
        .receive([&](const shard_stats& s) { pulls = s.pulls; },
                 [](caf::error& err) { FAIL() << describe(err); });
    return pulls;
  }

  actor_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  job_config job;  // the reference MLP
};

// Several requests at once: one evaluation at a time (they share the
// workload's buffers), every one answered, in order, each from its own pull.
TEST_F(Evaluator, RequestsAskedTogetherAreAllAnsweredInOrder) {
  const auto data = small_test_set(2000);
  auto shard = spawn_model_shard();
  auto evaluator = spawn_evaluator(sys, job, data, {shard});
  std::vector<decltype(self->request(evaluator, std::chrono::seconds(30), eval_atom::value))> asked;
  for (int i = 0; i < 5; ++i) {
    asked.push_back(self->request(evaluator, std::chrono::seconds(30), eval_atom::value));
  }
  std::vector<eval_result> got;
  for (auto& a : asked) {
    a.receive([&](const eval_result& r) { got.push_back(r); },
              [](caf::error& err) { FAIL() << describe(err); });
  }
  ASSERT_EQ(got.size(), 5u);
  for (const auto& r : got) {
    EXPECT_EQ(r.rows, 2000u);
    EXPECT_GT(r.loss, 0.0);
    EXPECT_EQ(r.loss, got.front().loss);  // one set of parameters throughout
  }
  // A later request waited for the earlier ones: its snapshot is later.
  EXPECT_GT(got.back().snapshot_delay_s, got.front().snapshot_delay_s);
  EXPECT_EQ(pulls_served(shard), 5u);
  self->send_exit(evaluator, caf::exit_reason::user_shutdown);
  self->send_exit(shard, caf::exit_reason::user_shutdown);
}

TEST_F(Evaluator, AShardThatRefusesThePullFailsThatEvaluationOnly) {
  const auto data = small_test_set(50);
  // A shard holding another table: the evaluator's pull names an unknown one.
  table_spec other;
  other.id = 77;
  other.name = "other";
  other.size = 10;
  other.init = {{10, 0.0f}};
  auto stranger = spawn_shard(sys, 0, {{other, {0, 10}, 1}});
  auto evaluator = spawn_evaluator(sys, job, data, {stranger});
  bool failed = false;
  self->request(evaluator, std::chrono::seconds(30), eval_atom::value)
      .receive([](const eval_result&) { FAIL() << "scored a snapshot it never got"; },
               [&](caf::error& err) {
                 failed = true;
                 EXPECT_EQ(err.category(), troupe_error_category());
                 EXPECT_EQ(static_cast<errc>(err.code()), errc::unknown_table) << describe(err);
               });
  EXPECT_TRUE(failed);
  // Repointed at a shard that has the model, the next evaluation succeeds.
  auto shard = spawn_model_shard();
  self->send(evaluator, repoint_atom::value, std::uint32_t{0}, shard);
  self->request(evaluator, std::chrono::seconds(30), eval_atom::value)
      .receive([](const eval_result& r) { EXPECT_EQ(r.rows, 50u); },
               [](caf::error& err) { FAIL() << describe(err); });
  self->send_exit(evaluator, caf::exit_reason::user_shutdown);
  self->send_exit(stranger, caf::exit_reason::user_shutdown);
  self->send_exit(shard, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace troupe
