#include "tools/sweep_report.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "engine/clock_table.hpp"
#include "tools/sweep_format.hpp"
#include "tools/sweep_plots.hpp"

namespace troupe::sweep {

namespace fs = std::filesystem;

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out(1);
  for (char c : line) {
    if (c == ',') {
      out.emplace_back();
    } else if (c != '\r') {
      out.back() += c;
    }
  }
  return out;
}

bool parse_number(const std::string& s, double& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw troupe_error(errc::io_error, "cannot write " + path);
}

}  // namespace

std::string staleness_label(std::int64_t staleness) {
  return staleness == staleness_unbounded ? "inf" : std::to_string(staleness);
}

std::string target_text(const sweep_info& info) {
  return "test " + info.metric() + (info.target_metric == "loss" ? " <= " : " >= ") +
         num(info.target);
}

std::string point_label(const grid_point& point) {
  std::string out;
  for (const auto& [key, value] : point) out += (out.empty() ? "" : " ") + key + "=" + value;
  return out;
}

namespace {

// Grid points in the order the runs first show them (the sweep's order).
std::vector<grid_point> points_in_order(const std::vector<run_record>& runs) {
  std::vector<grid_point> points;
  for (const auto& r : runs) {
    if (std::find(points.begin(), points.end(), r.point) == points.end()) {
      points.push_back(r.point);
    }
  }
  return points;
}

std::size_t index_of(const std::vector<grid_point>& points, const grid_point& p) {
  return static_cast<std::size_t>(std::find(points.begin(), points.end(), p) - points.begin());
}

}  // namespace

std::vector<const run_record*> sorted_runs(const std::vector<run_record>& runs) {
  const auto points = points_in_order(runs);
  std::vector<const run_record*> out;
  for (const auto& r : runs) out.push_back(&r);
  std::stable_sort(out.begin(), out.end(), [&](const auto* a, const auto* b) {
    const auto pa = index_of(points, a->point), pb = index_of(points, b->point);
    if (pa != pb) return pa < pb;
    return a->staleness != b->staleness ? a->staleness < b->staleness : a->seed < b->seed;
  });
  return out;
}

std::vector<run_group> aggregate(const std::vector<run_record>& runs) {
  const auto points = points_in_order(runs);
  // staleness_unbounded is the largest int64, so the map's order puts inf last.
  std::map<std::pair<std::size_t, std::int64_t>, std::vector<const run_record*>> members;
  for (const auto& r : runs) members[{index_of(points, r.point), r.staleness}].push_back(&r);
  std::vector<run_group> groups;
  for (const auto& [key, rs] : members) {
    run_group g;
    g.point = points[key.first];
    g.staleness = key.second;
    g.runs = rs.size();
    std::vector<double> clocks, metric, best, sps, wait, mean, p50, p99, max;
    for (const auto* r : rs) {
      if (!r->ok()) {
        ++g.failed;
        continue;
      }
      if (r->reached()) {
        ++g.reached;
        g.time_to_target_values.push_back(r->time_to_target_s);
        clocks.push_back(static_cast<double>(r->clocks_to_target));
        if (r->epochs_to_target() >= 0) g.epochs_to_target_values.push_back(r->epochs_to_target());
      }
      metric.push_back(r->final_metric);
      best.push_back(r->best_metric);
      sps.push_back(r->samples_per_s);
      wait.push_back(r->wait_fraction);
      mean.push_back(r->staleness_mean);
      p50.push_back(r->staleness_p50);
      p99.push_back(r->staleness_p99);
      max.push_back(static_cast<double>(r->staleness_max));
    }
    g.time_to_target_s = summarize(g.time_to_target_values);
    g.clocks_to_target = summarize(clocks);
    g.epochs_to_target = summarize(g.epochs_to_target_values);
    g.final_metric = summarize(metric);
    g.best_metric = summarize(best);
    g.samples_per_s = summarize(sps);
    g.wait_fraction = summarize(wait);
    g.staleness_mean = summarize(mean);
    g.staleness_p50 = summarize(p50);
    g.staleness_p99 = summarize(p99);
    g.staleness_max = summarize(max);
    groups.push_back(std::move(g));
  }
  return groups;
}

std::optional<std::int64_t> best_staleness(const std::vector<run_group>& groups,
                                           const grid_point& point) {
  const run_group* best = nullptr;
  for (const auto& g : groups) {
    // A mean over only the lucky seeds would flatter a bound that often
    // fails to converge, so such bounds do not compete.
    if (g.point != point || !g.all_reached()) continue;
    if (best == nullptr || g.time_to_target_s.mean < best->time_to_target_s.mean ||
        (g.time_to_target_s.mean == best->time_to_target_s.mean && g.staleness < best->staleness)) {
      best = &g;
    }
  }
  if (best == nullptr) return std::nullopt;
  return best->staleness;
}

