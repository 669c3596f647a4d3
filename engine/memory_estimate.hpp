#pragma once
// How much memory a job will take, estimated from its configuration before
// anything is allocated, and the check that refuses a job that would not fit
// (a batch of 2^20 images needs ~16 GB per worker: better a clear error at
// start than an OOM kill without a message).
//
//   const auto est = estimate_job_memory(job);
//   spdlog::info("{}", est.describe());
//   check_memory(job, est.in_process(), "this job", physical_memory_bytes());  // throws bad_config
//
// What is counted: per worker (or pipeline replica), the model's activation
// and gradient buffers for one batch (batch x the layer widths), the batch
// itself and a copy of the parameters and their gradients; the data set as
// loaded; the dense tables with their optimizer state, times the copies
// (replication), and with keep_best as much again, held by every copy from
// an evaluation until its checkpoint; the evaluator. Sparse tables grow with the rows
// training touches: counted only when `[model] max_rows` bounds them. An
// estimate, not an accounting: allocator overhead and libraries come on top.

#include <cstdint>
#include <string>

#include "engine/job_config.hpp"
#include "engine/physical_memory.hpp"

namespace troupe {

struct memory_estimate {
  std::uint64_t per_worker = 0;  ///< one worker, or one pipeline replica (all stages)
  std::uint32_t workers = 0;
  /// Workers of one process holding a step's buffers at once ([train]
  /// compute_slots; 0 there: all while 2 per thread or fewer, else 2 per
  /// thread): the rest hold only their parameters, `per_worker_idle`.
  std::uint32_t busy_workers = 0;
  std::uint64_t per_worker_idle = 0;
  std::uint64_t data = 0;    ///< the data set, once per process that loads it
  std::uint64_t tables = 0;  ///< all shards' values and optimizer state, one copy
  std::uint32_t copies = 1;  ///< primary + backups
  /// keep_best: each shard's state as an evaluation read it, held by its
  /// primary and backups until its checkpoint (the tables once more).
  std::uint64_t held = 0;
  std::uint64_t evaluator = 0;

  /// Everything, when the whole job runs in one process.
  std::uint64_t in_process() const;
  /// What the workers of one process need at most.
  std::uint64_t all_workers() const;
  /// What a node hosting one worker (and the data set it loads) needs.
  std::uint64_t worker_node() const { return per_worker + data; }
  /// "workers 2 x 16.4 GB (batch 1048576 x 3909 floats), data 0.2 GB, ..."
  std::string describe() const;
};

struct workload_data;

/// With `data`, the job's loaded data counts as it is (users' files too, not
/// only Fashion-MNIST) and the evaluator as sized for its test rows.
memory_estimate estimate_job_memory(const job_config& job, const workload_data* data = nullptr);

/// Throws troupe_error(bad_config) when `need` bytes exceed the job's
/// `[limits] memory_share` of `ram` bytes, naming `what`, the estimate's
/// parts and what to change. Nothing happens when `ram` is 0.
void check_memory(const job_config& job, std::uint64_t need, const std::string& what,
                  std::uint64_t ram, const memory_estimate* estimate = nullptr);

/// "16.4 GB", "512 MB", "3 KB".
std::string format_bytes(std::uint64_t bytes);

}  // namespace troupe
