// Requests to a node's actors that the node's loss answers at once (see
// scheduler_node_requests.hpp).
#include "actors/scheduler_node_requests.hpp"

namespace troupe::scheduler_detail {

void fail_requests_on(scheduler_pointer self, std::size_t n, const std::string& why) {
  auto& st = self->state;
  auto it = st.pending_requests.find(n);
  if (it == st.pending_requests.end()) return;
  // Taken out first: a failure handler may ask another node.
  auto pending = std::move(it->second);
  st.pending_requests.erase(it);
  for (auto& [id, failed] : pending) {
    // One that ended the job ends the rest: their late answers are dropped
    // (and what they spawned ended), and nothing more is placed.
    if (st.finished) return;
    auto err = make_troupe_error(errc::peer_lost, why);
    failed(err);
  }
}

}  // namespace troupe::scheduler_detail
