#pragma once
// What a service asks the engine to hold: named parameter tables.
// A dense table is a vector of `size` floats read and written by ranges; a
// sparse table is a set of rows of `width` floats keyed by 64-bit ids, each
// created on first touch from a seeded uniform initialiser. The shards apply
// every pushed gradient with the table's optimizer.
//
//   auto emb = troupe::table::sparse("emb", 64).init(0.01f).adagrad(0.1f).max_row_id(1 << 20);
//   auto bias = troupe::table::dense("bias", 1000).sgd(0.05f);
//   troupe::engine_options opts;
//   opts.tables = {emb, bias};

#include <cstdint>
#include <string>

namespace troupe {

enum class optimizer_type { sgd, momentum, adagrad, adam };

/// Optimizer the shards apply: w -= lr * g for SGD, see docs/design.md for the others.
struct optimizer_options {
  optimizer_type type = optimizer_type::sgd;
  float learning_rate = 0.05f;
  float momentum = 0.9f;      ///< momentum: velocity decay
  float beta1 = 0.9f;         ///< adam
  float beta2 = 0.999f;       ///< adam
  float epsilon = 1e-8f;      ///< adagrad and adam denominators
  float weight_decay = 0.0f;  ///< L2 penalty added to the gradient; <= 1e6, and
                              ///< sgd/momentum: learning_rate x weight_decay <= 1
};

/// A table definition; the setters return *this so a definition reads as one line.
struct table {
  std::string name;
  bool is_sparse = false;
  std::uint64_t size = 0;   ///< dense: number of floats
  std::uint32_t width = 1;  ///< sparse: floats per row
  float init_bound = 0;     ///< values start uniformly in [-init_bound, init_bound]; <= 1e6
  std::uint64_t seed = 1;   ///< the same seed gives the same initial values everywhere
  /// Sparse: rows one shard keeps (0 = unbounded); beyond it the least
  /// recently used rows are dropped and start afresh when touched again.
  std::uint64_t max_rows_per_shard = 0;
  /// Sparse: ids must be below this (0 = any id); others are out_of_range errors.
  std::uint64_t row_id_limit = 0;
  optimizer_options optimizer;

  ///   auto t = troupe::table::dense("weights", 784 * 10);
  static table dense(std::string name, std::uint64_t size) {
    table t;
    t.name = std::move(name);
    t.size = size;
    return t;
  }
  ///   auto t = troupe::table::sparse("emb", 64);   // rows of 64 floats
  static table sparse(std::string name, std::uint32_t width) {
    table t;
    t.name = std::move(name);
    t.is_sparse = true;
    t.width = width;
    return t;
  }

  ///   t.sgd(0.1f);        t.momentum(0.01f, 0.9f);
  ///   t.adagrad(0.1f);    t.adam(0.001f);
  table& sgd(float lr) { return with(optimizer_type::sgd, lr); }
  table& momentum(float lr, float decay = 0.9f) {
    optimizer.momentum = decay;
    return with(optimizer_type::momentum, lr);
  }
  table& adagrad(float lr) { return with(optimizer_type::adagrad, lr); }
  table& adam(float lr) { return with(optimizer_type::adam, lr); }
  ///   t.init(0.01f).with_seed(42);   // uniform in [-0.01, 0.01], seeded
  table& init(float bound) {
    init_bound = bound;
    return *this;
  }
  table& with_seed(std::uint64_t s) {
    seed = s;
    return *this;
  }
  ///   t.max_rows(100000);            // per shard, LRU beyond it
  table& max_rows(std::uint64_t n) {
    max_rows_per_shard = n;
    return *this;
  }
  ///   t.max_row_id(1 << 20);         // ids >= 2^20 are refused
  table& max_row_id(std::uint64_t n) {
    row_id_limit = n;
    return *this;
  }

 private:
  table& with(optimizer_type type, float lr) {
    optimizer.type = type;
    optimizer.learning_rate = lr;
    return *this;
  }
};

}  // namespace troupe
