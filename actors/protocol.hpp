#pragma once
// The actor protocols of Troupe as typed CAF interfaces. All worker <-> shard
// traffic is Cap'n Proto bytes (schemas/troupe.capnp), in one process and
// across nodes alike.
//
//   worker (step c)                shard                     scheduler
//     |   [pulls of c sent while c-1 computed, if c - min <= s]
//     |-- pull(PullRequest) ------>|
//     |<----------- PullReply -----|
//     |   forward / backward
//     |-- push(PushRequest) ------>| check, apply optimizer
//     |   [step c+1 starts when c+1 - min <= s; no waiting for acks]
//     |<------------- PushAck -----|
//     |-- advance(ClockAdvance) ----------------------------->| all pushes of
//     |                                                        | c acked: c+1
//     |<-------------------------------------- clock(min) ----| when min grows
//     |-- progress / epoch / done ---------------------------->| evaluates,
//                                                              | ends the job
// Pipeline heads still ask: clock(ClockAdvance) -> min clock, answered once
// c - min <= s.
// A request that fails (malformed, wrong size, non-finite, unknown table)
// is answered with a caf::error of category "troupe" (see errors.hpp).

#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "actors/wire_bytes.hpp"
#include "engine/wire/wire_codec.hpp"

namespace troupe {

using push_atom = caf::atom_constant<caf::atom("push")>;
using pull_atom = caf::atom_constant<caf::atom("pull")>;
using clock_atom = caf::atom_constant<caf::atom("clock")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using progress_atom = caf::atom_constant<caf::atom("progress")>;
using epoch_atom = caf::atom_constant<caf::atom("epoch")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using fail_atom = caf::atom_constant<caf::atom("fail")>;
using eval_atom = caf::atom_constant<caf::atom("eval")>;
using checkpoint_atom = caf::atom_constant<caf::atom("checkpoint")>;
using restore_atom = caf::atom_constant<caf::atom("restore")>;
using replica_atom = caf::atom_constant<caf::atom("replica")>;
using repoint_atom = caf::atom_constant<caf::atom("repoint")>;
using advance_atom = caf::atom_constant<caf::atom("advance")>;
using continue_atom = caf::atom_constant<caf::atom("cont")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using slot_atom = caf::atom_constant<caf::atom("slot")>;
using applied_atom = caf::atom_constant<caf::atom("applied")>;
using hold_atom = caf::atom_constant<caf::atom("hold")>;
using stage_atom = caf::atom_constant<caf::atom("stage")>;

/// A parameter shard: owns key ranges of tables and applies pushes.
using shard_actor =
    caf::typed_actor<caf::replies_to<push_atom, bytes>::with<bytes>,  // PushRequest -> PushAck
                     caf::replies_to<pull_atom, bytes>::with<bytes>,  // PullRequest -> PullReply
                     caf::replies_to<stats_atom>::with<shard_stats>,
                     // writes a checkpoint file (dir, job name, clock, evaluation round) -> its
                     // path: of the state held for that round (a pull's holdRound), 0: of the
                     // current one
                     caf::replies_to<checkpoint_atom, std::string, std::string, std::int64_t,
                                     std::uint64_t>::with<std::string>,
                     // replaces the shard's state by a checkpoint (engine/store/checkpoint.hpp
                     // bytes); true keeps the push sequence numbers (a replica), false forgets them
                     // (a resumed job, whose workers restart their counters)
                     caf::replies_to<restore_atom, bytes, bool>::with<std::uint64_t>,
                     // primary-backup: from now on every applied push is forwarded to this
                     // backup (a shard_actor; sent its current state first) before it is
                     // acknowledged; answered once the backup holds the state (an error, and
                     // no backup, if it refused); an invalid handle drops the backup
                     caf::replies_to<replica_atom, caf::actor>::with<bool>,
                     // from a primary to its backup (keep_best): keep table T as it is now
                     // for evaluation round R, as the primary did for the evaluator's pull.
                     // Sent after the forwards of every push applied before that pull, so
                     // a promoted backup writes the very state the evaluation scored
                     caf::reacts_to<hold_atom, std::uint32_t, std::uint64_t>>;

/// The scheduler: clocks, progress, evaluation, the job's end.
using scheduler_actor =
    caf::typed_actor<caf::replies_to<run_atom>::with<job_summary>,  // runs the job to its end
                     caf::replies_to<clock_atom, bytes>::with<std::int64_t>,  // ClockAdvance -> min
                                                                              // clock (stages)
                     caf::reacts_to<advance_atom, bytes>,  // ClockAdvance, no reply (workers)
                     caf::reacts_to<progress_atom, worker_progress>,  // periodic worker report
                     // worker finished an epoch; the reply lets it begin the next (held while
                     // the evaluation of an earlier epoch still waits to be scored)
                     caf::replies_to<epoch_atom, std::uint32_t, std::uint32_t>::with<bool>,
                     caf::reacts_to<done_atom, std::uint32_t>,  // worker finished all epochs
                     caf::reacts_to<fail_atom, std::uint32_t, std::string>>;  // worker gave up

/// A worker: trains on its partition once started.
using worker_actor =
    caf::typed_actor<caf::reacts_to<start_atom>,
                     // shard k's primary was lost: its backup now serves; resend what was in flight
                     caf::reacts_to<repoint_atom, std::uint32_t, shard_actor>,
                     // from the scheduler: the slowest worker completed this many steps
                     caf::reacts_to<clock_atom, std::int64_t>,
                     // to itself: go on after yielding the thread, or after a straggler delay
                     caf::reacts_to<continue_atom>,
                     // to itself, every second: requests past their deadline
                     caf::reacts_to<tick_atom>,
                     // from the process's compute pool: a slot is free (compute_pool.hpp)
                     caf::reacts_to<slot_atom>,
                     // from shard k's primary: a PushAck for a push it applied and
                     // forwarded to its backup (PushRequest.notifyApplied); the reply
                     // to the push follows once the backup has it; then the range's
                     // values when the push asked for them (PushRequest.pullAfter;
                     // a PullReply or its envelope, empty when none)
                     caf::reacts_to<applied_atom, std::uint32_t, bytes, bytes>>;

/// Pulls a snapshot of the parameters it needs and scores it on the test set.
using evaluator_actor = caf::typed_actor<caf::replies_to<eval_atom>::with<eval_result>,
                                         caf::reacts_to<repoint_atom, std::uint32_t, shard_actor>>;

}  // namespace troupe
