#pragma once
// The configurations a sweep runs: the cartesian product of its axes (each
// a job key and the values it takes), times the staleness bounds, times the
// repeats (seeds).
//
//   std::vector<sweep::grid_axis> axes = {{"train.workers", {"8", "32"}},
//                                         {"update.rule", {"plain", "dcasgd"}}};
//   for (const auto& point : sweep::grid_points(axes)) {   // 4 points
//     auto job = base;
//     sweep::apply_point(job, point);
//   }

#include <string>
#include <vector>

#include "engine/job_config.hpp"
#include "tools/sweep_report.hpp"

namespace troupe::sweep {

struct grid_axis {
  std::string key;                  ///< a job key, e.g. "train.workers"
  std::vector<std::string> values;  ///< as given, in order
};

/// Every combination of one value per axis, the first axis varying slowest;
/// one empty point when there are no axes. Throws troupe_error(bad_config)
/// for an axis without values, a value given twice or a key given twice.
std::vector<grid_point> grid_points(const std::vector<grid_axis>& axes);

/// Sets the point's coordinates in `job`. The keys it knows: train.workers
/// and update.rule (the sweep's --workers and --rules). Throws
/// troupe_error(bad_config) naming the key for an unknown key or bad value.
void apply_point(job_config& job, const grid_point& point);

/// "workers-32_rule-dcasgd": the point as a directory name ("" when empty).
std::string point_dir_name(const grid_point& point);

}  // namespace troupe::sweep
