#pragma once
// The staleness clock table of stale synchronous parallel (SSP) training.
//
// A worker's clock counts the steps it has completed (all pushes
// acknowledged). A worker that completed c steps may start step c while
// c - min_clock <= s, where min_clock is the smallest clock of the live
// workers: s = 0 is bulk-synchronous (lock-step), s = unbounded never waits.
//
//   clock_table clocks(2);            // s = 2
//   clocks.add_worker(0); clocks.add_worker(1);
//   clocks.advance(0, 3);
//   clocks.may_start(3);              // 3 - min(3, 0) = 3 > 2: false

#include <cstdint>
#include <limits>
#include <map>

#include "engine/errors.hpp"

namespace troupe {

/// Staleness bound meaning "never wait" (asynchronous SGD).
constexpr std::int64_t staleness_unbounded = std::numeric_limits<std::int64_t>::max();

class clock_table {
 public:
  explicit clock_table(std::int64_t staleness) : staleness_(staleness < 0 ? 0 : staleness) {}

  std::int64_t staleness() const { return staleness_; }
  bool unbounded() const { return staleness_ == staleness_unbounded; }

  void add_worker(std::uint32_t worker, std::int64_t clock = 0) { clocks_[worker] = clock; }
  /// Removes a (dead or finished) worker so that it no longer holds others back.
  bool remove_worker(std::uint32_t worker) { return clocks_.erase(worker) > 0; }
  bool contains(std::uint32_t worker) const { return clocks_.count(worker) > 0; }
  std::size_t size() const { return clocks_.size(); }

  /// Records that `worker` completed `clock` steps. Clocks never go back.
  status advance(std::uint32_t worker, std::int64_t clock);

  /// Smallest clock of the live workers (max int64 when there are none).
  std::int64_t min_clock() const;
  std::int64_t max_clock() const;
  std::int64_t clock_of(std::uint32_t worker) const;

  /// May a worker that completed `clock` steps start the next one?
  bool may_start(std::int64_t clock) const {
    return unbounded() || clock - min_clock() <= staleness_;
  }

 private:
  std::int64_t staleness_;
  std::map<std::uint32_t, std::int64_t> clocks_;
};

}  // namespace troupe
