#pragma once
// What a resumed run takes over from the run it continues: metrics.csv keeps
// the rows of the epochs before the one resumed (the epochs trained again
// would otherwise appear twice, and a curve of metric against time went
// back to 0 in the middle), the others are set aside in
// metrics-interrupted.csv, and the kept evaluations are handed back so the
// scheduler can rebuild its target, early-stopping and best-model state.
//
//   auto h = keep_metrics_before_epoch(dir + "/metrics.csv", resume.epoch);
//   for (const auto& row : h.evaluations) replay(row);   // "test" / "validation" rows
//   row.time_s = h.time_offset_s + now;                  // the resumed run's rows

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/metrics_log.hpp"

namespace troupe {

struct metrics_history {
  /// Where the resumed run's time axis starts: the latest time of a kept row.
  double time_offset_s = 0;
  /// The kept "test" and "validation" rows, in the order they were written.
  std::vector<metrics_row> evaluations;
  std::size_t rows_kept = 0;
  std::size_t rows_set_aside = 0;  ///< moved to metrics-interrupted.csv
  /// The largest clock of any row, kept or set aside: how far the
  /// interrupted run had got (a lower bound); -1 without rows.
  std::int64_t last_clock = -1;
};

/// Parses one metrics.csv data line; false for anything else (the header, a
/// torn last line of a killed run).
bool parse_metrics_row(const std::string& line, metrics_row& row);

/// Keeps `metrics_csv`'s rows of epochs (0-based) before `epoch`, appends the
/// others to metrics-interrupted.csv beside it and rewrites the file through
/// a temporary and a rename. Lines it cannot read stay where they are. A
/// missing file is an empty history. Throws troupe_error(io_error) naming the
/// file it cannot write; metrics.csv is then unchanged.
metrics_history keep_metrics_before_epoch(const std::string& metrics_csv, std::uint32_t epoch);

}  // namespace troupe
