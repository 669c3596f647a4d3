#include "tools/sweep_schedule.hpp"

#include <algorithm>
#include <cmath>

#include "engine/errors.hpp"
#include "tools/sweep_format.hpp"

namespace troupe::sweep {

job_config reference_job(const job_config& base) {
  auto job = base;
  job.workers = 1;
  job.staleness = 0;
  job.stragglers = "none";
  return job;
}

target_choice target_from_reference(const std::vector<curve_point>& curve,
                                    const std::string& metric, double gap,
                                    const std::string& name) {
  if (curve.empty()) {
    throw troupe_error(errc::bad_config,
                       "the reference run recorded no test evaluation to set the target from");
  }
  const bool loss = metric == "loss";
  const auto best = std::max_element(curve.begin(), curve.end(), [&](const auto& a, const auto& b) {
    return loss ? a.loss > b.loss : a.accuracy < b.accuracy;
  });
  const double value = loss ? best->loss : best->accuracy;
  target_choice t;
  t.value = loss ? value * (1 + gap) : value * (1 - gap);
  t.origin = "reference run (1 worker, staleness 0, no stragglers): best test " +
             (name.empty() ? metric : name) + " " + fixed(value, 4) + " at " +
             fixed(best->time_s, 1) + " s; the target is " + fixed(100 * gap, 1) + "% " +
             (loss ? "above" : "below") + " it";
  return t;
}

namespace {

// Steps of the largest partition in one epoch: the clocks of an epoch.
double clocks_per_epoch(const job_config& job, std::size_t train_rows) {
  const double workers = std::max(1u, job.workers), batch = std::max(1u, job.batch);
  return std::ceil(std::ceil(static_cast<double>(train_rows) / workers) / batch);
}

}  // namespace

std::uint32_t eval_every_for(const job_config& job, std::size_t train_rows,
                             std::uint32_t per_epoch) {
  // Without rows to count (a user's workload brings its own data) the
  // length of an epoch is unknown: the job's own cadence.
  if (per_epoch == 0 || train_rows == 0) return job.eval_every;
  const double clocks = clocks_per_epoch(job, train_rows);
  return static_cast<std::uint32_t>(std::max(1.0, std::round(clocks / per_epoch)));
}

std::uint32_t patience_for(const job_config& job, std::uint32_t file_eval_every,
                           std::size_t train_rows) {
  if (job.early_stopping == 0 || train_rows == 0 || job.eval_every == file_eval_every) {
    return job.early_stopping;
  }
  // Evaluations in an epoch: one every `every` clocks between its ends, and
  // one at its end.
  const double clocks = clocks_per_epoch(job, train_rows);
  auto per_epoch = [&](std::uint32_t every) {
    return every == 0 ? 1.0 : std::floor(clocks / every) + 1;
  };
  const double patience =
      std::round(job.early_stopping * per_epoch(job.eval_every) / per_epoch(file_eval_every));
  return static_cast<std::uint32_t>(std::clamp(patience, 1.0, 4294967295.0));
}

double epochs_per_clock(const job_config& job, std::size_t train_rows) {
  if (train_rows == 0) return 0;
  return 1.0 / clocks_per_epoch(job, train_rows);
}

}  // namespace troupe::sweep
