#pragma once
// Which messages take the same-host shared-memory path
// (engine/wire/shared_memory.hpp) and how actors read what arrives by it.
// A node daemon puts one `shared_memory` per process into the host_context
// of what it hosts; pulls, pushes and a primary's forwards to its backup
// then travel as envelopes between daemons on one machine, and as bytes
// everywhere else (another host, one process, a client).
//
//   auto out = for_destination(ctx, self->node(), shard.node(), push_msg);
//   ...
//   shared_slot slot;  // the receiver reads the message where it lies
//   if (is_shared_envelope(in)) {
//     if (auto st = claim_shared(ctx, in, slot); !st) return to_caf_error(st);
//   }
//
// A receiver that cannot read an envelope answers errc::shared_memory; the
// sender then stops sending through shared memory (`ctx.shm.reset()`; what
// is already on its way to it is still read) and sends again.

#include <caf/all.hpp>

#include <cstdint>

#include "actors/host_context.hpp"
#include "engine/errors.hpp"
#include "engine/wire/shared_memory.hpp"
#include "engine/wire/wire_codec.hpp"

namespace troupe {

/// The process id of `peer` when it is another process on this host (CAF's
/// node ids carry a host hash and a pid), 0 otherwise.
std::uint32_t same_host_pid(const caf::node_id& self, const caf::node_id& peer);

/// `msg` (an atom and bytes) for an actor on `dest`: its bytes moved into
/// shared memory when `dest` is another process on this host and `ctx` has
/// shared memory with a free slot; otherwise `msg` itself (no copy). An
/// envelope stays as it is.
caf::message for_destination(const host_context& ctx, const caf::node_id& self,
                             const caf::node_id& dest, const caf::message& msg);

/// A reply's bytes for the requester on `dest`, as for_destination.
bytes reply_for(const host_context& ctx, const caf::node_id& self, const caf::node_id& dest,
                bytes reply);

/// A slot to build a reply in, when the requester on `dest` may get it
/// through shared memory (as for_destination); empty otherwise.
shared_write begin_shared(const host_context& ctx, const caf::node_id& self,
                          const caf::node_id& dest);
/// The envelope of the first `size` bytes built in `w`; nothing (and the
/// slot freed) when there are none.
std::optional<bytes> publish_shared(const host_context& ctx, shared_write& w, std::size_t size);

/// Claims the slot an envelope names, to read it in place; an error
/// (errc::shared_memory) when it cannot be read.
status claim_shared(const host_context& ctx, const bytes& in, shared_slot& out);
/// As above, through `shm` rather than the context's own: a worker that has
/// stopped sending through shared memory still reads, and so frees, the
/// envelopes already on their way to it.
status claim_shared(const host_context& ctx, shared_memory* shm, const bytes& in, shared_slot& out);

/// Whether a request failed because its receiver could not read shared memory.
bool is_shared_memory_error(const caf::error& err);

}  // namespace troupe
