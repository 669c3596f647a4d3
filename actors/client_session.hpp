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
//   shard k down (monitor) ---> pending, waiting and later requests to k: peer_lost
//   exit (client destroyed) ---> everything pending or queued: stopped
//
// Each part's `done` runs exactly once, on the session's thread.

#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
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
};

/// Requests waiting for the session, first in first out.
class request_queue {
 public:
  /// Appends `parts`; true if the session needs a wake-up (the queue was
  /// empty). Returns false and leaves `parts` alone once closed.
  bool submit(std::vector<outgoing_request>& parts, bool& wake);
  std::vector<outgoing_request> take();
  /// Refuses further submits; returns what was still queued.
  std::vector<outgoing_request> close();

 private:
  std::mutex mutex_;
  std::vector<outgoing_request> items_;
  bool closed_ = false;
};

/// At most `window` requests per shard are in flight; the rest wait, in
/// order, in the session (their timeout starts when they are sent).
caf::actor spawn_client_session(caf::actor_system& sys, std::vector<shard_actor> shards,
                                std::shared_ptr<request_queue> queue,
                                std::chrono::milliseconds timeout, std::size_t window);

/// Tells the session that the queue has requests.
void wake_session(const caf::actor& session);

}  // namespace troupe
