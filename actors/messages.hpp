#pragma once
// Plain message types exchanged between actors besides the Cap'n Proto
// payloads (progress, statistics, summaries). Each has an `inspect` so that
// it can cross nodes; all are registered in `actor_config`.

#include <cstdint>
#include <string>
#include <vector>

namespace troupe {

/// What a worker did since its previous report.
struct worker_progress {
  std::uint32_t worker = 0;
  std::uint32_t epoch = 0;
  std::int64_t clock = 0;     ///< steps completed so far
  std::uint64_t samples = 0;  ///< samples trained since the previous report
  double loss_sum = 0;        ///< sum of per-sample losses over those samples
  std::uint64_t correct = 0;  ///< correctly classified among them
  double busy_s = 0;          ///< seconds since the previous report
  double wait_s = 0;          ///< of which spent waiting on the staleness bound
  double compute_s = 0;       ///< ... computing (forward, backward; straggler delays)
  double pull_s = 0;          ///< ... waiting for pull replies
  double push_s = 0;          ///< ... waiting for push acknowledgements (full window)
  double staleness_sum = 0;   ///< summed observed staleness of acknowledged pushes
  std::uint64_t staleness_max = 0;
  std::uint64_t pushes = 0;  ///< acknowledged pushes since the previous report
  /// Observed staleness histogram (engine/log_histogram.hpp buckets).
  std::vector<std::uint64_t> staleness_hist;
  std::uint64_t pushes_resent = 0;  ///< unacknowledged pushes resent after a failover
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_progress& x) {
  return f(x.worker, x.epoch, x.clock, x.samples, x.loss_sum, x.correct, x.busy_s, x.wait_s,
           x.compute_s, x.pull_s, x.push_s, x.staleness_sum, x.staleness_max, x.pushes,
           x.staleness_hist, x.pushes_resent);
}

/// Counters of one shard.
struct shard_stats {
  std::uint32_t shard = 0;
  std::uint64_t pushes_applied = 0;
  std::uint64_t pushes_rejected = 0;
  std::uint64_t pushes_duplicate = 0;
  std::uint64_t pulls = 0;
  std::uint64_t version = 0;  ///< sum of the versions of the shard's tables
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_stats& x) {
  return f(x.shard, x.pushes_applied, x.pushes_rejected, x.pushes_duplicate, x.pulls, x.version);
}

/// Accuracy and loss of the model on the test set (and the validation set).
/// A classifier's loss is the log-loss; a regression's is the RMSE, with
/// the MAE beside it and no accuracy.
struct eval_result {
  double accuracy = 0;
  double loss = 0;
  std::uint64_t rows = 0;
  double snapshot_delay_s = 0;  ///< from the request to the snapshot's pulls (queued behind others)
  double read_delay_s = 0;  ///< from the request to the last pull's answer: the snapshot is read
  /// The lowest table version (pushes applied) among the shards it read, for
  /// a model of dense tables only (each step pushes once to every shard); 0: none.
  std::uint64_t read_version = 0;
  std::string report;  ///< the workload's eval_report(): extra findings, may be empty
  bool regression = false;
  double mae = 0;          ///< regression: mean absolute error
  bool validated = false;  ///< the validation fields below are set
  double val_accuracy = 0, val_loss = 0, val_mae = 0;
  /// keep_best: the round whose pulls had the shards hold the scored state
  /// (0: none held).
  std::uint64_t held_round = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, eval_result& x) {
  return f(x.accuracy, x.loss, x.rows, x.snapshot_delay_s, x.read_delay_s, x.read_version, x.report,
           x.regression, x.mae, x.validated, x.val_accuracy, x.val_loss, x.val_mae, x.held_round);
}

/// The outcome of a whole job.
struct job_summary {
  double test_accuracy = 0;
  double test_loss = 0;
  double samples_per_s = 0;
  double wall_s = 0;  ///< training time, first step to last eval
  std::uint32_t epochs = 0;
  double time_to_target_s = -1;  ///< -1 when the target was never reached
  std::int32_t epoch_of_target = -1;
  std::uint64_t steps = 0;      ///< worker steps over all workers
  double wait_fraction = 0;     ///< share of worker time spent on the staleness bound
  double compute_fraction = 0;  ///< ... computing
  double pull_fraction = 0;     ///< ... waiting for pull replies
  double push_fraction = 0;     ///< ... waiting for push acknowledgements
  double mean_staleness = 0;    ///< observed, in applied pushes
  double staleness_p50 = 0;
  double staleness_p99 = 0;
  std::uint64_t max_staleness = 0;
  /// Largest lead of the fastest live worker over the slowest, in completed
  /// steps (acknowledged clocks): at most staleness + 1 under SSP.
  std::int64_t max_clock_spread = 0;
  std::int64_t target_clock = 0;  ///< min worker clock when the target was reached; 0 if never
  std::uint64_t pushes_rejected = 0;
  std::uint64_t pushes_applied = 0;  ///< summed table versions of the final shards
  std::uint64_t pushes_acked = 0;    ///< acknowledgements the workers counted, once per push
  /// Primaries lost and replaced: a backup promoted, or (shards_restored of
  /// them) a copy restored from a checkpoint, which lost the updates since.
  std::uint32_t shards_failed_over = 0;
  std::uint32_t shards_restored = 0;
  std::uint64_t pushes_resent = 0;       ///< pushes workers resent to a promoted backup
  std::uint32_t workers_replaced = 0;    ///< lost workers whose partition a replacement took over
  std::int64_t resumed_from_clock = -1;  ///< the checkpoint's clock when resumed; -1 otherwise
  std::string output_dir;
  std::string eval_report;  ///< the final evaluation's workload report (may be empty)
  bool regression = false;  ///< test_loss is an RMSE, test_mae is set, no accuracy
  double test_mae = 0;
  /// With a validation set: the best validation loss, the epoch (1-based)
  /// and clock it was seen at; -1 without one.
  double best_val_loss = -1;
  std::int32_t best_epoch = -1;
  std::int64_t best_clock = -1;
  bool stopped_early = false;  ///< early stopping ended the job before its last epoch
  /// What predicting without features scores on the test set: the majority
  /// class's accuracy, or the training mean's RMSE; -1 when not computed.
  double baseline = -1;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_summary& x) {
  return f(x.test_accuracy, x.test_loss, x.samples_per_s, x.wall_s, x.epochs, x.time_to_target_s,
           x.epoch_of_target, x.steps, x.wait_fraction, x.compute_fraction, x.pull_fraction,
           x.push_fraction, x.mean_staleness, x.staleness_p50, x.staleness_p99, x.max_staleness,
           x.target_clock, x.pushes_rejected, x.pushes_applied, x.pushes_acked,
           x.shards_failed_over, x.pushes_resent, x.workers_replaced, x.resumed_from_clock,
           x.output_dir, x.eval_report, x.regression, x.test_mae, x.best_val_loss, x.best_epoch,
           x.best_clock, x.stopped_early, x.baseline, x.shards_restored);
}

}  // namespace troupe
