// Embeds Troupe: starts an actor system, spawns a parameter shard, pushes a
// gradient and pulls the result, all through the installed headers and
// libraries. Exits 0 only if the shard applied the SGD step.
#include <caf/all.hpp>

#include <cstdio>

#include "actors/actor_config.hpp"
#include "actors/shard.hpp"
#include "engine/wire/wire_codec.hpp"

int main() {
  troupe::actor_config cfg;
  caf::actor_system sys{cfg};
  troupe::table_spec spec;
  spec.id = 1;
  spec.name = "weights";
  spec.size = 4;
  spec.init = {{4, 0.0f}};
  spec.optimizer = {troupe::optimizer_kind::sgd, 0.5f};
  auto shard = troupe::spawn_shard(sys, 0, {{spec, {0, 4}}});
  caf::scoped_actor self{sys};
  auto push = troupe::push_writer::dense({1, 0, 0, 1, 0}, 0, 4);
  for (int i = 0; i < 4; ++i) push.values()[i] = 1.0f + i;
  bool ok = false;
  self->request(shard, std::chrono::seconds(5), troupe::push_atom::value, std::move(push).finish())
      .receive([&](const troupe::bytes&) { ok = true; }, [](caf::error&) {});
  float third = 0;
  self->request(shard, std::chrono::seconds(5), troupe::pull_atom::value,
                troupe::encode_dense_pull(1, 0, 0, 4))
      .receive(
          [&](const troupe::bytes& reply) {
            troupe::pull_reply_view v;
            if (troupe::decode_pull_reply(reply, v).ok() && v.count == 4) third = v.values[2];
          },
          [](caf::error&) {});
  self->send_exit(shard, caf::exit_reason::user_shutdown);
  std::printf("push acknowledged: %s, w[2] = %g (expected -1.5)\n", ok ? "yes" : "no", third);
  return ok && third == -1.5f ? 0 : 1;
}
