#pragma once
// The actor behind a troupe::client (include/troupe/client.hpp). Calls from
// any thread build their shard requests, append them to a request_queue and
// wake the session; the session sends them in queue order (so each shard
// sees a client's push sequence numbers in increasing order), matches the
// replies, and watches the shards.
//
//   caller threads --submit--> [ request_queue ] --wake--> session --request--> shard k
//                                                            |<-- reply / error --|
//   more than `window` in flight to shard k ---> the rest wait in k's backlog
//   more than the queue's limit waiting for a window slot ---> submit refused: overloaded
//   a request's deadline passes while it waits ---> timeout (a sweep finds it)
//   shard k down (monitor) ---> pending, waiting and later requests to k: peer_lost
//   exit (client destroyed) ---> everything pending or queued: stopped
//
// Each part's `done` runs exactly once, on the session's thread.

#include <caf/fwd.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "actors/protocol.hpp"
#include "troupe/result.hpp"

namespace troupe {

/// With the reply (error null) or an error (reply null).
using part_done = std::function<void(bytes* reply, const api_error* error)>;

/// One request to one shard.
struct outgoing_request {
  std::uint32_t shard = 0;
  bool is_push = false;
  bytes message;
  std::string context;  ///< "lookup on table 'emb'": prefixes errors
  part_done done;
  /// The call's deadline (from its start): past it, the request fails with timeout.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

/// Requests waiting for the session, first in first out, and the count of
/// those that wait in the client for a free window slot (`limit` bounds
/// it). A request is open from submit until its shard answers or it fails;
/// of a shard's open requests, the first `window` are (or will at once be)
/// in flight, and only the rest wait. Requests merely on their way to the
/// session do not count: two calls that each touch 32 shards are 64
/// requests but need not wait at all.
class request_queue {
 public:
  request_queue(std::size_t limit, std::size_t shards, std::size_t window)
      : limit_(limit), window_(std::max<std::size_t>(1, window)), open_(shards, 0) {}

  enum class outcome { queued, closed, full };
  /// Appends all of `parts`, or none: `closed` once closed, `full` when they
  /// would take the waiting requests past the limit (a call is admitted
  /// whole, and one always fits when nothing waits). `wake`: the session
  /// needs a wake-up (the queue was empty).
  outcome submit(std::vector<outgoing_request>& parts, bool& wake);
  std::vector<outgoing_request> take();
  /// Refuses further submits; returns what was still queued.
  std::vector<outgoing_request> close();
  /// A request to `shard` is no longer open: answered, or failed (also
  /// before it was sent).
  void finished(std::uint32_t shard);
  /// Requests waiting for a free window slot.
  std::size_t waiting() const;

 private:
  const std::size_t limit_;
  const std::size_t window_;
  mutable std::mutex mutex_;
  std::vector<outgoing_request> items_;
  std::vector<std::size_t> open_;  // per shard
  std::size_t waiting_ = 0;        // sum over shards of open beyond the window
  bool closed_ = false;
};

/// At most `window` requests per shard are in flight; the rest wait, in
/// order, in the session until their deadline.
caf::actor spawn_client_session(caf::actor_system& sys, std::vector<shard_actor> shards,
                                std::shared_ptr<request_queue> queue, std::size_t window);

/// Tells the session that the queue has requests.
void wake_session(const caf::actor& session);

}  // namespace troupe
