#pragma once
// `troupe sweep`: trains one job in every configuration of a grid (staleness
// bounds, times any job keys given with --grid), several seeds each, and reports time and epochs to
// a target, waiting and observed staleness per configuration, with 95% confidence intervals over
// the seeds (see tools/sweep_report.hpp for the files it writes).
//
//   troupe sweep examples/fashion_mlp.toml --staleness 0,1,2,4,8,16,inf --repeats 5
//       --stragglers fixed:worker=0,factor=3 --out sweeps/straggler
//   troupe sweep examples/fashion_mlp.toml --grid train.workers=8,32,128
//       --grid update.rule=plain,staleness --staleness 0,inf --x train.workers --out sweeps/scale
//
// The target is by default relative to a reference run (one worker,
// staleness 0, no stragglers): its best test metric, 2% below it for
// accuracy, 10% above it for loss (--target and --target-gap change that).

#include <CLI/CLI.hpp>

#include <functional>

namespace troupe::cli {

/// Adds the `sweep` subcommand to `app`; the returned callback runs it and
/// returns the process exit code (-1 when `sweep` was not the command given):
/// 0 when every run succeeded, 1 when some failed, 2 on a bad configuration.
std::function<int()> add_sweep_command(CLI::App& app);

}  // namespace troupe::cli
