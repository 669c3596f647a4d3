#include "actors/table_directory.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include "actors/actor_config.hpp"
#include "actors/cluster_types.hpp"
#include "actors/peer_guard.hpp"

namespace troupe {

namespace {

struct directory_state {
  directory_info info;
  node_actor node;
  std::shared_ptr<const peer_guard> guard;
  std::uint32_t next_client = 1;
  static inline const char* name = "troupe.directory";
};

using directory_pointer = directory_actor::stateful_pointer<directory_state>;

directory_actor::behavior_type directory_behavior(directory_pointer self, directory_info info,
                                                  node_actor node,
                                                  std::shared_ptr<const peer_guard> guard) {
  self->state.info = std::move(info);
  self->state.node = std::move(node);
  self->state.guard = std::move(guard);
  return {
      // The node keeps the sender (the client's actor) as the original
      // sender: it binds the client's node into the proof and admits it.
      [=](hello_atom h) { return self->delegate(self->state.node, h); },
      [=](auth_atom a, std::string& proof, std::string& nonce) {
        return self->delegate(self->state.node, a, std::move(proof), std::move(nonce));
      },
      [=](directory_atom) -> caf::result<directory_info> {
        const auto& guard = self->state.guard;
        if (guard && !sender_allowed(self, *guard)) {
          spdlog::warn("directory: refused an unauthenticated client");
          return make_troupe_error(errc::bad_config, "not authenticated (send hello and auth)");
        }
        auto out = self->state.info;
        out.client_id = self->state.next_client++;
        return out;
      },
  };
}

}  // namespace

directory_actor spawn_table_directory(caf::actor_system& sys, directory_info info, node_actor node,
                                      std::shared_ptr<const peer_guard> guard) {
  return sys.spawn(directory_behavior, std::move(info), std::move(node), std::move(guard));
}

void register_directory_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<std::vector<table_spec>>("troupe.table_specs");
  cfg.add_message_type<directory_info>("troupe.directory_info");
}

}  // namespace troupe
