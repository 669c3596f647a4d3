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
#include "tools/sweep_plots.hpp"

namespace troupe::sweep {

namespace fs = std::filesystem;

namespace {

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Ten significant digits: exact enough to re-analyse, free of the
// 0.87310000000000004 noise of a shortest-round-trip of computed values.
std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

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

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return s;
}

}  // namespace

spread make_spread(std::vector<double> values) {
  spread s;
  s.n = values.size();
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  const auto mid = values.size() / 2;
  s.median = values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
  s.min = values.front();
  s.max = values.back();
  return s;
}

std::string staleness_label(std::int64_t staleness) {
  return staleness == staleness_unbounded ? "inf" : std::to_string(staleness);
}

std::string target_text(const sweep_info& info) {
  return "test " + info.target_metric + (info.target_metric == "loss" ? " <= " : " >= ") +
         num(info.target);
}

std::vector<const run_record*> sorted_runs(const std::vector<run_record>& runs) {
  std::vector<const run_record*> out;
  for (const auto& r : runs) out.push_back(&r);
  std::stable_sort(out.begin(), out.end(), [](const auto* a, const auto* b) {
    return a->staleness != b->staleness ? a->staleness < b->staleness : a->seed < b->seed;
  });
  return out;
}

std::vector<staleness_group> aggregate(const std::vector<run_record>& runs) {
  // staleness_unbounded is the largest int64, so the map's order puts inf last.
  std::map<std::int64_t, std::vector<const run_record*>> by_staleness;
  for (const auto& r : runs) by_staleness[r.staleness].push_back(&r);
  std::vector<staleness_group> groups;
  for (const auto& [staleness, members] : by_staleness) {
    staleness_group g;
    g.staleness = staleness;
    g.runs = members.size();
    std::vector<double> ttt, ctt, metric, sps, wait, mean, p50, p99, max;
    for (const auto* r : members) {
      if (!r->ok()) {
        ++g.failed;
        continue;
      }
      if (r->reached()) {
        ++g.reached;
        ttt.push_back(r->time_to_target_s);
        ctt.push_back(static_cast<double>(r->clocks_to_target));
      }
      metric.push_back(r->final_metric);
      sps.push_back(r->samples_per_s);
      wait.push_back(r->wait_fraction);
      mean.push_back(r->staleness_mean);
      p50.push_back(r->staleness_p50);
      p99.push_back(r->staleness_p99);
      max.push_back(static_cast<double>(r->staleness_max));
    }
    g.time_to_target_s = make_spread(ttt);
    g.clocks_to_target = make_spread(ctt);
    g.final_metric = make_spread(metric);
    g.samples_per_s = make_spread(sps);
    g.wait_fraction = make_spread(wait);
    g.staleness_mean = make_spread(mean);
    g.staleness_p50 = make_spread(p50);
    g.staleness_p99 = make_spread(p99);
    g.staleness_max = make_spread(max);
    groups.push_back(g);
  }
  return groups;
}

