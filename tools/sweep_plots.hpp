#pragma once
// The plots of a staleness sweep, drawn by gnuplot from a script the sweep
// writes next to its data, so they can be redrawn or restyled later without
// rerunning anything:
//
//   time_to_target.{png,svg}  median time to target per staleness, min-max bars
//   waiting.{png,svg}         fraction of worker time spent on the staleness bound
//   metric_vs_time.{png,svg}  test metric vs wall time, first seed per staleness
//
//   sweep::write_report(dir, info, runs);  // writes plots.gp and its data
//   if (auto st = sweep::render_plots(dir); !st) spdlog::warn("{}", st.message());

#include <string>
#include <vector>

#include "engine/errors.hpp"
#include "tools/sweep_report.hpp"

namespace troupe::sweep {

/// The gnuplot script and the data files it reads, as text.
struct plot_files {
  std::string script;         ///< plots.gp; paths in it are relative to its directory
  std::string staleness_dat;  ///< plot_staleness.dat: one row per staleness, x = its index
  std::string curves_dat;     ///< plot_curves.dat: one block per staleness (gnuplot `index`)
};
plot_files make_plots(const sweep_info& info, const std::vector<run_record>& runs);

/// The images plots.gp writes, relative to the sweep directory.
const std::vector<std::string>& plot_outputs();

/// Runs `gnuplot plots.gp` in `dir` (its messages go to dir/gnuplot.log).
/// A missing gnuplot or a failed script is a status, not an exception: the
/// data and the script are already written and can be plotted later.
status render_plots(const std::string& dir, const std::string& gnuplot = "gnuplot");

}  // namespace troupe::sweep
