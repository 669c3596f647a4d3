#pragma once
// The set of CAF nodes that proved they hold the cluster secret, shared by
// all actors of one process. The node daemon fills it after a successful
// challenge-response (actors/node.hpp); shards and workers consult it for
// every request and refuse senders from other nodes.
//
//   auto guard = std::make_shared<troupe::peer_guard>(sys.node());
//   guard->allow(peer);                      // after auth
//   if (!troupe::sender_allowed(self, *guard)) return make_troupe_error(...);
//
// What it protects against: processes that do not hold the secret (a node of
// another cluster, a wrong or stale secret file) speaking plain CAF. What it
// cannot protect against: a hostile program that writes BASP frames by hand.
// CAF 0.17 takes the source node of a *routed* BASP message from its payload
// (io/basp/remote_message_handler.hpp), so such a peer can claim any node id,
// the local one included. Against that, the listeners run over TLS with
// client certificates (actors/tls_config.hpp), which refuses a peer without
// one before BASP; trust_every_peer() then admits every certified node.

#include <caf/node_id.hpp>

#include <atomic>
#include <cstddef>
#include <set>
#include <shared_mutex>
#include <utility>

namespace caf {
class local_actor;
}

namespace troupe {

class peer_guard {
 public:
  /// `local` is the node id of this process's actor system; it is always allowed.
  explicit peer_guard(caf::node_id local) : local_(std::move(local)) {}

  /// Allows messages from `peer` from now on.
  void allow(const caf::node_id& peer);
  /// Stops allowing `peer` (its authenticated session ended).
  void revoke(const caf::node_id& peer);
  /// Allows every valid node from now on: under TLS with client certificates
  /// only certified peers can reach this process at all (actors/tls_config.hpp).
  void trust_every_peer();
  bool trusts_every_peer() const { return trust_all_.load(); }
  /// Whether messages from `peer` are accepted: the local node or an allowed
  /// peer; never the invalid (default) node id.
  bool allows(const caf::node_id& peer) const;
  /// Number of allowed remote peers.
  std::size_t size() const;

 private:
  const caf::node_id local_;
  std::atomic<bool> trust_all_{false};
  mutable std::shared_mutex mutex_;
  std::set<caf::node_id> allowed_;
};

/// Whether the message `self` is processing comes from an allowed node.
/// Anonymous messages (no sender) are refused: a remote `anon_send` arrives
/// without a sender too, and would otherwise slip through.
bool sender_allowed(caf::local_actor* self, const peer_guard& guard);

}  // namespace troupe
