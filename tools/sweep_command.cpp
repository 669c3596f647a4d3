#include "tools/sweep_command.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <set>

#include "actors/job_runner.hpp"
#include "engine/errors.hpp"
#include "engine/job_config.hpp"
#include "engine/straggler.hpp"
#include "engine/workloads/workload_factory.hpp"
#include "tools/finite_range.hpp"
#include "tools/sweep_earlier.hpp"
#include "tools/sweep_grid.hpp"
#include "tools/sweep_plots.hpp"
#include "tools/sweep_report.hpp"
#include "tools/sweep_schedule.hpp"

namespace troupe::cli {

namespace {

struct sweep_options {
  std::string job_file;
  std::string staleness = "0,1,2,4,8,16,inf";  // comma-separated; split in make_plan
  std::vector<std::string> grid;
  std::string x_key;
  std::uint32_t repeats = 3;
  std::optional<std::string> stragglers;
  std::optional<std::uint32_t> epochs;
  std::optional<std::uint64_t> seed;
  std::string target = "auto";
  std::optional<double> target_gap;
  std::uint32_t evals_per_epoch = 4;
  std::string out_dir;
};

// Everything the runs share, checked before the first run starts: a typo
// must fail in the first second, not after hours of training.
struct sweep_plan {
  job_config base;  // the job file with the flags applied
  std::vector<sweep::grid_axis> axes;
  std::vector<sweep::grid_point> points;
  std::vector<std::int64_t> staleness;
  std::uint32_t repeats = 1;
  std::size_t train_rows = 0;
  std::string target = "auto";  // "auto", "job" or a number
  double target_gap = 0;
  std::uint32_t evals_per_epoch = 0;
  std::string x_key;
  std::string out_dir;
  std::string job_file;  // stays where it is, whatever the output directory
};

// The job of one configuration, without its seed and output directory.
job_config configured(const sweep_plan& plan, const sweep::grid_point& point,
                      std::int64_t staleness) {
  auto job = sweep::apply_point(plan.base, point);
  job.staleness = staleness;
  job.eval_every = sweep::eval_every_for(job, plan.train_rows, plan.evals_per_epoch);
  // Its patience counts evaluations, and a sweep evaluates more often.
  job.early_stopping = sweep::patience_for(job, plan.base.eval_every, plan.train_rows);
  return job;
}

sweep_plan make_plan(const sweep_options& o) {
  sweep_plan plan;
  // Loaded once: an edit of the job file during a long sweep cannot mix two jobs.
  plan.base = load_job_config(o.job_file);
  plan.job_file = o.job_file;
  settle_target_metric(plan.base);
  if (o.epochs) plan.base.epochs = *o.epochs;
  if (o.seed) plan.base.seed = *o.seed;
  if (o.stragglers) plan.base.stragglers = *o.stragglers;
  plan.base.stragglers = to_string(parse_straggler_spec(plan.base.stragglers));
  plan.repeats = o.repeats;
  // Run r trains with seed + r, which a job file must hold (an int64).
  constexpr std::uint64_t max_seed = std::numeric_limits<std::int64_t>::max();
  if (plan.base.seed > max_seed ||
      (plan.repeats > 0 && std::uint64_t{plan.repeats} - 1 > max_seed - plan.base.seed)) {
    throw troupe_error(errc::bad_config, "--seed " + std::to_string(plan.base.seed) + " with " +
                                             std::to_string(plan.repeats) +
                                             " repeats: the seeds must stay below 2^63");
  }
  plan.out_dir = o.out_dir;
  plan.evals_per_epoch = o.evals_per_epoch;
  plan.target = o.target;
  const bool loss = plan.base.target_metric == "loss";
  plan.target_gap = o.target_gap.value_or(loss ? 0.10 : 0.02);
  if (plan.target != "auto" && plan.target != "job") {
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(plan.target, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != plan.target.size() || !(v >= 0) || !std::isfinite(v) || (!loss && v > 1)) {
      throw troupe_error(errc::bad_config, "--target '" + plan.target +
                                               "' is neither auto, job nor a valid " +
                                               plan.base.target_metric);
    }
    (loss ? plan.base.target_loss : plan.base.target_accuracy) = v;
  }
  for (const auto& g : o.grid) plan.axes.push_back(sweep::parse_grid_axis(g));
  plan.points = sweep::grid_points(plan.axes);
  plan.x_key = o.x_key.empty() ? "staleness" : o.x_key;
  if (plan.x_key != "staleness" &&
      std::none_of(plan.axes.begin(), plan.axes.end(),
                   [&](const auto& a) { return a.key == plan.x_key; })) {
    throw troupe_error(errc::bad_config, "--x " + plan.x_key + " is not a key the sweep varies");
  }
  std::set<std::int64_t> seen;
  // Split here, not by CLI11: it dropped empty items ("0,,2" passed) and took
  // the next flag as the value of "--staleness ,".
  for (const auto& text : sweep::split_values(o.staleness, "--staleness '" + o.staleness + "'")) {
    const auto s = parse_staleness(text);
    if (!seen.insert(s).second) {
      throw troupe_error(errc::bad_config, "--staleness lists " + text + " twice");
    }
    plan.staleness.push_back(s);
  }
  if (plan.staleness.empty()) throw troupe_error(errc::bad_config, "--staleness is empty");
  // The data once, for the clocks of an epoch (evaluation cadence, epochs to target).
  const auto data = load_workload_data(plan.base);
  plan.train_rows = data->train_rows();
  const bool base_regression = job_is_regression(plan.base);
  for (const auto& p : plan.points) {
    for (const auto s : plan.staleness) {
      auto job = configured(plan, p, s);
      validate(job);
      // Runs are compared by one metric: accuracy and an RMSE in one table
      // read as an "accuracy" above 1, and its "best" as a minimum.
      if (const bool regression = job_is_regression(job); regression != base_regression) {
        const auto label = sweep::point_label(p);
        auto task = [](bool r) { return r ? "regression" : "classification"; };
        throw troupe_error(errc::bad_config,
                           (label.empty() ? std::string("a run") : label) + " is a " +
                               task(regression) + " and the job file's a " + task(base_regression) +
                               ": a sweep compares its runs by one metric (test accuracy, or a "
                               "regression's test RMSE); sweep the two kinds of task apart");
      }
      check_straggler_workers(parse_straggler_spec(job.stragglers), job.workers);
      // Layer sizes a job leaves to its data (input width, outputs) are
      // known only once fitted to it, as each run will be.
      fit_job_to_data(job, *data);
      workload_tables(job);
      // A user's workload (a plugin) brings its own data: no rows to count
      // here; its workers find an empty partition themselves.
      if (plan.train_rows > 0 && job.workers > plan.train_rows) {
        const auto label = sweep::point_label(p);
        throw troupe_error(errc::bad_config, (label.empty() ? "the job" : label) +
                                                 ": more workers (" + std::to_string(job.workers) +
                                                 ") than the " + std::to_string(plan.train_rows) +
                                                 " training rows");
      }
    }
  }
  return plan;
}

std::string duration(double seconds) {
  if (seconds < 59.95) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
    return buf;
  }
  const auto s = static_cast<long long>(seconds + 0.5);
  const auto two = [](long long v) { return (v < 10 ? "0" : "") + std::to_string(v); };
  if (s < 3600) return std::to_string(s / 60) + "m" + two(s % 60) + "s";
  return std::to_string(s / 3600) + "h" + two(s / 60 % 60) + "m";
}

// Runs the reference job into DIR/runs/reference and sets the target from
// its best evaluation.
void set_target_from_reference(sweep_plan& plan, sweep::sweep_info& info) {
  auto job = sweep::reference_job(plan.base);
  job.eval_every = sweep::eval_every_for(job, plan.train_rows, plan.evals_per_epoch);
  job.early_stopping = sweep::patience_for(job, plan.base.eval_every, plan.train_rows);
  job.output_dir = plan.out_dir + "/runs/reference";
  spdlog::info("sweep: reference run (1 worker, staleness 0, no stragglers) to set the target");
  std::error_code ec;
  std::filesystem::remove(job.output_dir + "/metrics.csv", ec);
  try {
    run_job(job);
  } catch (const troupe_error& e) {
    // Without it the sweep cannot set its target; with one given, it can go on.
    throw troupe_error(
        e.code(), std::string("the reference run, which sets the target, failed: ") + e.what() +
                      "; give --target VALUE (or --target job) to sweep without one");
  }
  const auto t =
      sweep::target_from_reference(sweep::load_test_curve(job.output_dir + "/metrics.csv"),
                                   info.target_metric, plan.target_gap, info.metric());
  (info.target_metric == "loss" ? plan.base.target_loss : plan.base.target_accuracy) = t.value;
  info.target = t.value;
  info.target_origin = t.origin;
  spdlog::info("sweep: target {}: {}", sweep::target_text(info), t.origin);
}

void fill(sweep::run_record& r, const job_summary& s, const job_config& job) {
  r.wall_s = s.wall_s;
  r.time_to_target_s = s.time_to_target_s;
  r.clocks_to_target = s.time_to_target_s >= 0 ? static_cast<std::uint64_t>(s.target_clock) : 0;
  r.final_metric = job.target_metric == "loss" ? s.test_loss : s.test_accuracy;
  r.samples_per_s = s.samples_per_s;
  r.wait_fraction = s.wait_fraction;
  r.staleness_mean = s.mean_staleness;
  r.staleness_p50 = s.staleness_p50;
  r.staleness_p99 = s.staleness_p99;
  r.staleness_max = s.max_staleness;
}

std::string result_text(const sweep::run_record& r, const std::string& metric) {
  if (!r.ok()) return "FAILED: " + r.error;
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s=%.4f wait=%.3f staleness mean=%.2f p99=%.0f", metric.c_str(),
                r.final_metric, r.wait_fraction, r.staleness_mean, r.staleness_p99);
  return (r.reached() ? "target at " + duration(r.time_to_target_s) : std::string("target never")) +
         ", " + buf;
}

