// A node behind a link with a long round trip. CAF 0.17 dates a new
// connection's last message from the clock's epoch, so the middleman's next
// heartbeat tick drops a connection whose peer's handshake has not arrived
// yet: with the default peer timeout (heartbeats every 100 ms) a link whose
// round trip is longer never joins. A longer peer timeout on both sides
// (--peer-timeout, [cluster] peer_timeout_s) spaces the heartbeats out.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "actors/job_runner.hpp"
#include "daemon_support.hpp"
#include "engine/errors.hpp"
#include "engine/job_config.hpp"
#include "recording_proxy.hpp"

#ifndef TROUPE_BINARY
#error "TROUPE_BINARY must name the troupe executable"
#endif

namespace troupe {
namespace {

namespace fs = std::filesystem;
using namespace test_support;

class SlowLink : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("troupe_slow_link_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    secret = (dir / "secret").string();
    write_private_file(secret, "slow-link-test-secret-0123456789\n");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  fs::path dir;
  std::string secret;
};

TEST_F(SlowLink, AJobReachesANodeBehindALongLinkWithALongerPeerTimeout) {
  if (!fs::exists(default_data_dir("fashion-mnist"))) GTEST_SKIP() << "no Fashion-MNIST";
  auto node = start_daemon({TROUPE_BINARY, "node", "--listen", "127.0.0.1:0", "--secret", secret,
                            "--threads", "1", "--peer-timeout", "20"},
                           dir / "node.log");
  ASSERT_NE(node.port, 0) << node.process->log();
  // 300 ms each way. The proxy connects to the node at once, so the node's
  // handshake reaches the job 300 ms after it connected: three heartbeats
  // of the default, one in seven of the longer one.
  recording_proxy link{"127.0.0.1", node.port, std::chrono::milliseconds(300)};
  auto job = default_job_config();
  job.name = "slow-link";
  job.train_limit = 640;
  job.test_limit = 256;
  job.epochs = 1;
  job.workers = 1;
  job.shards = 1;
  job.backend = kernels::backend_kind::cpu;
  job.nodes = {"127.0.0.1:" + std::to_string(link.port())};
  job.secret_file = secret;
  job.output_dir = (dir / "default").string();
  try {
    run_job(job);
    ADD_FAILURE() << "a job with the default peer timeout reached the node over a 600 ms link";
  } catch (const troupe_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot reach node"), std::string::npos) << e.what();
  }
  job.peer_timeout_s = 20;
  job.output_dir = (dir / "longer").string();
  const auto s = run_job(job);
  EXPECT_GT(s.steps, 0u) << summary_line(s);
  EXPECT_EQ(s.pushes_applied, s.pushes_acked) << summary_line(s);
  EXPECT_GT(s.test_accuracy, 0.2) << summary_line(s);  // 10 steps from chance (0.1)
}

}  // namespace
}  // namespace troupe
