#pragma once
// Internal to actors/scheduler*.cpp: requests to a node daemon, or to an
// actor it hosts, that the node's loss answers. CAF 0.17 drops a message to
// a remote actor whose connection is gone, so such a request is never
// answered: a spawn on a node that died meanwhile stalled the job until its
// timeout (up to 120 s, as a node may load the data set first), and then
// failed it. The down handler fails every request pending on a node it
// marks dead (fail_requests_on) at once, with peer_lost; an answer that
// still comes after that is dropped, and an actor it names is ended unused.
//
//   spawn_on<worker_actor>(self, n, std::chrono::seconds(120), std::move(req),
//       [=](worker_actor& w) { ... },    // spawned
//       [=](caf::error& err) { ... });   // refused, timed out, or its node lost
//   request_on_node<std::uint64_t>(self, n, shard, std::chrono::seconds(120),
//       [=](std::uint64_t& version) { ... }, [=](caf::error& err) { ... },
//       restore_atom::value, data, true);

#include <caf/all.hpp>

#include <cstddef>
#include <string>
#include <utility>

#include "actors/node.hpp"
#include "actors/scheduler_state.hpp"

namespace troupe::scheduler_detail {

/// An answer that came after its request was failed: dropped, and the actor
/// it names (a spawn's) ended, or it would hold a slot for nothing.
template <class T>
void drop_late_answer(scheduler_pointer, T&) {}
template <class... Sigs>
void drop_late_answer(scheduler_pointer self, caf::typed_actor<Sigs...>& actor) {
  self->send_exit(actor, caf::exit_reason::user_shutdown);
}

/// Asks `dest`, an actor on node n, with `xs`; exactly one of `done` (with
/// the answer, of type Result) and `failed` runs. On a node already known
/// dead, `failed` runs before this returns.
template <class Result, class Dest, class OnDone, class OnFailed, class... Ts>
void request_on_node(scheduler_pointer self, std::size_t n, const Dest& dest, caf::timespan timeout,
                     OnDone done, OnFailed failed, Ts&&... xs) {
  auto& st = self->state;
  if (st.dead_nodes.count(n)) {
    auto err = make_troupe_error(errc::peer_lost, "node " + st.job.nodes[n] + " was lost");
    return failed(err);
  }
  const auto id = ++st.request_ids;
  st.pending_requests[n].emplace(id, [failed](caf::error& err) mutable { failed(err); });
  // Whether this request is still pending (then it no longer is).
  auto take = [self, n, id] {
    auto it = self->state.pending_requests.find(n);
    return it != self->state.pending_requests.end() && it->second.erase(id) > 0;
  };
  self->request(dest, timeout, std::forward<Ts>(xs)...)
      .then(
          [=](Result& answer) mutable {
            if (!take()) return drop_late_answer(self, answer);
            done(answer);
          },
          [=](caf::error& err) mutable {
            if (take()) failed(err);
          });
}

/// Asks node n to spawn what `req` describes (see request_on_node).
template <class Handle, class Request, class OnSpawned, class OnFailed>
void spawn_on(scheduler_pointer self, std::size_t n, caf::timespan timeout, Request req,
              OnSpawned spawned, OnFailed failed) {
  request_on_node<Handle>(self, n, self->state.nodes[n], timeout, std::move(spawned),
                          std::move(failed), spawn_atom::value, std::move(req));
}

/// Node n is lost: every request pending there fails now, with peer_lost
/// saying `why`.
void fail_requests_on(scheduler_pointer self, std::size_t n, const std::string& why);

}  // namespace troupe::scheduler_detail
