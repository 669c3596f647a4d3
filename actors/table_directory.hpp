#pragma once
// The table directory of a service engine (include/troupe/engine.hpp): the
// one actor a remote client connects to. It proves the cluster secret the
// way a node daemon does (hello/auth are delegated to the engine's node
// actor, so the client's CAF node is admitted by the same peer_guard the
// shards consult), then tells the client what the engine serves.
//
//   client                            directory                node (private)
//     |-- hello ------------------------>|-- delegate ------------>|
//     |<------------------------------------------------ nonce ---|
//     |-- auth(proof, nonce) ----------->|-- delegate ------------>|
//     |<------------------------------------------- node proof ---|
//     |-- directory -------------------->|  sender's node admitted?
//     |<----- directory_info (tables,    |    no: error bad_config
//     |       shard handles, client id) -|
//
// Each directory answer carries a fresh client id, so that the pushes of
// different clients never share (worker, seq) pairs on a shard.
//
// Clock groups (client::advance_clock): the directory also keeps the SSP
// clocks of its clients' own training loops. A member reports the number of
// steps it has finished; the answer waits until the slowest member is
// within the group's bound:
//
//   member m                         directory
//     |-- clock(group, m, n, s, c, -->|  clocks[m] = max(clocks[m], c)
//     |         session)              |  monitors `session`: its end = m leaves
//     |<------------ min clock -------|  once c - min(clocks) <= s
//     |-- leave(group, m) ----------->|  m no longer counts; waiters re-checked

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <memory>
#include <vector>

#include "actors/node.hpp"
#include "actors/protocol.hpp"
#include "engine/store/table.hpp"

namespace troupe {

using directory_atom = caf::atom_constant<caf::atom("directory")>;
using leave_atom = caf::atom_constant<caf::atom("leave")>;

/// What a client needs to talk to the shards itself.
struct directory_info {
  std::uint32_t client_id = 0;
  std::vector<table_spec> tables;  ///< ids are the wire table ids
  std::vector<shard_actor> shards;
  /// The engine's peer timeout: a remote client needs the same.
  std::int64_t peer_timeout_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, directory_info& x) {
  return f(x.client_id, x.tables, x.shards, x.peer_timeout_ms);
}

using directory_actor = caf::typed_actor<
    caf::replies_to<hello_atom>::with<std::string>,
    caf::replies_to<auth_atom, std::string, std::string>::with<std::string>,
    caf::replies_to<directory_atom>::with<directory_info>,
    // group, member, members, staleness (-1: none), steps done, the
    // member's client session -> the slowest member's steps
    caf::replies_to<clock_atom, std::string, std::uint32_t, std::uint32_t, std::int64_t,
                    std::int64_t, caf::actor>::with<std::int64_t>,
    // group, member, the member's client session -> whether it was in
    caf::replies_to<leave_atom, std::string, std::uint32_t, caf::actor>::with<bool>>;

/// `node` answers the handshake; `guard` (null: everyone, in-process only)
/// decides who may read the directory. `info.client_id` is ignored, and
/// `info.peer_timeout_ms` is set from `sys`.
directory_actor spawn_table_directory(caf::actor_system& sys, directory_info info, node_actor node,
                                      std::shared_ptr<const peer_guard> guard);

/// Registers "troupe.directory_info" and "troupe.table_specs".
void register_directory_types(caf::actor_system_config& cfg);

}  // namespace troupe
