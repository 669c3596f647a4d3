#pragma once
// Optional pinning of the actor system's scheduler threads to cores (job
// key train.pin_threads): with one busy thread per core, a worker that
// migrates between cores finds its activations and batch in the other
// core's cache. Linux only; elsewhere, and when the kernel refuses, it logs
// once and does nothing.
//
//   actor_config cfg(job.threads);
//   if (job.pin_threads) enable_thread_pinning(cfg);

#include <caf/fwd.hpp>

namespace troupe {

/// Pins each scheduler (and I/O) thread the system starts to the next core,
/// round robin over the cores this process may use.
void enable_thread_pinning(caf::actor_system_config& cfg);

}  // namespace troupe
