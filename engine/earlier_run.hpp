#pragma once
// A fresh run into an output directory that an earlier run wrote: the
// earlier run is set aside whole, into <dir>/previous/ (one generation
// kept), before anything is written. Overwritten piecemeal, its metrics.csv,
// summary.txt and job.toml were lost and its best/ deleted, while only its
// checkpoints were kept; and the advice to resume them failed, since the
// job.toml beside them was the new run's.
//
//   const auto moved = set_aside_earlier_run(job.output_dir);
//   if (!moved.what.empty()) log "moved to " + moved.to;
//   if (moved.resumable) log "--resume " + moved.to;
//
// Only a run's own files move (job.toml, metrics.csv,
// metrics-interrupted.csv, summary.txt, report.txt, best/, checkpoints/ and
// an older build's checkpoints.previous/); anything else in the directory
// stays. What a run that failed before training leaves (a job.toml, a
// metrics.csv of no rows) is no earlier run: it is overwritten, and a run
// in previous/ stays. Nor does a run that trained but kept neither a
// checkpoint nor a summary replace one in previous/ that kept either.

#include <string>
#include <string_view>
#include <vector>

namespace troupe {

/// The first line of the job.toml a run writes: how a later run tells it
/// from a user's own job file of that name.
constexpr std::string_view run_job_header =
    "# The job as troupe train ran it (every key at its value; troupe train this file to run it "
    "again)";

struct earlier_run {
  std::vector<std::string> what;  ///< the names moved; empty: none were
  std::string to;                 ///< where they went (<dir>/previous)
  /// previous/ now holds checkpoints to go on from (--resume `to`).
  bool resumable = false;
  /// Files not moved, each with why and what becomes of it: a checkpoints
  /// link (where nodes keep them; not ours to move), a rename the system
  /// refused, or a run too slight to replace the one in previous/.
  std::vector<std::string> left;
};

/// Moves an earlier run's files in `dir` into `dir`/previous, replacing an
/// older one there. Throws troupe_error (bad_config, naming the process)
/// when a live run holds previous/ (a resume of it, say); otherwise what
/// cannot be moved is listed in `left`.
earlier_run set_aside_earlier_run(const std::string& dir);

/// Throws troupe_error(bad_config), naming the file, when `dir` holds a
/// file under a run's name that no run wrote (a user's own job.toml or
/// summary.txt: a run into `dir` would overwrite it or move it into
/// previous/, where the next run deletes it), or when `job_file`, the job
/// being run, lies in `dir`/previous/ and is no run's. A run's job.toml is
/// written_job_file(run_job_header); its metrics files begin with their
/// header, its summary.txt holds samples_per_s=. Links are judged by what
/// they point at (the run would write through them).
void refuse_files_of_no_run(const std::string& dir, const std::string& job_file);

/// Whether the job file at `path` is one a program wrote: it begins with
/// `header`, or holds no comment line (a run's or sweep's job.toml before
/// the header, every key at its value). Replaced by the run's own, such a
/// file loses nothing; a user's file with comments is no program's.
bool written_job_file(const std::string& path, std::string_view header);

}  // namespace troupe
