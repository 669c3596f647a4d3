#pragma once
// Internal to actors/scheduler*.cpp, not a public header: the scheduler
// actor's state and the functions its files share (see scheduler.hpp for
// the protocol). The scheduler is split by concern:
//   scheduler.cpp            the behavior, clocks, progress, evaluation,
//                            checkpoints, the summary and shutdown;
//   scheduler_placement.cpp  starting a job: shards, evaluator, workers and
//                            pipelines, in this process or on node daemons;
//   scheduler_recovery.cpp   what happens when a shard, worker, pipeline
//                            stage or node goes down;
//   scheduler_shard_recovery.cpp  shard backups, promotions and restores.
//
//   auto self = ...;  // a scheduler_pointer, inside the behavior
//   start_job(self);  // placement; every error ends in abort_job(self, why)

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actors/cluster_types.hpp"
#include "actors/scheduler.hpp"
#include "actors/shard.hpp"
#include "actors/stage_actor.hpp"
#include "engine/clock_table.hpp"
#include "engine/early_stopping.hpp"
#include "engine/log_histogram.hpp"
#include "engine/metrics_log.hpp"

namespace troupe {
class compute_pool;
}

namespace troupe::scheduler_detail {

using clock_type = std::chrono::steady_clock;

struct waiting_worker {
  std::uint32_t worker;
  std::int64_t clock;
  caf::typed_response_promise<std::int64_t> promise;
};

// Sums over an interval of progress reports (one progress line).
struct interval_totals {
  std::uint64_t samples = 0, correct = 0;
  double loss_sum = 0, busy_s = 0, wait_s = 0, compute_s = 0, pull_s = 0, push_s = 0;
  std::uint32_t reports = 0;
  clock_type::time_point start = clock_type::now();

  /// Samples per second over the interval. Each report covers one worker's
  /// time since its last one; at the end of a job the last reports arrive
  /// together, microseconds after the previous line: then their mean
  /// period, not that gap, is the span.
  double samples_per_s(clock_type::time_point now) const {
    const double span = std::max(std::chrono::duration<double>(now - start).count(),
                                 reports > 0 ? busy_s / reports : 0.0);
    return span > 0 ? static_cast<double>(samples) / span : 0.0;
  }
};

// Cluster mode with [model] stages: where each stage of each replica lives.
struct placed_stage {
  static constexpr std::size_t in_process = static_cast<std::size_t>(-1);
  std::uint32_t replica = 0, stage = 0;
  std::size_t node = 0;  // in_process: one-process mode
  stage_actor handle;
};

// An evaluation to ask the evaluator for: of `epoch` (0-based), wanted when
// the slowest worker was at min_clock. (Its time is taken when it is sent.)
struct queued_eval {
  std::uint32_t epoch = 0;
  bool epoch_end = true;
};

struct scheduler_state {
  job_config job;
  std::shared_ptr<const workload_data> data;
  std::vector<node_actor> nodes;                            // empty: everything in this process
  caf::actor lease_keeper;                                  // renews this job's leases on the nodes
  caf::actor timer;                                         // delays (actors/timer.hpp)
  std::map<std::uint32_t, shard_actor> backup_in_progress;  // spawned, not yet in sync
  // Shard k's backup, and its node, waiting to answer before its promotion.
  std::map<std::uint32_t, std::pair<shard_actor, std::size_t>> promoting;
  std::set<std::uint32_t> restoring;  // shards coming back from their checkpoints
  std::set<std::size_t> dead_nodes;   // indices into nodes
  // Requests to a node or its actors not yet answered, per node index: their
  // failure handlers (scheduler_node_requests.hpp), which its loss runs at once.
  std::map<std::size_t, std::map<std::uint64_t, std::function<void(caf::error&)>>> pending_requests;
  std::uint64_t request_ids = 0;
  std::map<std::uint32_t, std::uint32_t> partition;  // worker id -> data partition
  std::map<std::uint32_t, std::size_t> node_of;      // worker id -> node index (cluster)
  std::vector<shard_actor> backups;                  // per shard; invalid: none
  std::map<std::uint32_t, std::size_t> shard_node, backup_node;  // node index per copy
  // Where the first backups go, chosen (and their slots reserved) before placement.
  std::map<std::uint32_t, std::size_t> backup_plan;
  std::optional<resume_point> resume;
  std::shared_ptr<metrics_exporter> exporter;         // `troupe train --metrics`; may be null
  std::map<std::uint32_t, std::int64_t> start_clock;  // worker id -> clock it started at
  std::string checkpoint_dir;          // absolute: shards on other nodes write there too
  std::int64_t next_checkpoint = 0;    // min clock of the next checkpoint
  std::uint64_t checkpoint_round = 0;  // the latest round started
  // A shard came back from a checkpoint during the job: its table versions
  // went back by the pushes lost, so they no longer count steps
  // (evaluation_clock).
  bool versions_rewound = false;
  // A resumed job: the table versions its shards were restored with (not
  // this run's pushes), and where its metrics' time axis goes on from.
  std::map<std::uint32_t, std::uint64_t> restored_version;
  double time_offset_s = 0;
  // What the data is (data_signature), for the progress files.
  std::string data_signature;
  // Shards yet to write the current round; empty: no round under way.
  std::set<std::uint32_t> checkpoint_waiting;
  std::vector<shard_actor> shards;
  std::vector<worker_actor> workers;
  std::map<caf::actor_addr, placed_stage> stages;  // pipeline stages (not local heads), monitored
  evaluator_actor evaluator;
  std::unique_ptr<clock_table> clocks;
  std::vector<waiting_worker> waiting;
  std::shared_ptr<compute_pool> pool;                // in-process workers beyond 2 per thread
  std::int64_t told_min_clock = 0;                   // the slowest clock last sent to the workers
  std::set<std::uint32_t> running;                   // workers not yet done
  std::map<std::uint32_t, std::int64_t> last_epoch;  // live worker -> last epoch it finished
  // Live worker -> the epochs it had finished when placed, and the clock at
  // which it finished each one since: what a checkpoint at clock C records
  // as the epoch a resumed job starts from.
  std::map<std::uint32_t, std::int64_t> epoch_base;
  std::map<std::uint32_t, std::vector<std::int64_t>> epoch_end_clocks;
  // Live worker -> the clock its first epoch here would have begun at: its
  // start clock, less the batches it skipped as a replacement. With the
  // epoch ends, it tells how far into its epoch a lost worker was.
  std::map<std::uint32_t, std::int64_t> epoch_start;
  std::map<std::uint32_t, std::uint64_t> skip_batches;  // replacement -> batches it skips
  // A checkpoint every shard wrote, whose progress file waits until every
  // live worker is past its clock (an epoch that ended at that very clock is
  // reported after it). -1: none.
  std::int64_t progress_pending = -1;
  std::uint32_t next_eval = 0;            // first epoch not yet evaluated
  std::int64_t next_eval_clock = 0;       // eval_every: next min clock to evaluate at
  std::uint32_t evals_pending = 0;        // asked or queued
  std::deque<queued_eval> evals_queued;   // waiting for the one asked
  std::optional<queued_eval> eval_asked;  // the one asked
  // Workers that finished an epoch while the evaluation of an earlier one
  // had not been scored: they begin their next epoch once it has (epoch,
  // the reply that lets them).
  std::vector<std::pair<std::uint32_t, caf::typed_response_promise<bool>>> epoch_holds;
  // The slowest clock over time (elapsed s, clock), while an evaluation is
  // under way: its row takes the clock of when its pulls were answered.
  std::deque<std::pair<double, std::int64_t>> clock_history;
  double eval_sent_s = 0;  // when the evaluation in flight was asked

