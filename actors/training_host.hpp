#pragma once
// What lets a node daemon host a training job's workers and pipeline stages.
// The node itself (actors/node.hpp) only hosts shards; `troupe node` gives it
// a training host, while an engine that serves tables (troupe::engine) does
// not, so a table service links no training code (models, kernels, BLAS).
//
//   node_options opts;
//   opts.training = make_training_host("n1");
//   auto node = spawn_node(sys, std::move(opts));
//
// prepare_* parse and check the request and load the job's data (once per
// data set, shared by the node's actors); the node then checks its slots
// and calls `spawn`.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/cluster_types.hpp"
#include "actors/host_context.hpp"
#include "actors/protocol.hpp"
#include "actors/stage_actor.hpp"
#include "engine/errors.hpp"

namespace troupe {

template <class Handle>
struct hosted_spawn {
  std::function<Handle(caf::actor_system&, host_context)> spawn;  ///< empty when refused
  status problem;                                                 ///< why it was refused
  std::string what;  ///< "stage 1 of replica 0", for the node's log
};

class training_host {
 public:
  virtual ~training_host() = default;
  virtual hosted_spawn<worker_actor> prepare_worker(worker_request& req) = 0;
  virtual hosted_spawn<stage_actor> prepare_stage(stage_request& req) = 0;
  /// The model kinds it can run: the built-in ones and those of the
  /// plugins loaded (`troupe status` shows them).
  virtual std::vector<std::string> models() const = 0;

  /// What a request of the job `job_toml` needs before prepare_* can run
  /// without blocking: nothing (the set is held, or the job cannot be read
  /// or does not fit: prepare_* says why, at once), a load of a set the node
  /// does not hold, or the end of a load under way. The node then has
  /// preload() run off its own thread: a load of seconds held up its status
  /// answers, logins, other jobs and a stop.
  enum class load_need { none, load, wait };
  virtual load_need needs_load(const std::string& job_toml) = 0;
  /// Loads that data set, or waits for its load under way (thread-safe; one
  /// load per data set at a time), and keeps it, or what went wrong, for the
  /// prepare_* that follows: needs_load() then says none. Never throws.
  virtual void preload(const std::string& job_toml) = 0;
  /// Lets go of what preload() kept for a request that never came (refused
  /// before it got to prepare_*): the node calls it now and then.
  virtual void trim() = 0;
};

/// Hosts workers and stages; `node_name` only names the node in its log.
/// Relative data paths of a job resolve under `data_dir` (empty: the
/// working directory; `troupe node --data-dir`, engine/node_paths.hpp).
std::shared_ptr<training_host> make_training_host(std::string node_name, std::string data_dir = {});

}  // namespace troupe
