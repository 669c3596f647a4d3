#include "actors/peer_guard.hpp"

#include <caf/local_actor.hpp>

#include <mutex>

namespace troupe {

void peer_guard::allow(const caf::node_id& peer) {
  if (!peer || peer == local_) return;
  std::unique_lock lock(mutex_);
  allowed_.insert(peer);
}

void peer_guard::revoke(const caf::node_id& peer) {
  std::unique_lock lock(mutex_);
  allowed_.erase(peer);
}

void peer_guard::trust_every_peer() {
  trust_all_ = true;
}

bool peer_guard::allows(const caf::node_id& peer) const {
  if (!peer) return false;
  if (peer == local_ || trust_all_.load()) return true;
  std::shared_lock lock(mutex_);
  return allowed_.count(peer) > 0;
}

std::size_t peer_guard::size() const {
  std::shared_lock lock(mutex_);
  return allowed_.size();
}

bool sender_allowed(caf::local_actor* self, const peer_guard& guard) {
  const auto& sender = self->current_sender();
  return sender != nullptr && guard.allows(sender->node());
}

}  // namespace troupe
