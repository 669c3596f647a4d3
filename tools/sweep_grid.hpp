#pragma once
// The configurations a sweep runs: the cartesian product of its axes (each
// a job key and the values it takes, `--grid KEY=v1,v2`), times the
// staleness bounds, times the repeats (seeds). Any job key can be an axis:
// a point is applied through the job overrides of `troupe train --set`.
//
//   std::vector<sweep::grid_axis> axes = {sweep::parse_grid_axis("train.workers=8,32"),
//                                         sweep::parse_grid_axis("update.rule=plain,dcasgd")};
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

/// `list` split at the commas outside brackets and quotes; `flag` ("--grid
/// 'KEY=...'") names it in the troupe_error(bad_config) for an empty item.
std::vector<std::string> split_values(const std::string& list, const std::string& flag);

/// "KEY=v1,v2,..." split at the commas outside brackets and quotes (so
/// "model.layers=[784,64,10],[784,256,10]" has two values). Throws
/// troupe_error(bad_config) naming the text for a missing '=' or key, an
/// empty value, or staleness (swept with --staleness).
grid_axis parse_grid_axis(const std::string& text);

/// Every combination of one value per axis, the first axis varying slowest;
/// one empty point when there are no axes. Throws troupe_error(bad_config)
/// for an axis without values, a value given twice or a key given twice.
std::vector<grid_point> grid_points(const std::vector<grid_axis>& axes);

/// `job` with the point's coordinates applied as job overrides
/// (engine/job_overrides.hpp), parsed and validated like a job file: an
/// unknown key or a bad value throws troupe_error(bad_config) naming it.
job_config apply_point(const job_config& job, const grid_point& point);

/// "workers-32_rule-dcasgd": the point as a directory name ("" when empty).
std::string point_dir_name(const grid_point& point);

}  // namespace troupe::sweep
