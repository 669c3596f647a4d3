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
//   more than the queue's limit waiting (queue + backlogs) ---> submit refused: overloaded
//   a request's deadline passes while it waits ---> timeout (a sweep finds it)
//   shard k down (monitor) ---> pending, waiting and later requests to k: peer_lost
//   exit (client destroyed) ---> everything pending or queued: stopped
//
// Each part's `done` runs exactly once, on the session's thread.

#include <caf/fwd.hpp>

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
/// all that wait in the client (here or in the session's backlogs), which
/// `limit` bounds.
class request_queue {
 public:
  explicit request_queue(std::size_t limit = std::numeric_limits<std::size_t>::max())
      : limit_(limit) {}
  enum class outcome { queued, closed, full };
  /// Appends all of `parts`, or none: `closed` once closed, `full` when they
  /// would take the waiting requests past the limit. `wake`: the session
  /// needs a wake-up (the queue was empty).
  outcome submit(std::vector<outgoing_request>& parts, bool& wake);
  std::vector<outgoing_request> take();
  /// Refuses further submits; returns what was still queued.
  std::vector<outgoing_request> close();
  /// `n` requests stopped waiting (sent, or failed before they were sent).
  void left(std::size_t n);
  std::size_t waiting() const;

 private:
  const std::size_t limit_;
  mutable std::mutex mutex_;
  std::vector<outgoing_request> items_;
  std::size_t waiting_ = 0;
  bool closed_ = false;
};

/// At most `window` requests per shard are in flight; the rest wait, in
/// order, in the session until their deadline.
caf::actor spawn_client_session(caf::actor_system& sys, std::vector<shard_actor> shards,
                                std::shared_ptr<request_queue> queue, std::size_t window);

/// Tells the session that the queue has requests.
void wake_session(const caf::actor& session);

}  // namespace troupe
