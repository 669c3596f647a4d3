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
#include <vector>

namespace troupe {

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

}  // namespace troupe