// One run; whatever goes wrong in it is recorded and the sweep goes on.
sweep::run_record run_one(const sweep_plan& plan, const sweep::grid_point& point,
                          std::int64_t staleness, std::uint32_t repeat) {
  auto job = configured(plan, point, staleness);
  job.seed = plan.base.seed + repeat;
  const auto name = sweep::point_dir_name(point);
  job.output_dir = plan.out_dir + "/runs/" + (name.empty() ? "" : name + "_") + "s" +
                   staleness_to_string(staleness) + "_r" + std::to_string(repeat);
  sweep::run_record r;
  r.point = point;
  r.staleness = staleness;
  r.seed = job.seed;
  r.stragglers = job.stragglers;
  r.epochs_per_clock = sweep::epochs_per_clock(job, plan.train_rows);
  // A metrics.csv left by an earlier sweep in the same directory must not
  // pass for the curve of a run that fails before writing its own.
  std::error_code ec;
  std::filesystem::remove(job.output_dir + "/metrics.csv", ec);
  try {
    fill(r, run_job(job), job);
  } catch (const troupe_error& e) {
    r.error = std::string(to_string(e.code())) + ": " + e.what();
  } catch (const std::exception& e) {
    r.error = std::string("error: ") + e.what();
  }
  try {
    // Also for a failed run: its curve up to the failure is worth keeping.
    r.curve = sweep::load_test_curve(job.output_dir + "/metrics.csv");
    r.best_metric = sweep::best_of(r.curve, job.target_metric);
  } catch (const troupe_error& e) {
    spdlog::warn("sweep: {}", e.what());
  }
  return r;
}

