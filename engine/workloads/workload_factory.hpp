#pragma once
// From a job config to data and workloads, through the registry of workload
// kinds (workload_registry.hpp): loads a job's data set once per process,
// fits the model to it, and builds the training workload of each worker and
// the evaluation workload.
//
//   auto data = load_workload_data(job);          // throws missing_dataset
//   fit_job_to_data(job, *data);                  // input width, outputs; checked
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

/// A job's training, validation and test data, shared read-only by the
/// workers of a process. Built-in kinds fill the sets of their data; a
/// user's workload (include/troupe/workload.hpp) brings its own and leaves
/// all of them empty.
struct workload_data {
  std::shared_ptr<const dataset> dense_train, dense_test, dense_validation;
  std::shared_ptr<const sparse_dataset> sparse_train, sparse_test, sparse_validation;
  std::shared_ptr<const ratings_dataset> ratings_train, ratings_test, ratings_validation;
  float ratings_mean = 0;                    ///< mean training rating, the model's fixed offset
  std::shared_ptr<const brown_corpus> text;  ///< skipgram: sentences (rows) and vocabulary

  std::size_t train_rows() const;
  std::size_t test_rows() const;
  std::size_t validation_rows() const;
};

std::shared_ptr<const workload_data> load_workload_data(const job_config& job);

/// What the data a job trains and is scored on is, in one line: the rows of
/// each set and a CRC-32 of their contents ("train=480 test=120
/// validation=0 crc=1a2b3c4d"). A checkpoint records it, and a resume on
/// other data says so (it went on without a word, and metrics.csv then
/// mixed scores of two test sets).
std::string data_signature(const workload_data& data);

/// Completes the job's model from its data (layers with 0 ends) and checks
/// that they fit (input width, classes): one-line bad_config errors naming
/// both numbers. A no-op for kinds without such a check.
void fit_job_to_data(job_config& job, const workload_data& data);

/// The tables of the job's model (ids from 1, the job's optimizer, seed and
/// update rules). Throws troupe_error(bad_config) when [update.<name>]
/// names a table the model does not have.
std::vector<table_spec> workload_tables(const job_config& job);

std::unique_ptr<workload> make_train_workload(const job_config& job,
                                              std::shared_ptr<const workload_data> data,
                                              std::uint32_t part, std::uint32_t parts);
std::unique_ptr<workload> make_eval_workload(const job_config& job,
                                             std::shared_ptr<const workload_data> data);

/// The test score of predicting without features (majority class accuracy,
/// or the training mean's RMSE); -1 for data without such a baseline.
double baseline_score(const workload_data& data);

/// True when the job's evaluations are a regression's (RMSE, MAE), false
/// for a classifier's (accuracy, log-loss).
bool regression_job(const job_config& job);

/// A regression whose job file named no target metric is judged by its loss:
/// a custom workload's kind (a plugin's) says it is one only once loaded,
/// after the job file was read. Judged by accuracy, every sweep run of one
/// reached its target ("test accuracy >= 0") at once.
void settle_target_metric(job_config& job);

}  // namespace troupe
