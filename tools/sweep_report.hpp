#pragma once
// The report of a sweep (`troupe sweep`): one record per run, the runs of
// each configuration (grid point x staleness bound) grouped with their means
// and 95% confidence intervals, and the files written from them. Pure C++
// (no actors, no training), so it is tested on synthetic runs.
//
//   std::vector<sweep::run_record> runs = ...;  // one per (point, staleness, seed)
//   sweep::write_report("sweeps/s1", info, runs);
//
// Files written into the sweep directory:
//   runs.csv         one row per run (failed runs carry their error)
//   curves.csv       the test evaluations of every run
//   summary.md       per configuration: mean +- 95% CI over the repeats, the
//                    best staleness, and which differences are significant
//   plots.gp         gnuplot script and its data (see tools/sweep_plots.hpp)

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/errors.hpp"
#include "tools/sweep_stats.hpp"

namespace troupe::sweep {

/// One test-set evaluation of a run (a "test" row of its metrics.csv).
struct curve_point {
  double time_s = 0;       ///< seconds since the run started
  std::int64_t clock = 0;  ///< minimum worker clock at the evaluation
  std::uint32_t epoch = 0;
  double accuracy = 0;  ///< test accuracy, fraction
  double loss = 0;      ///< mean test cross-entropy
};

/// The --grid coordinates of a run, (key, value) in the grid's key order;
/// empty for a sweep over staleness bounds only.
using grid_point = std::vector<std::pair<std::string, std::string>>;

/// The outcome of one run of the sweep.
struct run_record {
  grid_point point;
  std::int64_t staleness = 0;  ///< staleness bound; staleness_unbounded for inf
  std::uint64_t seed = 0;
  std::string stragglers = "none";  ///< canonical straggler spec
  std::string error;                ///< "code: message" of a failed run; empty when it succeeded
  /// Passes over the training set per clock of every worker (workers x batch
  /// / training rows): converts clocks into epochs; 0 when unknown.
  double epochs_per_clock = 0;
  double wall_s = 0;                   ///< training time, seconds
  double time_to_target_s = -1;        ///< seconds; < 0 when the target was never reached
  std::uint64_t clocks_to_target = 0;  ///< minimum worker clock at the target, when reached
  double final_metric = 0;             ///< test accuracy or loss at the end (the target's metric)
  double best_metric = 0;     ///< the best evaluation of the run (highest accuracy, lowest loss)
  double samples_per_s = 0;   ///< training throughput over all workers
  double wait_fraction = 0;   ///< share of worker time spent on the staleness bound
  double staleness_mean = 0;  ///< observed staleness of applied pushes, in pushes
  double staleness_p50 = 0;
  double staleness_p99 = 0;
  std::uint64_t staleness_max = 0;
  std::vector<curve_point> curve;  ///< test evaluations, in time order (may be partial)

  bool ok() const { return error.empty(); }
  bool reached() const { return ok() && time_to_target_s >= 0; }
  /// Epochs (passes over the training set) at the target; < 0 when unknown.
  double epochs_to_target() const {
    return reached() && epochs_per_clock > 0
               ? static_cast<double>(clocks_to_target) * epochs_per_clock
               : -1;
  }
};

/// What the whole sweep was, for the summary's header and the plot labels.
struct sweep_info {
  std::string job_name;
  std::string target_metric = "accuracy";  ///< "accuracy" (reach >= target) or "loss" (<=)
  /// What the report calls the metric: "RMSE" for a built-in regression,
  /// whose test loss is its root mean squared error; empty: target_metric.
  std::string metric_name;
  double target = 0;
  /// Where the target came from ("the job file", or the reference run and
  /// the gap below its best); empty: not said.
  std::string target_origin;
  std::string stragglers = "none";
  std::uint32_t repeats = 0;
  std::uint32_t workers = 0;
  std::uint32_t epochs = 0;
  std::vector<std::string> grid_keys;  ///< --grid keys, in column order
  /// The plots' x axis: "staleness" or one of grid_keys (empty: staleness).
  std::string x_key;

  const std::string& metric() const { return metric_name.empty() ? target_metric : metric_name; }
};

/// All runs of one configuration (grid point and staleness bound). Time,
/// clocks and epochs to target summarise the runs that reached it; the
/// others summarise the runs that succeeded.
struct run_group {
  grid_point point;
  std::int64_t staleness = 0;
  std::size_t runs = 0;
  std::size_t failed = 0;
  std::size_t reached = 0;
  std::vector<double> time_to_target_values, epochs_to_target_values;  // for comparisons
  interval time_to_target_s, clocks_to_target, epochs_to_target;
  interval final_metric, best_metric, samples_per_s, wait_fraction;
  interval staleness_mean, staleness_p50, staleness_p99, staleness_max;

  /// Only then are its times to target comparable with other groups'.
  bool all_reached() const { return runs > 0 && reached == runs; }
};

/// Groups by grid point (in order of first appearance) and staleness
/// (ascending, inf last within a point).
std::vector<run_group> aggregate(const std::vector<run_record>& runs);

/// The staleness with the smallest mean time to target among the groups of
/// `point` where every run reached it (ties: the smaller bound); empty when
/// none did.
std::optional<std::int64_t> best_staleness(const std::vector<run_group>& groups,
                                           const grid_point& point = {});

/// "0", "16", "inf".
std::string staleness_label(std::int64_t staleness);
/// "test accuracy >= 0.87", "test loss <= 0.35" or "test RMSE <= 0.9".
std::string target_text(const sweep_info& info);
/// "train.workers=32 update.rule=dcasgd" ("" for an empty point).
std::string point_label(const grid_point& point);
/// Runs by (point, staleness, seed), whatever order the sweep ran them in.
std::vector<const run_record*> sorted_runs(const std::vector<run_record>& runs);

/// The test rows of a run's metrics.csv, found by header names. Truncated or
/// unparsable lines (a run killed mid-write) are skipped; a header without
/// the needed columns throws troupe_error(io_error).
std::vector<curve_point> read_test_curve(std::istream& metrics_csv, const std::string& source);
/// Same, from a file; a missing file gives an empty curve.
std::vector<curve_point> load_test_curve(const std::string& path);
/// The best evaluation of a curve: highest accuracy, or lowest loss for
/// metric "loss"; 0 for an empty curve.
double best_of(const std::vector<curve_point>& curve, const std::string& metric);

void write_runs_csv(std::ostream& out, const std::vector<run_record>& runs);
void write_curves_csv(std::ostream& out, const std::vector<run_record>& runs);
std::string summary_markdown(const sweep_info& info, const std::vector<run_record>& runs);

/// Writes runs.csv and curves.csv only: cheap enough to refresh after every
/// run, so an interrupted sweep leaves its results. Throws troupe_error(io_error).
void write_run_tables(const std::string& dir, const std::vector<run_record>& runs);
/// Writes every file but the images (see make_plots). Throws troupe_error(io_error).
void write_report(const std::string& dir, const sweep_info& info,
                  const std::vector<run_record>& runs);
/// The names of the files write_report writes.
const std::vector<std::string>& report_files();

}  // namespace troupe::sweep
