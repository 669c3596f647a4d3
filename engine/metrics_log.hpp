#pragma once
// The per-run metrics CSV, so runs can be compared later. One row per
// progress report of a worker ("train") and per evaluation ("test").
//
//   metrics_log log("runs/x/metrics.csv");
//   log.append({1.5, 0, 1, 100, "train", 0.61, 0.78, 21000, 0.02, 0.9, 0.05, 0.01});

#include <cstdint>
#include <fstream>
#include <string>

namespace troupe {

struct metrics_row {
  double time_s = 0;         ///< seconds since the job started
  std::uint32_t epoch = 0;   ///< epoch the row belongs to (0-based)
  std::int64_t worker = -1;  ///< worker id; -1 for test-set evaluations
  std::int64_t clock = 0;    ///< worker clock, or the minimum clock for evaluations
  std::string kind;          ///< "train" or "test"
  double loss = 0;           ///< mean cross-entropy over the rows reported
  double accuracy = 0;       ///< fraction correct over the rows reported
  double samples_per_s = 0;  ///< throughput since the previous row of this worker (or the job)
  double wait_s = 0;         ///< seconds this worker waited on the staleness bound since then
  double compute_s = 0;      ///< ... computed (forward and backward)
  double pull_s = 0;         ///< ... waited for pull replies
  double push_s = 0;         ///< ... waited for push acknowledgements
};

class metrics_log {
 public:
  /// Creates (truncates) the CSV and writes the header, or with `append`
  /// (a resumed run) adds to an existing one; throws troupe_error(io_error).
  explicit metrics_log(const std::string& path, bool append = false);
  void append(const metrics_row& row);
  const std::string& path() const { return path_; }

  static const char* header();

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace troupe
