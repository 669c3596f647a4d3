#pragma once
// The node daemon: one per process. It admits peers that prove they hold the
// cluster secret (engine/auth.hpp), hosts shards for them within a slot
// limit, and reports its state.
//
//   peer                                      node
//    |-- hello ------------------------------->|  challenge for the peer's node id
//    |<--------------------------------- nonce-|
//    |-- auth(proof, peer nonce) ------------->|  proof wrong or late:
//    |<------ error bad_config "authentication |    logged with the peer's node id
//    |        failed" -------------------------|
//    |<--------------------------- node proof -|  proof right: peer allowed in the
//    |   (peer checks the node holds it too)   |    peer_guard while the actor that
//    |                                         |    authenticated lives
//    |-- admit(node ids) --------------------->|  the other nodes of the peer's job
//    |<------------------------------ count ---|    may message hosted actors (until
//    |                                         |    the admitting session ends)
//    |-- spawn(shard_request) ---------------->|  slot free: spawn, monitor
//    |-- spawn(worker_request) --------------->|  loads the job's data (cached), spawns
//    |-- spawn(stage_request) ---------------->|  a pipeline stage; only the head
//    |                                         |    (stage 0) loads the data
//    |<------------------------- shard_actor --|  else error "all N slots in use"
//    |-- status ------------------------------>|
//    |<-------------------------- node_status -|
//    |-- lease(scheduler) every second ------->|  renews the job's lease (job_lease.hpp)
//    |<------------------------------- held? --|
//    |   spawn/status before auth ----------->|  error, logged, counted
//
//   hosted actor down ------------------> its slot is free again
//   a job's scheduler down, or its lease
//     not renewed in time --------------> every actor of that job told to exit
//   authenticating actor down ----------> peer revoked (after its last session)
//   exit from a local actor ------------> [draining]: spawns refused, hosted actors
//                                           told to exit; the node quits once they
//                                           are gone, or after the drain timeout
//   exit from a remote actor -----------> ignored and logged
//
// Hosting another kind of actor (workers) takes one request type in
// cluster_types.hpp, one `replies_to<spawn_atom, R>::with<H>` line in
// `node_actor`, and one handler in node.cpp that calls `host(...)`, the single
// place that checks slots, monitors and records what the node hosts.

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "actors/cluster_types.hpp"
#include "actors/protocol.hpp"
#include "actors/stage_actor.hpp"

namespace troupe {

class metrics_exporter;
class peer_guard;
class training_host;
class shared_memory;

using hello_atom = caf::atom_constant<caf::atom("hello")>;
using auth_atom = caf::atom_constant<caf::atom("auth")>;
using spawn_atom = caf::atom_constant<caf::atom("spawn")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using listening_atom = caf::atom_constant<caf::atom("listening")>;
using admit_atom = caf::atom_constant<caf::atom("admit")>;
using lease_atom = caf::atom_constant<caf::atom("lease")>;
using expire_atom = caf::atom_constant<caf::atom("expire")>;
using link_atom = caf::atom_constant<caf::atom("link")>;
using reserve_atom = caf::atom_constant<caf::atom("reserve")>;

/// hello -> nonce; auth(proof over the nonce, the peer's own nonce) -> the
/// node's proof over the peer's nonce; listening(address) is accepted from
/// local actors only: the owning process tells the node where it published it.
using node_actor = caf::typed_actor<
    caf::replies_to<hello_atom>::with<std::string>,
    caf::replies_to<auth_atom, std::string, std::string>::with<std::string>,
    caf::replies_to<spawn_atom, shard_request>::with<shard_actor>,
    caf::replies_to<spawn_atom, worker_request>::with<worker_actor>,
    caf::replies_to<spawn_atom, stage_request>::with<stage_actor>,
    // an authenticated peer vouches for the other nodes of its job, whose
    // peer timeout (ms) must be the node's own
    caf::replies_to<admit_atom, std::vector<caf::node_id>, std::int64_t>::with<std::uint64_t>,
    // connect straight to these nodes ("host:port") of the peer's job, so
    // that workers and shards there talk without a detour through the peer
    caf::replies_to<link_atom, std::vector<std::string>>::with<std::uint64_t>,
    caf::replies_to<status_atom>::with<node_status>,
    // sets aside this many slots for the sender's job (a scheduler) before
    // it places its actors, which then take them; 0 gives them back. The
    // reply is the number set aside, or no_capacity with what is free.
    caf::replies_to<reserve_atom, std::uint32_t>::with<std::uint32_t>,
    // renews the lease of this scheduler's job (from its own process)
    caf::replies_to<lease_atom, caf::actor>::with<bool>,
    // checks the leases; from the node itself only
    caf::reacts_to<expire_atom>, caf::reacts_to<listening_atom, std::string>>;

struct node_options {
  std::string name;                           ///< shown by `troupe status`
  std::string secret;                         ///< the cluster secret (load_secret)
  std::uint32_t slots = 4;                    ///< shards, workers and stages it may host
  std::shared_ptr<peer_guard> guard;          ///< filled on auth; null: a private one
  std::shared_ptr<metrics_exporter> metrics;  ///< may be null
  /// Hosts workers and pipeline stages (actors/training_host.hpp); null: the
  /// node hosts shards only and refuses training requests.
  std::shared_ptr<training_host> training;
  std::chrono::milliseconds challenge_ttl{10000};  ///< a nonce is good for one try within this
  std::size_t max_challenges = 256;  ///< pending handshakes kept (the oldest go first)
  /// A job's actors are released when its scheduler has not renewed its
  /// lease for this long (or at once when the scheduler is seen to end).
  std::chrono::milliseconds lease_timeout{10000};
  /// On a stop, the longest the node waits for its hosted actors to end.
  std::chrono::milliseconds drain_timeout{3000};
  /// Relative data paths of a job resolve under this directory (empty: the
  /// working directory); engine/node_paths.hpp.
  std::string data_dir;
  /// Hosted shards write checkpoints only inside this directory (empty: anywhere).
  std::string checkpoint_dir;
  /// Large messages of hosted actors to other processes on this host go
  /// through it (actors/shared_transport.hpp); null: sockets only.
  std::shared_ptr<shared_memory> shm;
  /// Connections its listener refused (frame_guard_options::refused_total);
  /// may be null.
  std::shared_ptr<const std::atomic<std::uint64_t>> connections_refused;
  /// How peers prove they belong, for `troupe status`: "secret", "TLS",
  /// "TLS and secret".
  std::string credentials = "secret";
};

node_actor spawn_node(caf::actor_system& sys, node_options opts);

/// The peer side of the handshake, blocking: hello, auth, and a check that
/// the node holds the secret too. Returns an error of category "troupe"
/// (bad_config "authentication failed ...") on a refused or wrong proof, or
/// CAF's error when the node does not answer within `timeout` per request.
/// The node admits this whole process (its CAF node) for as long as `self`
/// lives.
caf::error authenticate(caf::scoped_actor& self, const node_actor& node, const std::string& secret,
                        std::chrono::milliseconds timeout);

/// What a node without a cluster secret (TLS only) answers a peer that
/// offers one.
inline constexpr std::string_view no_secret_here =
    "this node has no cluster secret (its TLS certificates admit peers): connect without "
    "--secret";

}  // namespace troupe
