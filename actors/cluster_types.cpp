#include "actors/cluster_types.hpp"

#include <caf/actor_system_config.hpp>

#include "actors/protocol.hpp"

namespace troupe {

void register_cluster_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<shard_request>("troupe.shard_request");
  cfg.add_message_type<node_status>("troupe.node_status");
  // A typed handle in a reply must be known by name on both ends.
  cfg.add_message_type<shard_actor>("troupe.shard_actor");
}

}  // namespace troupe
