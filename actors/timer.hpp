#pragma once
// A delay for actors whose own delayed messages would have to be part of
// their typed protocol (the scheduler): ask the timer, get the answer later.
//
//   auto timer = spawn_timer(sys);
//   self->request(timer, std::chrono::seconds(10), wait_atom::value, std::int64_t{300})
//       .then([=](bool) { try_again(self); }, [](caf::error&) {});

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>

namespace troupe {

using wait_atom = caf::atom_constant<caf::atom("wait")>;

/// Answers `wait(ms)` with true once `ms` milliseconds have passed.
caf::actor spawn_timer(caf::actor_system& sys);

}  // namespace troupe
