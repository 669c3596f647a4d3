#pragma once
// The worker side of `troupe bench pushpull`: an actor that runs one
// worker's rounds (push to every owning server, wait for every ack, pull
// from every one, wait for every reply) against the servers' shards. Each
// answer's handler sends the next request; nothing blocks.
//
//   auto totals = std::make_shared<round_totals>();
//   auto client = spawn_round_client(sys, round_thread::io, shape, worker, links, totals);
//   self->request(client, caf::infinite, start_atom::value).receive(...);  // warm-up
//   self->request(client, caf::infinite, run_atom::value, 6.0).receive(...);
//   // once answered: totals->latencies, push_ms, pull_ms
//
// Its states, each request answered true or with the first error of a round:
//
//   idle --start--> warming (warmup_rounds rounds) --> idle
//   idle --run, s--> running (rounds until s seconds have passed) --> idle

#include <caf/typed_actor.hpp>

#include <cstdint>
#include <memory>
#include <vector>

#include "actors/protocol.hpp"
#include "tools/bench_nodes.hpp"

namespace caf {
class actor_system;
}

namespace troupe::bench {

/// The slice of one server that owns keys, with its connected shard.
struct shard_link {
  shard_actor shard;
  server_slice slice;
  std::size_t count = 0;  ///< values this server holds of ours
};

/// A pull of the link's keys in full, whose reply repeats them.
bytes encode_pull(const run_shape& shape, std::uint32_t worker, const shard_link& l);

/// What the rounds measured. The client writes it and answers; the caller
/// reads it after the answer, which orders the writes before the reads.
struct round_totals {
  std::vector<double> latencies;  ///< ms per timed round (warm-up excluded)
  double seconds = 0;             ///< wall time of the last start or run
  double push_ms = 0, pull_ms = 0;
};

/// io: a broker on the middleman's I/O thread, where BASP hands it each
/// answer on the thread that read it (with middleman.workers = 0) and takes
/// its next request there; scheduler: an ordinary actor, a hand-off between
/// threads each way.
enum class round_thread { io, scheduler };

using round_client_actor = caf::typed_actor<caf::replies_to<start_atom>::with<bool>,
                                            caf::replies_to<run_atom, double>::with<bool>>;

/// `links` must not be empty (every run has a server that owns keys).
round_client_actor spawn_round_client(caf::actor_system& sys, round_thread thread,
                                      const run_shape& shape, std::uint32_t worker,
                                      std::vector<shard_link> links,
                                      std::shared_ptr<round_totals> totals);

}  // namespace troupe::bench
