#pragma once
// A training job: what to train, on which data, with how many workers and
// shards, and under which staleness bound. Read from a TOML job file (see
// examples/fashion_mlp.toml, which is also the embedded default).
//
//   auto job = load_job_config("examples/fashion_mlp.toml");
//   job.staleness = parse_staleness("inf");
//   validate(job);   // throws troupe_error(bad_config) naming the bad key

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "engine/address.hpp"
#include "engine/clock_table.hpp"
#include "engine/data/data_spec.hpp"
#include "engine/model/model.hpp"
#include "engine/store/optimizer.hpp"
#include "engine/store/update_rule.hpp"
#include "engine/tls_files.hpp"
#include "kernels/backend.hpp"

namespace troupe {

/// The range of [cluster] peer_timeout_s and of `troupe node --peer-timeout`:
/// below a second, a busy 2-core machine drops healthy peers (heartbeats
/// every 50 ms came late during the test suite).
constexpr double min_peer_timeout_s = 1.0;
constexpr double max_peer_timeout_s = 600.0;
constexpr double default_peer_timeout_s = 1.0;  ///< actors' default_peer_timeout
/// [cluster] slot_wait_s: its default and largest value.
constexpr double default_slot_wait_s = 60.0;
constexpr double max_slot_wait_s = 86400.0;

/// [update]: the staleness-aware update rule of each table (parsed in
/// engine/job_update_section.cpp; the rules in engine/store/update_rule.hpp).
struct update_rules {
  update_rule_spec all;  ///< [update]: every table's rule
  /// [update.<table name>]: per-table overrides, in file order
  std::vector<std::pair<std::string, update_rule_spec>> tables;

  update_rule_spec for_table(const std::string& name) const {
    for (const auto& [table, rule] : tables) {
      if (table == name) return rule;
    }
    return all;
  }
};

struct job_config {
  // [job]
  std::string name = "fashion_mlp";
  std::uint32_t epochs = 15;
  std::uint64_t seed = 42;
  std::string output_dir = "runs/fashion_mlp";
  std::string target_metric = "accuracy";  ///< "accuracy" (reach >=) or "loss" (reach <=)
  bool target_metric_given = false;        ///< the job file named it (not the default)
  double target_accuracy = 0.87;
  double target_loss = 0.0;
  std::uint32_t log_every = 100;
  /// Also evaluate every N clocks of the slowest worker; 0 = at epoch ends only.
  std::uint32_t eval_every = 0;
  /// Shards write checkpoints every N clocks of the slowest worker; 0 = never.
  std::uint32_t checkpoint_every = 0;
  /// Runtime only (`troupe train --resume`): the checkpoint directory to resume from.
  std::string resume_from;
  /// Runtime only: the job file this job was read from (`troupe train FILE`;
  /// empty: none). A run refuses to start where it would replace it, unless
  /// an earlier run wrote it (engine/earlier_run.hpp).
  std::string job_file;
  /// Runtime only (`troupe train --metrics`): HOST:PORT for the job's Prometheus metrics.
  std::string metrics_listen;
  // [data]
  std::string data_set =
      "fashion-mnist";   ///< "fashion-mnist", "spam-assassin", "movielens", "brown"
  std::string data_dir;  ///< empty: default_data_dir(data_set)
  std::uint64_t train_limit = 0;
  std::uint64_t test_limit = 0;
  double test_fraction = 0.2;     ///< spam-assassin: seeded split
  std::uint64_t split_seed = 42;  ///< spam-assassin: fixed across a sweep's seeds
  std::uint32_t min_count = 1;    ///< spam-assassin, brown: vocabulary cut
  double subsample = 1e-3;        ///< brown: word2vec's frequent-word threshold t (0 = off)
  // [model]
  std::string model_kind = "mlp";    ///< "mlp", "logreg", "mf" or "skipgram"
  std::uint32_t embedding_dim = 32;  ///< mf, skipgram: embedding width
  std::uint32_t window = 5;          ///< skipgram: contexts up to this many words each side
  std::uint32_t negatives = 5;       ///< skipgram: negative samples per (word, context) pair
  double l2 = 0.05;                  ///< mf: L2 penalty on the rows a batch touches
  std::uint64_t max_rows = 0;  ///< sparse tables: rows per shard, LRU-evicted beyond (0 = no limit)
  mlp_spec model{{784, 256, 128, 10}};
  /// mlp: pipeline stages per replica (model parallelism; 1 = one worker
  /// holds the whole model) and the micro-batches each batch is cut into.
  std::uint32_t stages = 1;
  std::uint32_t micro_batches = 4;
  // [train]
  std::uint32_t workers = 2;
  std::uint32_t shards = 2;
  std::int64_t staleness = 2;  ///< staleness_unbounded for "inf"
  std::uint32_t batch = 64;
  kernels::backend_kind backend = kernels::backend_kind::automatic;
  optimizer_spec optimizer;
  std::string stragglers = "none";  ///< straggler spec (see engine/straggler.hpp)
  // [train], how steps run (docs/design.md, "The step pipeline")
  /// Threads of the process's actor system, on which workers compute and
  /// shards apply; 0 = one per core.
  std::uint32_t threads = 0;
  /// Pin those threads to cores (Linux), one each, round robin.
  bool pin_threads = false;
  /// Send the next step's pulls before computing this one (dense models).
  bool prefetch = true;
  /// Gather the next batch on a free thread of the process while a step
  /// computes, when the process has more threads than the job has workers.
  bool stage_batches = true;
  /// Workers of one process that may hold a step's buffers at once (the
  /// compute pool, actors/compute_pool.hpp); 0 = automatic: no limit while
  /// there are at most 2 workers per thread, else 2 per thread.
  std::uint32_t compute_slots = 0;
  // [cluster] (empty nodes: everything runs in this process)
  std::vector<std::string> nodes;  ///< "host:port" of troupe-node daemons
  std::string secret_file;         ///< the cluster secret shared with the nodes
  tls_files tls;  ///< tls_certificate, tls_key, tls_ca, tls_passphrase_file (TLS to the nodes)
  std::vector<std::uint32_t> shard_nodes;   ///< indices into nodes for shards (default: all)
  std::vector<std::uint32_t> worker_nodes;  ///< indices into nodes for workers (default: all)
  /// Copies of each shard (primary + backups); 0 = 2 when there are >= 2 nodes, else 1.
  std::uint32_t replication = 0;
  /// Seconds a silent node stays connected before it counts as lost; this
  /// process heartbeats every tenth of it. The nodes need the same
  /// (`troupe node --peer-timeout`). Longer only for links whose round trip
  /// exceeds ~25 ms: a connection's handshake must beat the next heartbeat.
  double peer_timeout_s = default_peer_timeout_s;  ///< in [min_peer_timeout_s, max_peer_timeout_s]
  /// Seconds a job waits for free slots on its nodes (other jobs' actors)
  /// before it fails; 0 = fail at once.
  double slot_wait_s = default_slot_wait_s;

