#pragma once
// The compute pool: a process runs its workers on the actor system's few
// threads (about one per core), so with hundreds of workers most of them
// wait for a thread anyway. A worker holding a step's buffers (pull replies,
// activations, pushes being built) while it waits would multiply memory by
// the number of workers; instead a worker takes one of `slots` before it
// pulls and gives it back once its pushes are sent, and frees its step's
// buffers in between. Only `slots` workers hold them at any time.
//
//   auto pool = std::make_shared<compute_pool>(2 * threads);
//   if (!pool->acquire(self_handle)) return;   // a slot_atom will follow
//   ... pull, compute, push ...
//   pool->release();                            // wakes the next in line
//
// Thread-safe: workers call it from the pool's threads. A worker that is
// woken takes the slot by calling acquire() again (first come, first served).

#include <caf/actor_addr.hpp>

#include <cstddef>
#include <deque>
#include <mutex>

#include "actors/protocol.hpp"

namespace troupe {

class compute_pool {
 public:
  explicit compute_pool(std::size_t slots) : slots_(slots == 0 ? 1 : slots) {}

  std::size_t slots() const { return slots_; }

  /// Takes a slot: true, or false with `worker` queued to be sent a
  /// slot_atom when one is free (it then calls acquire() again).
  bool acquire(const worker_actor& worker);
  /// Gives a slot back and wakes the longest-waiting worker, if any.
  void release();

 private:
  std::mutex mutex_;
  std::size_t slots_;
  std::size_t busy_ = 0;
  std::deque<worker_actor> waiting_;
};

}  // namespace troupe
