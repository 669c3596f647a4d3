#pragma once
// The worker actor: owns a data partition, a model replica (a workload) and
// a compute backend.
//
//   [idle] --start--> [wait clock] --min clock--> [pulling] --all replies-->
//   [computing] --> [pushing] --all acks, clock+1--> [wait clock] ...
//   ... partition exhausted: epoch(e) to the scheduler; after the last epoch
//   done(id) and the actor exits. Any failed request: fail(id, why).
//
// Waiting on the staleness bound is a pending request to the scheduler, not
// a busy loop: the actor sleeps until the scheduler answers. A worker keeps
// at most one pull and one push per (table, shard) in flight: a slow shard
// slows its workers down instead of letting messages pile up.

#include <caf/fwd.hpp>

#include <chrono>
#include <memory>
#include <vector>

#include "actors/host_context.hpp"
#include "actors/protocol.hpp"
#include "engine/job_config.hpp"
#include "engine/workloads/workload_factory.hpp"

namespace troupe {

class compute_pool;

struct worker_config {
  std::uint32_t id = 0;           ///< unique in the job (replacements get new ids)
  std::uint32_t partition = 0;    ///< data partition, < job.workers
  std::uint32_t start_epoch = 0;  ///< a replacement resumes its partition here
  std::int64_t start_clock = 0;
  /// A replacement: batches of its first epoch that the lost worker had
  /// finished. They are skipped, not trained twice.
  std::uint64_t skip_batches = 0;
  job_config job;  ///< epochs, batch, seed, model, stragglers, log_every, ...
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds clock_timeout{600000};  ///< waiting on slow peers is legitimate
  /// The process's compute pool when it runs more workers than its threads
  /// can keep busy (actors/compute_pool.hpp); null: no limit, prefetching.
  std::shared_ptr<compute_pool> pool;
};

/// On node daemons `ctx` restricts who may start the worker and counts its
/// waits, clock lag and requests in flight; empty in a single process.
worker_actor spawn_worker(caf::actor_system& sys, worker_config cfg,
                          std::shared_ptr<const workload_data> data,
                          std::vector<shard_actor> shards, scheduler_actor scheduler,
                          host_context ctx = {});

}  // namespace troupe
