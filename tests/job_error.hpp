#pragma once
// The message of the bad_config error a job's TOML text raises ("" when it
// parses), for tests of the job file's checks.
//
//   EXPECT_NE(job_error_of("[train]\nworkers = 0\n").find("train.workers"), std::string::npos);

#include <gtest/gtest.h>

#include <string>

#include "engine/errors.hpp"
#include "engine/job_config.hpp"

namespace troupe::test_support {

inline std::string job_error_of(const std::string& toml) {
  try {
    parse_job_config(toml, "test.toml");
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::bad_config);
    return e.what();
  }
  return "";
}

}  // namespace troupe::test_support
