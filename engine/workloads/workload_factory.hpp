#pragma once
// From a job config to data and workloads: loads a job's data set once per
// process and builds the training workload of each worker and the
// evaluation workload.
//
//   auto data = load_workload_data(job);          // throws missing_dataset
//   auto wl = make_train_workload(job, data, 0, job.workers);
//   auto tables = wl->tables();                   // what the shards hold

#include <memory>
#include <string>

#include "engine/data/brown_corpus.hpp"
#include "engine/data/dataset.hpp"
#include "engine/data/ratings_dataset.hpp"
#include "engine/data/sparse_dataset.hpp"
#include "engine/job_config.hpp"
#include "engine/workloads/workload.hpp"

namespace troupe {

/// A job's training and test data, shared read-only by the workers of a process.
struct workload_data {
  std::shared_ptr<const dataset> dense_train, dense_test;
  std::shared_ptr<const sparse_dataset> sparse_train, sparse_test;
  std::shared_ptr<const ratings_dataset> ratings_train, ratings_test;
  float ratings_mean = 0;                    ///< mean training rating, the model's fixed offset
  std::shared_ptr<const brown_corpus> text;  ///< skipgram: sentences (rows) and vocabulary

  std::size_t train_rows() const;
  std::size_t test_rows() const;
};

std::shared_ptr<const workload_data> load_workload_data(const job_config& job);

/// The tables of the job's model (ids from 1, the job's optimizer, seed and
/// update rules). Throws troupe_error(bad_config) when [update.<name>]
/// names a table the model does not have.
std::vector<table_spec> workload_tables(const job_config& job);

std::unique_ptr<workload> make_train_workload(const job_config& job,
                                              std::shared_ptr<const workload_data> data,
                                              std::uint32_t part, std::uint32_t parts);
std::unique_ptr<workload> make_eval_workload(const job_config& job,
                                             std::shared_ptr<const workload_data> data);

}  // namespace troupe
