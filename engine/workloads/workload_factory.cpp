#include "engine/workloads/workload_factory.hpp"

#include <algorithm>

#include "engine/data/baseline.hpp"
#include "engine/errors.hpp"
#include "engine/workloads/workload_registry.hpp"

namespace troupe {

std::size_t workload_data::train_rows() const {
  if (ratings_train) return ratings_train->size();
  if (text) return text->train.size();
  return dense_train ? dense_train->rows : sparse_train ? sparse_train->rows : 0;
}

std::size_t workload_data::test_rows() const {
  if (ratings_test) return ratings_test->size();
  if (text) return text->test.size();
  return dense_test ? dense_test->rows : sparse_test ? sparse_test->rows : 0;
}

std::size_t workload_data::validation_rows() const {
  if (ratings_validation) return ratings_validation->size();
  return dense_validation    ? dense_validation->rows
         : sparse_validation ? sparse_validation->rows
                             : 0;
}

std::shared_ptr<const workload_data> load_workload_data(const job_config& job) {
  return workload_kind_of(job.model_kind).load_data(job);
}

void fit_job_to_data(job_config& job, const workload_data& data) {
  const auto& kind = workload_kind_of(job.model_kind);
  if (kind.fit) kind.fit(job, data);
  validate(job);
}

std::vector<table_spec> workload_tables(const job_config& job) {
  auto tables = workload_kind_of(job.model_kind).tables(job);
  for (auto& t : tables) {
    // [model] max_rows bounds every sparse table; without it, a table keeps
    // its own bound (a custom workload's table::max_rows).
    if (t.kind == table_kind::sparse && job.max_rows > 0) t.max_rows = job.max_rows;
    t.update = job.update.for_table(t.name);
  }
  for (const auto& entry : job.update.tables) {
    // Not a structured binding: C++17 lambdas cannot capture one (clang refuses).
    const std::string& name = entry.first;
    const bool known = std::any_of(tables.begin(), tables.end(),
                                   [&](const table_spec& t) { return t.name == name; });
    if (!known) {
      std::string names;
      for (const auto& t : tables) names += (names.empty() ? "" : ", ") + t.name;
      throw troupe_error(errc::bad_config, "update." + name + ": the " + job.model_kind +
                                               " model has no table '" + name +
                                               "' (its tables: " + names + ")");
    }
  }
  return tables;
}

std::unique_ptr<workload> make_train_workload(const job_config& job,
                                              std::shared_ptr<const workload_data> data,
                                              std::uint32_t part, std::uint32_t parts) {
  return workload_kind_of(job.model_kind).make_train(job, std::move(data), part, parts);
}

std::unique_ptr<workload> make_eval_workload(const job_config& job,
                                             std::shared_ptr<const workload_data> data) {
  return workload_kind_of(job.model_kind).make_eval(job, std::move(data));
}

double baseline_score(const workload_data& d) {
  baseline b;
  if (d.dense_train && d.dense_test) {
    b = baseline_of(*d.dense_train, *d.dense_test);
  } else if (d.sparse_train && d.sparse_test) {
    b = baseline_of(*d.sparse_train, *d.sparse_test);
  } else if (d.ratings_train && d.ratings_test) {
    b = baseline_of(*d.ratings_train, *d.ratings_test);
  } else {
    return -1;
  }
  return b.regression ? b.rmse : b.accuracy;
}

bool regression_job(const job_config& job) {
  const auto& kind = workload_kind_of(job.model_kind);
  return kind.regression && kind.regression(job);
}

}  // namespace troupe