std::optional<std::int64_t> best_staleness(const std::vector<staleness_group>& groups) {
  const staleness_group* best = nullptr;
  for (const auto& g : groups) {
    // A median over only the lucky seeds would flatter a bound that often
    // fails to converge, so such bounds do not compete.
    if (!g.all_reached()) continue;
    if (best == nullptr || g.time_to_target_s.median < best->time_to_target_s.median ||
        (g.time_to_target_s.median == best->time_to_target_s.median &&
         g.staleness < best->staleness)) {
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
    curve.push_back(
        {time, static_cast<std::int64_t>(clock), static_cast<std::uint32_t>(epoch), acc, loss});
  }
  return curve;
}

std::vector<curve_point> load_test_curve(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  return read_test_curve(in, path);
}

void write_runs_csv(std::ostream& out, const std::vector<run_record>& runs) {
  out << "staleness,seed,stragglers,wall_s,time_to_target_s,clocks_to_target,final_metric,"
         "samples_per_s,wait_fraction,staleness_mean,staleness_p50,staleness_p99,"
         "staleness_max,error\n";
  for (const auto* r : sorted_runs(runs)) {
    out << staleness_label(r->staleness) << ',' << r->seed << ',' << csv_field(r->stragglers);
    if (r->ok()) {
      out << ',' << num(r->wall_s) << ',' << (r->reached() ? num(r->time_to_target_s) : "") << ','
          << (r->reached() ? std::to_string(r->clocks_to_target) : "") << ','
          << num(r->final_metric) << ',' << num(r->samples_per_s) << ',' << num(r->wait_fraction)
          << ',' << num(r->staleness_mean) << ',' << num(r->staleness_p50) << ','
          << num(r->staleness_p99) << ',' << r->staleness_max << ",\n";
    } else {
      out << ",,,,,,,,,,," << csv_field(one_line(r->error)) << '\n';
    }
  }
}

void write_curves_csv(std::ostream& out, const std::vector<run_record>& runs) {
  out << "staleness,seed,time_s,clock,epoch,accuracy,loss\n";
  for (const auto* r : sorted_runs(runs)) {
    for (const auto& p : r->curve) {
      out << staleness_label(r->staleness) << ',' << r->seed << ',' << num(p.time_s) << ','
          << p.clock << ',' << p.epoch << ',' << num(p.accuracy) << ',' << num(p.loss) << '\n';
    }
  }
}

namespace {

std::string cell(const spread& s, int decimals) {
  if (s.n == 0) return "n/a";
  if (s.n == 1 || s.min == s.max) return fixed(s.median, decimals);
  return fixed(s.median, decimals) + " [" + fixed(s.min, decimals) + "–" + fixed(s.max, decimals) +
         "]";
}

}  // namespace

std::string summary_markdown(const sweep_info& info, const std::vector<run_record>& runs) {
  const auto groups = aggregate(runs);
  std::set<std::uint64_t> seeds;
  for (const auto& r : runs) seeds.insert(r.seed);
  std::string seed_list;
  for (auto s : seeds) seed_list += (seed_list.empty() ? "" : ", ") + std::to_string(s);
  const int metric_decimals = 4;

  std::ostringstream md;
  md << "# Staleness sweep: " << info.job_name << "\n\n"
     << "- target: " << target_text(info) << "\n"
     << "- runs: " << groups.size() << " staleness bounds x " << info.repeats << " repeats (seeds "
     << seed_list << "); " << info.workers << " workers, " << info.epochs
     << " epochs; stragglers: `" << info.stragglers << "`\n"
     << "- cells: median [min–max] over seeds; time and clocks to target over the runs that "
        "reached the target, the other columns over the runs that succeeded\n\n";
  md << "| staleness | ok | reached target | time to target (s) | clocks to target | final "
     << info.target_metric
     << " | samples/s | waiting fraction | staleness mean | staleness p50 | staleness p99 | "
        "staleness max |\n"
     << "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& g : groups) {
    md << "| " << staleness_label(g.staleness) << " | " << g.runs - g.failed << "/" << g.runs
       << " | " << g.reached << "/" << g.runs << " | " << cell(g.time_to_target_s, 1) << " | "
       << cell(g.clocks_to_target, 0) << " | " << cell(g.final_metric, metric_decimals) << " | "
       << cell(g.samples_per_s, 0) << " | " << cell(g.wait_fraction, 3) << " | "
       << cell(g.staleness_mean, 2) << " | " << cell(g.staleness_p50, 1) << " | "
       << cell(g.staleness_p99, 1) << " | " << cell(g.staleness_max, 0) << " |\n";
  }
  md << "\n";

  std::string ignored;
  for (const auto& g : groups) {
    if (g.all_reached()) continue;
    const auto of = "/" + std::to_string(g.runs);
    const auto never = g.runs - g.reached - g.failed;
    std::string why = never > 0 ? std::to_string(never) + of + " runs never reached it" : "";
    if (g.failed > 0) why += (why.empty() ? "" : ", ") + std::to_string(g.failed) + of + " failed";
    ignored += (ignored.empty() ? "" : "; ") + staleness_label(g.staleness) + " (" + why + ")";
  }
  if (const auto best = best_staleness(groups)) {
    const auto& g = *std::find_if(groups.begin(), groups.end(),
                                  [&](const auto& x) { return x.staleness == *best; });
    md << "**Best staleness for median time to target: " << staleness_label(*best) << "** ("
       << fixed(g.time_to_target_s.median, 1) << " s median over " << g.runs << " runs).\n";
    if (!ignored.empty()) {
      md << "Not considered, as not every run reached the target: " << ignored << ".\n";
    }
  } else {
    md << "**No best staleness:** no staleness bound reached the target in every run";
    md << (ignored.empty() ? "" : " (" + ignored + ")") << ".\n";
  }

  bool header = false;
  for (const auto* r : sorted_runs(runs)) {
    if (r->ok()) continue;
    if (!header) md << "\n## Failed runs\n\n";
    header = true;
    md << "- staleness " << staleness_label(r->staleness) << ", seed " << r->seed << ": "
       << one_line(r->error) << "\n";
  }
  return md.str();
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

void write_report(const std::string& dir, const sweep_info& info,
                  const std::vector<run_record>& runs) {
  write_run_tables(dir, runs);
  write_file(dir + "/summary.md", summary_markdown(info, runs));
  const auto plots = make_plots(info, runs);
  write_file(dir + "/plot_staleness.dat", plots.staleness_dat);
  write_file(dir + "/plot_curves.dat", plots.curves_dat);
  write_file(dir + "/plots.gp", plots.script);
}

}  // namespace troupe::sweep
