#pragma once
// The fixture of the cluster tests: three real `troupe node` processes on
// 127.0.0.1 (ephemeral ports) and helpers to run a job beside them and break
// them while it runs. Every child is killed and reaped by child_process's
// destructor, also when an assertion fails.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "actors/job_runner.hpp"
#include "background_job.hpp"
#include "child_process.hpp"
#include "daemon_support.hpp"
#include "engine/errors.hpp"

namespace troupe::cluster_testing {

namespace fs = std::filesystem;
using std::chrono::seconds;
using test_support::background_job;
using test_support::child_process;
using test_support::http_get;
using test_support::series;
using test_support::wait_for_log;

// Pushes a lost data-parallel worker may have had applied without the ack
// being counted (an ack counts once it lasts, the reply a primary sends when
// its backup holds the push too): those of the steps it held for a resend
// at its last report (4) and of the steps it pushed after it (2: none
// completed since, or it would have reported), times one push per shard
// (the jobs here have 2 shards). Never the other way: an acknowledged push
// is applied.
constexpr std::uint64_t in_flight_per_lost_worker = (4 + 2) * 2;

// Waits (up to 30 s) until `job` has a complete checkpoint. Any will do:
// older progress files are pruned as newer ones complete, so the first may
// already be gone when we look.
inline bool wait_for_checkpoint(const job_config& job) {
  const auto dir = fs::path(job.output_dir) / "checkpoints";
  for (int i = 0; i < 3000; ++i) {
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      // A complete checkpoint: its progress file renamed into place (a
      // ".tmp" one may still be cut short by a kill).
      const auto name = it->path().filename().string();
      if (name.rfind("progress-clock-", 0) == 0 && it->path().extension() == ".txt") return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

class Cluster : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(default_data_dir("fashion-mnist"))) {
      GTEST_FAIL() << "Fashion-MNIST is missing: run scripts/setup.sh";
    }
    dir = fs::temp_directory_path() / ("troupe_cluster_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    test_support::write_private_file(dir / "secret", "cluster-test-secret-0123456789abcdef\n");
    test_support::write_private_file(dir / "other", "some-other-cluster-secret-987654321\n");
  }
  void TearDown() override {
    nodes.clear();  // kills and reaps
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  // Starts a node daemon (metrics on an ephemeral port) and returns its HOST:PORT.
  // `global` goes before the subcommand (e.g. {"--plugin", FILE}), `flags`
  // after it (e.g. {"--no-shared-memory"}).
  std::string start_node(const std::string& name, const std::string& secret_file, int slots = 4,
                         const std::vector<std::string>& global = {},
                         const std::vector<std::string>& flags = {}) {
    std::vector<std::string> args{TROUPE_BINARY};
    args.insert(args.end(), global.begin(), global.end());
    for (const auto& a : {std::string("node"), std::string("--listen"), std::string("127.0.0.1:0"),
                          std::string("--secret"), (dir / secret_file).string(),
                          std::string("--slots"), std::to_string(slots), std::string("--name"),
                          name, std::string("--metrics"), std::string("127.0.0.1:0")}) {
      args.push_back(a);
    }
    args.insert(args.end(), flags.begin(), flags.end());
    nodes.push_back(std::make_unique<child_process>(args, dir / (name + ".log")));
    const auto port = nodes.back()->wait_for_line("listening on 127.0.0.1:", seconds(15));
    EXPECT_FALSE(port.empty()) << "node " << name << " did not start:\n" << nodes.back()->log();
    const auto metrics = nodes.back()->wait_for_line("metrics on 127.0.0.1:", seconds(5));
    metrics_ports.push_back(metrics.empty() ? 0 : static_cast<std::uint16_t>(std::stoi(metrics)));
    return "127.0.0.1:" + port;
  }

  // Once nodes[watched] has logged `text` (the job is training), waits
  // `after` and sends `sig` to nodes[victim]; false if the text never came.
  bool kill_once_training(std::size_t watched, const std::string& text, std::size_t victim,
                          std::chrono::milliseconds after = std::chrono::milliseconds(1000),
                          int sig = SIGKILL) {
    const bool training = wait_for_log(*nodes[watched], text, seconds(30));
    std::this_thread::sleep_for(after);
    // scripts/measure-recovery.sh times from this line.
    spdlog::warn("test: {} to node n{}", sig == SIGKILL ? "SIGKILL" : "SIGSTOP", victim);
    nodes[victim]->signal(sig);
    return training;
  }

  // Once `job` has written a checkpoint (every 50 clocks), SIGKILLs nodes[victim];
  // false if no checkpoint came.
  bool kill_once_checkpointed(const job_config& job, std::size_t victim) {
    const bool found = wait_for_checkpoint(job);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    spdlog::warn("test: SIGKILL to node n{}", victim);
    nodes[victim]->signal(SIGKILL);
    return found;
  }

  // Starts nodes n0 .. n<count - 1> (same secret, `slots` each) and names them in `job`.
  void add_nodes(job_config& job, int count, int slots = 4) {
    for (int i = 0; i < count; ++i) {
      job.nodes.push_back(start_node("n" + std::to_string(i), "secret", slots));
    }
    job.secret_file = (dir / "secret").string();
  }
  void add_three_nodes(job_config& job) { add_nodes(job, 3); }

  job_config small_job(const std::string& name) {
    auto job = default_job_config();
    job.train_limit = 12000;
    job.test_limit = 2000;
    job.epochs = 4;
    job.backend = kernels::backend_kind::cpu;
    job.output_dir = (dir / name).string();
    return job;
  }

  fs::path dir;
  std::vector<std::unique_ptr<child_process>> nodes;
  std::vector<std::uint16_t> metrics_ports;
};

}  // namespace troupe::cluster_testing
