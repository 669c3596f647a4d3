// Jobs on long-running node daemons (issue 12, problems 2 and 3): nothing of
// a job stays on the nodes once it ended, failed or lost its scheduler; a
// crashed job resumes on the same daemons; SIGTERM stops a daemon that was
// left with an orphaned job.
#include "cluster_fixture.hpp"

#include <sstream>

namespace troupe {
namespace {

using namespace cluster_testing;
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using test_support::child_process;

class ClusterLifecycle : public Cluster {
 protected:
  // What `troupe status` reports as hosted by the node at `address`; -1 if it did not answer.
  int hosted(const std::string& address, std::string* report = nullptr) {
    child_process status({TROUPE_BINARY, "status", address, "--secret", (dir / "secret").string()},
                         dir / "status.log");
    if (status.wait_exit(seconds(30)) != 0) return -1;
    const auto text = status.log();
    if (report) *report = text;
    const auto at = text.find(" ended, ");
    return at == std::string::npos ? -1 : std::stoi(text.substr(at + 8));
  }

  // Polls until every node hosts nothing; false (with the reports) if one still does.
  bool nodes_empty(const std::vector<std::string>& addresses, std::string& reports) {
    for (const auto& a : addresses) {
      std::string report;
      int n = hosted(a, &report);
      for (int i = 0; i < 100 && n != 0; ++i) {
        std::this_thread::sleep_for(milliseconds(100));
        n = hosted(a, &report);
      }
      if (n != 0) {
        reports += report;
        return false;
      }
    }
    return true;
  }

  // `troupe train` on `job` in a child process (logging to <name>.log).
  // Named after its output directory: jobs of one name (job.name is the
  // same for all) would share one job file.
  std::unique_ptr<child_process> start_trainer(const job_config& job) {
    const auto name = fs::path(job.output_dir).filename().string();
    const auto file = dir / (name + "-job.toml");
    std::ofstream(file) << to_toml(job);
    return std::make_unique<child_process>(
        std::vector<std::string>{TROUPE_BINARY, "train", file.string()}, dir / (name + ".log"));
  }

