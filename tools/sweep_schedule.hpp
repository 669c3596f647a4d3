#pragma once
// How a sweep sets up its runs, as pure functions (tested without training):
// the reference run that fixes the target near the model's floor, the target
// itself, how often each run evaluates, and how its clocks convert to epochs.
//
//   auto ref = sweep::reference_job(base);   // 1 worker, staleness 0, no stragglers
//   auto summary = run_job(ref);
//   auto t = sweep::target_from_reference(curve, "accuracy", 0.02);   // 2% below its best
//   job.eval_every = sweep::eval_every_for(job, train_rows, 4);       // ~4 per epoch

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/job_config.hpp"
#include "tools/sweep_report.hpp"

namespace troupe::sweep {

/// The single-worker run whose best test metric is the model's floor: the
/// job with one worker, staleness 0 and no stragglers.
job_config reference_job(const job_config& base);

struct target_choice {
  double value = 0;
  std::string origin;  ///< for summary.md: where the value came from
};
/// The reference curve's best metric (highest accuracy or lowest loss),
/// less `gap` of it for accuracy, plus `gap` of it for loss. Throws
/// troupe_error(bad_config) when the curve is empty. `name`: what origin
/// calls the metric (e.g. "RMSE" for a regression's loss; empty: `metric`).
target_choice target_from_reference(const std::vector<curve_point>& curve,
                                    const std::string& metric, double gap,
                                    const std::string& name = {});

/// early_stopping for `job` evaluated every job.eval_every clocks (and at
/// epoch ends), when the job file's patience counted evaluations at
/// `file_eval_every` (0: epoch ends only): the same patience in training,
/// in more evaluations. Unchanged without rows to count or early stopping.
std::uint32_t patience_for(const job_config& job, std::uint32_t file_eval_every,
                           std::size_t train_rows);

/// Clocks between evaluations for about `per_epoch` evaluations per epoch
/// (at least 1); `per_epoch` = 0, or `train_rows` = 0 (a user's workload,
/// whose epoch length is unknown), keeps the job's own eval_every.
std::uint32_t eval_every_for(const job_config& job, std::size_t train_rows,
                             std::uint32_t per_epoch);

/// Passes over the training set per clock: 1 / the clocks of an epoch (the
/// steps of the largest partition, ceil(ceil(rows / workers) / batch)); 0
/// when train_rows is 0.
double epochs_per_clock(const job_config& job, std::size_t train_rows);

}  // namespace troupe::sweep
