#pragma once
// Sparse logistic regression as a workload: a sparse table of per-feature
// weights (rows of width 1, created on first touch) and a dense one-value
// bias table. A batch pulls and pushes only the rows of the features it
// contains.

#include <memory>

#include "engine/data/sparse_dataset.hpp"
#include "engine/workloads/workload.hpp"

namespace troupe {

struct logreg_workload_options {
  std::uint32_t batch = 32;
  std::uint64_t seed = 42;
  optimizer_spec optimizer;
  std::uint32_t weights_table = 1;
  std::uint32_t bias_table = 2;
};

std::vector<table_spec> logreg_tables(const logreg_workload_options& o);

/// Trains on partition `part` of `parts` of `train` (nullptr for an
/// evaluation-only workload) and evaluates on `test` and `validation` (may
/// be nullptr).
std::unique_ptr<workload> make_logreg_workload(
    const logreg_workload_options& o, std::shared_ptr<const sparse_dataset> train,
    std::shared_ptr<const sparse_dataset> test, std::uint32_t part, std::uint32_t parts,
    std::shared_ptr<const sparse_dataset> validation = nullptr);

}  // namespace troupe
