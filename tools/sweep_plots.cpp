#include "tools/sweep_plots.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace troupe::sweep {

namespace fs = std::filesystem;

namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// A single-quoted gnuplot string ('' is a literal quote inside one).
std::string gp_str(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// A double-quoted gnuplot string, where a newline becomes a line break.
std::string gp_text(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
  }
  return out + "\"";
}

// NaN, not a missing-data marker: an undefined point breaks the line
// through the staleness bounds instead of bridging it.
std::string gp_num(const spread& s, double spread::*field) {
  return s.n == 0 ? "NaN" : num(s.*field);
}

// gnuplot stops a script at its first error, and a plot with no defined
// point is one: an empty plot says so in its middle instead.
std::string placeholder(const std::string& why) {
  return "set label 1 " + gp_str(why) + " at graph 0.5, graph 0.5 center\n" +
         "set yrange [0:1]\nplot -1 notitle\n";
}

const std::vector<std::pair<std::string, std::string>>& terminals() {
  static const std::vector<std::pair<std::string, std::string>> t = {
      {"pngcairo noenhanced size 960,600", "png"}, {"svg noenhanced size 960,600", "svg"}};
  return t;
}

}  // namespace

const std::vector<std::string>& plot_outputs() {
  static const std::vector<std::string> files = {"time_to_target.png", "time_to_target.svg",
                                                 "waiting.png",        "waiting.svg",
                                                 "metric_vs_time.png", "metric_vs_time.svg"};
  return files;
}

namespace {

// plot_staleness.dat plus the x tic labels of both staleness plots.
struct staleness_plot {
  std::string dat;
  std::string ttt_tics, wait_tics;  // `set xtics (...)` contents
  bool any_reached = false, any_ok = false, any_partial = false;
};

staleness_plot staleness_data(const std::vector<staleness_group>& groups) {
  // One row per staleness at x = its index, so inf is the last category.
  staleness_plot p;
  std::ostringstream dat, ttt_tics, wait_tics;
  dat << "# x staleness runs ok reached ttt_median ttt_min ttt_max wait_median wait_min "
         "wait_max\n";
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const auto& g = groups[i];
    const auto label = staleness_label(g.staleness);
    const auto& t = g.time_to_target_s;
    const auto& w = g.wait_fraction;
    dat << i << " " << label << " " << g.runs << " " << g.runs - g.failed << " " << g.reached << " "
        << gp_num(t, &spread::median) << " " << gp_num(t, &spread::min) << " "
        << gp_num(t, &spread::max) << " " << gp_num(w, &spread::median) << " "
        << gp_num(w, &spread::min) << " " << gp_num(w, &spread::max) << "\n";
    p.any_reached = p.any_reached || g.reached > 0;
    p.any_ok = p.any_ok || g.failed < g.runs;
    p.any_partial = p.any_partial || !g.all_reached();
    // A bound where not every seed got there says so under its label: its
    // median covers only the seeds that did.
    auto ttt_label = label;
    if (g.reached == 0) {
      ttt_label += "\\nnever";
    } else if (!g.all_reached()) {
      ttt_label += "\\n" + std::to_string(g.reached) + "/" + std::to_string(g.runs) + " reached";
    }
    const auto sep = i == 0 ? "" : ", ";
    ttt_tics << sep << "\"" << ttt_label << "\" " << i;
    wait_tics << sep << "\"" << label << "\" " << i;
  }
  p.dat = dat.str();
  p.ttt_tics = ttt_tics.str();
  p.wait_tics = wait_tics.str();
  return p;
}

// plot_curves.dat (the first successful seed of each staleness) and the
// matching plot clauses.
std::pair<std::string, std::string> curve_data(const std::vector<staleness_group>& groups,
                                               const std::vector<run_record>& runs, bool loss) {
  std::ostringstream curves, clauses;
  std::size_t blocks = 0;
  for (const auto& g : groups) {
    const run_record* first = nullptr;
    for (const auto* r : sorted_runs(runs)) {
      if (r->staleness == g.staleness && r->ok() && !r->curve.empty()) {
        first = r;
        break;
      }
    }
    if (first == nullptr) continue;
    if (blocks > 0) curves << "\n\n";  // two blank lines: the next `index`
    curves << "# staleness " << staleness_label(g.staleness) << " seed " << first->seed
           << "\n# time_s accuracy loss clock\n";
    for (const auto& p : first->curve) {
      curves << num(p.time_s) << " " << num(p.accuracy) << " " << num(p.loss) << " " << p.clock
             << "\n";
    }
    clauses << (blocks == 0 ? "" : ", \\\n     ") << "'plot_curves.dat' index " << blocks
            << " using 1:" << (loss ? 3 : 2) << " with linespoints title "
            << gp_str("staleness " + staleness_label(g.staleness) + " (seed " +
                      std::to_string(first->seed) + ")");
    ++blocks;
  }
  return {curves.str(), clauses.str()};
}

