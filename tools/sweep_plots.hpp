#pragma once
// The plots of a sweep, drawn by gnuplot from a script the sweep writes next
// to its data, so they can be redrawn or restyled later without rerunning
// anything. The x axis is the staleness bound, or the --grid key chosen with
// --x; every other coordinate of a configuration makes its own series.
//
//   to_target.{png,svg}         epochs (left) and wall time (right) to the
//                               target, mean over the repeats, bars: 95% CI;
//                               open points: not every repeat reached it
//   best_metric.{png,svg}       the best test metric each run reached, mean and 95% CI
//   waiting.{png,svg}           fraction of worker time spent on the staleness bound
//   metric_vs_epochs.{png,svg}  test metric against epochs, mean over the
//                               repeats with its 95% band
//   metric_vs_time.{png,svg}    test metric against wall time, first seed
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
  std::string script;      ///< plots.gp; paths in it are relative to its directory
  std::string groups_dat;  ///< plot_groups.dat: one block (gnuplot `index`) per series
  std::string means_dat;   ///< plot_means.dat: mean curve per configuration
  std::string curves_dat;  ///< plot_curves.dat: first seed's curve per configuration
};
plot_files make_plots(const sweep_info& info, const std::vector<run_record>& runs);

/// The images plots.gp writes, relative to the sweep directory.
const std::vector<std::string>& plot_outputs();

/// Runs `gnuplot plots.gp` in `dir` (its messages go to dir/gnuplot.log).
/// A missing gnuplot or a failed script is a status, not an exception: the
/// data and the script are already written and can be plotted later.
status render_plots(const std::string& dir, const std::string& gnuplot = "gnuplot");

}  // namespace troupe::sweep
