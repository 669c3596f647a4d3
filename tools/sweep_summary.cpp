// summary.md of a sweep: the table of configurations (mean +- 95% CI over
// the repeats), the best staleness of each grid point, and which
// differences between configurations are significant.
#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "tools/sweep_format.hpp"
#include "tools/sweep_report.hpp"

namespace troupe::sweep {

namespace {

// Decimals of the times to target: two significant digits of the shortest
// at least (a sweep of runs of a few milliseconds showed "0.0 ± 0.0").
int time_decimals(const std::vector<run_group>& groups) {
  double shortest = 0;
  for (const auto& g : groups) {
    for (const double t : g.time_to_target_values) {
      if (t > 0 && (shortest == 0 || t < shortest)) shortest = t;
    }
  }
  if (shortest <= 0) return 1;
  return std::clamp(1 - static_cast<int>(std::floor(std::log10(shortest))), 1, 6);
}

// "42.0 ± 5.0" (n >= 2), "42.0" (n = 1), "n/a" (none).
std::string cell(const interval& s, int decimals) {
  if (s.n == 0) return "n/a";
  if (s.n == 1) return fixed(s.mean, decimals);
  return fixed(s.mean, decimals) + " ± " + fixed(s.half_width, decimals);
}

std::string median_cell(const interval& s, int decimals) {
  return s.n == 0 ? "n/a" : fixed(s.median, decimals);
}

// The largest over the runs: a maximum is not a median (a bound of 2 with
// runs that saw 3 and 2 showed "2").
std::string max_cell(const interval& s, int decimals) {
  return s.n == 0 ? "n/a" : fixed(s.max, decimals);
}

std::string configuration(const run_group& g) {
  const auto p = point_label(g.point);
  return (p.empty() ? "" : p + " ") + "staleness=" + staleness_label(g.staleness);
}

const run_group* find_group(const std::vector<run_group>& groups, const grid_point& point,
                            std::int64_t staleness) {
  for (const auto& g : groups) {
    if (g.point == point && g.staleness == staleness) return &g;
  }
  return nullptr;
}

// The bound other bounds of a point are compared with: 0, else the smallest.
std::int64_t reference_staleness(const std::vector<run_group>& groups, const grid_point& point) {
  std::int64_t ref = -1;
  for (const auto& g : groups) {
    if (g.point == point && (ref < 0 || g.staleness < ref)) ref = g.staleness;
  }
  return ref;
}

// "-4.3 (CIs overlap; not significant, t = -1.2, df = 7.9)"
std::string contrast(const std::vector<double>& a, const std::vector<double>& b, int decimals) {
  if (a.size() < 2 || b.size() < 2) return "n/a (fewer than 2 runs reached the target)";
  const auto c = compare(a, b);
  const double diff = summarize(a).mean - summarize(b).mean;
  std::string out = (diff > 0 ? "+" : "") + fixed(diff, decimals) + " (";
  out += c.overlap ? "CIs overlap" : "CIs apart";
  out += c.significant ? "; **significant**" : "; not significant";
  if (std::isfinite(c.t)) out += ", t = " + fixed(c.t, 1) + ", df = " + fixed(c.df, 1);
  return out + ")";
}

void table(std::ostringstream& md, const sweep_info& info, const std::vector<run_group>& groups) {
  std::string keys_header, keys_rule;
  for (const auto& k : info.grid_keys) {
    keys_header += k + " | ";
    keys_rule += "---|";
  }
  md << "| " << keys_header << "staleness | ok | reached target | time to target (s) | "
     << "epochs to target | clocks to target (median) | final " << info.metric() << " | best "
     << info.metric()
     << " | samples/s (median) | waiting fraction (median) | staleness mean (median) | "
        "staleness p99 (median) | staleness max (of all runs) |\n"
     << "|" << keys_rule << "---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  const int td = time_decimals(groups);
  for (const auto& g : groups) {
    md << "| ";
    for (const auto& kv : g.point) md << kv.second << " | ";
    md << staleness_label(g.staleness) << " | " << g.runs - g.failed << "/" << g.runs << " | "
       << g.reached << "/" << g.runs << " | " << cell(g.time_to_target_s, td) << " | "
       << cell(g.epochs_to_target, 2) << " | " << median_cell(g.clocks_to_target, 0) << " | "
       << cell(g.final_metric, 4) << " | " << cell(g.best_metric, 4) << " | "
       << median_cell(g.samples_per_s, 0) << " | " << median_cell(g.wait_fraction, 3) << " | "
       << median_cell(g.staleness_mean, 1) << " | " << median_cell(g.staleness_p99, 0) << " | "
       << max_cell(g.staleness_max, 0) << " |\n";
  }
  md << "\n";
}

void best_bounds(std::ostringstream& md, const std::vector<run_group>& groups) {
  std::vector<grid_point> points;
  for (const auto& g : groups) {
    if (std::find(points.begin(), points.end(), g.point) == points.end()) points.push_back(g.point);
  }
  md << "## Best staleness bound\n\n";
  const int td = time_decimals(groups);
  for (const auto& p : points) {
    const auto label = point_label(p);
    md << "- " << (label.empty() ? "" : label + ": ");
    std::string ignored;
    for (const auto& g : groups) {
      if (g.point != p || g.all_reached()) continue;
      const auto of = "/" + std::to_string(g.runs);
      const auto never = g.runs - g.reached - g.failed;
      std::string why = never > 0 ? std::to_string(never) + of + " never reached it" : "";
      if (g.failed > 0) {
        why += (why.empty() ? "" : ", ") + std::to_string(g.failed) + of + " failed";
      }
      ignored += (ignored.empty() ? "" : "; ") + staleness_label(g.staleness) + " (" + why + ")";
    }
    const auto best = best_staleness(groups, p);
    if (!best) {
      md << "no staleness bound reached the target in every run"
         << (ignored.empty() ? "" : " (" + ignored + ")") << ".\n";
      continue;
    }
    const auto* g = find_group(groups, p, *best);
    md << "**" << staleness_label(*best) << "**, " << cell(g->time_to_target_s, td)
       << " s to the target";
    const auto ref = reference_staleness(groups, p);
    if (const auto* r = find_group(groups, p, ref); r != nullptr && ref != *best) {
      md << "; against staleness " << staleness_label(ref) << " (" << cell(r->time_to_target_s, td)
         << " s): " << contrast(g->time_to_target_values, r->time_to_target_values, td);
    }
    md << (ignored.empty() ? ""
                           : ". Not considered, as not every run reached the target: " + ignored)
       << ".\n";
  }
  md << "\n";
}

// Each configuration against the one that differs only in one axis, set to
// that axis's first value (staleness: 0 or the smallest bound).
void differences(std::ostringstream& md, const sweep_info& info,
                 const std::vector<run_group>& groups) {
  std::vector<std::string> first_values;
  for (std::size_t k = 0; k < info.grid_keys.size(); ++k) {
    first_values.push_back(groups.empty() || groups.front().point.size() <= k
                               ? std::string()
                               : groups.front().point[k].second);
  }
  std::ostringstream rows;
  const int td = time_decimals(groups);
  for (const auto& g : groups) {
    std::vector<std::pair<std::string, const run_group*>> against;
    const auto ref = reference_staleness(groups, g.point);
    if (g.staleness != ref) {
      against.emplace_back("staleness=" + staleness_label(ref), find_group(groups, g.point, ref));
    }
    for (std::size_t k = 0; k < g.point.size() && k < first_values.size(); ++k) {
      if (g.point[k].second == first_values[k]) continue;
      auto p = g.point;
      p[k].second = first_values[k];
      against.emplace_back(p[k].first + "=" + first_values[k], find_group(groups, p, g.staleness));
    }
    for (const auto& [what, other] : against) {
      if (other == nullptr) continue;
      rows << "| " << configuration(g) << " | " << what << " | "
           << contrast(g.time_to_target_values, other->time_to_target_values, td) << " | "
           << contrast(g.epochs_to_target_values, other->epochs_to_target_values, 2) << " |\n";
    }
  }
  if (rows.str().empty()) return;
  md << "## Differences\n\n"
     << "Each configuration against the one that differs in a single setting. Differences "
        "of the means over the runs that reached the target; \"CIs apart\": the 95% intervals "
        "do not overlap; significant: Welch's t-test at the 5% level.\n\n"
     << "| configuration | against | time to target (s) | epochs to target |\n"
     << "|---|---|---|---|\n"
     << rows.str() << "\n";
}

}  // namespace

std::string summary_markdown(const sweep_info& info, const std::vector<run_record>& runs) {
  const auto groups = aggregate(runs);
  std::set<std::uint64_t> seeds;
  for (const auto& r : runs) seeds.insert(r.seed);
  std::string seed_list;
  for (auto s : seeds) seed_list += (seed_list.empty() ? "" : ", ") + std::to_string(s);
  std::string keys;
  for (const auto& k : info.grid_keys) keys += k + " x ";

  std::ostringstream md;
  md << "# Sweep: " << info.job_name << "\n\n"
     << "- target: " << target_text(info)
     << (info.target_origin.empty() ? "" : " (" + info.target_origin + ")") << "\n"
     << "- runs: " << groups.size() << " configurations (" << keys << "staleness) x "
     << info.repeats << " repeats (seeds " << seed_list << "); "
     << (info.grid_keys.empty() ? std::to_string(info.workers) + " workers, " : "") << info.epochs
     << " epochs; stragglers: `" << info.stragglers << "`\n"
     << "- cells: mean ± half-width of the 95% confidence interval over the repeats (Student's "
        "t), or the single value; time, epochs and clocks to target over the runs that reached "
        "the target; the other columns are medians over the runs that succeeded. Epochs to "
        "target: the slowest worker's clock at the target / the clocks of an epoch\n\n";
  table(md, info, groups);
  best_bounds(md, groups);
  differences(md, info, groups);

  bool header = false;
  for (const auto* r : sorted_runs(runs)) {
    if (r->ok()) continue;
    if (!header) md << "## Failed runs\n\n";
    header = true;
    const auto p = point_label(r->point);
    md << "- " << (p.empty() ? "" : p + " ") << "staleness " << staleness_label(r->staleness)
       << ", seed " << r->seed << ": " << one_line(r->error) << "\n";
  }
  return md.str();
}

}  // namespace troupe::sweep
