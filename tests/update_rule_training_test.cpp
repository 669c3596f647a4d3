// End to end: the update rules inside real training jobs. With one worker
// a push is at most one step stale (the next step's pull is prefetched), so
// the staleness rule must train exactly like plain SGD; with many workers
// computing at once, a learning rate that makes plain asynchronous SGD
// diverge is tamed by dividing it by the staleness.
#include <gtest/gtest.h>

#include <filesystem>

#include "actors/job_runner.hpp"
#include "engine/errors.hpp"

namespace troupe {
namespace {

job_config rule_job(update_rule_kind rule, std::uint32_t workers, const std::string& name) {
  auto job = default_job_config();
  job.train_limit = 6000;
  job.test_limit = 1000;
  job.epochs = 2;
  job.workers = workers;
  job.shards = 2;
  job.staleness = staleness_unbounded;
  job.backend = kernels::backend_kind::cpu;
  job.update.all.kind = rule;
  job.output_dir = (std::filesystem::temp_directory_path() / ("troupe_rule_" + name)).string();
  return job;
}

TEST(UpdateRuleTraining, WithOneWorkerTheRulesStayCloseToPlainSgd) {
  ASSERT_TRUE(std::filesystem::exists(default_data_dir("fashion-mnist")));
  const auto plain = run_job(rule_job(update_rule_kind::plain, 1, "plain1"));
  const auto stale = run_job(rule_job(update_rule_kind::staleness, 1, "stale1"));
  const auto dc = run_job(rule_job(update_rule_kind::dcasgd, 1, "dc1"));
  EXPECT_GT(plain.test_accuracy, 0.6) << summary_line(plain);
  EXPECT_LE(plain.max_staleness, 1u);
  // Staleness 0 or 1 divides the rate by 1: exactly plain SGD.
  EXPECT_DOUBLE_EQ(stale.test_loss, plain.test_loss) << summary_line(stale);
  // One step of drift, corrected with lambda 0.04: a small change.
  EXPECT_NEAR(dc.test_loss, plain.test_loss, 0.02 * plain.test_loss) << summary_line(dc);
}

// Plain asynchronous SGD with 16 concurrent workers at lr 0.2 diverges (to NaN, which
// ends the job, or to chance level); lr / staleness learns.
TEST(UpdateRuleTraining, StalenessRuleTamesARateThatPlainAsyncCannotUse) {
  ASSERT_TRUE(std::filesystem::exists(default_data_dir("fashion-mnist")));
  auto plain_job = rule_job(update_rule_kind::plain, 16, "plain16");
  plain_job.train_limit = 12000;
  plain_job.epochs = 3;
  plain_job.optimizer.learning_rate = 0.2f;
  // All 16 compute at once (the compute pool would otherwise let ~4 take
  // turns, and their gradients would hardly be stale).
  plain_job.compute_slots = 16;
  auto stale_job = plain_job;
  stale_job.update.all.kind = update_rule_kind::staleness;
  stale_job.output_dir += "_staleness";
  double plain_accuracy = 0;
  try {
    plain_accuracy = run_job(plain_job).test_accuracy;
  } catch (const troupe_error& e) {
    EXPECT_NE(std::string(e.what()).find("non_finite"), std::string::npos) << e.what();
  }
  const auto stale = run_job(stale_job);
  EXPECT_GT(stale.mean_staleness, 4.0) << summary_line(stale);  // the gradients were stale
  EXPECT_GT(stale.test_accuracy, 0.3) << summary_line(stale);   // chance: 0.1
  EXPECT_GT(stale.test_accuracy, plain_accuracy + 0.2) << summary_line(stale);
}

}  // namespace
}  // namespace troupe