int run_sweep(sweep_plan& plan) {
  namespace fs = std::filesystem;
  sweep::sweep_info info;
  info.job_name = plan.base.name;
  info.target_metric = plan.base.target_metric;
  if (info.target_metric == "loss" && job_is_regression(plan.base)) info.metric_name = "RMSE";
  info.stragglers = plan.base.stragglers;
  info.repeats = plan.repeats;
  info.workers = plan.base.workers;
  info.epochs = plan.base.epochs;
  info.x_key = plan.x_key;
  for (const auto& a : plan.axes) info.grid_keys.push_back(a.key);
  // A loss of 0 is never reached: a job file without target_loss (a
  // regression's default) gave a sweep whose every run missed its target.
  // Refused before anything of an earlier sweep is removed.
  if (plan.target != "auto" && info.target_metric == "loss" && !(plan.base.target_loss > 0)) {
    throw troupe_error(errc::bad_config,
                       "the target is a test loss <= 0, which no run reaches: set job.target_loss "
                       "in the job file, give --target VALUE, or let --target auto take it from "
                       "a reference run");
  }
  // Its runs go too: left next to the new runs.csv, the old runs of other
  // configurations looked like part of this sweep (tools/sweep_earlier.hpp).
  if (const auto moved = sweep::set_aside_earlier(plan.out_dir, plan.job_file); moved > 0) {
    spdlog::warn(
        "sweep: {} holds an earlier sweep's files: {} of them moved to {}/previous/ "
        "(replacing an older previous/ there)",
        plan.out_dir, moved, plan.out_dir);
  }
  fs::create_directories(plan.out_dir);
  if (plan.target == "auto") {
    set_target_from_reference(plan, info);
  } else {
    info.target = info.target_metric == "loss" ? plan.base.target_loss : plan.base.target_accuracy;
    info.target_origin =
        plan.target == "job" ? "the job's (its file's, or the default)" : "given with --target";
  }

  // Not over the job file itself, when it lies there under that name.
  std::error_code same;
  if (!fs::equivalent(plan.out_dir + "/job.toml", plan.job_file, same)) {
    std::ofstream(plan.out_dir + "/job.toml") << sweep::sweep_job_header << "\n"
                                              << to_toml(plan.base);
  }
  if (const auto first = configured(plan, plan.points.front(), plan.staleness.front());
      first.early_stopping != plan.base.early_stopping) {
    spdlog::info(
        "sweep: early stopping's patience of {} evaluations ({}) is {} in the runs, which "
        "evaluate every {} clocks and at epoch ends: about as much training",
        plan.base.early_stopping,
        plan.base.eval_every == 0 ? std::string("at epoch ends")
                                  : "every " + std::to_string(plan.base.eval_every) + " clocks",
        first.early_stopping, first.eval_every);
  }
  const std::size_t total = plan.points.size() * plan.staleness.size() * plan.repeats;
  spdlog::info(
      "sweep: {} runs ({} grid points x {} staleness bounds x {} repeats, seeds from {}), "
      "stragglers {}, into {}/",
      total, plan.points.size(), plan.staleness.size(), plan.repeats, plan.base.seed,
      plan.base.stragglers, plan.out_dir);

  std::vector<sweep::run_record> runs;
  double spent_s = 0;
  // Repeat-major order: an interrupted sweep has covered every configuration
  // once, and slow drift of the machine spreads over all of them alike.
  for (std::uint32_t repeat = 0; repeat < plan.repeats; ++repeat) {
    for (const auto& point : plan.points) {
      for (const auto staleness : plan.staleness) {
        const auto t0 = std::chrono::steady_clock::now();
        runs.push_back(run_one(plan, point, staleness, repeat));
        const double run_s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        spent_s += run_s;
        const auto done = runs.size();
        const double eta_s =
            spent_s / static_cast<double>(done) * static_cast<double>(total - done);
        const auto label = sweep::point_label(point);
        spdlog::info("sweep run {}/{}: {}staleness={} seed={}: {} ({}; ETA {})", done, total,
                     label.empty() ? "" : label + " ", staleness_to_string(staleness),
                     runs.back().seed, result_text(runs.back(), info.metric()), duration(run_s),
                     duration(eta_s));
        try {
          sweep::write_run_tables(plan.out_dir, runs);
        } catch (const troupe_error& e) {
          spdlog::warn("sweep: {}", e.what());
        }
      }
    }
  }

  sweep::write_report(plan.out_dir, info, runs);
  if (const auto st = sweep::render_plots(plan.out_dir); !st.ok()) {
    spdlog::warn("sweep: no plots: {}", st.message());
  }
  const auto failed =
      std::count_if(runs.begin(), runs.end(), [](const auto& r) { return !r.ok(); });
  spdlog::info("sweep: done in {}; {} of {} runs failed; see {}/summary.md", duration(spent_s),
               failed, total, plan.out_dir);
  return failed == 0 ? 0 : 1;
}

}  // namespace

