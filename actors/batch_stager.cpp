#include "actors/batch_stager.hpp"

#include "actors/protocol.hpp"

namespace troupe {

bool stage_batches_here(bool enabled, std::size_t threads, std::size_t workers) {
  return enabled && threads > workers;
}

namespace {

caf::behavior batch_stager(caf::event_based_actor*, std::shared_ptr<workload> wl) {
  return {[wl](stage_atom) { wl->stage_next_batch(); }};
}

}  // namespace

caf::actor spawn_batch_stager(caf::local_actor* owner, std::shared_ptr<workload> wl) {
  // The workload goes as an argument: CAF 0.17 binds a null reference when
  // a function actor has no arguments besides its self pointer (UBSan).
  auto stager = owner->home_system().spawn(batch_stager, std::move(wl));
  // Not a link: a worker that ends normally would leave a linked stager
  // running (CAF ends linked actors only for abnormal exit reasons).
  owner->attach_functor([stager](const caf::error&) {
    caf::anon_send_exit(stager, caf::exit_reason::user_shutdown);
  });
  return stager;
}

}  // namespace troupe
