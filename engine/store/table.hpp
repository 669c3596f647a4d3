#pragma once
// Parameter tables: what a table is (dense vector or sparse rows), how its
// values start out, and which optimizer the shards apply to it.
//
//   table_spec t;
//   t.name = "model"; t.kind = table_kind::dense; t.size = num_params(spec);
//   t.init = mlp_init_segments(spec);       // per-tensor uniform bounds
//   float w0 = initial_value(t, key);       // same on every shard and node

#include <cstdint>
#include <string>
#include <vector>

#include "engine/store/optimizer.hpp"
#include "engine/store/update_rule.hpp"

namespace troupe {

enum class table_kind : std::uint8_t { dense, sparse };

/// Keys [previous end, end) start uniformly in [-bound, bound].
struct init_segment {
  std::uint64_t end = 0;
  float bound = 0;
};

struct table_spec {
  std::uint32_t id = 0;
  std::string name;
  table_kind kind = table_kind::dense;
  std::uint64_t size = 0;          ///< dense: number of keys (floats)
  std::uint32_t width = 1;         ///< sparse: floats per row
  std::vector<init_segment> init;  ///< dense: segments covering [0, size)
  float row_init_bound = 0;        ///< sparse: rows start uniformly in [-bound, bound]
  std::uint64_t seed = 1;
  /// Sparse: rows a shard may hold (0 = unbounded). Beyond it, the least
  /// recently used rows (pulled or pushed longest ago) are evicted and come
  /// back from the initialiser when touched again.
  std::uint64_t max_rows = 0;
  /// Sparse: row ids must be below this (0 = any 64-bit id); others are errors.
  std::uint64_t max_row_id = 0;
  optimizer_spec optimizer;
  /// What the shards do with a stale gradient before the optimizer applies
  /// it. Configuration, not state: checkpoints do not carry it, and a shard
  /// restored from one keeps the rule it was created with.
  update_rule_spec update;
};

/// Memory a sparse row costs a shard: values, optimizer state, step counter
/// and index entry.
std::size_t sparse_row_bytes(const table_spec& table);

/// Deterministic initial value of a dense key: a hash of (seed, key), so any
/// shard on any node initialises its range without shipping values.
float initial_value(const table_spec& table, std::uint64_t key);

/// Deterministic initial value of element `col` of sparse row `row`.
float initial_row_value(const table_spec& table, std::uint64_t row, std::uint32_t col);

}  // namespace troupe
