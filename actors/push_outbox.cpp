#include "actors/push_outbox.hpp"

#include <spdlog/spdlog.h>

#include "actors/actor_config.hpp"

namespace troupe {

std::string failover_wait::why_not_wait(const job_config& job, const std::string& who,
                                        const std::string& what, const caf::error& err,
                                        std::chrono::milliseconds limit) {
  // A refusal (bad gradient, unknown table, ...) would be refused again.
  const bool lost_link = err.category() != troupe_error_category();
  if (!lost_link || !(job.replication > 1 || (job.checkpoint_every > 0 && !job.nodes.empty()))) {
    return what;
  }
  const auto now = std::chrono::steady_clock::now();
  if (since_ == std::chrono::steady_clock::time_point{}) {
    since_ = now;
    spdlog::warn("{}: {} failed ({}); waiting for the shard's backup (at most {} ms)", who, what,
                 describe(err), limit.count());
    return {};
  }
  if (now - since_ < limit) return {};
  return what + ": no backup took over within " + std::to_string(limit.count()) +
         " ms of the first failure (the scheduler still reaches the shard's node: is the link "
         "from this node to it lost?)";
}

}  // namespace troupe
