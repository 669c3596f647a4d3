#pragma once
// The evaluator actor: scores the current parameters on the test set.
//
//   eval --> [pulling: dense ranges and the test set's sparse rows from
//             every shard] --all replies--> [scoring] --> eval_result
//
// It runs on the cooperative scheduler (see spawn_evaluator for why not
// detached); an evaluation holds one scheduler thread for ~0.1 s.

#include <caf/fwd.hpp>

#include <memory>
#include <vector>

#include "actors/protocol.hpp"
#include "engine/job_config.hpp"
#include "engine/workloads/workload_factory.hpp"

namespace troupe {

evaluator_actor spawn_evaluator(caf::actor_system& sys, const job_config& job,
                                std::shared_ptr<const workload_data> data,
                                std::vector<shard_actor> shards);

}  // namespace troupe