std::function<int()> add_sweep_command(CLI::App& app) {
  auto opts = std::make_shared<sweep_options>();
  auto* cmd = app.add_subcommand(
      "sweep",
      "Train one job in several configurations (staleness bounds times a grid of any job keys), "
      "several seeds each, and compare time and epochs to a target, throughput, waiting and "
      "observed staleness with 95% confidence intervals (runs.csv, curves.csv, summary.md and "
      "gnuplot plots in the output directory).");
  cmd->add_option("job", opts->job_file, "TOML job file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--staleness", opts->staleness,
                  "comma-separated staleness bounds: integers and 'inf'")
      ->capture_default_str();
  cmd->add_option("--grid", opts->grid,
                  "KEY=v1,v2,...: also sweep this job key (any key of the job file, as with "
                  "train --set); repeat for a cartesian product, e.g. --grid train.workers=8,32 "
                  "--grid update.rule=plain,dcasgd");
  cmd->add_option("--x", opts->x_key, "the plots' x axis: staleness (default) or a --grid key");
  cmd->add_option("--repeats", opts->repeats,
                  "runs per configuration, seeds BASE, BASE+1, ...; >= 2 for confidence intervals")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--target", opts->target,
                  "auto: relative to a reference run's best (1 worker, staleness 0); job: the "
                  "job file's target; or a value of the job's target metric")
      ->capture_default_str();
  cmd->add_option("--target-gap", opts->target_gap,
                  "with --target auto: how far from the reference's best, as a fraction of it "
                  "(default 0.02 for accuracy, 0.10 for loss)")
      ->check(cli::finite_within(0.0, 0.9));
  cmd->add_option("--evals-per-epoch", opts->evals_per_epoch,
                  "test evaluations per epoch of each run, for a finer time to target (0: the "
                  "job file's eval_every, as for a plugin's workload, whose epochs the sweep "
                  "cannot count)")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  cmd->add_option("--stragglers", opts->stragglers,
                  "straggler spec, e.g. fixed:worker=0,factor=3 or random:dist=exp,mean_ms=2 or "
                  "dai:max_delay=8, joined with '+' (default: the job file's)");
  cmd->add_option("-e,--epochs", opts->epochs, "passes over the training set")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--seed", opts->seed, "base seed (default: the job file's)");
  cmd->add_option("-o,--out", opts->out_dir, "output directory of the sweep")->required();
  return [cmd, opts]() -> int {
    if (!cmd->parsed()) return -1;
    sweep_plan plan;
    try {
      plan = make_plan(*opts);
    } catch (const troupe_error& e) {
      spdlog::error("{}: {}", to_string(e.code()), e.what());
      return 2;
    }
    try {
      return run_sweep(plan);
    } catch (const troupe_error& e) {
      spdlog::error("{}: {}", to_string(e.code()), e.what());
      return 2;
    } catch (const std::filesystem::filesystem_error& e) {
      spdlog::error("io_error: {}", e.what());
      return 2;
    }
  };
}

}  // namespace troupe::cli
