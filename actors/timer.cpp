#include "actors/timer.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <map>

namespace troupe {

namespace {

using fire_atom = caf::atom_constant<caf::atom("fire")>;

struct timer_state {
  std::uint64_t next = 0;
  std::map<std::uint64_t, caf::response_promise> waiting;
  static inline const char* name = "troupe.timer";
};

// `first_id` is an argument only because CAF 0.17 dereferences a null
// argument tuple when a function is spawned with none (undefined behaviour
// that UBSan stops at): never spawn a function actor without arguments.
caf::behavior timer_behavior(caf::stateful_actor<timer_state>* self, std::uint64_t first_id) {
  self->state.next = first_id;
  return {
      [=](wait_atom, std::int64_t ms) -> caf::result<bool> {
        const auto id = self->state.next++;
        self->state.waiting.emplace(id, self->make_response_promise());
        self->delayed_send(self, std::chrono::milliseconds(std::max<std::int64_t>(0, ms)),
                           fire_atom::value, id);
        return caf::delegated<bool>();
      },
      [=](fire_atom, std::uint64_t id) {
        auto it = self->state.waiting.find(id);
        if (it == self->state.waiting.end()) return;
        it->second.deliver(true);
        self->state.waiting.erase(it);
      },
  };
}

}  // namespace

caf::actor spawn_timer(caf::actor_system& sys) {
  return sys.spawn(timer_behavior, std::uint64_t{0});
}

}  // namespace troupe
