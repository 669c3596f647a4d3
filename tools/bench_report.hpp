#pragma once
// Results of `troupe bench pushpull`: per-run figures, the ps-lite reference
// of shared/BENCHMARKS.md, the printed table and the CSV file.
//
//   std::vector<run_record> runs = ...;
//   print_table(std::cout, runs);      // with the ps-lite figure on each row
//   write_csv("pushpull.csv", runs);

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tools/bench_nodes.hpp"

namespace troupe::bench {

/// One run: one store, S servers x W workers, N keys, one repeat.
struct run_record {
  run_shape shape;
  std::uint32_t workers = 1;
  std::uint32_t repeat = 1;            ///< 1-based
  std::vector<worker_result> results;  ///< one per worker that reported
  check_result check;
  std::string failure;  ///< why the run did not finish; empty if it did

  bool passed() const { return failure.empty() && check.pass; }
  /// Timed rounds of all workers (warm-up excluded).
  std::uint64_t timed_rounds() const;
  /// Mean over workers of rounds / seconds.
  double rounds_per_s_worker() const;
  /// Sum over workers of rounds / seconds.
  double aggregate_rounds_per_s() const;
  /// Mean of the workers' median round latencies.
  double median_ms() const;
  /// The worst worker's p99 round latency.
  double p99_ms() const;
  /// Aggregate payload: 24 * N bytes per round per worker (keys 8 B and
  /// values 4 B each way, as protocol 1 counts it even for the dense store).
  double mb_per_s() const;
};

/// A row of ps-lite's reference table; 0 where the table gives no figure.
struct reference_row {
  double rounds_per_s_worker = 0;
  double median_ms = 0;
  double p99_ms = 0;
  double mb_per_s = 0;
};

/// ps-lite's figure for this store, configuration and N, if the table has one.
std::optional<reference_row> pslite_reference(store_kind store, std::uint32_t servers,
                                              std::uint32_t workers, std::uint64_t keys);

/// One row per run and, with several repeats, the median of each figure per
/// (store, N); ps-lite's figures and our ratio to them alongside.
void print_table(std::ostream& out, const std::vector<run_record>& runs);

/// Writes one line per run; throws std::runtime_error if the file cannot be written.
void write_csv(const std::string& path, const std::vector<run_record>& runs);

}  // namespace troupe::bench
