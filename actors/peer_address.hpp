#pragma once
// Names a peer node as an operator can act on it: its node id and the
// address its connection comes from, which the middleman knows. A node id
// alone ("3F2A...#812") names no machine to block.
//
//   log_peer(self, sender->node(), [](const std::string& who) {
//     spdlog::warn("refused a request from {}", who);   // "... at 10.0.0.7:51234"
//   });

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <string>

#include "actors/tls_config.hpp"

namespace troupe {

/// Runs `log(who)` once the middleman has said where `peer` connects from:
/// "<node id> at HOST:PORT", "<node id> (no direct connection)" for a peer
/// only reached through another node, "<node id> (this process)". The line
/// comes a moment after the call, from `self`'s thread.
template <class Self, class Log>
void log_peer(Self* self, const caf::node_id& peer, Log log) {
  auto who = caf::to_string(peer);
  if (peer == self->node()) return log(who + " (this process)");
  self->request(connector(self->home_system()), std::chrono::seconds(2), caf::get_atom::value, peer)
      .then(
          [=](const caf::node_id&, const std::string& host, std::uint16_t port) {
            log(host.empty() ? who + " (no direct connection)"
                             : who + " at " + host + ":" + std::to_string(port));
          },
          [=](const caf::error&) { log(who); });
}

/// The same for the node of actor `who`; "an anonymous sender" when null
/// (a remote anon_send has no sender).
template <class Self, class Log>
void log_peer(Self* self, const caf::strong_actor_ptr& who, Log log) {
  if (!who) return log(std::string{"an anonymous sender"});
  log_peer(self, who->node(), std::move(log));
}

}  // namespace troupe
