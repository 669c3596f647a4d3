#pragma once
// The scheduler actor: owns one job.
//
//   [created] --run--> spawns shards (key ranges of the model table), the
//   evaluator and workers (data partitions), in this process or on node
//   daemons (asynchronously: [placing] until every spawn is answered);
//   starts the workers
//   [running]: clock(c) from a worker is answered once c - min_clock <= s;
//              progress is printed and written to metrics.csv;
//              epoch(e) from every live worker -> pull a snapshot, evaluate
//   [finishing]: all workers done and evaluations in -> job_summary to the
//              run request; every actor of the job exits.
//   fail(worker, why), or a worker or shard going down -> the run request
//   gets the error and the job stops.

#include <caf/fwd.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/node.hpp"
#include "actors/protocol.hpp"
#include "engine/job_config.hpp"
#include "engine/metrics_history.hpp"
#include "engine/workloads/workload_factory.hpp"

namespace troupe {

class metrics_exporter;

/// Where a resumed job starts: every shard's checkpoint of `clock`, and the
/// epoch the workers resume (the one the slowest worker was in).
struct resume_point {
  std::int64_t clock = 0;
  std::uint32_t epoch = 0;
  std::vector<std::string> files;  ///< checkpoint of shard k at index k
  std::string data;                ///< the data it was trained on (data_signature); may be empty
  /// The evaluations of the epochs before `epoch` and where the time axis
  /// goes on: the target, early-stopping and best-model state is rebuilt
  /// from them (a resumed run started those afresh).
  metrics_history history;
};

/// With `nodes` empty, shards and workers are spawned in this process;
/// otherwise on the node daemons (the job's shard_nodes / worker_nodes
/// indices), which the caller has authenticated with.
scheduler_actor spawn_scheduler(caf::actor_system& sys, job_config job,
                                std::shared_ptr<const workload_data> data,
                                std::vector<node_actor> nodes = {},
                                std::optional<resume_point> resume = std::nullopt,
                                std::shared_ptr<metrics_exporter> metrics = nullptr);

}  // namespace troupe
