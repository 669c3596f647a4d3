// Keeping a job's shards alive through losses: backups (made on placement
// and again after every loss), promotion of a lost primary's backup once it
// answers, and the restore of a shard that lost every copy from its last
// checkpoint. Worker, stage and node losses are in scheduler_recovery.cpp.
#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <functional>

#include "actors/actor_config.hpp"
#include "actors/metrics_exporter.hpp"
#include "actors/scheduler_node_requests.hpp"
#include "actors/scheduler_state.hpp"
#include "actors/shard.hpp"
#include "actors/stage_actor.hpp"
#include "actors/timer.hpp"
#include "actors/worker.hpp"
#include "engine/clock_table.hpp"
#include "engine/store/checkpoint.hpp"

namespace troupe::scheduler_detail {

namespace {

// How busy node c is with this job: a replica that computes (a worker or a
// pipeline stage; before they are placed, where placement will put them)
// weighs as much as several shard copies.
std::size_t node_load(const scheduler_state& st, std::size_t c) {
  std::size_t compute = 0;
  if (st.node_of.empty() && st.stages.empty()) {
    const std::size_t replicas =
        std::size_t{st.job.workers} * std::max<std::uint32_t>(1, st.job.stages);
    for (std::size_t i = 0; i < replicas; ++i) {
      compute += place(st.job.worker_nodes, st.nodes.size(), i) == c;
    }
  } else {
    for (const auto& [w, n] : st.node_of) compute += n == c;
    for (const auto& [addr, stage] : st.stages) compute += stage.node == c;
  }
  std::size_t copies = 0;
  for (const auto& [k, n] : st.shard_node) copies += n == c;
  for (const auto& [k, n] : st.backup_node) copies += n == c;
  return 4 * compute + copies;
}

// A live node for a copy of shard k other than `avoid` (the other copy's
// node): the least busy of the shard nodes (of all nodes when the job names
// none), the next one after `avoid` on a tie, else the least busy live
// node; nodes.size() if none. A backup beside a computing worker competes
// with it for the node's threads (on three daemons of one machine with the
// round robin, both backups go to the node without a worker).
std::size_t backup_node_for(scheduler_pointer self, std::size_t avoid) {
  auto& st = self->state;
  const std::size_t n = st.nodes.size();
  std::vector<std::size_t> order;  // preference on a tie: round robin after `avoid`
  const auto& chosen = st.job.shard_nodes;
  if (chosen.empty()) {
    for (std::size_t step = 1; step <= n; ++step) order.push_back((avoid + step) % n);
  } else {
    auto it = std::find(chosen.begin(), chosen.end(), avoid);
    const std::size_t pos = it == chosen.end() ? 0 : static_cast<std::size_t>(it - chosen.begin());
    for (std::size_t step = 1; step <= chosen.size(); ++step) {
      order.push_back(chosen[(pos + step) % chosen.size()]);
    }
  }
  // The same daemon may be listed under two addresses (127.0.0.1:7101 and
  // localhost:7101): a backup there would be lost with its primary.
  auto same_daemon = [&](std::size_t c) {
    return c == avoid || (avoid < n && st.nodes[c].address() == st.nodes[avoid].address());
  };
  auto least_busy = [&](const std::vector<std::size_t>& candidates) {
    std::size_t best = n, best_load = 0;
    for (const auto c : candidates) {
      if (c >= n || same_daemon(c) || st.dead_nodes.count(c)) continue;
      const auto load = node_load(st, c);
      if (best == n || load < best_load) best = c, best_load = load;
    }
    return best;
  };
  if (const auto c = least_busy(order); c < n) return c;
  std::vector<std::size_t> all;
  for (std::size_t step = 1; step <= n; ++step) all.push_back((avoid + step) % n);
  return least_busy(all);
}

}  // namespace

void plan_backups(scheduler_pointer self) {
  auto& st = self->state;
  if (st.job.replication <= 1) return;
  for (std::uint32_t k = 0; k < st.job.shards; ++k) {
    const auto n = backup_node_for(self, st.shard_node.at(k));
    if (n >= st.nodes.size()) continue;  // one node: no backups
    st.backup_plan[k] = n;
    st.backup_node[k] = n;  // weighs on the next choice, as in make_backup
  }
}

void let_backup_go(scheduler_pointer self, const shard_actor& primary) {
  self->request(primary, std::chrono::seconds(30), replica_atom::value, caf::actor{})
      .then([](bool) {}, [](caf::error&) {});
}

// Spawns a backup of shard k and attaches it to the primary, which sends it
// its state and then forwards every push to it.
void make_backup(scheduler_pointer self, std::uint32_t k, std::function<void()> then,
                 int attempts) {
  auto& st = self->state;
  // A job collecting its shards' counters has trained: a new copy would only
  // be made to be ended.
  if (st.finishing) return then();
  st.backup_node.erase(k);  // a copy that failed no longer weighs on its node
  std::size_t n = st.nodes.size();
  if (auto planned = st.backup_plan.find(k); planned != st.backup_plan.end()) {
    if (!st.dead_nodes.count(planned->second)) n = planned->second;
    st.backup_plan.erase(planned);  // a retry chooses afresh
  }
  if (n >= st.nodes.size()) n = backup_node_for(self, st.shard_node[k]);
  if (n < st.nodes.size()) st.backup_node[k] = n;  // counted by the next choice already
  if (n >= st.nodes.size()) {
    spdlog::warn("shard {}: no live node but its primary's for a backup; running without one", k);
    return then();
  }
  const auto t0 = clock_type::now();
  const auto primary = st.shards[k];
  auto retry = [=](const std::string& why) {
    spdlog::warn("shard {}: no backup on {}: {}", k, self->state.job.nodes[n], why);
    if (attempts > 1 && !self->state.finished) return make_backup(self, k, then, attempts - 1);
    then();
  };
  spawn_on<shard_actor>(
      self, n, std::chrono::seconds(30), shard_request{k, shard_slices(st.job, k)},
      [=](shard_actor& backup) {
        auto& s0 = self->state;
        // Also when the primary's node died while this spawn was on its
        // way: fail_over could not end a backup it did not know of yet,
        // and one that never syncs would only hold a slot the
        // primary's restore may need.
        if (s0.shards[k] != primary || s0.finished || s0.dead_nodes.count(s0.shard_node[k])) {
          self->send_exit(backup, caf::exit_reason::user_shutdown);
          return then();
        }
        // Until it is in sync; ended at once should the primary be lost.
        s0.backup_in_progress[k] = backup;
        auto in_sync_or_failed = [=] {
          auto& s = self->state;
          if (auto it = s.backup_in_progress.find(k);
              it != s.backup_in_progress.end() && it->second == backup) {
            s.backup_in_progress.erase(it);
          }
        };
        // The backup counts only once it holds the primary's state, and
        // only for the primary it was made for.
        // Bound to the backup's node: should it be lost while the state
        // travels, the primary (which holds pushes for the backup's acks)
        // lets it go at once, and the backup is made elsewhere.
        request_on_node<bool>(
            self, n, primary, std::chrono::seconds(150),
            [=](bool) {
              in_sync_or_failed();
              auto& s = self->state;
              if (s.shards[k] != primary || s.finished) {
                self->send_exit(backup, caf::exit_reason::user_shutdown);
                return then();
              }
              self->monitor(backup);
              s.backup_node[k] = n;
              s.backups[k] = backup;
              spdlog::info(
                  "shard {}: backup on {} in sync ({:.0f} ms)", k, s.job.nodes[n],
                  std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
              then();
            },
            [=](caf::error& err) {
              in_sync_or_failed();
              auto& s = self->state;
              self->send_exit(backup, caf::exit_reason::user_shutdown);
              // A backup of a primary that is gone is moot.
              if (s.shards[k] != primary) return then();
              if (is_troupe_error(err, errc::peer_lost)) let_backup_go(self, primary);
              retry(describe(err));
            },
            replica_atom::value, caf::actor_cast<caf::actor>(backup));
      },
      [=](caf::error& err) {
        // A node that did not answer may be dying: another one next time.
        // One that refused (no free slot) is alive.
        if (err.category() != troupe_error_category() && self->state.dead_nodes.insert(n).second) {
          fail_requests_on(self, n, "node " + self->state.job.nodes[n] + " did not answer");
          if (self->state.finished) return;
        }
        retry(describe(err));
      });
}

namespace {

// Shard k's primary was lost: its backup becomes the primary, every worker
// and the evaluator are re-pointed, and a new backup is made.
void repoint_all(scheduler_pointer self, std::uint32_t k) {
  auto& st = self->state;
  for (auto& w : st.workers) {
    if (w) self->send(w, repoint_atom::value, k, st.shards[k]);
  }
  if (st.evaluator) self->send(st.evaluator, repoint_atom::value, k, st.shards[k]);
}

// A restore in progress: the checkpoint and the live nodes still to try.
struct restore_attempt {
  std::uint32_t shard = 0;
  std::string lost;  // what happened, for the log and a final error
  std::int64_t clock = 0, lost_clocks = 0;
  bytes data;
  std::vector<std::size_t> nodes;  // candidates, best first
  std::size_t next = 0;
  int round = 0;         // all candidates refused: tried again a little later
  std::string refusals;  // "; NODE: why" per node that refused in the last round
  clock_type::time_point t0 = clock_type::now();
};

// Rounds of placement before a restore gives up, and the pause between them:
// a slot can be held for a moment by a copy that is being ended.
constexpr int restore_rounds = 5;
constexpr std::int64_t restore_pause_ms = 300;

// Places the checkpoint on the next candidate node; a node that refuses
// (no free slot, say) hands over to the next one.
void place_restored(scheduler_pointer self, std::shared_ptr<restore_attempt> a) {
  auto& st = self->state;
  if (st.finished) return;
  const auto k = a->shard;
  if (a->next >= a->nodes.size()) {
    if (++a->round >= restore_rounds || !st.timer || st.finished) {
      return abort_job(self, a->lost + "; its checkpoint of clock " + std::to_string(a->clock) +
                                 " could not be restored on any live node" + a->refusals);
    }
    self->request(st.timer, std::chrono::seconds(30), wait_atom::value, restore_pause_ms)
        .then(
            [=](bool) {
              a->next = 0;
              a->refusals.clear();
              place_restored(self, a);
            },
            [=](caf::error& err) { abort_job(self, a->lost + ": " + describe(err)); });
    return;
  }
  const auto n = a->nodes[a->next++];
  spawn_on<shard_actor>(
      self, n, std::chrono::seconds(30), shard_request{k, shard_slices(st.job, k)},
      [=](shard_actor& shard) {
        self->monitor(shard);
        // Sequence numbers are kept: the workers go on counting.
        request_on_node<std::uint64_t>(
            self, n, shard, std::chrono::seconds(120),
            [=](std::uint64_t) {
              auto& s = self->state;
              s.shards[k] = shard;
              s.shard_node[k] = n;
              s.restoring.erase(k);
              s.versions_rewound = true;
              ++s.summary.shards_failed_over;
              ++s.summary.shards_restored;
              if (s.exporter) s.exporter->add_failover();
              repoint_all(self, k);
              shard_replaced(self, k);
              if (s.job.replication > 1) make_backup(self, k, [] {});
              spdlog::warn(
                  "{}; restored on {} from the checkpoint of clock {} in {:.0f} ms; "
                  "about {} clocks of its updates are lost",
                  a->lost, s.job.nodes[n], a->clock,
                  std::chrono::duration<double, std::milli>(clock_type::now() - a->t0).count(),
                  a->lost_clocks);
            },
            [=](caf::error& err) {
              self->send_exit(shard, caf::exit_reason::user_shutdown);
              // Its node was lost while it read the checkpoint: the next one.
              if (is_troupe_error(err, errc::peer_lost)) {
                a->refusals += "; " + self->state.job.nodes[n] + ": " + describe(err);
                return place_restored(self, a);
              }
              abort_job(self, a->lost + "; restoring its checkpoint of clock " +
                                  std::to_string(a->clock) + " on " + self->state.job.nodes[n] +
                                  " failed: " + describe(err));
            },
            restore_atom::value, a->data, true);
      },
      [=](caf::error& err) {
        a->refusals += "; " + self->state.job.nodes[n] + ": " + describe(err);
        place_restored(self, a);
      });
}

// Without a live copy, a lost shard comes back from its last checkpoint on a
// surviving node; the updates since that checkpoint are lost, and said so.
// `lost` says what happened to its copies.
void restore_from_checkpoint(scheduler_pointer self, std::uint32_t k, const std::string& lost) {
  auto& st = self->state;
  latest_checkpoint latest;
  if (st.job.checkpoint_every == 0 || !find_latest_checkpoint(st.checkpoint_dir, k, latest) ||
      !latest.found()) {
    return abort_job(self, lost + ", and no checkpoint to restore it from", errc::peer_lost);
  }
  auto a = std::make_shared<restore_attempt>();
  st.restoring.insert(k);
  a->shard = k;
  a->lost = lost;
  a->clock = latest.data.header.clock;
  a->lost_clocks = std::max<std::int64_t>(
      0, (st.clocks->size() ? st.clocks->min_clock() : 0) - latest.data.header.clock);
  for (const auto& w : latest.warnings) spdlog::warn("shard {}: {}", k, w);
  const auto file = encode_checkpoint(latest.data.header, latest.data.snapshot);
  a->data = bytes(file.begin(), file.end());
  // The usual choice for a new copy first, then every other live node.
  if (const auto n = backup_node_for(self, st.shard_node[k]); n < st.nodes.size()) {
    a->nodes.push_back(n);
  }
  for (std::size_t n = 0; n < st.nodes.size(); ++n) {
    if (!st.dead_nodes.count(n) &&
        std::find(a->nodes.begin(), a->nodes.end(), n) == a->nodes.end()) {
      a->nodes.push_back(n);
    }
  }
  if (a->nodes.empty()) {
    return abort_job(self, lost + ", and no live node is left", errc::peer_lost);
  }
  place_restored(self, std::move(a));
}

// Shard k's backup takes over from its lost primary: re-points everyone and
// makes a new backup.
void promote(scheduler_pointer self, std::uint32_t k, const shard_actor& backup, std::size_t node,
             const std::string& why, clock_type::time_point t0) {
  auto& st = self->state;
  st.shards[k] = backup;  // monitored since it came in sync
  st.shard_node[k] = node;
  repoint_all(self, k);
  shard_replaced(self, k);
  ++st.summary.shards_failed_over;
  if (st.exporter) st.exporter->add_failover();
  spdlog::warn(
      "shard {}: primary lost ({}); backup on {} promoted, workers re-pointed in {:.2f} ms", k, why,
      st.job.nodes[node],
      std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
  make_backup(self, k, [] {});
}

}  // namespace

void fail_over(scheduler_pointer self, std::uint32_t k, const std::string& why) {
  auto& st = self->state;
  const auto t0 = clock_type::now();
  // A backup still being made of the lost primary would only hold a slot.
  if (auto it = st.backup_in_progress.find(k); it != st.backup_in_progress.end()) {
    self->send_exit(it->second, caf::exit_reason::user_shutdown);
    st.backup_in_progress.erase(it);
  }
  if (st.finishing && !st.counters_asked.count(k)) {
    // The job has all it needs from this shard: its counters are in.
    spdlog::warn("shard {}: primary lost ({}) after it gave its counters; not replaced", k, why);
    return;
  }
  if (st.nodes.empty()) {
    return abort_job(self, "shard " + std::to_string(k) + " lost: " + why, errc::peer_lost);
  }
  if (k >= st.backups.size() || !st.backups[k]) {
    return restore_from_checkpoint(
        self, k, "shard " + std::to_string(k) + " lost (" + why + ") without a live backup");
  }
  // The backup is promoted once it answers: its node may have gone down
  // with the primary's (a down message not seen yet). Until then the shard
  // has no primary, and the workers wait for their re-point as always.
  const auto backup = st.backups[k];
  const auto node = st.backup_node[k];
  st.backups[k] = shard_actor{};
  st.promoting[k] = {backup, node};
  const auto lost = "shard " + std::to_string(k) + ": primary lost (" + why + ")";
  self->request(backup, std::chrono::seconds(3), stats_atom::value)
      .then(
          [=](const shard_stats&) {
            if (!self->state.promoting.count(k)) return;  // its node was lost meanwhile
            self->state.promoting.erase(k);
            promote(self, k, backup, node, why, t0);
          },
          [=](caf::error& err) {
            if (!self->state.promoting.count(k)) return;
            self->state.promoting.erase(k);
            restore_from_checkpoint(self, k,
                                    lost + " and its backup on " + self->state.job.nodes[node] +
                                        " did not answer (" + describe(err) + ")");
          });
}

void check_promotions(scheduler_pointer self) {
  auto& st = self->state;
  for (auto it = st.promoting.begin(); it != st.promoting.end();) {
    const auto [k, copy] = *it;
    if (!st.dead_nodes.count(copy.second)) {
      ++it;
      continue;
    }
    it = st.promoting.erase(it);
    restore_from_checkpoint(self, k,
                            "shard " + std::to_string(k) + ": primary and backup lost (nodes " +
                                st.job.nodes[st.shard_node[k]] + " and " +
                                st.job.nodes[copy.second] + ")");
  }
}

}  // namespace troupe::scheduler_detail
