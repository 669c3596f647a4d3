#pragma once
// What a node daemon hands to the actors it hosts: who may talk to them and
// where they count what they do. Empty in a single process.
//
//   host_context ctx{guard, metrics};
//   spawn_shard(sys, id, tables, ctx);

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

namespace troupe {

class peer_guard;
class metrics_exporter;
class shared_memory;

struct host_context {
  /// Requests from nodes the guard does not allow are refused; null: no check.
  std::shared_ptr<const peer_guard> guard;
  /// Prometheus counters of the hosting node; null: not counted.
  std::shared_ptr<metrics_exporter> metrics;
  /// Checkpoints may be written only inside this directory; empty: anywhere.
  std::string checkpoint_root;
  /// Large messages to other processes on this host go through this
  /// process's shared memory (actors/shared_transport.hpp); null: sockets only.
  std::shared_ptr<shared_memory> shm;
  /// Workers alive in this process, whatever their job (each counts
  /// itself): whether a thread is to spare (actors/batch_stager.hpp); null:
  /// the process hosts its job's workers and nothing else (one process).
  std::shared_ptr<std::atomic<std::size_t>> workers;
};

}  // namespace troupe
