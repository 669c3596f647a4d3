#pragma once
// The message of the error run_job refuses `job` with, its code checked;
// a job that runs instead is a test failure ("" then).
//
//   EXPECT_NE(refusal_of(resumed).find("nothing to resume"), std::string::npos);

#include <gtest/gtest.h>

#include <string>

#include "actors/job_runner.hpp"
#include "engine/errors.hpp"
#include "engine/job_config.hpp"

namespace troupe::test_support {

inline std::string refusal_of(const job_config& job, errc code = errc::bad_config) {
  try {
    run_job(job);
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "job '" << job.name << "' ran; a refusal was expected";
  return "";
}

}  // namespace troupe::test_support
