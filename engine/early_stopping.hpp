#pragma once
// Model selection on a validation set: tracks the best validation loss of a
// job's evaluations and says when to stop because it stopped improving.
//
//   early_stopping es(/*patience=*/5);
//   auto v = es.record(val_loss, epoch, clock);
//   if (v.improved) remember_test_metrics();    // keep_best reports these
//   if (v.stop) stop_the_workers();              // 5 evaluations without a better loss

#include <cstdint>

namespace troupe {

class early_stopping {
 public:
  /// `patience` evaluations without a better validation loss end the job;
  /// 0 never stops (the best is still tracked).
  explicit early_stopping(std::uint32_t patience) : patience_(patience) {}

  struct verdict {
    bool improved = false;  ///< this evaluation is the best so far
    bool stop = false;      ///< patience is exhausted (reported once)
  };

  /// Records one evaluation's validation loss (lower is better). A loss that
  /// is not finite never counts as an improvement.
  verdict record(double val_loss, std::uint32_t epoch, std::int64_t clock);

  bool has_best() const { return best_epoch_ != 0; }
  double best_loss() const { return best_loss_; }
  std::uint32_t best_epoch() const { return best_epoch_; }  ///< 1-based; 0: none yet
  std::int64_t best_clock() const { return best_clock_; }
  std::uint32_t since_best() const { return since_best_; }
  bool stopped() const { return stopped_; }

  /// A resumed job whose best model came from a run it does not continue
  /// (best/ of epochs trained again): that loss is the one to beat.
  void adopt_best(double val_loss, std::uint32_t epoch, std::int64_t clock) {
    best_loss_ = val_loss;
    best_epoch_ = epoch == 0 ? 1 : epoch;
    best_clock_ = clock;
  }
  /// A resumed job's patience goes on counting, and it may stop again (an
  /// interrupted run that had stopped reports that only once).
  void rearm() { stopped_ = false; }

 private:
  std::uint32_t patience_;
  double best_loss_ = 0;
  std::uint32_t best_epoch_ = 0;
  std::int64_t best_clock_ = -1;
  std::uint32_t since_best_ = 0;
  bool stopped_ = false;
};

}  // namespace troupe