  /// The slowest live worker's clock (the last finished one's when none runs).
  std::int64_t slowest_clock() const {
    return clocks->size() ? clocks->min_clock() : finished_clock;
  }
  caf::typed_response_promise<job_summary> run_promise;
  std::unique_ptr<metrics_log> metrics;
  clock_type::time_point start;
  job_summary summary;
  interval_totals interval, total;
  double staleness_sum = 0;
  std::uint64_t pushes = 0;                      // acknowledged, as progress reports say
  std::map<std::uint32_t, std::uint64_t> acked;  // worker id -> its latest clock's count
  log_histogram staleness_hist;
  std::int64_t finished_clock = 0;   // largest clock of a finished worker
  std::uint64_t finished_steps = 0;  // steps of finished workers
  bool placed = false;               // launch() ran: every actor of the job was placed
  bool finishing = false;            // collecting shard statistics
  // While finishing: the shards whose counters are not in yet, and the copy
  // asked (a promoted or restored copy is asked again).
  std::map<std::uint32_t, shard_actor> counters_asked;
  bool finished = false;
  // Users' models: metric names, and model selection on a validation set.
  bool regression = false;       // RMSE/MAE rather than accuracy/log-loss
  early_stopping validation{0};  // [train] early_stopping, the best validation loss
  eval_result best;              // the evaluation of the best validation loss
  // keep_best: the best/ checkpoint round under way (a shard replaced
  // meanwhile is asked again); `waiting` empty: none.
  struct best_checkpoint_round {
    std::int64_t clock = 0;
    std::uint32_t epoch = 0;  // 0-based
    double val_loss = 0;
    double test_accuracy = 0, test_loss = 0, test_mae = 0;  // what the summary reports of it
    std::uint64_t held_round = 0;  // the evaluation round the shards hold the state of
    std::map<std::uint32_t, std::uint64_t> waiting;  // shard -> the ask it waits for
    std::uint64_t asks = 0;                          // asks made, the last one's id
  } best_round;
  std::uint32_t stop_epoch = 0;  // early stopping: the epoch (1-based) it stopped in
  static inline const char* name = "troupe.scheduler";

