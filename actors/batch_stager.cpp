#include "actors/batch_stager.hpp"

#include "actors/protocol.hpp"

namespace troupe {

bool stage_batches_here(bool enabled, std::size_t threads, std::size_t workers) {
  return enabled && threads > workers;
}

caf::actor spawn_batch_stager(caf::local_actor* owner, std::shared_ptr<workload> wl) {
  auto stager = owner->home_system().spawn([wl = std::move(wl)](caf::event_based_actor*) {
    return caf::behavior{[wl](stage_atom) { wl->stage_next_batch(); }};
  });
  // Not a link: a worker that ends normally would leave a linked stager
  // running (CAF ends linked actors only for abnormal exit reasons).
  owner->attach_functor([stager](const caf::error&) {
    caf::anon_send_exit(stager, caf::exit_reason::user_shutdown);
  });
  return stager;
}

}  // namespace troupe