  // A job in a child process that takes all 3 slots of the node at
  // `address` (2 shards without backups, 1 worker) once the node logs it.
  std::unique_ptr<child_process> fill_node(std::size_t node, const std::string& address,
                                           std::uint32_t epochs) {
    auto filler = small_job("filler");
    filler.epochs = epochs;
    filler.nodes = {address};
    filler.workers = 1;
    filler.replication = 1;
    filler.secret_file = (dir / "secret").string();
    auto process = start_trainer(filler);
    EXPECT_TRUE(wait_for_log(*nodes[node], "hosting worker", seconds(60))) << nodes[node]->log();
    return process;
  }
};

// Three slots per node fit one reference-shaped job (shards with backups and
// workers over three nodes) but not two: a second job in a row only runs if
// the first left nothing behind (its backups, before the fix).
TEST_F(ClusterLifecycle, FinishedJobsLeaveNothingOnTheNodes) {
  std::vector<std::string> addresses;
  for (int i = 0; i < 3; ++i) addresses.push_back(start_node("n" + std::to_string(i), "secret", 3));
  for (int round = 0; round < 2; ++round) {
    auto job = small_job("round" + std::to_string(round));
    job.epochs = 1;
    job.train_limit = 4000;
    job.nodes = addresses;
    job.secret_file = (dir / "secret").string();
    job_summary summary;
    try {
      summary = run_job(job);
    } catch (const std::exception& e) {
      FAIL() << "job " << round << ": " << e.what();
    }
    EXPECT_EQ(summary.pushes_applied, summary.pushes_acked) << summary_line(summary);
    std::string reports;
    EXPECT_TRUE(nodes_empty(addresses, reports)) << "after job " << round << ":\n" << reports;
  }
  // A normal start logs nothing that reads like a failure (issue 12, problem
  // 7), nor a normal end: run_job returns once every node has let the job go,
  // so none finds this process's connection gone first (about 1 job in 40
  // was logged as ended by remote_link_unreachable).
  for (const auto& n : nodes) {
    EXPECT_EQ(n->log().find("remote_link_unreachable"), std::string::npos) << n->log();
    EXPECT_EQ(n->log().find("re-pointed"), std::string::npos) << n->log();
    EXPECT_EQ(n->log().find("restored from the checkpoint"), std::string::npos) << n->log();
  }
}

// Three jobs started at once on daemons that fit one at a time: each
// reserves all its slots before placing anything, a job that finds a node
// full gives back what it got and waits, and all three run to their end, one
// after another (before: each placed part of its actors, and two of three
// failed with "all 3 slots of node n1 are in use").
TEST_F(ClusterLifecycle, JobsStartedTogetherWaitForSlotsInsteadOfFailing) {
  std::vector<std::string> addresses;
  for (int i = 0; i < 3; ++i) addresses.push_back(start_node("n" + std::to_string(i), "secret", 3));
  std::vector<std::unique_ptr<child_process>> trainers;
  for (int j = 0; j < 3; ++j) {
    auto job = small_job("together" + std::to_string(j));
    job.epochs = 3;  // long enough that the three overlap, whatever their start-up takes
    job.train_limit = 8000;
    job.nodes = addresses;
    job.secret_file = (dir / "secret").string();
    job.slot_wait_s = 300;  // a bound for a hang on a loaded machine; each job takes seconds
    // One file per job: named after job.name (the same for all three), the
    // three ran from the last one written, in one output directory.
    const auto file = dir / ("together" + std::to_string(j) + "-job.toml");
    std::ofstream(file) << to_toml(job);
    trainers.push_back(std::make_unique<child_process>(
        std::vector<std::string>{TROUPE_BINARY, "train", file.string()},
        dir / ("together" + std::to_string(j) + ".log")));
  }
  int waited = 0;
  for (std::size_t j = 0; j < trainers.size(); ++j) {
    const auto code = trainers[j]->wait_exit(seconds(600));
    ASSERT_TRUE(code.has_value()) << "job " << j << " still runs:\n" << trainers[j]->log();
    EXPECT_EQ(*code, 0) << "job " << j << ":\n" << trainers[j]->log();
    waited += trainers[j]->log().find("waiting up to 300 s for free slots") != std::string::npos;
  }
  // The slots fit one job at a time: those started beside it waited.
  EXPECT_GE(waited, 1);
  std::string reports;
  EXPECT_TRUE(nodes_empty(addresses, reports)) << reports;
}

// A job waiting for slots on a node that is then killed fails at once,
// naming the node; its process ends, so the other node's reservation goes
// too. Before, it waited for the lost node's answer for 120 s, whatever its
// slot wait, holding the slots the other node had set aside for it, and
// failed with "request_timeout".
TEST_F(ClusterLifecycle, AJobWaitingForSlotsOnANodeThatDiesFailsAtOnce) {
  const auto a = start_node("a", "secret", 6);
  const auto b = start_node("b", "secret", 3);
  auto first = fill_node(1, b, 1000);   // runs until b is killed
  auto waiting = small_job("waiting");  // 3 slots on each node
  waiting.nodes = {a, b};
  waiting.slot_wait_s = 600;
  waiting.secret_file = (dir / "secret").string();
  auto second = start_trainer(waiting);
  ASSERT_TRUE(wait_for_log(*second, "waiting up to 600 s for free slots", seconds(60)))
      << second->log();
  nodes[1]->signal(SIGKILL);
  const auto code = second->wait_exit(seconds(300));
  ASSERT_TRUE(code.has_value()) << second->log();
  EXPECT_EQ(*code, 4) << "a lost node: trying again later may work\n" << second->log();
  EXPECT_NE(second->log().find("node " + b + " was lost"), std::string::npos) << second->log();
  EXPECT_NE(second->log().find("while the job was being placed"), std::string::npos)
      << second->log();
  std::string reports;
  EXPECT_TRUE(nodes_empty({a}, reports)) << reports;
  first->wait_exit(seconds(60));
}

// A node the job places nothing on (listed, but in neither shard_nodes nor
// worker_nodes) is lost while the job waits for slots elsewhere: the job
// does not fail for it; it waits, and runs once the slots are free.
TEST_F(ClusterLifecycle, ASpareNodeLostWhileAJobWaitsForSlotsDoesNotEndIt) {
  const auto a = start_node("a", "secret", 3);
  const auto b = start_node("b", "secret", 3);
  const auto spare = start_node("spare", "secret", 3);
  auto first = fill_node(1, b, 1000);  // until its trainer is killed below
  auto waiting = small_job("waiting");
  waiting.epochs = 1;
  waiting.nodes = {a, b, spare};
  waiting.shard_nodes = {0};
  waiting.worker_nodes = {1};
  waiting.replication = 1;
  waiting.slot_wait_s = 600;
  waiting.secret_file = (dir / "secret").string();
  auto second = start_trainer(waiting);
  ASSERT_TRUE(wait_for_log(*second, "waiting up to 600 s for free slots", seconds(60)))
      << second->log();
  nodes[2]->signal(SIGKILL);
  std::this_thread::sleep_for(milliseconds(1500));  // the spare's loss is seen
  first->signal(SIGKILL);                           // its lease lapses: b's slots are free again
  const auto code = second->wait_exit(seconds(300));
  ASSERT_TRUE(code.has_value()) << second->log();
  EXPECT_EQ(*code, 0) << second->log();
}

// The scheduler's process dies (SIGKILL) after a checkpoint: every node
// releases the job's actors on its own, and `--resume` runs on the same
// daemons (before the fix: "all 3 slots of node n1 are in use").
TEST_F(ClusterLifecycle, SchedulerCrashReleasesItsActorsAndResumeRunsOnTheSameNodes) {
  auto job = small_job("crash");
  job.epochs = 3;
  job.checkpoint_every = 50;
  for (int i = 0; i < 3; ++i) job.nodes.push_back(start_node("n" + std::to_string(i), "secret", 3));
  job.secret_file = (dir / "secret").string();
  auto trainer = start_trainer(job);
  const bool checkpointed = wait_for_checkpoint(job);
  trainer->signal(SIGKILL);
  trainer->wait_exit(seconds(10));
  ASSERT_TRUE(checkpointed) << trainer->log();
  std::string reports;
  EXPECT_TRUE(nodes_empty(job.nodes, reports)) << reports;
  for (const auto& n : nodes) {
    EXPECT_NE(n->log().find("its scheduler ended"), std::string::npos) << n->log();
  }

  auto resumed = job;
  resumed.resume_from = job.output_dir + "/checkpoints";
  job_summary summary;
  try {
    summary = run_job(resumed);
  } catch (const std::exception& e) {
    FAIL() << "resume: " << e.what();
  }
  EXPECT_EQ(summary.epochs, 3u) << summary_line(summary);
  EXPECT_GE(summary.resumed_from_clock, 50) << summary_line(summary);
  EXPECT_TRUE(nodes_empty(job.nodes, reports)) << reports;
}

// SIGTERM two seconds after the job's scheduler was killed mid-training:
// every daemon exits with code 0 (before the fix, ~actor_system could wait
// forever for a detached worker of the orphaned job).
TEST_F(ClusterLifecycle, SigtermStopsEveryNodeLeftWithAnOrphanedJob) {
  auto job = small_job("orphan");
  job.epochs = 20;
  job.shard_nodes = {0};
  job.worker_nodes = {1, 2};
  for (int i = 0; i < 3; ++i) job.nodes.push_back(start_node("n" + std::to_string(i), "secret"));
  job.secret_file = (dir / "secret").string();
  auto trainer = start_trainer(job);
  const bool training = wait_for_log(*nodes[2], "hosting worker", seconds(30));
  std::this_thread::sleep_for(milliseconds(1500));
  trainer->signal(SIGKILL);
  // As an operator would: a little later (before the fix the orphaned
  // workers then waited on their dead scheduler, and 3 of 4 such stops hung).
  std::this_thread::sleep_for(milliseconds(2000));
  for (auto& n : nodes) n->signal(SIGTERM);
  ASSERT_TRUE(training) << trainer->log();
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    // A bound for a hang, not a speed: a drained daemon stops in milliseconds.
    const auto code = nodes[i]->wait_exit(seconds(30));
    ASSERT_TRUE(code.has_value()) << "node n" << i << " still runs 30 s after SIGTERM:\n"
                                  << nodes[i]->log();
    EXPECT_EQ(*code, 0) << nodes[i]->log();
  }
}

// Issue 12, problem 7: with checkpoints on, both nodes holding shard copies
// are killed together. Each shard's backup is found dead before it is
// promoted, and each shard comes back from its checkpoint on the node left;
// the job runs to its end. Should that fail, the error must say what happened
// to the copies (before: "all 4 slots of node n2 are in use", from backups
// being made of copies that were already gone).
TEST_F(ClusterLifecycle, ShardsThatLostBothCopiesComeBackFromTheirCheckpoints) {
  auto job = small_job("both_copies");
  job.epochs = 4;
  job.checkpoint_every = 30;
  for (int i = 0; i < 3; ++i) job.nodes.push_back(start_node("n" + std::to_string(i), "secret"));
  job.secret_file = (dir / "secret").string();
  job.shard_nodes = {0, 1};
  job.worker_nodes = {2};
  background_job run(job);
  const bool checkpointed = wait_for_checkpoint(job);
  nodes[0]->signal(SIGKILL);
  nodes[1]->signal(SIGKILL);
  run.join();
  ASSERT_TRUE(checkpointed);
  ASSERT_TRUE(run.result) << run.error << "\n" << nodes[2]->log();
  EXPECT_EQ(run.result->epochs, 4u) << summary_line(*run.result);
  EXPECT_EQ(run.result->shards_failed_over, 2u) << summary_line(*run.result);
  EXPECT_NE(nodes[2]->log().find("hosting shard 0"), std::string::npos) << nodes[2]->log();
  EXPECT_NE(nodes[2]->log().find("hosting shard 1"), std::string::npos) << nodes[2]->log();
}

}  // namespace
}  // namespace troupe
