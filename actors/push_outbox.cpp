#include "actors/push_outbox.hpp"

#include <spdlog/spdlog.h>

#include "actors/actor_config.hpp"

namespace troupe {

bool wait_for_failover(const job_config& job, const std::string& who, const std::string& what,
                       const caf::error& err) {
  // A refusal (bad gradient, unknown table, ...) would be refused again.
  const bool lost_link = err.category() != troupe_error_category();
  if (!lost_link || !(job.replication > 1 || (job.checkpoint_every > 0 && !job.nodes.empty()))) {
    return false;
  }
  spdlog::warn("{}: {} failed ({}); waiting for the shard's backup", who, what, describe(err));
  return true;
}

}  // namespace troupe
