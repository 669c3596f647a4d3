// failover_wait: how long a worker or pipeline stage waits for a lost
// shard's backup. It waited for ever: a shard whose node the scheduler still
// reached (a link lost between two nodes only) was never failed over, and
// the job hung, its workers logging once a second.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "actors/actor_config.hpp"
#include "actors/push_outbox.hpp"
#include "engine/errors.hpp"

namespace troupe {
namespace {

using namespace std::chrono_literals;

TEST(FailoverWait, WaitsForABackupOnlyWhereOneCanComeAndOnlyUpToItsLimit) {
  job_config replicated;
  replicated.replication = 2;
  const auto lost = caf::make_error(caf::sec::request_receiver_down);
  failover_wait w;
  EXPECT_EQ(w.why_not_wait(replicated, "worker 0", "push", lost, 1000ms), "");  // the wait begins
  EXPECT_EQ(w.why_not_wait(replicated, "worker 0", "push", lost, 1000ms), "");  // within it
  std::this_thread::sleep_for(1200ms);
  const auto why = w.why_not_wait(replicated, "worker 0", "push", lost, 1000ms);
  EXPECT_EQ(why.rfind("push: no backup took over within 1000 ms", 0), 0u) << why;
  // Re-pointed (or answered): a later loss waits afresh.
  w.over();
  EXPECT_EQ(w.why_not_wait(replicated, "worker 0", "pull", lost, 1000ms), "");

  // A refusal would be refused again; nothing can recover an unreplicated
  // shard in one process: no wait.
  failover_wait refused;
  EXPECT_EQ(refused.why_not_wait(replicated, "worker 0", "push",
                                 make_troupe_error(errc::malformed_message, "bad"), 1000ms),
            "push");
  failover_wait alone;
  EXPECT_EQ(alone.why_not_wait(job_config{}, "worker 0", "push", lost, 1000ms), "push");
}

}  // namespace
}  // namespace troupe
