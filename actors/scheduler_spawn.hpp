#pragma once
// Internal to actors/scheduler*.cpp: asking a node daemon to spawn one of
// the job's actors. CAF 0.17 drops a message to a remote actor whose
// connection is gone, so a spawn request to a node that dies meanwhile is
// never answered: the job stalled until the request's timeout (up to 120 s,
// as a node may load the data set first) and then failed. The down handler
// answers every spawn pending on a node it marks dead (fail_spawns_on) at
// once, with peer_lost; a reply that still comes after that ends the actor
// it names, unused.
//
//   spawn_on<worker_actor>(self, n, std::chrono::seconds(120), std::move(req),
//       [=](worker_actor& w) { ... },    // spawned
//       [=](caf::error& err) { ... });   // refused, timed out, or its node lost

#include <caf/all.hpp>

#include <cstddef>
#include <string>
#include <utility>

#include "actors/node.hpp"
#include "actors/scheduler_state.hpp"

namespace troupe::scheduler_detail {

/// Asks node n to spawn what `req` describes; exactly one of `spawned` and
/// `failed` runs. On a node already known dead, `failed` runs before this
/// returns.
template <class Handle, class Request, class OnSpawned, class OnFailed>
void spawn_on(scheduler_pointer self, std::size_t n, caf::timespan timeout, Request req,
              OnSpawned spawned, OnFailed failed) {
  auto& st = self->state;
  if (st.dead_nodes.count(n)) {
    auto err = make_troupe_error(errc::peer_lost, "node " + st.job.nodes[n] + " was lost");
    return failed(err);
  }
  const auto id = ++st.spawn_ids;
  st.pending_spawns[n].emplace(id, [failed](caf::error& err) mutable { failed(err); });
  // Whether this request is still pending (then it no longer is).
  auto take = [self, n, id] {
    auto it = self->state.pending_spawns.find(n);
    return it != self->state.pending_spawns.end() && it->second.erase(id) > 0;
  };
  self->request(st.nodes[n], timeout, spawn_atom::value, std::move(req))
      .then(
          [=](Handle& handle) mutable {
            if (!take()) return self->send_exit(handle, caf::exit_reason::user_shutdown);
            spawned(handle);
          },
          [=](caf::error& err) mutable {
            if (take()) failed(err);
          });
}

/// Node n is lost: every spawn pending there fails now, with peer_lost
/// saying `why`.
void fail_spawns_on(scheduler_pointer self, std::size_t n, const std::string& why);

}  // namespace troupe::scheduler_detail
