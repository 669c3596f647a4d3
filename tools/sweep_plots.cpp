#include "tools/sweep_plots.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <sstream>

#include "tools/sweep_format.hpp"

namespace troupe::sweep {

namespace fs = std::filesystem;

namespace {

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

// gnuplot stops a script at its first error, and a plot with no defined
// point is one: an empty plot says so in its middle instead.
std::string placeholder(const std::string& why) {
  return "set label 1 " + gp_str(why) + " at graph 0.5, graph 0.5 center\n" +
         "set yrange [0:1]\nplot -1 notitle\n";
}

const std::vector<std::pair<std::string, std::string>>& terminals() {
  static const std::vector<std::pair<std::string, std::string>> t = {
      {"pngcairo noenhanced font 'sans,11'", "png"}, {"svg noenhanced font 'sans,11'", "svg"}};
  return t;
}

}  // namespace

const std::vector<std::string>& plot_outputs() {
  static const std::vector<std::string> files = {
      "to_target.png",      "to_target.svg",     "best_metric.png",      "best_metric.svg",
      "waiting.png",        "waiting.svg",       "metric_vs_epochs.png", "metric_vs_epochs.svg",
      "metric_vs_time.png", "metric_vs_time.svg"};
  return files;
}

namespace {

// The x axis: staleness, or a grid key's values in the sweep's order.
struct x_axis {
  std::string key = "staleness";
  std::size_t index = 0;  // position of key in the points when it is a grid key
  std::vector<std::string> labels;
  bool grid = false;

