// Keeping a job alive through losses: a lost worker or pipeline stage (a
// replacement on a live node) or node (never used again); the down handler
// that tells them, and shard losses, apart. Shard backups, promotion and
// restores are in scheduler_shard_recovery.cpp.
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

// Starts a replacement for lost worker `lost` on its data partition, where
// it left off in the epoch it was in, under a new id (its pushes must not be
// mistaken for retries of the lost worker's). The batches of that epoch the
// lost worker finished (its acknowledged steps) are skipped: replayed, they
// were trained twice, and the epoch ended that many clocks late, so that its
// evaluation scored more than the epoch.
void replace_worker(scheduler_pointer self, std::uint32_t lost, const std::string& why) {
  auto& st = self->state;
  const auto detected = clock_type::now();
  const auto clock = std::max<std::int64_t>(0, st.clocks->clock_of(lost));
  const auto epoch = static_cast<std::uint32_t>(std::max<std::int64_t>(st.last_epoch[lost] + 1, 0));
  const auto& ends = st.epoch_end_clocks[lost];
  const auto epoch_began = ends.empty() ? st.epoch_start[lost] : ends.back();
  const auto done_in_epoch =
      static_cast<std::uint64_t>(std::max<std::int64_t>(0, clock - epoch_began));
  // Its steps count, as a finished worker's do: their pushes were applied.
  st.finished_steps +=
      static_cast<std::uint64_t>(std::max<std::int64_t>(0, clock - st.start_clock[lost]));
  st.epoch_start.erase(lost);
  st.skip_batches.erase(lost);
  st.running.erase(lost);
  st.clocks->remove_worker(lost);
  st.last_epoch.erase(lost);
  st.epoch_base.erase(lost);
  st.epoch_end_clocks.erase(lost);
  st.waiting.erase(std::remove_if(st.waiting.begin(), st.waiting.end(),
                                  [=](const waiting_worker& w) { return w.worker == lost; }),
                   st.waiting.end());
  const auto id = static_cast<std::uint32_t>(st.workers.size());
  st.partition[id] = st.partition.at(lost);
  // The replacement joins at the slowest live clock: it neither holds the
  // others back further nor runs ahead of the bound.
  const std::int64_t start_clock = st.clocks->size() ? st.clocks->min_clock() : clock;
  st.clocks->add_worker(id, start_clock);
  st.start_clock[id] = start_clock;
  st.epoch_start[id] = start_clock - static_cast<std::int64_t>(done_in_epoch);
  if (done_in_epoch > 0) st.skip_batches[id] = done_in_epoch;
  st.running.insert(id);
  st.last_epoch[id] = static_cast<std::int64_t>(epoch) - 1;
  st.epoch_base[id] = epoch;
  st.workers.emplace_back();
  ++st.summary.workers_replaced;
  if (st.exporter) st.exporter->add_worker_replaced();
  spdlog::warn(
      "worker {} (partition {}) lost at clock {} in epoch {}: {}; replacing it with worker "
      "{}, which goes on after the {} batches of the epoch it had done",
      lost, st.partition[id], clock, epoch + 1, why, id, done_in_epoch);
  release_waiting(self);
  auto started = [=](worker_actor worker, const std::string& where) {
    // Lost (and replaced) itself while being placed, when a node of its
    // chain went down before the chain was wired: this one stops unused.
    if (!self->state.running.count(id) || self->state.finished) {
      self->send_exit(worker, caf::exit_reason::user_shutdown);
      return;
    }
    self->monitor(worker);
    for (std::uint32_t k = 0; k < self->state.shards.size(); ++k) {
      self->send(worker, repoint_atom::value, k, self->state.shards[k]);
    }
    self->send(worker, start_atom::value);
    self->state.workers[id] = std::move(worker);
    spdlog::warn("worker {} took over partition {} {} {:.0f} ms after the loss was detected", id,
                 self->state.partition[id], where,
                 std::chrono::duration<double, std::milli>(clock_type::now() - detected).count());
  };
  // Its node was lost while it was being placed: it is replaced in turn,
  // on another live node (once: a pipeline's stage may say so again).
  auto replace_again = [=](const std::string& why) {
    if (self->state.running.count(id) && !self->state.finished) replace_worker(self, id, why);
  };
  if (st.nodes.empty()) {
    worker_config cfg;
    cfg.id = id;
    cfg.partition = st.partition[id];
    cfg.start_epoch = epoch;
    cfg.start_clock = start_clock;
    cfg.skip_batches = done_in_epoch;
    cfg.job = st.job;
    return started(spawn_local_replica(self, cfg), "in this process");
  }
  // Another live worker node, preferring one other than the lost worker's.
  std::vector<std::size_t> candidates;
  const auto& chosen = st.job.worker_nodes;
  for (std::size_t i = 0; i < (chosen.empty() ? st.nodes.size() : chosen.size()); ++i) {
    const auto n = chosen.empty() ? i : chosen[i];
    if (!st.dead_nodes.count(n)) candidates.push_back(n);
  }
  if (candidates.empty()) {
    // Named for what limits it: other nodes may live (only the job's
    // cluster.worker_nodes run workers).
    return abort_job(self,
                     "no live node left to run worker " + std::to_string(id) +
                         (chosen.empty() ? std::string{}
                                         : " (of its cluster.worker_nodes; the job's other "
                                           "nodes run no workers)"),
                     errc::peer_lost);
  }
  const std::size_t first = (st.node_of[lost] + 1) % candidates.size();
  const auto n = candidates[first];
  st.node_of[id] = n;
  if (st.job.stages > 1) {
    // A new chain on the live worker nodes, neighbours apart where possible.
    std::vector<std::size_t> where;
    for (std::uint32_t s = 0; s < st.job.stages; ++s) {
      where.push_back(candidates[(first + s) % candidates.size()]);
    }
    return place_pipeline(
        self, id, epoch, start_clock, where,
        [=](worker_actor head, const std::string& text) {
          started(std::move(head), "as a pipeline (" + text + ")");
        },
        [=](const std::string& why) { replace_again(why); });
  }
  spawn_on<worker_actor>(
      self, n, std::chrono::seconds(120), make_worker_request(self, id, epoch, start_clock),
      [=](worker_actor& worker) { started(std::move(worker), "on " + self->state.job.nodes[n]); },
      [=](caf::error& err) {
        if (is_troupe_error(err, errc::peer_lost)) {
          return replace_again("its node was lost before it started (" + describe(err) + ")");
        }
        abort_job(self, "replacing worker " + std::to_string(lost) + " on " +
                            self->state.job.nodes[n] + ": " + describe(err));
      });
}

