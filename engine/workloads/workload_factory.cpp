#include "engine/workloads/workload_factory.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstdio>

#include "engine/data/baseline.hpp"
#include "engine/errors.hpp"
#include "engine/workloads/workload_registry.hpp"

namespace troupe {

namespace {

template <class T>
unsigned long crc_of(unsigned long crc, const std::vector<T>& v) {
  // zlib's crc32 takes at most 4 GiB a call.
  const auto* p = reinterpret_cast<const Bytef*>(v.data());
  std::size_t left = v.size() * sizeof(T);
  while (left > 0) {
    const auto n = static_cast<uInt>(std::min<std::size_t>(left, 1u << 30));
    crc = crc32(crc, p, n);
    p += n;
    left -= n;
  }
  return crc;
}

}  // namespace

std::string data_signature(const workload_data& data) {
  unsigned long crc = crc32(0L, Z_NULL, 0);
  for (const auto* d :
       {data.dense_train.get(), data.dense_test.get(), data.dense_validation.get()}) {
    if (d == nullptr) continue;
    crc = crc_of(crc_of(crc_of(crc, d->features), d->labels), d->targets);
  }
  for (const auto* d :
       {data.sparse_train.get(), data.sparse_test.get(), data.sparse_validation.get()}) {
    if (d == nullptr) continue;
    crc = crc_of(crc_of(crc_of(crc_of(crc, d->row_ptr), d->cols), d->values), d->labels);
  }
  for (const auto* d :
       {data.ratings_train.get(), data.ratings_test.get(), data.ratings_validation.get()}) {
    if (d == nullptr) continue;
    crc = crc_of(crc_of(crc_of(crc, d->users), d->items), d->ratings);
  }
  if (data.text) {
    for (const auto* part : {&data.text->train, &data.text->test}) {
      for (const auto& s : *part) crc = crc_of(crc, s);
    }
  }
  char hex[16];
  std::snprintf(hex, sizeof(hex), "%08lx", crc & 0xffffffffUL);
  return "train=" + std::to_string(data.train_rows()) +
         " test=" + std::to_string(data.test_rows()) +
         " validation=" + std::to_string(data.validation_rows()) + " crc=" + hex;
}

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

void settle_target_metric(job_config& job) {
  if (!job.target_metric_given && job.target_metric == "accuracy" && regression_job(job)) {
    job.target_metric = "loss";
  }
}

}  // namespace troupe