std::string errorbar_plot(int column) {
  const auto c = std::to_string(column);
  return "set yrange [0:*]\nplot 'plot_staleness.dat' using 1:" + c + ":" +
         std::to_string(column + 1) + ":" + std::to_string(column + 2) +
         " with yerrorbars lc 1 pt 7 notitle, \\\n     '' using 1:" + c +
         " with lines lc 1 notitle\n";
}

}  // namespace

plot_files make_plots(const sweep_info& info, const std::vector<run_record>& runs) {
  const auto groups = aggregate(runs);
  const auto st = staleness_data(groups);
  const bool loss = info.target_metric == "loss";
  const auto [curves, clauses] = curve_data(groups, runs, loss);
  const auto x_range = "set xrange [-0.5:" + num(static_cast<double>(groups.size()) - 0.5) + "]\n";
  const auto of_job = " (" + info.job_name + ")";

  std::vector<std::pair<std::string, std::string>> plots;  // output name, commands
  plots.emplace_back(
      "time_to_target",
      "set title " +
          gp_text("Time to " + target_text(info) + of_job +
                  "\nmedian over the seeds that reached it, bars: min-max") +
          "\nset ylabel 'time to target (s)'\n" + x_range + "set xtics (" + st.ttt_tics + ")\n" +
          // Two-line tic labels need room above the axis label.
          (st.any_partial ? "set bmargin 5\nset xlabel 'staleness bound' offset 0,-1\n"
                          : "set xlabel 'staleness bound'\n") +
          (st.any_reached ? errorbar_plot(6) : placeholder("no run reached the target")));
  plots.emplace_back(
      "waiting",
      "set title " +
          gp_text("Waiting on the staleness bound" + of_job +
                  "\nmedian over seeds, bars: min-max") +
          "\nset xlabel 'staleness bound'\nset ylabel 'fraction of worker time waiting'\n" +
          x_range + "set xtics (" + st.wait_tics + ")\n" +
          (st.any_ok ? errorbar_plot(9) : placeholder("no run succeeded")));
  plots.emplace_back(
      "metric_vs_time",
      "set title " +
          gp_text(std::string(loss ? "Test loss" : "Test accuracy") + " vs wall time" + of_job +
                  "\nfirst successful seed per staleness bound") +
          "\nset xlabel 'wall time (s)'\nset ylabel " +
          gp_str(loss ? "test loss" : "test accuracy") + "\nset key " +
          (loss ? "top right" : "bottom right") + "\n" +
          (clauses.empty() ? "set xrange [0:1]\n" + placeholder("no test evaluations recorded")
                           : "plot " + clauses + ", \\\n     " + num(info.target) +
                                 " with lines dt 2 lc rgb 'gray40' title " +
                                 gp_str("target " + num(info.target)) + "\n"));

  std::ostringstream gp;
  gp << "# Plots of the staleness sweep of " << info.job_name << ", written by `troupe sweep`.\n"
     << "# Redraw them in this directory with: gnuplot plots.gp\n"
     << "# Data: plot_staleness.dat (one row per staleness bound, x = its index; NaN = none),\n"
     << "#       plot_curves.dat (one block per staleness bound; `index i` picks one).\n"
     << "# Every plot is written twice: PNG (pngcairo) and SVG (svg).\n";
  for (const auto& [name, commands] : plots) {
    gp << "\n# --- " << name << " ---\n";
    for (const auto& [terminal, ext] : terminals()) {
      gp << "reset\nset terminal " << terminal << "\nset output '" << name << "." << ext
         << "'\nset grid\n"
         << commands << "unset output\n";
    }
  }
  return {gp.str(), st.dat, curves};
}

namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool executable_on_path(const std::string& program) {
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  std::string d;
  while (std::getline(dirs, d, ':')) {
    if (!d.empty() && ::access((d + "/" + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

}  // namespace

status render_plots(const std::string& dir, const std::string& gnuplot) {
  if (!executable_on_path(gnuplot)) {
    return {errc::io_error, "gnuplot not found; the data and " + dir +
                                "/plots.gp are written: install gnuplot (Debian: gnuplot-nox) "
                                "and run `gnuplot plots.gp` in " +
                                dir};
  }
  const auto cmd =
      "cd " + shell_quote(dir) + " && " + shell_quote(gnuplot) + " plots.gp > gnuplot.log 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    const int code = rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : rc;
    return {errc::io_error, "gnuplot plots.gp failed (exit " + std::to_string(code) + "); see " +
                                dir + "/gnuplot.log"};
  }
  for (const auto& name : plot_outputs()) {
    std::error_code ec;
    const auto size = fs::file_size(dir + "/" + name, ec);
    if (ec || size == 0) {
      return {errc::io_error,
              "gnuplot did not write " + dir + "/" + name + "; see " + dir + "/gnuplot.log"};
    }
  }
  return {};
}

}  // namespace troupe::sweep