// Worker (or pipeline replica) w's node is lost.
void worker_lost(scheduler_pointer self, std::uint32_t w, const std::string& why) {
  auto& st = self->state;
  if (st.last_epoch[w] + 1 >= static_cast<std::int64_t>(st.job.epochs)) {
    // It had finished its last epoch; only its `done` was lost. Its steps
    // count as a finished worker's.
    st.running.erase(w);
    const auto clock = std::max<std::int64_t>(0, st.clocks->clock_of(w));
    st.finished_clock = std::max(st.finished_clock, clock);
    st.finished_steps +=
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, clock - st.start_clock[w]));
    st.clocks->remove_worker(w);
    release_waiting(self);
    return maybe_finish(self);
  }
  replace_worker(self, w, why);
}

}  // namespace

void on_down(scheduler_pointer self, const caf::down_msg& dm) {
  auto& st = self->state;
  if (st.finished) return;
  // A lost link, or a node that is stopping (drained: it ends what it
  // hosts, then itself): what it hosted is replaced elsewhere.
  const bool node_gone = dm.reason == caf::exit_reason::remote_link_unreachable ||
                         is_troupe_error(dm.reason, errc::node_stopping);
  // A pipeline stage (or head) taken down by a linked neighbour whose node
  // went: that stage's own down message (from this process's link to its
  // node, which may come later) re-places the replica.
  const bool by_neighbour = is_troupe_error(dm.reason, errc::peer_lost);
  // Whatever went down first, its node is gone: never place anything there.
  const auto need = st.placed ? std::vector<std::uint32_t>{} : slots_needed(st);
  std::string lost_node;                       // one the job is being placed on
  const std::string* node_actor_of = nullptr;  // dm.source is this node's actor
  std::vector<std::size_t> gone;  // also ones marked dead before (a spawn that timed out)
  for (std::size_t n = 0; n < st.nodes.size(); ++n) {
    const bool its_actor = dm.source == st.nodes[n].address();
    if (its_actor) node_actor_of = &st.job.nodes[n];
    if ((node_gone && st.nodes[n].node() == dm.source.node()) || its_actor) {
      gone.push_back(n);
      if (!st.dead_nodes.insert(n).second) continue;
      if (lost_node.empty() && n < need.size() && need[n] > 0) lost_node = st.job.nodes[n];
    }
  }
  // Placement asks these nodes for slots and spawns with generous timeouts,
  // and a request to a node that is gone is never answered: the job waited
  // up to 120 s (holding its slots on the other nodes) to fail anyway. A
  // node it places nothing on is only marked dead.
  if (!lost_node.empty()) {
    return abort_job(self,
                     "node " + lost_node + " was lost (" + describe(dm.reason) +
                         ") while the job was being placed; nothing was trained",
                     errc::peer_lost);
  }
  // What was being spawned there (a replacement, a backup, a restored
  // shard) is placed elsewhere, or fails, now rather than at its timeout.
  for (const auto n : gone) {
    fail_requests_on(self, n,
                     "node " + st.job.nodes[n] + " was lost (" + describe(dm.reason) + ")");
    if (st.finished) return;
  }
  if (node_actor_of != nullptr) {
    spdlog::warn("node {} lost: {}", *node_actor_of, describe(dm.reason));
    return check_promotions(self);
  }
  check_promotions(self);
  if (auto it = st.stages.find(dm.source); it != st.stages.end()) {
    const auto p = it->second;
    st.stages.erase(it);
    // A chain ends normally (user_shutdown) when its head finished.
    if (!dm.reason || dm.reason == caf::exit_reason::user_shutdown ||
        !st.running.count(p.replica)) {
      return;
    }
    if (by_neighbour) return;
    const auto where = p.node < st.job.nodes.size() ? " on node " + st.job.nodes[p.node] : "";
    const auto why = "pipeline " + std::to_string(p.replica) + ": stage " +
                     std::to_string(p.stage) + where + " went down (" + describe(dm.reason) + ")";
    // A stage that failed by itself would fail the same way again.
    if (!node_gone) return abort_job(self, why);
    // Its node is lost: end the rest of the chain (the step's activations are
    // gone with it) and re-place the whole replica, like a lost worker.
    for (auto s = st.stages.begin(); s != st.stages.end();) {
      if (s->second.replica != p.replica) {
        ++s;
        continue;
      }
      self->send_exit(s->second.handle, caf::exit_reason::user_shutdown);
      s = st.stages.erase(s);
    }
    return worker_lost(self, p.replica, why);
  }
  for (std::uint32_t w = 0; w < st.workers.size(); ++w) {
    if (dm.source != st.workers[w].address()) continue;
    if (!st.running.count(w)) return;
    if (st.job.stages > 1 && by_neighbour) return;  // a pipeline's head
    // Only a lost link (a killed or hung node) or a stopping node is worth
    // a replacement: a worker that failed by itself would fail the same way
    // again.
    if (!node_gone) {
      return abort_job(self, "worker " + std::to_string(w) + " failed: " + describe(dm.reason));
    }
    return worker_lost(self, w, describe(dm.reason));
  }
  for (std::uint32_t k = 0; k < st.shards.size(); ++k) {
    if (dm.source == st.shards[k].address() && dm.reason != caf::exit_reason::user_shutdown) {
      return fail_over(self, k, describe(dm.reason));
    }
    if (k < st.backups.size() && st.backups[k] && dm.source == st.backups[k].address()) {
      spdlog::warn("shard {}: backup lost ({}); making a new one", k, describe(dm.reason));
      st.backups[k] = shard_actor{};
      let_backup_go(self, st.shards[k]);
      return make_backup(self, k, [] {});
    }
  }
  if (dm.source == st.evaluator.address() && dm.reason) {
    abort_job(self, "the evaluator went down: " + describe(dm.reason));
  }
}

}  // namespace troupe::scheduler_detail
