// A node behind a link with a long round trip. CAF 0.17 dates a new
// connection's last message from the clock's epoch, so the middleman's next
// heartbeat tick drops a connection whose peer's handshake has not arrived
// yet: with the default peer timeout (heartbeats every 100 ms) a link whose
// round trip is longer never joins. A longer peer timeout on both sides
// (--peer-timeout, [cluster] peer_timeout_s) spaces the heartbeats out; a
// job and a node whose timeouts differ are refused at the job's start.
#include <chrono>
#include <string>

#include "cluster_fixture.hpp"
#include "recording_proxy.hpp"

namespace troupe::cluster_testing {
namespace {

using SlowLink = Cluster;

TEST_F(SlowLink, AJobReachesANodeBehindALongLinkWithALongerPeerTimeout) {
  const auto node = start_node("far", "secret", 4, {}, {"--peer-timeout", "20"});
  const auto port = static_cast<std::uint16_t>(std::stoi(node.substr(node.rfind(':') + 1)));
  // 300 ms each way. The proxy connects to the node at once, so the node's
  // handshake reaches the job 300 ms after it connected: three heartbeats
  // of the default, one in seven of the longer one.
  test_support::recording_proxy link{"127.0.0.1", port, std::chrono::milliseconds(300)};
  auto job = small_job("default");
  job.train_limit = 640;  // 10 steps: every message to the node waits 600 ms for its answer
  job.test_limit = 256;
  job.epochs = 1;
  job.nodes = {"127.0.0.1:" + std::to_string(link.port())};
  job.secret_file = (dir / "secret").string();
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

// A job whose peer timeout differs from a node's would lose the node (or
// be lost by it) once heartbeats come too seldom for the shorter timeout;
// the node refuses it at the start instead, naming both values, and logs it.
TEST_F(SlowLink, ANodeRefusesAJobWithAnotherPeerTimeout) {
  const auto node = start_node("n0", "secret", 4, {}, {"--peer-timeout", "3"});
  auto job = small_job("mismatch");
  job.epochs = 1;
  job.nodes = {node};
  job.secret_file = (dir / "secret").string();
  try {
    run_job(job);  // the default, 1 s
    ADD_FAILURE() << "a job with a 1 s peer timeout ran on a node with 3 s";
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::bad_config) << e.what();
    const std::string what = e.what();
    EXPECT_NE(what.find("peer timeout mismatch: the job's is 1000 ms, this node's 3000 ms"),
              std::string::npos)
        << what;
  }
  EXPECT_TRUE(wait_for_log(*nodes[0], "refused admit", seconds(5))) << nodes[0]->log();
  job.peer_timeout_s = 3;
  job.output_dir = (dir / "same").string();
  const auto s = run_job(job);
  EXPECT_GT(s.steps, 0u) << summary_line(s);
  EXPECT_EQ(s.pushes_applied, s.pushes_acked) << summary_line(s);
}

}  // namespace
}  // namespace troupe::cluster_testing
