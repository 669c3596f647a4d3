#pragma once
// Runs one training job in this process: loads the data, starts an actor
// system with the scheduler, shards, workers and evaluator, waits for the
// end and writes the run's files (job.toml, metrics.csv, summary.txt, and report.txt when the
// workload has one) into the job's output directory.
//
//   auto job = troupe::default_job_config();
//   job.epochs = 2;
//   troupe::job_summary s = troupe::run_job(job);
//   std::cout << troupe::summary_line(s) << "\n";

#include <string>

#include "actors/messages.hpp"
#include "engine/job_config.hpp"

namespace troupe {

/// Throws troupe_error on bad config, missing data or a failed job.
job_summary run_job(const job_config& job);

/// "test_accuracy=0.8731 samples_per_s=18234 wall_s=39.2 epochs=10 ..."
std::string summary_line(const job_summary& s);

}  // namespace troupe