  std::string value_of(const run_group& g) const {
    return grid ? g.point[index].second : staleness_label(g.staleness);
  }
  std::size_t position(const run_group& g) const {
    return static_cast<std::size_t>(std::find(labels.begin(), labels.end(), value_of(g)) -
                                    labels.begin());
  }
};

std::string short_key(const std::string& key) {
  const auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

std::string axis_title(const std::string& key) {
  if (key == "staleness") return "staleness bound (clocks)";
  if (key == "train.workers") return "workers";
  if (key == "train.shards") return "parameter shards";
  if (key == "update.rule") return "update rule";
  return key;
}

x_axis make_axis(const sweep_info& info, const std::vector<run_group>& groups) {
  x_axis x;
  const auto& keys = info.grid_keys;
  if (!info.x_key.empty() && info.x_key != "staleness") {
    const auto it = std::find(keys.begin(), keys.end(), info.x_key);
    if (it != keys.end()) {
      x.key = info.x_key;
      x.index = static_cast<std::size_t>(it - keys.begin());
      x.grid = true;
    }
  }
  std::vector<std::int64_t> bounds;
  for (const auto& g : groups) {
    if (x.grid && g.point.size() <= x.index) x.grid = false;  // malformed: fall back
  }
  if (!x.grid) x.key = "staleness";
  for (const auto& g : groups) {
    if (x.grid) {
      if (std::find(x.labels.begin(), x.labels.end(), x.value_of(g)) == x.labels.end()) {
        x.labels.push_back(x.value_of(g));
      }
    } else if (std::find(bounds.begin(), bounds.end(), g.staleness) == bounds.end()) {
      bounds.push_back(g.staleness);
    }
  }
  std::sort(bounds.begin(), bounds.end());  // inf is the largest
  for (auto b : bounds) x.labels.push_back(staleness_label(b));
  return x;
}

// A series: the configurations that differ only in the x coordinate.
std::string series_of(const x_axis& x, const run_group& g) {
  std::string label;
  for (std::size_t k = 0; k < g.point.size(); ++k) {
    if (x.grid && k == x.index) continue;
    label += (label.empty() ? "" : ", ") + short_key(g.point[k].first) + "=" + g.point[k].second;
  }
  if (x.grid)
    label += std::string(label.empty() ? "" : ", ") + "staleness=" + staleness_label(g.staleness);
  return label.empty() ? "all runs" : label;
}

std::string nan_or(const interval& s, double v) {
  return s.n == 0 ? "NaN" : num(v);
}

struct group_plot {
  std::string dat;
  std::vector<std::string> series;  // block i of the data = series[i]
  bool any_reached = false, any_epochs = false, any_ok = false;
};

// Every quantity here is at least 0, and fractions and accuracies at most
// 1: a t interval of two runs knows neither (an accuracy's band reached
// 1.18, a waiting fraction's -0.2).
double at_least_0(double v) {
  return std::max(0.0, v);
}

group_plot group_data(const x_axis& x, const std::vector<run_group>& groups, bool loss) {
  group_plot p;
  for (const auto& g : groups) {
    const auto s = series_of(x, g);
    if (std::find(p.series.begin(), p.series.end(), s) == p.series.end()) p.series.push_back(s);
  }
  std::ostringstream dat;
  for (std::size_t i = 0; i < p.series.size(); ++i) {
    if (i > 0) dat << "\n\n";  // two blank lines: the next `index`
    dat << "# series " << p.series[i]
        << "\n# x epochs lo hi time_s lo hi waiting lo hi all_reached best lo hi\n";
    std::vector<const run_group*> rows;
    for (const auto& g : groups) {
      if (series_of(x, g) == p.series[i]) rows.push_back(&g);
    }
    std::sort(rows.begin(), rows.end(),
              [&](const auto* a, const auto* b) { return x.position(*a) < x.position(*b); });
    for (const auto* g : rows) {
      const auto &e = g->epochs_to_target, &t = g->time_to_target_s, &w = g->wait_fraction,
                 &b = g->best_metric;
      const double b_high = loss ? b.high() : std::min(1.0, b.high());
      dat << x.position(*g) << " " << nan_or(e, e.mean) << " " << nan_or(e, at_least_0(e.low()))
          << " " << nan_or(e, e.high()) << " " << nan_or(t, t.mean) << " "
          << nan_or(t, at_least_0(t.low())) << " " << nan_or(t, t.high()) << " "
          << nan_or(w, w.mean) << " " << nan_or(w, at_least_0(w.low())) << " "
          << nan_or(w, std::min(1.0, w.high())) << " " << (g->all_reached() ? 1 : 0) << " "
          << nan_or(b, b.mean) << " " << nan_or(b, at_least_0(b.low())) << " " << nan_or(b, b_high)
          << "\n";
      p.any_reached = p.any_reached || g->reached > 0;
      p.any_epochs = p.any_epochs || g->epochs_to_target.n > 0;
      p.any_ok = p.any_ok || g->failed < g->runs;
    }
  }
  p.dat = dat.str();
  return p;
}

// Mean curve of each configuration: its runs' k-th evaluations averaged
// (runs of one configuration evaluate at the same clocks, give or take the
// clock the slowest worker was at), as long as every successful run has one.
std::pair<std::string, std::string> mean_curves(const std::vector<run_group>& groups,
                                                const std::vector<run_record>& runs, bool loss,
                                                bool epochs) {
  std::ostringstream dat, clauses;
  std::size_t blocks = 0;
  for (const auto& g : groups) {
    std::vector<const run_record*> rs;
    std::size_t length = std::numeric_limits<std::size_t>::max();
    for (const auto& r : runs) {
      if (r.point == g.point && r.staleness == g.staleness && r.ok() && !r.curve.empty()) {
        rs.push_back(&r);
        length = std::min(length, r.curve.size());
      }
    }
    if (rs.empty()) continue;
    if (blocks > 0) dat << "\n\n";
    const auto label = (point_label(g.point).empty() ? "" : point_label(g.point) + " ") +
                       "staleness=" + staleness_label(g.staleness);
    dat << "# " << label << " (" << rs.size() << " runs)\n# x mean lo hi\n";
    for (std::size_t k = 0; k < length; ++k) {
      std::vector<double> ys;
      double xs = 0;
      for (const auto* r : rs) {
        const auto& pt = r->curve[k];
        ys.push_back(loss ? pt.loss : pt.accuracy);
        xs += epochs ? static_cast<double>(pt.clock) * r->epochs_per_clock
                     : static_cast<double>(pt.clock);
      }
      const auto s = summarize(ys);
      // An accuracy lies in [0, 1], and a loss is not negative: a t
      // interval of two runs does not know that (its band spanned -2..3
      // and flattened every curve).
      const double lo = std::max(0.0, s.low());
      const double hi = loss ? s.high() : std::min(1.0, s.high());
      dat << num(xs / static_cast<double>(rs.size())) << " " << num(s.mean) << " " << num(lo) << " "
          << num(hi) << "\n";
    }
    // Eight colours, then dashed: more than eight configurations stay apart.
    const auto lc = " lc " + std::to_string(blocks % 8 + 1);
    const auto dt = " dt " + std::to_string(blocks / 8 + 1);
    clauses << (blocks == 0 ? "" : ", \\\n     ") << "'plot_means.dat' index " << blocks
            << " using 1:3:4 with filledcurves fs transparent solid 0.15" << lc
            << " notitle, \\\n     '' index " << blocks << " using 1:2 with lines lw 2" << lc << dt
            << " title " << gp_str(label);
    ++blocks;
  }
  return {dat.str(), clauses.str()};
}

// The first successful seed of each configuration against wall time.
std::pair<std::string, std::string> first_curves(const std::vector<run_group>& groups,
                                                 const std::vector<run_record>& runs, bool loss) {
  std::ostringstream curves, clauses;
  std::size_t blocks = 0;
  const auto sorted = sorted_runs(runs);
  for (const auto& g : groups) {
    const run_record* first = nullptr;
    for (const auto* r : sorted) {
      if (r->point == g.point && r->staleness == g.staleness && r->ok() && !r->curve.empty()) {
        first = r;
        break;
      }
    }
    if (first == nullptr) continue;
    if (blocks > 0) curves << "\n\n";
    const auto label = (point_label(g.point).empty() ? "" : point_label(g.point) + " ") +
                       "staleness=" + staleness_label(g.staleness) + " (seed " +
                       std::to_string(first->seed) + ")";
    curves << "# " << label << "\n# time_s accuracy loss clock\n";
    for (const auto& p : first->curve) {
      curves << num(p.time_s) << " " << num(p.accuracy) << " " << num(p.loss) << " " << p.clock
             << "\n";
    }
    clauses << (blocks == 0 ? "" : ", \\\n     ") << "'plot_curves.dat' index " << blocks
            << " using 1:" << (loss ? 3 : 2) << " with linespoints title " << gp_str(label);
    ++blocks;
  }
  return {curves.str(), clauses.str()};
}

// Filled points with 95% bars where every repeat reached it, open points
// (the mean of those that did) where not every one did.
std::string series_plot(const group_plot& p, int column, bool partial_points) {
  const auto c = std::to_string(column);
  std::string out = "plot ";
  for (std::size_t i = 0; i < p.series.size(); ++i) {
    const auto idx = std::to_string(i),
               lc = " lc " + std::to_string(i % 8 + 1) + " dt " + std::to_string(i / 8 + 1);
    out += (i == 0 ? "" : ", \\\n     ") + std::string("'plot_groups.dat' index ") + idx +
           " using 1:" + (partial_points ? "($11==1?$" + c + ":NaN)" : "($" + c + ")") + ":" +
           std::to_string(column + 1) + ":" + std::to_string(column + 2) +
           " with yerrorlines pt 7" + lc + " title " + gp_str(p.series[i]);
    if (partial_points) {
      out += ", \\\n     '' index " + idx + " using 1:($11==0?$" + c +
             ":NaN) with points pt 6 ps 1.5" + lc + " notitle";
    }
  }
  return out + "\n";
}

}  // namespace

plot_files make_plots(const sweep_info& info, const std::vector<run_record>& runs) {
  const auto groups = aggregate(runs);
  const auto x = make_axis(info, groups);
  const bool loss = info.target_metric == "loss";
  const auto gp = group_data(x, groups, loss);
  bool epochs = !runs.empty();
  for (const auto& r : runs) epochs = epochs && (!r.ok() || r.epochs_per_clock > 0);
  const auto [means, mean_clauses] = mean_curves(groups, runs, loss, epochs);
  const auto [curves, curve_clauses] = first_curves(groups, runs, loss);
  const auto of_job = " (" + info.job_name + ")";
  std::string tics;
  for (std::size_t i = 0; i < x.labels.size(); ++i) {
    // Escaped: a grid value may hold quotes (the way to put commas in one).
    tics += (i ? ", " : "") + gp_str(x.labels[i]) + " " + std::to_string(i);
  }
  const auto x_setup = "set xrange [-0.5:" + num(static_cast<double>(x.labels.size()) - 0.5) +
                       "]\nset xtics (" + tics + ")\nset xlabel " + gp_str(axis_title(x.key)) +
                       "\nset yrange [0:*]\nset key below\n";
  const auto metric_label =
      loss ? "test " + info.metric() : std::string("test accuracy (fraction)");
  const auto target_line = num(info.target) + " with lines dt 2 lc rgb 'gray40' title " +
                           gp_str("target " + num(info.target));

  struct plot {
    std::string name, size, commands;
  };
  std::vector<plot> plots;
  plots.push_back(
      {"to_target", "1400,600",
       "set multiplot layout 1,2 title " +
           gp_text("Reaching " + target_text(info) + of_job +
                   "\nmean over the repeats, bars: 95% confidence interval; open points: not "
                   "every repeat reached the target (mean of those that did)") +
           "\n" + x_setup + "set ylabel 'epochs to target (passes over the training set)'\n" +
           (gp.any_epochs ? series_plot(gp, 2, true)
                          : placeholder("no run reached the target (or epochs unknown)")) +
           "set ylabel 'wall time to target (s)'\nset yrange [0:*]\nunset label 1\n" +
           (gp.any_reached ? series_plot(gp, 5, true) : placeholder("no run reached the target")) +
           "unset multiplot\n"});
  plots.push_back(
      {"best_metric", "1100,600",
       "set title " +
           gp_text("Best test " + info.metric() + " each run reached" + of_job +
                   "\nmean over the repeats, bars: 95% confidence interval; dashed: the target") +
           "\n" + x_setup + "set ylabel " + gp_str(std::string("best ") + metric_label) + "\n" +
           (gp.any_ok ? "set arrow 1 from graph 0, first " + num(info.target) +
                            " to graph 1, first " + num(info.target) +
                            " nohead dt 2 lc rgb 'gray40'\n" + series_plot(gp, 12, false)
                      : placeholder("no run succeeded"))});
  plots.push_back({"waiting", "1100,600",
                   "set title " +
                       gp_text("Waiting on the staleness bound" + of_job +
                               "\nmean over the repeats, bars: 95% confidence interval") +
                       "\n" + x_setup +
                       "set ylabel 'fraction of worker time spent waiting (0-1)'\n" +
                       (gp.any_ok ? series_plot(gp, 8, false) : placeholder("no run succeeded"))});
  plots.push_back({"metric_vs_epochs", "1100,600",
                   "set title " +
                       gp_text("Test " + info.metric() + " against training" + of_job +
                               "\nmean over the repeats, band: 95% confidence interval") +
                       "\nset xlabel " +
                       gp_str(epochs ? "epochs (passes over the training set)"
                                     : "clock of the slowest worker") +
                       "\nset ylabel " + gp_str(metric_label) + "\nset key outside right top\n" +
                       (mean_clauses.empty()
                            ? "set xrange [0:1]\n" + placeholder("no test evaluations recorded")
                            : "plot " + mean_clauses + ", \\\n     " + target_line + "\n")});
  plots.push_back({"metric_vs_time", "1100,600",
                   "set title " +
                       gp_text("Test " + info.metric() + " against wall time" + of_job +
                               "\nfirst successful seed of each configuration") +
                       "\nset xlabel 'wall time (s)'\nset ylabel " + gp_str(metric_label) +
                       "\nset key outside right top\n" +
                       (curve_clauses.empty()
                            ? "set xrange [0:1]\n" + placeholder("no test evaluations recorded")
                            : "plot " + curve_clauses + ", \\\n     " + target_line + "\n")});

  std::ostringstream script;
  script << "# Plots of the sweep of " << info.job_name << ", written by `troupe sweep`.\n"
         << "# Redraw them in this directory with: gnuplot plots.gp\n"
         << "# Data: plot_groups.dat (one block per series, x = position on the axis; NaN = "
            "none),\n"
         << "#       plot_means.dat (mean curve per configuration), plot_curves.dat (first "
            "seed's curve).\n"
         << "# Every plot is written twice: PNG (pngcairo) and SVG (svg).\n";
  for (const auto& p : plots) {
    script << "\n# --- " << p.name << " ---\n";
    for (const auto& [terminal, ext] : terminals()) {
      script << "reset\nset terminal " << terminal << " size " << p.size << "\nset output '"
             << p.name << "." << ext << "'\nset grid\n"
             << p.commands << "unset output\n";
    }
  }
  return {script.str(), gp.dat, means, curves};
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
  // An earlier sweep's images in this directory must not pass for this one's
  // when gnuplot stops half-way.
  for (const auto& name : plot_outputs()) {
    std::error_code ec;
    fs::remove(dir + "/" + name, ec);
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
