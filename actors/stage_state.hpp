#pragma once
// Internal to actors/stage_actor.cpp and actors/pipeline_head.cpp: the
// state of a pipeline stage actor (see stage_actor.hpp for the protocol).

#include <caf/all.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "actors/host_context.hpp"
#include "actors/push_outbox.hpp"
#include "actors/stage_actor.hpp"
#include "engine/data/batch_sampler.hpp"
#include "engine/log_histogram.hpp"
#include "engine/model/pipeline_stage.hpp"

namespace troupe::pipeline_detail {

using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

struct stage_state {
  stage_config cfg;
  std::vector<shard_actor> shards;
  scheduler_actor scheduler;
  stage_actor prev, next, head;  // invalid where there is none
  std::shared_ptr<const workload_data> data;
  std::unique_ptr<kernels::backend> be;
  std::unique_ptr<pipeline_stage> stage;
  std::uint32_t table_id = 0;
  std::uint64_t table_size = 0;
  std::uint32_t push_id = 0;  // unique per (replica, stage): the shards' seq streams
  std::vector<stage_exchange> plan;
  std::vector<std::uint64_t> pulled_version;  // per plan entry
  std::vector<std::uint64_t> seq;             // last seq sent, per shard
  // The step in progress.
  std::int64_t step = -1;
  bool pulled = false;
  std::deque<bytes> early;  // forwards that arrived while pulling
  std::uint32_t micro_batches = 0, backwards = 0;
  // Talking to the shards: a re-point redoes what is unanswered.
  enum class exchange { none, pulling, pushing } now = exchange::none;
  std::vector<bool> pull_done;        // per plan entry, this step
  std::size_t pending = 0;            // pulls unanswered
  push_outbox outbox;                 // this step's pushes, until acknowledged
  std::uint32_t timeout_retries = 0;  // this step's requests asked again after a timeout
  clock_type::time_point last_retry;
  worker_progress step_report;            // this step's loss (last stage), compute, pushes
  log_histogram staleness;                // of this step's acknowledged pushes
  clock_type::time_point exchange_start;  // of the step's pulls, then of its pushes
  double compute_s = 0;                   // whole run, for the utilisation log
  clock_type::time_point born = clock_type::now();
  bool failed = false;
  failover_wait failover;  // for a lost shard's backup, bounded
  host_context ctx;        // node daemons: who may message the stage
  // Head only: the data partition, the clock and what it reports.
  std::unique_ptr<batch_sampler> sampler;
  std::vector<float> x;
  std::vector<std::int32_t> y;
  std::size_t rows = 0;
  std::int64_t clock = 0;
  std::uint32_t epoch = 0;
  std::uint32_t stepped = 0;       // stages done with the step
  std::vector<double> stage_busy;  // compute seconds per stage
  worker_progress report;          // accumulates until sent
  log_histogram report_staleness;  // all stages' acknowledged pushes, until sent
  std::uint64_t acked = 0;         // all stages' acknowledgements, sent with every clock
  clock_type::time_point report_start;
  clock_type::time_point run_start;
  static inline const char* name = "troupe.stage";
};

using stage_pointer = stage_actor::stateful_pointer<stage_state>;

void fail(stage_pointer self, const std::string& what, const caf::error& err);
/// Pulls the stage's slice for step `step`; then the head streams its
/// forwards and other stages run the forwards that waited.
void begin_step(stage_pointer self, std::int64_t step);
/// The head's part: clocks, batches, forwards, stepped reports.
void head_start(stage_pointer self);
void head_after_pull(stage_pointer self);
void head_on_stepped(stage_pointer self, std::uint32_t stage, std::int64_t step,
                     const worker_progress& r);
/// A non-head stage's slice arrived: run the forwards that waited.
void run_early(stage_pointer self);
/// (Re)sends the step's unacknowledged pushes.
void send_pushes(stage_pointer self);
/// (Re)sends the step's unanswered pulls.
void send_pulls(stage_pointer self);
/// Shard `shard` was re-pointed at its backup: redo what is unanswered.
void redo_exchange(stage_pointer self, std::uint32_t shard);

}  // namespace troupe::pipeline_detail
