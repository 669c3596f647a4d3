// Spawn requests on node daemons that a node's loss answers at once (see
// scheduler_spawn.hpp).
#include "actors/scheduler_spawn.hpp"

namespace troupe::scheduler_detail {

void fail_spawns_on(scheduler_pointer self, std::size_t n, const std::string& why) {
  auto& st = self->state;
  auto it = st.pending_spawns.find(n);
  if (it == st.pending_spawns.end()) return;
  // Taken out first: a failure handler may ask for a spawn elsewhere.
  auto pending = std::move(it->second);
  st.pending_spawns.erase(it);
  for (auto& [id, failed] : pending) {
    auto err = make_troupe_error(errc::peer_lost, why);
    failed(err);
  }
}

}  // namespace troupe::scheduler_detail
