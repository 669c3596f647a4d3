// A node's data loads (actors/training_host.hpp): the node has preload() run
// off its own thread, and the request that follows takes what it loaded, or
// is refused with what went wrong, without loading again on the node's thread.
#include <gtest/gtest.h>

#include <caf/all.hpp>

#include <filesystem>
#include <fstream>

#include "actors/actor_config.hpp"
#include "actors/training_host.hpp"
#include "engine/job_config.hpp"
#include "tests/data_files.hpp"

namespace troupe {
namespace {

using testing_files::temp_dir;
using need = training_host::load_need;

// A worker request of a 2-shard job on `csv`; its handles are never used.
worker_request csv_worker(caf::actor_system& sys, const std::string& csv, caf::actor& dummy,
                          const std::string& more = {}) {
  // With an argument: CAF 0.17 binds a function actor's empty argument
  // tuple through a null pointer (UBSan).
  dummy = sys.spawn([](caf::event_based_actor*, int) -> caf::behavior { return {[](int) {}}; }, 0);
  job_config job = parse_job_config("[data]\nformat = \"csv\"\ntrain = \"" + csv +
                                        "\"\ntest_fraction = 0.25\n[model]\n"
                                        "layers = [2, 4, 2]\n[train]\nworkers = 2\nshards = 2\n"
                                        "backend = \"cpu\"\n" +
                                        more,
                                    "test job");
  worker_request req;
  req.job_toml = to_toml(job);
  req.shards = {caf::actor_cast<shard_actor>(dummy), caf::actor_cast<shard_actor>(dummy)};
  req.scheduler = caf::actor_cast<scheduler_actor>(dummy);
  return req;
}

TEST(TrainingHost, APreloadedDataSetServesTheRequestThatFollowsWithoutLoadingAgain) {
  temp_dir dir("host_preload");
  const auto csv =
      dir.write("mine.csv", "1,2,0\n3,4,1\n5,6,0\n7,8,1\n1,3,0\n2,4,1\n3,5,0\n4,6,1\n");
  actor_config cfg;
  caf::actor_system sys{cfg};
  caf::actor dummy;
  auto req = csv_worker(sys, csv, dummy);
  auto host = make_training_host("n1");
  EXPECT_EQ(host->needs_load(req.job_toml), need::load);
  host->preload(req.job_toml);
  EXPECT_EQ(host->needs_load(req.job_toml), need::none);
  // Gone from disk: only what preload() kept can serve the request.
  std::filesystem::remove(csv);
  auto first = req;  // a request is consumed by its preparation
  auto prepared = host->prepare_worker(first);
  EXPECT_TRUE(prepared.spawn) << prepared.problem.to_string();
  // Taken by that request (its actor holds it from now on): a later one,
  // with no actor holding the set, must load it and finds no file.
  prepared = {};
  auto second = req;
  auto again = host->prepare_worker(second);
  EXPECT_FALSE(again.spawn);
  EXPECT_NE(again.problem.message().find("mine.csv not found"), std::string::npos)
      << again.problem.to_string();
  caf::anon_send_exit(dummy, caf::exit_reason::user_shutdown);
}

TEST(TrainingHost, AFailedPreloadRefusesTheRequestThatFollowsWithItsError) {
  temp_dir dir("host_preload_fails");
  actor_config cfg;
  caf::actor_system sys{cfg};
  caf::actor dummy;
  auto req = csv_worker(sys, dir.file("missing.csv"), dummy);
  auto host = make_training_host("n1");
  EXPECT_EQ(host->needs_load(req.job_toml), need::load);
  host->preload(req.job_toml);
  // Known to fail: not loaded again on the node's thread before refusing.
  EXPECT_EQ(host->needs_load(req.job_toml), need::none);
  dir.write("missing.csv", "1,2,0\n3,4,1\n5,6,0\n7,8,1\n");
  auto first = req;  // a request is consumed by its preparation
  auto refused = host->prepare_worker(first);
  EXPECT_FALSE(refused.spawn);
  EXPECT_NE(refused.problem.message().find("missing.csv not found"), std::string::npos)
      << refused.problem.to_string();
  // Reported once: the next request loads the file that is there now.
  EXPECT_EQ(host->needs_load(req.job_toml), need::load);
  EXPECT_TRUE(host->prepare_worker(req).spawn);
  // An unreadable job is not loaded: prepare_worker says why, at once.
  EXPECT_EQ(host->needs_load("not toml ["), need::none);
  caf::anon_send_exit(dummy, caf::exit_reason::user_shutdown);
}

// A job its node refuses for memory needs no load: prepare_worker refuses
// it at once. (preload() refused to load it, so its request went back and
// forth between the node and a new loader for ever.)
TEST(TrainingHost, AJobTooLargeForTheNodeNeedsNoLoad) {
  temp_dir dir("host_too_large");
  const auto csv = dir.write("mine.csv", "1,2,0\n3,4,1\n5,6,0\n7,8,1\n");
  actor_config cfg;
  caf::actor_system sys{cfg};
  caf::actor dummy;
  auto req = csv_worker(sys, csv, dummy, "batch = 1048576\n[limits]\nmemory_share = 0.0001\n");
  auto host = make_training_host("n1");
  EXPECT_EQ(host->needs_load(req.job_toml), need::none);
  auto refused = host->prepare_worker(req);
  EXPECT_FALSE(refused.spawn);
  EXPECT_NE(refused.problem.message().find("memory"), std::string::npos)
      << refused.problem.to_string();
  caf::anon_send_exit(dummy, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace troupe
