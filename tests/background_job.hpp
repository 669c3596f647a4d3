#pragma once
// A training job run on another thread while a test breaks the cluster
// under it (kills nodes, sends hostile input), with its outcome kept.
//
//   background_job run(job);
//   nodes[1]->signal(SIGKILL);
//   run.join();
//   ASSERT_TRUE(run.result) << run.error;

#include <exception>
#include <optional>
#include <string>
#include <thread>

#include "actors/job_runner.hpp"

namespace troupe::test_support {

struct background_job {
  explicit background_job(job_config job)
      : thread([this, job = std::move(job)] {
          try {
            result = run_job(job);
          } catch (const std::exception& e) {
            error = e.what();
          }
        }) {}
  void join() { thread.join(); }
  std::optional<job_summary> result;
  std::string error;
  std::thread thread;
};

}  // namespace troupe::test_support
