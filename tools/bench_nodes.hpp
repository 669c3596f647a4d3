#pragma once
// The processes of `troupe bench pushpull` (shared/BENCHMARKS.md, protocol 1)
// and what they agree on. The parent starts them as children of the same
// binary and talks to them through their stdin/stdout:
//
//   bench-server k   stdout: port=<P>          serves a Troupe shard until its
//                                              stdin closes or SIGTERM
//   bench-worker w   stdout: ready             after connecting and 3 warm-up rounds
//                    stdin:  go                the barrier: start the timed rounds
//                    stdout: result rounds=... after --seconds of rounds
//
// The parent then checks the servers' values itself (check_values). No CAF
// in this header: it is included by CAF-free code.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/store/partitioner.hpp"
#include "engine/store/table.hpp"

namespace troupe {
class actor_config;
}

namespace troupe::bench {

/// hash: a sparse table of width-1 rows keyed by the N sparse keys (rows hashed
/// over the servers); dense: a dense table of N values, one contiguous range
/// per server, pushed and pulled as ranges (no keys on the wire).
enum class store_kind { hash, dense };
const char* to_string(store_kind store);
/// "hash" or "dense"; throws std::invalid_argument otherwise.
store_kind parse_store_kind(const std::string& text);

/// What every process of one run agrees on.
struct run_shape {
  store_kind store = store_kind::hash;
  std::uint64_t keys = 1;                          ///< N
  std::uint32_t servers = 1;                       ///< S
  optimizer_kind optimizer = optimizer_kind::sgd;  ///< the servers': sgd or adam
  /// Hash store: workers name their row ids once the servers hold them
  /// (key caching, KeyList in schemas/troupe.capnp) instead of sending them
  /// every time as ps-lite does.
  bool key_cache = true;
};

/// CAF knobs of the child processes.
struct process_tuning {
  std::size_t threads = 0;                  ///< scheduler.max-threads; 0 = CAF's max(cores, 4)
  int middleman_workers = -1;               ///< middleman.workers (BASP deserialisers); -1 = CAF's
  std::string shard_thread = "scheduler";   ///< servers: "io" or "scheduler" (spawn_shard)
  std::string worker_thread = "scheduler";  ///< workers' rounds: "io" or "scheduler"
};

/// Applies `tuning` to a process's configuration.
void apply_tuning(actor_config& cfg, const process_tuning& tuning);

/// Warm-up rounds every worker runs before the barrier (protocol 1).
constexpr std::uint64_t warmup_rounds = 3;
/// The gradient every push carries for every key: with the shards' SGD at
/// learning rate 0.01 each push changes a value by exactly -1 (see bench_table).
constexpr float push_gradient = 100.0f;
/// No request waits forever (a dead peer never answers).
constexpr std::chrono::seconds request_timeout{60};

/// The id of the one table every server holds.
constexpr std::uint32_t bench_table_id = 0;

/// The table every server holds: values starting at 0, plain SGD with
/// learning rate 0.01.
table_spec bench_table(const run_shape& shape);

/// The keys of protocol 1, key_i = i * (KEY_MAX / N), split by owning server:
/// for hash, server k gets the (sorted) keys with shard_of_row(key, S) == k;
/// for dense, server k gets partition_range(N, S)[k] (and `keys` stays empty).
struct server_slice {
  std::vector<std::uint64_t> keys;  ///< hash
  key_range range;                  ///< dense
  std::size_t size(store_kind store) const {
    return store == store_kind::hash ? keys.size() : range.size();
  }
};
std::vector<server_slice> slice_keys(const run_shape& shape);

/// `troupe bench bench-server`: exit code 0 after a clean stop.
int run_server(const run_shape& shape, std::uint32_t index, const process_tuning& tuning);

struct worker_options {
  run_shape shape;
  std::uint32_t index = 0;           ///< worker id (distinct per worker)
  std::vector<std::uint16_t> ports;  ///< port of server k at index k
  double seconds = 6;
  process_tuning tuning;
};

/// `troupe bench bench-worker`: exit code 0 after printing its result line.
int run_worker(const worker_options& options);

/// What a worker reports on its `result` line.
struct worker_result {
  std::uint64_t rounds = 0;  ///< timed rounds (warm-up excluded)
  double seconds = 0;        ///< wall time of the timed rounds
  double median_ms = 0;      ///< round latency
  double p99_ms = 0;
  double mean_ms = 0;
  double push_ms = 0;  ///< mean push half of a round
  double pull_ms = 0;  ///< mean pull half of a round
};
std::string format_result_line(const worker_result& r);
std::optional<worker_result> parse_result_line(const std::string& line);

/// Outcome of the final correctness check.
struct check_result {
  bool pass = false;
  std::uint64_t checked = 0;  ///< keys read back
  std::uint64_t wrong = 0;    ///< keys (or shard counters) that differ from the expectation
  std::string detail;         ///< first mismatch or the error, empty on success
};

/// The value every key holds after `pushes` pushes of push_gradient from 0:
/// exactly -pushes (up to 2^24, where float32 stops counting by one).
float expected_value(std::uint64_t pushes);

/// The same for the shape's optimizer: for Adam, the value one key reaches
/// through the same optimizer code (every key of a run holds exactly that).
float expected_value(const run_shape& shape, std::uint64_t pushes);

/// Pulls every key from the servers at `ports` and compares it with
/// expected_value(shape, pushes); also checks that each server owning keys applied
/// exactly `pushes` pushes (its counters), none rejected or duplicate.
check_result check_values(const run_shape& shape, const std::vector<std::uint16_t>& ports,
                          std::uint64_t pushes);

}  // namespace troupe::bench
