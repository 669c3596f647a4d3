// Fuzz target: what a node reads of a payload sent before authentication,
// and of one sent after (actors/preauth_payload.hpp), in front of CAF's BASP. Byte 0 picks the
// BASP operation (direct, routed, monitor, down message); the rest is the
// payload. Whatever it says, the check must answer without allocating more
// than the payload could hold and without spawning or proxying anything, and
// the same payload must get the same verdict twice (nothing kept between).
#include <caf/all.hpp>
#include <caf/binary_serializer.hpp>

#include <memory>

#include "actors/actor_config.hpp"
#include "actors/node.hpp"
#include "actors/preauth_payload.hpp"
#include "fuzz_target.hpp"

namespace {

// Never destroyed: CAF 0.17 corrupts the heap destroying an actor system
// after main has returned (static destruction), and a system per input
// would cost more than the check. Still reachable, so no leak is reported.
caf::actor_system& system_once() {
  static troupe::actor_config& cfg = *std::make_unique<troupe::actor_config>().release();
  static caf::actor_system& sys = *std::make_unique<caf::actor_system>(cfg).release();
  return sys;
}

template <class... Ts>
std::string direct(Ts&&... xs) {
  std::vector<char> buf;
  caf::binary_serializer sink{system_once(), buf};
  std::vector<caf::strong_actor_ptr> stages;
  auto msg = caf::make_message(std::forward<Ts>(xs)...);
  if (sink(stages, msg)) return {};
  return std::string(1, '\x02') + std::string(buf.begin(), buf.end());
}

}  // namespace

namespace troupe::fuzz {

std::vector<std::string> seeds() {
  auto claim = direct(std::vector<char>{'x'});
  claim.resize(claim.size() - 2);
  claim += std::string("\xff\xff\xff\xff\x0f", 5);
  return {direct(hello_atom::value),
          direct(auth_atom::value, std::string(32, 'p'), std::string("n")),
          direct(std::vector<char>{'a', 'b'}),
          direct(std::string("text"), 42, 2.5),
          claim,
          direct(),
          direct(system_once().groups().get_local("troupe-fuzz"))};
}

}  // namespace troupe::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace troupe;
  if (size == 0) return 0;
  basp_header h;
  h.operation = static_cast<std::uint8_t>(2 + data[0] % 4);
  const std::vector<std::uint8_t> payload(data + 1, data + size);
  auto& sys = system_once();
  const auto peer = sys.node();
  const auto first = check_preauth_payload(sys, h, payload, &peer);
  const auto again = check_preauth_payload(sys, h, payload, &peer);
  if (first.ok() != again.ok()) __builtin_trap();
  // After authentication less is refused, never more: what passed before
  // passes after.
  const auto after = check_authenticated_payload(sys, h, payload.data(), payload.size());
  if (first.ok() && !after.ok()) __builtin_trap();
  return 0;
}
