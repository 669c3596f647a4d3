#pragma once
// The worker actor: owns a data partition, a model replica and a backend.
//
//   [idle] --start--> [wait clock] --min clock--> [pulling] --all replies-->
//   [computing] --> [pushing] --all acks, clock+1--> [wait clock] ...
//   ... partition exhausted: epoch(e) to the scheduler; after the last epoch
//   done(id) and the actor exits. Any failed request: fail(id, why).
//
// Waiting on the staleness bound is a pending request to the scheduler, not
// a busy loop: the actor sleeps until the scheduler answers.

#include <caf/fwd.hpp>

#include <chrono>
#include <memory>
#include <vector>

#include "actors/protocol.hpp"
#include "engine/dataset.hpp"
#include "engine/model.hpp"
#include "engine/partitioner.hpp"
#include "kernels/backend.hpp"

namespace troupe {

struct worker_config {
  std::uint32_t id = 0;
  std::uint32_t partitions = 1;  ///< number of data partitions (workers)
  std::uint32_t epochs = 1;
  std::uint32_t batch = 64;
  std::uint64_t seed = 42;
  std::uint32_t log_every = 100;
  kernels::backend_kind backend = kernels::backend_kind::cpu;
  mlp_spec model;
  std::uint32_t table = 0;            ///< id of the dense model table
  std::vector<key_range> ranges;      ///< key range of each shard
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds clock_timeout{600000};  ///< waiting on slow peers is legitimate
};

worker_actor spawn_worker(caf::actor_system& sys, worker_config cfg,
                          std::shared_ptr<const dataset> train, std::vector<shard_actor> shards,
                          scheduler_actor scheduler);

}  // namespace troupe
