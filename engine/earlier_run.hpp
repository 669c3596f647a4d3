#pragma once
// A fresh run into an output directory that an earlier run wrote: the
// earlier run is set aside whole, into <dir>/previous/ (one generation
// kept), before anything is written. Overwritten piecemeal, its metrics.csv,
// summary.txt and job.toml were lost and its best/ deleted, while only its
// checkpoints were kept; and the advice to resume them failed, since the
// job.toml beside them was the new run's.
//
//   const auto moved = set_aside_earlier_run(job.output_dir);
//   if (!moved.what.empty()) log "moved to " + moved.to + "; --resume " + moved.to
//
// Only a run's own files move (job.toml, metrics.csv, summary.txt,
// report.txt, best/, checkpoints/ and an older build's
// checkpoints.previous/); anything else in the directory stays.

#include <string>
#include <vector>

namespace troupe {

struct earlier_run {
  std::vector<std::string> what;  ///< the names moved; empty: there was none
  std::string to;                 ///< where they went (<dir>/previous)
  /// Names left where they were, with the reason: a checkpoints link (where
  /// nodes keep them; not ours to move), or a rename the system refused.
  std::vector<std::string> left;
};

/// Moves an earlier run's files in `dir` into `dir`/previous, replacing an
/// older one there. Never throws: what cannot be moved is listed in `left`.
earlier_run set_aside_earlier_run(const std::string& dir);

}  // namespace troupe
