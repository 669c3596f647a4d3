#pragma once
// Pipeline stages (model parallelism): one actor per contiguous run of an
// MLP's layers. A replica of the model is a chain of S stages; stage 0, the
// head, is the replica's worker in the scheduler's eyes (one clock, one
// progress stream, epoch and done), so W replicas x S stages compose with
// data parallelism and the staleness bound unchanged.
//
//   scheduler      head (stage 0)            stage 1 ... stage S-1 (last)
//     |<-- clock(c) --|
//     |-- min clock ->| next batch; pull own key slice
//     |               |-- fwd(Activations m=0) -->| (first fwd of step c: pull slice)
//     |               |-- fwd(m=1) ... fwd(M-1) ->| forward, pass on ... last:
//     |               |                           | loss, backward at once
//     |               |<-- bwd(ActivationGrads m)-| ... backward, pass back
//     |               | all M backwards: push own slice's gradient to the shards
//     |               |<-- stepped(s, c, report) -| (after its pushes are acked)
//     |<- progress ---| all S stepped: clock c+1 (every log_every: progress)
//     |<- epoch/done -|
//
// States of a stage: [unwired] --wire--> [idle] --first fwd of step c /
// clock granted (head)--> [pulling] --slice pulled--> [running] (fwd/bwd in
// mailbox order; forwards that arrived while pulling are queued)
// --M backwards--> [pushing] --acks--> stepped --> [idle].
//
// The head sends all M forwards of a step without waiting for backwards
// (GPipe order); each stage is a detached actor, so stage s works on
// micro-batch m while stage s-1 computes m+1. Stages are linked along the
// chain: any stage failing ends the replica, and the scheduler (which
// monitors every stage) ends the job. Labels travel with the activations, so
// only the head reads the data partition. In cluster mode the scheduler
// places the stages on node daemons (stage_request) and wires them with
// wire_stages; activations then cross nodes as the same Cap'n Proto bytes.

#include <caf/fwd.hpp>

#include <chrono>
#include <memory>
#include <vector>

#include "actors/protocol.hpp"
#include "actors/worker.hpp"
#include "engine/job_config.hpp"
#include "engine/workloads/workload_factory.hpp"

namespace troupe {

using fwd_atom = caf::atom_constant<caf::atom("fwd")>;
using bwd_atom = caf::atom_constant<caf::atom("bwd")>;
using stepped_atom = caf::atom_constant<caf::atom("stepped")>;
using wire_atom = caf::atom_constant<caf::atom("wire")>;

using stage_actor =
    caf::typed_actor<caf::reacts_to<start_atom>,                                // head: train
                     caf::reacts_to<repoint_atom, std::uint32_t, shard_actor>,  // head passes it on
                                                                                // down the chain
                     // previous stage, next stage, head (invalid where there is none)
                     caf::reacts_to<wire_atom, caf::actor, caf::actor, caf::actor>,
                     caf::reacts_to<fwd_atom, bytes>,  // Activations (schemas/pipeline.capnp)
                     caf::reacts_to<bwd_atom, bytes>,  // ActivationGrads
                     // stage s finished step c: its loss (last stage), compute seconds, pushes
                     caf::reacts_to<stepped_atom, std::uint32_t, std::int64_t, worker_progress>,
                     // to itself, every second while it waits for a lost shard's backup
                     caf::reacts_to<tick_atom>>;

/// Why a stage ends when a neighbour's node is lost (a peer_lost error
/// with this text): the replica is re-placed because of the neighbour.
constexpr const char* neighbour_lost = "a neighbour stage's node was lost";

struct stage_config {
  std::uint32_t stage = 0;
  worker_config worker;  ///< the replica: id (its clock id), partition, job, timeouts
};

/// `data` may be null for every stage but the head. On node daemons `ctx`
/// restricts who may message the stage (as for workers); empty in one process.
stage_actor spawn_stage(caf::actor_system& sys, stage_config cfg,
                        std::shared_ptr<const workload_data> data, std::vector<shard_actor> shards,
                        scheduler_actor scheduler, host_context ctx = {});

/// Tells each stage of one replica, in order, its neighbours and its head,
/// as `sender` (the scheduler). The stages may live on different nodes.
void wire_stages(const std::vector<stage_actor>& stages, const caf::actor& sender);

/// Spawns the job's `stages` stages of replica `cfg.id` in this process and
/// wires them; the first is the head, which the scheduler starts like a
/// worker. The caller monitors them all: a stage may fail while starting.
std::vector<stage_actor> spawn_pipeline(caf::actor_system& sys, const worker_config& cfg,
                                        std::shared_ptr<const workload_data> data,
                                        const std::vector<shard_actor>& shards,
                                        const scheduler_actor& scheduler);

}  // namespace troupe
