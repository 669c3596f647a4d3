#pragma once
// The dense MLP (a classifier, or a regressor with the mse loss) as a
// workload: one dense table ("model") holding every weight and bias; values
// and gradients live in backend memory.

#include <memory>

#include "engine/data/dataset.hpp"
#include "engine/model/model.hpp"
#include "engine/workloads/workload.hpp"

namespace troupe {

struct mlp_workload_options {
  mlp_spec model;
  std::uint32_t batch = 64;
  std::uint64_t seed = 42;
  optimizer_spec optimizer;
  kernels::backend_kind backend = kernels::backend_kind::cpu;
  std::uint32_t table_id = 1;
};

/// The table spec of an MLP's parameters.
table_spec mlp_table(const mlp_workload_options& o);

/// Trains on partition `part` of `parts` of `train` (nullptr for an
/// evaluation-only workload) and evaluates on `test` and `validation` (may
/// be nullptr). With the mse loss the sets carry targets, else labels.
std::unique_ptr<workload> make_mlp_workload(const mlp_workload_options& o,
                                            std::shared_ptr<const dataset> train,
                                            std::shared_ptr<const dataset> test, std::uint32_t part,
                                            std::uint32_t parts,
                                            std::shared_ptr<const dataset> validation = nullptr);

}  // namespace troupe
