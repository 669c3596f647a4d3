#pragma once
// Matrix factorisation for explicit ratings: rating(u, i) ~ mean + b_u + b_i
// + <p_u, q_i>, with user and item embeddings and biases as four sparse
// tables (rows created on first touch), trained on squared error with an L2
// penalty on the rows a batch touches. An evaluation reports the RMSE and the
// MAE (a regression: no accuracy).

#include <memory>

#include "engine/data/ratings_dataset.hpp"
#include "engine/workloads/workload.hpp"

namespace troupe {

struct mf_workload_options {
  std::uint32_t dim = 32;
  std::uint32_t batch = 256;
  std::uint64_t seed = 42;
  float l2 = 0.05f;          ///< per rating: l2 * (|p_u|^2 + |q_i|^2)
  float init_bound = 0.05f;  ///< embeddings start uniform in [-bound, bound]
  optimizer_spec optimizer{optimizer_kind::adam, 0.01f};
};

/// user embeddings (1), item embeddings (2), user biases (3), item biases (4).
std::vector<table_spec> mf_tables(const mf_workload_options& o);

std::unique_ptr<workload> make_mf_workload(
    const mf_workload_options& o, std::shared_ptr<const ratings_dataset> train,
    std::shared_ptr<const ratings_dataset> test, float mean, std::uint32_t part,
    std::uint32_t parts, std::shared_ptr<const ratings_dataset> validation = nullptr);

}  // namespace troupe
