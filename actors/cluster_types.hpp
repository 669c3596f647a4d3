#pragma once
// Message types of the cluster protocol (node daemon, remote placement) and
// their registration. Plain structs with `inspect`, like actors/messages.hpp;
// `register_cluster_types` adds them to an actor_system_config under the same
// names on every node.
//
//   node_actor:  spawn(shard_request) -> shard_actor,  status -> node_status
//                spawn(worker_request) -> worker_actor, spawn(stage_request) -> stage_actor
//
// Also gives the engine's table types an `inspect`, so that a scheduler can
// ship table specs to the node that is to host a shard.

#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "actors/actor_config.hpp"
#include "actors/shard.hpp"
#include "engine/store/optimizer.hpp"
#include "engine/store/partitioner.hpp"
#include "engine/store/table.hpp"

namespace troupe {

// --- engine types on the wire -------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, optimizer_spec& x) {
  return f(x.kind, x.learning_rate, x.momentum, x.beta1, x.beta2, x.epsilon, x.weight_decay);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, update_rule_spec& x) {
  return f(x.kind, x.dc_lambda, x.clip_norm, x.min_staleness, x.warmup_pushes, x.half_life_pushes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, init_segment& x) {
  return f(x.end, x.bound);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, table_spec& x) {
  return f(x.id, x.name, x.kind, x.size, x.width, x.init, x.row_init_bound, x.seed, x.max_rows,
           x.max_row_id, x.optimizer, x.update);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_range& x) {
  return f(x.begin, x.end);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_table& x) {
  return f(x.spec, x.range, x.shards);
}

// --- node daemon messages -----------------------------------------------------

/// Asks a node to host parameter shard `shard` owning `tables`.
struct shard_request {
  std::uint32_t shard = 0;
  std::vector<shard_table> tables;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_request& x) {
  return f(x.shard, x.tables);
}

/// One actor a node hosts.
struct hosted_actor {
  std::string kind;      ///< "shard", "worker" or "stage"
  std::uint32_t id = 0;  ///< shard or worker id; a stage: replica x stages + stage
  std::string owner;     ///< node id of the peer that placed it
  double age_s = 0;      ///< seconds since it was spawned
  std::string job;       ///< the scheduler whose lease holds it ("ACTOR_ID@NODE_ID")
  bool ending = false;   ///< told to exit (its job ended), not gone yet
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hosted_actor& x) {
  return f(x.kind, x.id, x.owner, x.age_s, x.job, x.ending);
}

/// What `troupe status` shows about a node daemon.
/// Asks a node to host worker `worker` of a job, given as the job's TOML
/// (engine/job_config.hpp's to_toml), the job's shards and its scheduler.
/// The node loads the job's data set itself (once per data set).
struct worker_request {
  std::string job_toml;
  std::uint32_t worker = 0;     ///< worker id (replacements get new ids)
  std::uint32_t partition = 0;  ///< data partition, < the job's workers
  std::uint32_t start_epoch = 0;
  std::int64_t start_clock = 0;
  std::vector<shard_actor> shards;
  scheduler_actor scheduler;
  std::uint64_t skip_batches = 0;  ///< worker_config::skip_batches
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_request& x) {
  return f(x.job_toml, x.worker, x.partition, x.start_epoch, x.start_clock, x.shards, x.scheduler,
           x.skip_batches);
}

/// Asks a node to host stage `stage` of pipeline replica `replica` (model
/// parallelism, `[model] stages`). The scheduler wires the replica's stages
/// into a chain afterwards (stage_actor's `wire`). Only the head (stage 0)
/// reads the job's data; later stages get the labels with the activations,
/// so their nodes load nothing.
struct stage_request {
  std::string job_toml;
  std::uint32_t replica = 0;    ///< the replica's worker id (its clock id)
  std::uint32_t partition = 0;  ///< data partition of the replica, < the job's workers
  std::uint32_t stage = 0;      ///< < stages
  std::uint32_t stages = 0;     ///< must equal the job's [model] stages
  std::uint32_t start_epoch = 0;
  std::int64_t start_clock = 0;
  std::vector<shard_actor> shards;
  scheduler_actor scheduler;
  std::uint64_t skip_batches = 0;  ///< the head's: worker_config::skip_batches
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stage_request& x) {
  return f(x.job_toml, x.replica, x.partition, x.stage, x.stages, x.start_epoch, x.start_clock,
           x.shards, x.scheduler, x.skip_batches);
}

struct node_status {
  std::string name;     ///< --name, default: host name
  std::string address;  ///< HOST:PORT the node listens on
  std::string node_id;  ///< CAF node id (HASH#PID)
  std::uint32_t slots_total = 0;
  std::uint32_t slots_used = 0;
  std::uint32_t slots_reserved = 0;  ///< set aside for jobs being placed (not yet used)
  std::vector<hosted_actor> actors;
  double uptime_s = 0;
  std::uint64_t peers = 0;              ///< nodes authenticated right now
  std::uint64_t auth_ok = 0;            ///< successful authentications
  std::uint64_t auth_failed = 0;        ///< wrong or missing proofs
  std::uint64_t requests_rejected = 0;  ///< unauthenticated, invalid or over the slot limit
  std::uint64_t actors_spawned = 0;
  std::uint64_t actors_down = 0;     ///< hosted actors that ended (slot freed)
  std::uint64_t jobs = 0;            ///< jobs (schedulers) holding a lease now
  std::uint64_t jobs_released = 0;   ///< jobs whose scheduler ended or lease expired
  std::uint64_t leases_expired = 0;  ///< of those, released because not renewed
  // Traffic of the hosted actors since the node started.
  double pushes = 0;
  double pulls = 0;
  double bytes_in = 0;
  double bytes_out = 0;
  double staleness_waits = 0;
  std::int64_t peer_timeout_ms = 0;       ///< a job's processes need the same
  std::uint64_t connections_refused = 0;  ///< by the listener: garbage, silence, TLS failures
  std::string credentials;                ///< node_options::credentials
  std::vector<std::string> models;        ///< model kinds it can host (plugins' included)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_status& x) {
  return f(x.name, x.address, x.node_id, x.slots_total, x.slots_used, x.actors, x.uptime_s, x.peers,
           x.auth_ok, x.auth_failed, x.requests_rejected, x.actors_spawned, x.actors_down, x.jobs,
           x.jobs_released, x.leases_expired, x.pushes, x.pulls, x.bytes_in, x.bytes_out,
           x.staleness_waits, x.peer_timeout_ms, x.slots_reserved, x.connections_refused,
           x.credentials, x.models);
}

/// Registers the cluster message types (and the typed handles they carry):
/// "troupe.shard_request", "troupe.worker_request", "troupe.stage_request",
/// "troupe.node_status", "troupe.shard_actor", "troupe.worker_actor",
/// "troupe.stage_actor", "troupe.node_ids".
void register_cluster_types(caf::actor_system_config& cfg);

/// A connection timeout of `peer_timeout` and heartbeats every tenth of it.
/// Every process that talks to a node daemon needs it: the daemon drops a
/// connection that stays silent that long.
///
/// CAF 0.17 dates a new connection's last message from the clock's epoch,
/// so a connection whose peer's handshake has not arrived by the next
/// heartbeat tick is dropped (actors/remote_connect.cpp asks again). Links
/// whose round trip is more than a fraction of the heartbeat cannot join: a
/// cluster over such links needs a longer `peer_timeout` on every process
/// (about 40 times the round trip), and detects a hung peer that much later.
void configure_cluster_timeouts(caf::actor_system_config& cfg,
                                std::chrono::milliseconds peer_timeout = default_peer_timeout);

/// The peer timeout `sys` was configured with (configure_cluster_timeouts;
/// 0, CAF's default of no timeout, where it was not).
std::chrono::milliseconds configured_peer_timeout(const caf::actor_system& sys);

/// How long connecting to a node and its handshake may take: 10 s, or the
/// peer timeout where that is longer (a link slow enough to need a long
/// peer timeout needs as long for the handshake's round trips).
std::chrono::milliseconds handshake_deadline(std::chrono::milliseconds peer_timeout);

}  // namespace troupe