  /// Whether shard k's lost primary is being replaced (a backup promoted, a
  /// checkpoint restored): its successor will be asked what it did not answer.
  bool replacing(std::uint32_t k) const { return promoting.count(k) || restoring.count(k); }
};

using scheduler_pointer = scheduler_actor::stateful_pointer<scheduler_state>;

// scheduler.cpp

// Logs `why`, answers the run request with it and ends every actor of the job
// (once: later calls do nothing).
// Ends the job with `why`; `code` peer_lost for a loss of nodes it cannot
// survive (troupe train exits 4 then: trying again later may work).
void abort_job(scheduler_pointer self, const std::string& why, errc code = errc::stopped);
// Ends the job once all workers are done and every evaluation is in.
void maybe_finish(scheduler_pointer self);
// Shard k has a new primary (a promoted backup or a restored checkpoint):
// a checkpoint round the lost copy had not written ends, and while the job
// is finishing the new copy gives the counters the lost one did not.
void shard_replaced(scheduler_pointer self, std::uint32_t k);
void release_waiting(scheduler_pointer self);

// scheduler_validation.cpp

// "test accuracy 87.12% (log-loss 0.3601)" or "test RMSE 0.8712 (MAE 0.6701)".
std::string describe_metrics(const char* set, bool regression, double accuracy, double loss,
                             double mae);
// Early stopping in `epoch` (0-based): the workers stop, the job finishes.
void stop_early(scheduler_pointer self, std::uint32_t epoch);
// keep_best: every shard checkpoints the parameters the evaluation read into
// best/. `held_round`: the evaluation round whose state the shards hold (0: none).
void checkpoint_best(scheduler_pointer self, std::int64_t clock, std::uint32_t epoch,
                     double val_loss, std::uint64_t held_round);
// A resumed job: the target, early-stopping and best-model state of the
// evaluations it keeps from the interrupted run, and its time axis.
void restore_history(scheduler_pointer self);
// Shard k was replaced: its new copy writes its part of the best/ round
// under way, if the lost one had not.
void best_checkpoint_shard_replaced(scheduler_pointer self, std::uint32_t k);

// scheduler_placement.cpp

// Node index for actor i of a kind placed on `chosen` (all nodes when empty).
std::size_t place(const std::vector<std::uint32_t>& chosen, std::size_t nodes, std::size_t i);
// The slots the job takes on each node when placed (a node listed twice:
// all of them on its first index).
std::vector<std::uint32_t> slots_needed(const scheduler_state& st);
// The compute pool of this process's workers, or null when it needs none.
std::shared_ptr<compute_pool> local_compute_pool(scheduler_pointer self);
// The slices of every table that shard k of `job` holds.
std::vector<shard_table> shard_slices(const job_config& job, std::uint32_t k);
worker_request make_worker_request(scheduler_pointer self, std::uint32_t id,
                                   std::uint32_t start_epoch, std::int64_t start_clock);
using head_ready = std::function<void(worker_actor head, const std::string& where)>;
// Pipeline replica w, stage s on node where[s]; `ready` gets the wired head.
// A stage that cannot be placed ends the job, or, when its node was lost
// and `node_lost` is given, hands that the reason (the chain stops unused).
void place_pipeline(scheduler_pointer self, std::uint32_t w, std::uint32_t epoch,
                    std::int64_t clock, const std::vector<std::size_t>& where, head_ready ready,
                    std::function<void(const std::string&)> node_lost = {});
// One process: worker `cfg.id`, or its pipeline (whose non-head stages are
// monitored and kept in `stages`); returns the worker or head, to monitor.
worker_actor spawn_local_replica(scheduler_pointer self, const worker_config& cfg);
// `run`: places (or spawns) the shards, then the evaluator and the workers,
// then starts them; on resume, the shards first restore their checkpoints.
void start_job(scheduler_pointer self);

// scheduler_recovery.cpp, scheduler_shard_recovery.cpp

// Tells `primary` that its backup is gone: it acknowledges the pushes it
// held for that backup's acks, and forwards nothing more.
void let_backup_go(scheduler_pointer self, const shard_actor& primary);
// A backup of shard k on another live node; `then` runs once it is in sync,
// or once none could be made (the job then runs without one).
void make_backup(scheduler_pointer self, std::uint32_t k, std::function<void()> then,
                 int attempts = 2);
// Chooses the node of each shard's first backup (into backup_plan and
// backup_node), once every shard_node is known: the slots a job reserves
// before placement are the ones make_backup then takes.
void plan_backups(scheduler_pointer self);
// The down handler: a lost node, stage, worker, shard, backup or evaluator.
void on_down(scheduler_pointer self, const caf::down_msg& dm);

// scheduler_shard_recovery.cpp (make_backup above lives there too)

// Shard k's primary is lost (`why`): its backup is promoted once it answers,
// else the shard is restored from its checkpoint (or the job ends).
void fail_over(scheduler_pointer self, std::uint32_t k, const std::string& why);
// Promotions waiting for a backup whose node is now known lost end at once.
void check_promotions(scheduler_pointer self);

}  // namespace troupe::scheduler_detail
