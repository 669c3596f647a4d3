#include "actors/shared_transport.hpp"

#include "actors/actor_config.hpp"
#include "actors/metrics_exporter.hpp"

namespace troupe {

std::uint32_t same_host_pid(const caf::node_id& self, const caf::node_id& peer) {
  using data = caf::node_id::default_data;
  if (!self || !peer || self == peer) return 0;
  if (self->implementation_id() != data::class_id || peer->implementation_id() != data::class_id) {
    return 0;
  }
  const auto& a = static_cast<const data&>(*self);
  const auto& b = static_cast<const data&>(*peer);
  return a.host_id() == b.host_id() ? b.process_id() : 0;
}

namespace {

// The envelope for `msg` when it may go to `dest` through shared memory.
std::optional<bytes> share_with(const host_context& ctx, const caf::node_id& self,
                                const caf::node_id& dest, const bytes& msg) {
  if (!ctx.shm || is_shared_envelope(msg) || same_host_pid(self, dest) == 0) return std::nullopt;
  auto env = ctx.shm->share(msg);
  if (env && ctx.metrics) ctx.metrics->add_shared_sent();
  return env;
}

}  // namespace

caf::message for_destination(const host_context& ctx, const caf::node_id& self,
                             const caf::node_id& dest, const caf::message& msg) {
  if (!msg.match_elements<caf::atom_value, bytes>()) return msg;
  auto env = share_with(ctx, self, dest, msg.get_as<bytes>(1));
  // A new message: writing into `msg` would copy its bytes first.
  return env ? caf::make_message(msg.get_as<caf::atom_value>(0), std::move(*env)) : msg;
}

bytes reply_for(const host_context& ctx, const caf::node_id& self, const caf::node_id& dest,
                bytes reply) {
  auto env = share_with(ctx, self, dest, reply);
  return env ? std::move(*env) : std::move(reply);
}

shared_write begin_shared(const host_context& ctx, const caf::node_id& self,
                          const caf::node_id& dest) {
  if (!ctx.shm || same_host_pid(self, dest) == 0) return {};
  return ctx.shm->begin_write();
}

std::optional<bytes> publish_shared(const host_context& ctx, shared_write& w, std::size_t size) {
  auto env = ctx.shm ? ctx.shm->publish(w, size) : std::nullopt;
  if (env && ctx.metrics) ctx.metrics->add_shared_sent();
  return env;
}

status claim_shared(const host_context& ctx, const bytes& in, shared_slot& out) {
  return claim_shared(ctx, ctx.shm.get(), in, out);
}

status claim_shared(const host_context& ctx, shared_memory* shm, const bytes& in,
                    shared_slot& out) {
  if (shm == nullptr) return {errc::shared_memory, "this process does not read shared memory"};
  if (auto st = shm->claim(in, out); !st) return {errc::shared_memory, st.message()};
  if (ctx.metrics) ctx.metrics->add_shared_received();
  return {};
}

bool is_shared_memory_error(const caf::error& err) {
  return is_troupe_error(err, errc::shared_memory);
}

}  // namespace troupe
