#pragma once
// The parameter shard actor.
//
//        push(PushRequest) --> [ serving ] --> PushAck | error (nothing applied)
//        pull(PullRequest) --> [ serving ] --> PullReply | error
//        stats             --> [ serving ] --> shard_stats
//
// A shard has a single state: it serves until it is told to exit. Bad
// requests are answered with an error, counted and logged; they never stop it.

#include <caf/fwd.hpp>

#include <memory>
#include <vector>

#include "actors/host_context.hpp"
#include "actors/protocol.hpp"
#include "engine/store/partitioner.hpp"
#include "engine/store/shard_store.hpp"
#include "engine/store/table.hpp"

namespace troupe {

/// One table slice a shard is to own (spec, dense key range, sparse shard
/// count): what its checkpoints must hold (check_layout) too.
using shard_table = slice_layout;

/// Where a shard runs. `io`: on the middleman's I/O thread, which answers a
/// request from another process without waking a second thread each way
/// (about half the round trip of a small push or pull). Only for shards
/// whose work per request is small: while one applies a push or writes a
/// checkpoint, no other socket of the process is read or written.
enum class shard_thread { scheduler, io };

/// On node daemons `ctx` restricts requests to authenticated peers and
/// counts pushes and pulls; empty in a single process.
shard_actor spawn_shard(caf::actor_system& sys, std::uint32_t shard_id,
                        std::vector<shard_table> tables, host_context ctx = {},
                        shard_thread thread = shard_thread::scheduler);

}  // namespace troupe