std::vector<curve_point> read_test_curve(std::istream& in, const std::string& source) {
  std::string line;
  if (!std::getline(in, line)) return {};
  const auto header = split_csv_line(line);
  const auto column = [&](const char* name) {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) {
      throw troupe_error(errc::io_error, source + ": no '" + name + "' column in the header");
    }
    return static_cast<std::size_t>(it - header.begin());
  };
  const auto c_time = column("time_s"), c_epoch = column("epoch"), c_clock = column("clock"),
             c_kind = column("kind"), c_loss = column("loss"), c_acc = column("accuracy");
  std::vector<curve_point> curve;
  while (std::getline(in, line)) {
    const auto f = split_csv_line(line);
    if (f.size() != header.size() || f[c_kind] != "test") continue;
    double time = 0, epoch = 0, clock = 0, loss = 0, acc = 0;
    if (!parse_number(f[c_time], time) || !parse_number(f[c_epoch], epoch) ||
        !parse_number(f[c_clock], clock) || !parse_number(f[c_loss], loss) ||
        !parse_number(f[c_acc], acc)) {
      continue;
    }
    curve_point p{time, static_cast<std::int64_t>(clock), static_cast<std::uint32_t>(epoch), acc,
                  loss};
    // The same clock scored again (a job's last evaluation, after its last
    // epoch's): one point, the later, or the mean curves weigh it twice.
    if (!curve.empty() && curve.back().clock == p.clock) {
      curve.back() = p;
    } else {
      curve.push_back(p);
    }
  }
  return curve;
}

double best_of(const std::vector<curve_point>& curve, const std::string& metric) {
  if (curve.empty()) return 0;
  const bool loss = metric == "loss";
  double best = loss ? curve.front().loss : curve.front().accuracy;
  for (const auto& p : curve) best = loss ? std::min(best, p.loss) : std::max(best, p.accuracy);
  return best;
}

std::vector<curve_point> load_test_curve(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  return read_test_curve(in, path);
}

namespace {

// The grid's keys, from the first run (every run of a sweep has the same).
std::vector<std::string> grid_keys(const std::vector<run_record>& runs) {
  std::vector<std::string> keys;
  if (!runs.empty()) {
    for (const auto& kv : runs.front().point) keys.push_back(kv.first);
  }
  return keys;
}

std::string point_fields(const run_record& r) {
  std::string out;
  for (const auto& kv : r.point) out += csv_field(kv.second) + ",";
  return out;
}

}  // namespace

void write_runs_csv(std::ostream& out, const std::vector<run_record>& runs) {
  for (const auto& k : grid_keys(runs)) out << csv_field(k) << ',';
  out << "staleness,seed,stragglers,wall_s,time_to_target_s,clocks_to_target,epochs_to_target,"
         "final_metric,best_metric,samples_per_s,wait_fraction,staleness_mean,staleness_p50,"
         "staleness_p99,staleness_max,error\n";
  for (const auto* r : sorted_runs(runs)) {
    out << point_fields(*r) << staleness_label(r->staleness) << ',' << r->seed << ','
        << csv_field(r->stragglers);
    if (r->ok()) {
      const double epochs = r->epochs_to_target();
      out << ',' << num(r->wall_s) << ',' << (r->reached() ? num(r->time_to_target_s) : "") << ','
          << (r->reached() ? std::to_string(r->clocks_to_target) : "") << ','
          << (epochs >= 0 ? num(epochs) : "") << ',' << num(r->final_metric) << ','
          << num(r->best_metric) << ',' << num(r->samples_per_s) << ',' << num(r->wait_fraction)
          << ',' << num(r->staleness_mean) << ',' << num(r->staleness_p50) << ','
          << num(r->staleness_p99) << ',' << r->staleness_max << ",\n";
    } else {
      out << ",,,,,,,,,,,,," << csv_field(one_line(r->error)) << '\n';
    }
  }
}

void write_curves_csv(std::ostream& out, const std::vector<run_record>& runs) {
  for (const auto& k : grid_keys(runs)) out << csv_field(k) << ',';
  out << "staleness,seed,time_s,clock,epochs,epoch,accuracy,loss\n";
  for (const auto* r : sorted_runs(runs)) {
    for (const auto& p : r->curve) {
      out << point_fields(*r) << staleness_label(r->staleness) << ',' << r->seed << ','
          << num(p.time_s) << ',' << p.clock << ','
          << (r->epochs_per_clock > 0 ? num(static_cast<double>(p.clock) * r->epochs_per_clock)
                                      : "")
          << ',' << p.epoch << ',' << num(p.accuracy) << ',' << num(p.loss) << '\n';
    }
  }
}

void write_run_tables(const std::string& dir, const std::vector<run_record>& runs) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw troupe_error(errc::io_error, "cannot create " + dir + ": " + ec.message());
  std::ostringstream runs_csv, curves_csv;
  write_runs_csv(runs_csv, runs);
  write_curves_csv(curves_csv, runs);
  write_file(dir + "/runs.csv", runs_csv.str());
  write_file(dir + "/curves.csv", curves_csv.str());
}

const std::vector<std::string>& report_files() {
  static const std::vector<std::string> files = {
      "runs.csv",       "curves.csv",      "summary.md", "plot_groups.dat",
      "plot_means.dat", "plot_curves.dat", "plots.gp"};
  return files;
}

// Writes the files report_files() names.
void write_report(const std::string& dir, const sweep_info& info,
                  const std::vector<run_record>& runs) {
  write_run_tables(dir, runs);
  write_file(dir + "/summary.md", summary_markdown(info, runs));
  const auto plots = make_plots(info, runs);
  write_file(dir + "/plot_groups.dat", plots.groups_dat);
  write_file(dir + "/plot_means.dat", plots.means_dat);
  write_file(dir + "/plot_curves.dat", plots.curves_dat);
  write_file(dir + "/plots.gp", plots.script);
}

}  // namespace troupe::sweep
