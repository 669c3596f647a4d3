#include "actors/cluster_types.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/defaults.hpp>
#include <caf/node_id.hpp>

#include <algorithm>
#include <chrono>

#include "actors/protocol.hpp"
#include "actors/stage_actor.hpp"

namespace troupe {

void register_cluster_types(caf::actor_system_config& cfg) {
  // Every Cap'n Proto payload (actors/wire_bytes.hpp).
  cfg.add_message_type<bytes>("troupe.bytes");
  cfg.add_message_type<shard_request>("troupe.shard_request");
  cfg.add_message_type<node_status>("troupe.node_status");
  // A typed handle in a reply must be known by name on both ends.
  cfg.add_message_type<shard_actor>("troupe.shard_actor");
  cfg.add_message_type<worker_request>("troupe.worker_request");
  cfg.add_message_type<worker_actor>("troupe.worker_actor");
  cfg.add_message_type<stage_request>("troupe.stage_request");
  cfg.add_message_type<stage_actor>("troupe.stage_actor");
  cfg.add_message_type<std::vector<caf::node_id>>("troupe.node_ids");
}

void configure_cluster_timeouts(caf::actor_system_config& cfg,
                                std::chrono::milliseconds peer_timeout) {
  cfg.set("middleman.heartbeat-interval", caf::timespan{peer_timeout / 10});
  cfg.set("middleman.connection-timeout", caf::timespan{peer_timeout});
}

std::chrono::milliseconds configured_peer_timeout(const caf::actor_system& sys) {
  const auto t = caf::get_or(sys.config(), "middleman.connection-timeout",
                             caf::defaults::middleman::connection_timeout);
  return std::chrono::duration_cast<std::chrono::milliseconds>(t);
}

std::chrono::milliseconds handshake_deadline(std::chrono::milliseconds peer_timeout) {
  return std::max<std::chrono::milliseconds>(std::chrono::seconds(10), peer_timeout);
}

}  // namespace troupe
