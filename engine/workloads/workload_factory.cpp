#include "engine/workloads/workload_factory.hpp"

#include <algorithm>

#include "engine/data/spam_corpus.hpp"
#include "engine/errors.hpp"
#include "engine/workloads/logreg_workload.hpp"
#include "engine/workloads/mf_workload.hpp"
#include "engine/workloads/mlp_workload.hpp"
#include "engine/workloads/skipgram_workload.hpp"

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

namespace {

mlp_workload_options mlp_options(const job_config& job) {
  mlp_workload_options o;
  o.model = job.model;
  o.batch = job.batch;
  o.seed = job.seed;
  o.optimizer = job.optimizer;
  o.backend = job.backend;
  return o;
}

mf_workload_options mf_options(const job_config& job) {
  mf_workload_options o;
  o.dim = job.embedding_dim;
  o.batch = job.batch;
  o.seed = job.seed;
  o.l2 = static_cast<float>(job.l2);
  o.optimizer = job.optimizer;
  return o;
}

skipgram_workload_options skipgram_options(const job_config& job) {
  skipgram_workload_options o;
  o.dim = job.embedding_dim;
  o.batch = job.batch;
  o.window = job.window;
  o.negatives = job.negatives;
  o.subsample = job.subsample;
  o.seed = job.seed;
  o.optimizer = job.optimizer;
  return o;
}

logreg_workload_options logreg_options(const job_config& job) {
  logreg_workload_options o;
  o.batch = job.batch;
  o.seed = job.seed;
  o.optimizer = job.optimizer;
  return o;
}

std::shared_ptr<const sparse_dataset> first_rows(sparse_dataset d, std::uint64_t limit) {
  if (limit == 0 || limit >= d.rows) return std::make_shared<const sparse_dataset>(std::move(d));
  std::vector<std::size_t> idx(limit);
  for (std::size_t i = 0; i < limit; ++i) idx[i] = i;
  return std::make_shared<const sparse_dataset>(select_rows(d, idx));
}

}  // namespace

std::shared_ptr<const workload_data> load_workload_data(const job_config& job) {
  auto data = std::make_shared<workload_data>();
  const auto dir = resolved_data_dir(job);
  if (job.data_set == "movielens") {
    auto split = load_movielens(dir, job.split_seed, job.test_fraction);
    data->ratings_mean = static_cast<float>(split.train.mean());
    data->ratings_train = std::make_shared<const ratings_dataset>(std::move(split.train));
    data->ratings_test = std::make_shared<const ratings_dataset>(std::move(split.test));
  } else if (job.data_set == "brown") {
    data->text = std::make_shared<const brown_corpus>(
        load_brown(dir, job.min_count, job.split_seed, job.test_fraction));
  } else if (job.data_set == "spam-assassin") {
    // The split has its own seed: a sweep's repeats vary initialisation and
    // order, not the test set they are scored on.
    auto split = load_spam_assassin(dir, job.split_seed, job.test_fraction, job.min_count);
    data->sparse_train = first_rows(std::move(split.train), job.train_limit);
    data->sparse_test = first_rows(std::move(split.test), job.test_limit);
  } else {
    data->dense_train = std::make_shared<const dataset>(
        take_rows(load_fashion_mnist(dir, "train"), job.train_limit));
    data->dense_test =
        std::make_shared<const dataset>(take_rows(load_fashion_mnist(dir, "test"), job.test_limit));
  }
  if (data->train_rows() < job.workers) {
    throw troupe_error(errc::bad_config, "fewer training rows (" +
                                             std::to_string(data->train_rows()) + ") than workers");
  }
  return data;
}

std::vector<table_spec> workload_tables(const job_config& job) {
  std::vector<table_spec> tables;
  if (job.model_kind == "mf") {
    tables = mf_tables(mf_options(job));
  } else if (job.model_kind == "skipgram") {
    tables = skipgram_tables(skipgram_options(job));
  } else if (job.model_kind == "logreg") {
    tables = logreg_tables(logreg_options(job));
  } else {
    tables = {mlp_table(mlp_options(job))};
  }
  for (auto& t : tables) {
    if (t.kind == table_kind::sparse) t.max_rows = job.max_rows;
    t.update = job.update.for_table(t.name);
  }
  for (const auto& [name, rule] : job.update.tables) {
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
  if (job.model_kind == "mf") {
    return make_mf_workload(mf_options(job), data->ratings_train, nullptr, data->ratings_mean, part,
                            parts);
  }
  if (job.model_kind == "logreg") {
    return make_logreg_workload(logreg_options(job), data->sparse_train, nullptr, part, parts);
  }
  if (job.model_kind == "skipgram") {
    return make_skipgram_workload(skipgram_options(job), data->text, part, parts);
  }
  return make_mlp_workload(mlp_options(job), data->dense_train, nullptr, part, parts);
}

std::unique_ptr<workload> make_eval_workload(const job_config& job,
                                             std::shared_ptr<const workload_data> data) {
  if (job.model_kind == "mf") {
    return make_mf_workload(mf_options(job), nullptr, data->ratings_test, data->ratings_mean, 0, 1);
  }
  if (job.model_kind == "logreg") {
    return make_logreg_workload(logreg_options(job), nullptr, data->sparse_test, 0, 1);
  }
  if (job.model_kind == "skipgram") {
    return make_skipgram_workload(skipgram_options(job), data->text, 0, 1);
  }
  return make_mlp_workload(mlp_options(job), nullptr, data->dense_test, 0, 1);
}

}  // namespace troupe