  // -- users' own data and models (engine/data/data_spec.hpp, model_spec.hpp) --
  /// [data] format, files, splits, normalisation; data_set is "files" when set.
  data_spec data;
  /// [train] stop after N evaluations without a better validation loss (0 = never).
  std::uint32_t early_stopping = 0;
  /// [train] report the test metrics of the best validation loss, and checkpoint it.
  bool keep_best = false;
  /// [params] a custom workload's own settings (include/troupe/workload.hpp):
  /// key -> the value's TOML text ("0.5", "\"a.csv\"", "[1, 2]").
  std::map<std::string, std::string> params;
  // [update] (staleness-aware update rules; see update_rules above)
  update_rules update;
  // [limits] (operations: what a job may take from the machines it runs on)
  /// Share of a machine's memory (engine/memory_estimate.hpp's estimate) a
  /// job may plan to use; more is refused before anything is allocated.
  double memory_share = 0.8;
};

/// True when the job's training data has a validation set (a file or a fraction).
bool has_validation(const job_config& job);

/// Settings `job` sets, at other than their defaults, but would not read
/// (momentum with another optimizer, an activation without hidden layers,
/// another kind's or file format's keys, test_fraction beside a test set):
/// one line each, for a warning (engine/unread_settings.cpp). Not errors: a
/// sweep over optimizers may leave momentum set for all of them.
std::vector<std::string> unread_settings_warnings(const job_config& job);

/// Where scripts/setup.sh puts a data set: /usr/share/datasets/fashion-mnist,
/// data/spam-assassin, data/movielens, data/brown (relative to the working directory).
std::string default_data_dir(const std::string& data_set);
/// job.data_dir, or the data set's default when empty.
std::string resolved_data_dir(const job_config& job);

/// The reference job, parsed from the embedded copy of examples/fashion_mlp.toml.
job_config default_job_config();
/// The embedded TOML text itself.
std::string_view default_job_toml();

/// Parses TOML text over the defaults; `source` names it in errors. Unknown
/// keys, wrong types and invalid values throw troupe_error(bad_config). With
/// `check` false, the job as a whole is not validated yet (a caller that
/// overrides keys first, e.g. `troupe train --nodes`, validates afterwards).
/// The name of a job whose file gives none: "<model kind>_<data set or
/// training file's stem>" ("mlp_digits"), "fashion_mlp" for the reference
/// job's model and data. Its output directory is then runs/<name>.
std::string default_job_name(const job_config& job);

job_config parse_job_config(std::string_view toml_text, const std::string& source,
                            bool check = true);
/// Reads and parses a job file; a missing file throws troupe_error(io_error).
job_config load_job_config(const std::string& path, bool check = true);

/// Checks ranges and consistency; throws troupe_error(bad_config).
void validate(const job_config& job);

/// Whether the job's model is a regression (an MLP with loss = "mse", or a
/// matrix factorisation): scored by RMSE and MAE, with no accuracy. A
/// plugin's model says so only when it runs (workload::squared_error_loss).
bool job_is_regression(const job_config& job);

/// "0", "2", "inf" -> staleness; throws troupe_error(bad_config) otherwise.
std::int64_t parse_staleness(const std::string& text);
std::string staleness_to_string(std::int64_t staleness);

/// The job as TOML (written next to every run's results).
std::string to_toml(const job_config& job);

/// What a checkpoint's parameters mean beyond their tables' sizes: the
/// model kind and, for an MLP, its layers, activation and loss
/// ("mlp layers=784,256,128,10 activation=relu loss=softmax"). A resume
/// refuses checkpoints of another (784-238-194-10 has as many parameters
/// as 784-256-128-10, and trained on from them as garbage).
std::string model_signature(const job_config& job);

/// Actor threads of a process asked for `threads` (`[train] threads`; 0 =
/// one per core, at least 2: on 2 cores CAF's default of 4 only contends).
inline std::size_t actor_threads(std::size_t threads) {
  return threads > 0 ? threads : std::max<std::size_t>(2, std::thread::hardware_concurrency());
}

/// Workers of one process that may hold a step's buffers at once on
/// `threads` actor threads (actors/compute_pool.hpp): `[train]
/// compute_slots`, else two per thread (enough to keep the threads busy
/// while others wait for replies; more would only hold memory while waiting).
inline std::size_t compute_slots(const job_config& job, std::size_t threads) {
  return job.compute_slots > 0 ? job.compute_slots : 2 * threads;
}

}  // namespace troupe
