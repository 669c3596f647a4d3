#pragma once
// A small shard store for fuzz targets that follow a decoded message into
// the shard (apply a push, answer a pull, restore a snapshot): a dense table
// (id 1, 64 keys, Adam: per-key update counts) and a bounded sparse table
// (id 2, width 4, at most 16 rows, ids below 2^20, Adagrad).
#include <memory>

#include "engine/store/shard_store.hpp"

namespace troupe::fuzz {

inline std::unique_ptr<shard_store> make_store(std::uint32_t id = 0) {
  auto store = std::make_unique<shard_store>(id);
  table_spec dense;
  dense.id = 1;
  dense.name = "dense";
  dense.size = 64;
  dense.init = {{64, 0.1f}};
  dense.optimizer = {optimizer_kind::adam, 0.01f};
  store->add_dense(dense, {0, 64});
  table_spec sparse;
  sparse.id = 2;
  sparse.name = "sparse";
  sparse.kind = table_kind::sparse;
  sparse.width = 4;
  sparse.row_init_bound = 0.1f;
  sparse.max_rows = 16;
  sparse.max_row_id = 1u << 20;
  sparse.optimizer = {optimizer_kind::adagrad, 0.1f};
  store->add_sparse(sparse, 1);
  return store;
}

/// Reads every float of a decoded payload (an out-of-bounds pointer shows
/// under the sanitizers) and returns their sum so it is not optimised away.
inline float touch(const float* values, std::size_t count) {
  float sum = 0;
  for (std::size_t i = 0; i < count; ++i) sum += values[i];
  return sum;
}

}  // namespace troupe::fuzz
