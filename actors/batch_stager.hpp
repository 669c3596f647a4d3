#pragma once
// A worker's next batch, gathered on a free thread of the actor system while
// the worker computes the current one (workload::stage_next_batch): the
// gather of 64 scattered rows waits on memory for ~7% of a step, time a
// process with more threads than busy workers has to spare.
//
//   worker --(stage)--> stager: gathers the batch after the loaded one
//   worker: next_batch() swaps it in (or gathers itself, should the stager
//           not have run yet: the batches and their order are the same)
//
//   if (stage_batches_here(job.stage_batches, threads, workers_here) &&
//       wl->stage_next_batch())
//     st.stager = spawn_batch_stager(self, wl);
//   ... after each next_batch(): caf::anon_send(st.stager, stage_atom::value);
//
// The stager holds the workload too, so whichever of the two ends last
// frees it; it ends with its worker.

#include <caf/all.hpp>

#include <memory>

#include "engine/workloads/workload.hpp"

namespace troupe {

/// Whether a worker stages its batches in a process whose actor system has
/// `threads` threads and hosts `workers` workers: only with a thread to
/// spare (otherwise the gather only moves between the same busy threads,
/// plus a message).
bool stage_batches_here(bool enabled, std::size_t threads, std::size_t workers);

/// A stager for `wl`, ended when `owner` ends.
caf::actor spawn_batch_stager(caf::local_actor* owner, std::shared_ptr<workload> wl);

}  // namespace troupe
