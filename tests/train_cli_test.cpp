// `troupe train` as an operator runs it (issue 12, problem 7): a job file
// that names its shard and worker nodes by index takes its node addresses
// from --nodes.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/child_process.hpp"

#ifndef TROUPE_BINARY
#error "TROUPE_BINARY must name the troupe executable"
#endif

namespace troupe {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using test_support::child_process;

TEST(TrainCli, NodesFromTheCommandLineFillAJobFileWithShardNodesButNoNodes) {
  const auto dir = fs::temp_directory_path() / ("troupe_train_cli_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  test_support::write_private_file(dir / "secret", "train-cli-test-secret-0123456789\n");
  std::ofstream(dir / "job.toml") << "[job]\nepochs = 1\n\n[data]\ntrain_limit = 1000\n"
                                  << "test_limit = 100\n\n[cluster]\nsecret_file = \""
                                  << (dir / "secret").string()
                                  << "\"\nshard_nodes = [0]\nworker_nodes = [1]\n";
  // Nothing listens on port 1: the job gets as far as connecting.
  // --set goes through the job's TOML and back: the indices must survive it.
  child_process train(
      {TROUPE_BINARY, "train", (dir / "job.toml").string(), "--nodes", "127.0.0.1:1,127.0.0.1:1",
       "--set", "train.backend=cpu", "-o", (dir / "out").string()},
      dir / "train.log");
  const auto code = train.wait_exit(seconds(120));
  ASSERT_TRUE(code.has_value()) << train.log();
  EXPECT_EQ(*code, 2) << train.log();
  EXPECT_EQ(train.log().find("node index"), std::string::npos) << train.log();
  EXPECT_NE(train.log().find("cannot reach node 127.0.0.1:1"), std::string::npos) << train.log();
  // Without --nodes the same file is still refused, naming the key.
  child_process alone({TROUPE_BINARY, "train", (dir / "job.toml").string()}, dir / "alone.log");
  ASSERT_EQ(alone.wait_exit(seconds(60)), 2) << alone.log();
  EXPECT_NE(alone.log().find("cluster.shard_nodes: node index 0 but only 0 nodes"),
            std::string::npos)
      << alone.log();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace troupe
