#pragma once
// Where a worker's time goes: computing, waiting for pull replies, waiting
// for push acknowledgements (the window of unacknowledged steps is full, or
// an epoch drains), or waiting on the staleness bound. The worker says what
// it is blocked on whenever it stops; the time until it goes on is charged
// to that. Whatever is charged to nothing (waiting for a thread of the
// pool, encoding, bookkeeping) is the rest of busy_s.
//
//   timer.block(step_timer::pull);     // replies missing: return
//   ... a reply arrives ...
//   timer.unblock();                   // charges the wait to pull
//   timer.add(step_timer::compute, s);
//   timer.take(report);                // moves the sums into a progress report

#include <array>
#include <chrono>

#include "actors/messages.hpp"

namespace troupe {

class step_timer {
 public:
  using clock_type = std::chrono::steady_clock;
  enum kind { compute, pull, push, staleness, none };

  void start() { unblock(); }

  /// Starts charging time to `k` (switching from what was charged before).
  void block(kind k) {
    if (k == blocked_) return;
    unblock();
    blocked_ = k;
    since_ = clock_type::now();
  }
  void unblock() {
    if (blocked_ != none) {
      sums_[blocked_] += std::chrono::duration<double>(clock_type::now() - since_).count();
    }
    blocked_ = none;
  }
  void add(kind k, double seconds) { sums_[k] += seconds; }

  kind blocked_on() const { return blocked_; }
  clock_type::time_point blocked_since() const { return since_; }

  /// Adds the sums so far to the report's time shares and restarts them.
  void take(worker_progress& report) {
    if (blocked_ != none) {  // charge the running wait up to now
      const auto k = blocked_;
      unblock();
      block(k);
    }
    report.compute_s += sums_[compute];
    report.pull_s += sums_[pull];
    report.push_s += sums_[push];
    report.wait_s += sums_[staleness];
    sums_ = {};
  }

 private:
  std::array<double, 4> sums_{};
  kind blocked_ = none;
  clock_type::time_point since_;
};

}  // namespace troupe
