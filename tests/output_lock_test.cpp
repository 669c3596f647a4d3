// One run at a time in an output directory (two schedulers in one directory
// interleaved their checkpoints and overwrote each other's summary).
#include <gtest/gtest.h>

#include <unistd.h>

#include <optional>

#include "data_files.hpp"
#include "engine/errors.hpp"
#include "engine/output_lock.hpp"

namespace troupe {
namespace {

using testing_files::temp_dir;

TEST(OutputLock, ASecondRunInTheDirectoryIsRefusedNamingTheFirstUntilItEnds) {
  temp_dir dir("output_lock");
  std::optional<output_lock> first = output_lock::acquire(dir.file(""));
  try {
    output_lock::acquire(dir.file(""));
    FAIL() << "two runs hold one directory";
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::bad_config);
    const std::string what = e.what();
    EXPECT_NE(what.find("another run is using"), std::string::npos) << what;
    EXPECT_NE(what.find("(process " + std::to_string(::getpid()) + ")"), std::string::npos) << what;
  }
  first.reset();
  EXPECT_NO_THROW(output_lock::acquire(dir.file("")));
}

TEST(OutputLock, ADirectoryThatCannotHoldTheLockIsAnIoError) {
  try {
    output_lock::acquire("/nonexistent/troupe-dir");
    FAIL() << "locked a directory that does not exist";
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::io_error);
  }
}

}  // namespace
}  // namespace troupe
