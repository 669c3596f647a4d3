#pragma once
// `troupe sweep`: trains one job under a list of staleness bounds, several
// seeds each, and reports time to target, waiting and observed staleness
// per bound (see tools/sweep_report.hpp for the files it writes).
//
//   troupe sweep examples/fashion_mlp.toml --staleness 0,1,2,4,8,16,inf --repeats 3
//       --stragglers fixed:worker=0,factor=3 --out sweeps/straggler

#include <CLI/CLI.hpp>

#include <functional>

namespace troupe::cli {

/// Adds the `sweep` subcommand to `app`; the returned callback runs it and
/// returns the process exit code (-1 when `sweep` was not the command given):
/// 0 when every run succeeded, 1 when some failed, 2 on a bad configuration.
std::function<int()> add_sweep_command(CLI::App& app);

}  // namespace troupe::cli
