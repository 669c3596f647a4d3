#pragma once
// A sweep into a directory that holds an earlier sweep (or files of the
// names a sweep writes): those files move whole into DIR/previous/, one
// generation (an older previous/ goes), before anything of the new sweep is
// written. Only the sweep's own names move: runs.csv, curves.csv,
// summary.md, the plots and their data, job.toml, and the run directories
// under runs/ named as a sweep names them (s0_r1, rule-dcasgd_sinf_r0,
// reference); anything else in the directory, runs/ included, stays.
// Deleting runs/ took other runs with it, and a new sweep stopped half-way
// left the old summary and plots beside its own runs.csv.
//
//   if (auto moved = sweep::set_aside_earlier(out_dir, job_file); moved > 0)
//     spdlog::warn("... moved to {}/previous/", out_dir);

#include <cstddef>
#include <string>
#include <string_view>

namespace troupe::sweep {

/// The first line of the job.toml a sweep writes: how a later sweep tells
/// it from a user's own job file of that name.
constexpr std::string_view sweep_job_header =
    "# The base job of this sweep as troupe sweep ran it (every key at its value)";

/// Moves the earlier sweep's files of `dir` into `dir`/previous/; returns
/// how many entries moved (0: none there). `keep`: a file that stays
/// whatever its name (the new sweep's own job file, when it lies in `dir`).
/// Throws troupe_error(io_error) when they cannot be moved, and (bad_config,
/// moving nothing) when a text file under a sweep's name (summary.md,
/// runs.csv, curves.csv, job.toml) is no sweep's, or when `keep` lies in
/// `dir`/previous/ and is no sweep's job.toml.
std::size_t set_aside_earlier(const std::string& dir, const std::string& keep);

/// Whether `name` (a directory under runs/) is one a sweep makes.
bool is_sweep_run_name(const std::string& name);

}  // namespace troupe::sweep
