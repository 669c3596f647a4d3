#include "actors/scheduler.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <set>

#include "actors/actor_config.hpp"
#include "actors/evaluator.hpp"
#include "actors/metrics_exporter.hpp"
#include "actors/shard.hpp"
#include "actors/stage_actor.hpp"
#include "actors/worker.hpp"
#include "engine/checkpoint.hpp"
#include "engine/clock_table.hpp"
#include "engine/exchange_plan.hpp"
#include "engine/metrics_log.hpp"
#include "engine/partitioner.hpp"

namespace troupe {

namespace {

using clock_type = std::chrono::steady_clock;

struct waiting_worker {
  std::uint32_t worker;
  std::int64_t clock;
  caf::typed_response_promise<std::int64_t> promise;
};

// Sums over an interval of progress reports (one progress line).
struct interval_totals {
  std::uint64_t samples = 0, correct = 0;
  double loss_sum = 0, busy_s = 0, wait_s = 0;
  std::uint32_t reports = 0;
  clock_type::time_point start = clock_type::now();
};

// Cluster mode with [model] stages: where each stage of each replica lives.
struct placed_stage {
  std::uint32_t replica = 0, stage = 0;
  std::size_t node = 0;
  stage_actor handle;
};

struct scheduler_state {
  job_config job;
  std::shared_ptr<const workload_data> data;
  std::vector<node_actor> nodes;                     // empty: everything in this process
  std::set<std::size_t> dead_nodes;                  // indices into nodes
  std::map<std::uint32_t, std::uint32_t> partition;  // worker id -> data partition
  std::map<std::uint32_t, std::size_t> node_of;      // worker id -> node index (cluster)
  std::vector<shard_actor> backups;                  // per shard; invalid: none
  std::map<std::uint32_t, std::size_t> shard_node, backup_node;  // node index per copy
  std::optional<resume_point> resume;
  std::shared_ptr<metrics_exporter> exporter;         // `troupe train --metrics`; may be null
  std::map<std::uint32_t, std::int64_t> start_clock;  // worker id -> clock it started at
  std::string checkpoint_dir;        // absolute: shards on other nodes write there too
  std::int64_t next_checkpoint = 0;  // min clock of the next checkpoint
  bool checkpointing = false;
  std::vector<shard_actor> shards;
  std::vector<worker_actor> workers;
  std::map<caf::actor_addr, placed_stage> stages;  // cluster pipelines, monitored
  evaluator_actor evaluator;
  std::unique_ptr<clock_table> clocks;
  std::vector<waiting_worker> waiting;
  std::set<std::uint32_t> running;                   // workers not yet done
  std::map<std::uint32_t, std::int64_t> last_epoch;  // live worker -> last epoch it finished
  std::uint32_t next_eval = 0;                       // first epoch not yet evaluated
  std::int64_t next_eval_clock = 0;                  // eval_every: next min clock to evaluate at
  std::uint32_t evals_pending = 0;
  caf::typed_response_promise<job_summary> run_promise;
  std::unique_ptr<metrics_log> metrics;
  clock_type::time_point start;
  job_summary summary;
  interval_totals interval, total;
  double staleness_sum = 0;
  std::uint64_t pushes = 0;
  std::vector<std::uint64_t> staleness_hist;
  std::int64_t finished_clock = 0;   // largest clock of a finished worker
  std::uint64_t finished_steps = 0;  // steps of finished workers
  bool finishing = false;            // collecting shard statistics
  bool finished = false;
  static inline const char* name = "troupe.scheduler";
};

using scheduler_pointer = scheduler_actor::stateful_pointer<scheduler_state>;

double elapsed(const scheduler_state& st) {
  return std::chrono::duration<double>(clock_type::now() - st.start).count();
}

void shutdown(scheduler_pointer self) {
  auto& st = self->state;
  st.finished = true;
  for (auto& w : st.workers) {
    if (w) self->send_exit(w, caf::exit_reason::user_shutdown);
  }
  for (auto& s : st.shards) {
    if (s) self->send_exit(s, caf::exit_reason::user_shutdown);
  }
  for (auto& [addr, s] : st.stages) self->send_exit(s.handle, caf::exit_reason::user_shutdown);
  if (st.evaluator) self->send_exit(st.evaluator, caf::exit_reason::user_shutdown);
  for (auto& w : st.waiting) w.promise.deliver(make_troupe_error(errc::stopped, "job ended"));
  st.waiting.clear();
  self->quit();
}

void abort_job(scheduler_pointer self, const std::string& why) {
  auto& st = self->state;
  if (st.finished) return;
  spdlog::error("job '{}' failed: {}", st.job.name, why);
  st.run_promise.deliver(make_troupe_error(errc::stopped, why));
  shutdown(self);
}

// The smallest value v with at least q of the mass at or below it.
double histogram_quantile(const std::vector<std::uint64_t>& hist, double q) {
  std::uint64_t total = 0;
  for (auto c : hist) total += c;
  if (total == 0) return 0;
  const double want = q * static_cast<double>(total);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < hist.size(); ++i) {
    seen += hist[i];
    if (static_cast<double>(seen) >= want) return static_cast<double>(i);
  }
  return static_cast<double>(hist.size() - 1);
}

void deliver_summary(scheduler_pointer self);

// Collects the shards' counters, then ends the job.
void maybe_finish(scheduler_pointer self) {
  auto& st = self->state;
  if (st.finished || st.finishing || !st.running.empty() || st.evals_pending > 0) return;
  st.finishing = true;
  st.summary.wall_s = elapsed(st);
  auto pending = std::make_shared<std::size_t>(st.shards.size());
  for (auto& shard : st.shards) {
    self->request(shard, std::chrono::seconds(30), stats_atom::value)
        .then(
            [=](const shard_stats& s) {
              self->state.summary.pushes_rejected += s.pushes_rejected;
              // Table versions count every push applied once, also those a
              // promoted backup received before its promotion.
              self->state.summary.pushes_applied += s.version;
              if (--*pending == 0) deliver_summary(self);
            },
            [=](caf::error& err) { abort_job(self, "shard statistics: " + describe(err)); });
  }
}

void deliver_summary(scheduler_pointer self) {
  auto& st = self->state;
  auto& s = st.summary;
  s.epochs = st.job.epochs;
  s.steps = st.finished_steps;
  s.samples_per_s = s.wall_s > 0 ? static_cast<double>(st.total.samples) / s.wall_s : 0;
  s.wait_fraction = st.total.busy_s > 0 ? st.total.wait_s / st.total.busy_s : 0;
  s.mean_staleness = st.pushes ? st.staleness_sum / static_cast<double>(st.pushes) : 0;
  s.pushes_acked = st.pushes;
  s.staleness_p50 = histogram_quantile(st.staleness_hist, 0.50);
  s.staleness_p99 = histogram_quantile(st.staleness_hist, 0.99);
  s.output_dir = st.job.output_dir;
  st.run_promise.deliver(s);
  shutdown(self);
}

// Answers every waiting worker the staleness bound now lets through.
void release_waiting(scheduler_pointer self) {
  auto& st = self->state;
  auto& waiting = st.waiting;
  for (auto it = waiting.begin(); it != waiting.end();) {
    if (st.clocks->may_start(it->clock)) {
      it->promise.deliver(st.clocks->min_clock());
      it = waiting.erase(it);
    } else {
      ++it;
    }
  }
}

void record_eval(scheduler_pointer self, std::uint32_t epoch, double at_s, std::int64_t min_clock,
                 const eval_result& r, bool epoch_end) {
  auto& st = self->state;
  spdlog::info("epoch {}/{} {}: test accuracy {:.2f}% (loss {:.4f}) at {:.1f} s", epoch + 1,
               st.job.epochs, epoch_end ? "done" : "clock " + std::to_string(min_clock),
               100.0 * r.accuracy, r.loss, at_s);
  st.metrics->append({at_s, epoch, -1, min_clock, "test", r.loss, r.accuracy,
                      at_s > 0 ? static_cast<double>(st.total.samples) / at_s : 0, 0});
  if (epoch_end && epoch + 1 >= st.summary.epochs) {  // the latest epoch's result is final
    st.summary.test_accuracy = r.accuracy;
    st.summary.test_loss = r.loss;
    st.summary.eval_report = r.report;
    st.summary.epochs = epoch + 1;
  }
  const bool reached = st.job.target_metric == "loss" ? r.loss <= st.job.target_loss
                                                      : r.accuracy >= st.job.target_accuracy;
  if (st.summary.time_to_target_s < 0 && reached) {
    st.summary.time_to_target_s = at_s;
    st.summary.epoch_of_target = static_cast<std::int32_t>(epoch + 1);
    st.summary.target_clock = min_clock;
  }
}

// Has the evaluator pull the current parameters and score them; `epoch` is
// the epoch the evaluation belongs to (the slowest worker's current one for
// evaluations between epoch ends).
void evaluate_epoch(scheduler_pointer self, std::uint32_t epoch, bool epoch_end = true) {
  auto& st = self->state;
  const double at_s = elapsed(st);
  // Finished workers leave the clock table; the slowest live one sets the clock.
  const std::int64_t min_clock = st.clocks->size() ? st.clocks->min_clock() : st.finished_clock;
  ++st.evals_pending;
  self->request(st.evaluator, std::chrono::minutes(10), eval_atom::value)
      .then(
          [=](const eval_result& res) {
            // The snapshot is as of when the evaluator pulled it.
            record_eval(self, epoch, at_s + res.snapshot_delay_s, min_clock, res, epoch_end);
            --self->state.evals_pending;
            maybe_finish(self);
          },
          [=](caf::error& err) { abort_job(self, "evaluation: " + describe(err)); });
}

// Evaluates, in order, every epoch that all live workers have finished.
void evaluate_completed_epochs(scheduler_pointer self) {
  auto& st = self->state;
  while (st.next_eval < st.job.epochs && !st.last_epoch.empty()) {
    for (const auto& [worker, epoch] : st.last_epoch) {
      if (epoch < static_cast<std::int64_t>(st.next_eval)) return;
    }
    evaluate_epoch(self, st.next_eval++);
  }
}

// With eval_every, evaluates each time the slowest worker passes a multiple.
void maybe_evaluate_between_epochs(scheduler_pointer self) {
  auto& st = self->state;
  if (st.job.eval_every == 0 || st.clocks->size() == 0) return;
  const auto min_clock = st.clocks->min_clock();
  if (min_clock < st.next_eval_clock) return;
  st.next_eval_clock = (min_clock / st.job.eval_every + 1) * st.job.eval_every;
  if (min_clock == 0) return;
  std::int64_t epoch = std::numeric_limits<std::int64_t>::max();
  for (const auto& [w, e] : st.last_epoch) epoch = std::min(epoch, e + 1);
  evaluate_epoch(self, static_cast<std::uint32_t>(std::min<std::int64_t>(epoch, st.job.epochs - 1)),
                 false);
}

void on_progress(scheduler_pointer self, const worker_progress& p) {
  auto& st = self->state;
  const double now = elapsed(st);
  st.metrics->append({now, p.epoch, p.worker, p.clock, "train",
                      p.samples ? p.loss_sum / p.samples : 0,
                      p.samples ? static_cast<double>(p.correct) / p.samples : 0,
                      p.busy_s > 0 ? p.samples / p.busy_s : 0, p.wait_s});
  for (auto* t : {&st.interval, &st.total}) {
    t->samples += p.samples;
    t->correct += p.correct;
    t->loss_sum += p.loss_sum;
    t->busy_s += p.busy_s;
    t->wait_s += p.wait_s;
    ++t->reports;
  }
  st.staleness_sum += p.staleness_sum;
  st.summary.pushes_resent += p.pushes_resent;
  if (st.exporter && p.pushes_resent > 0) st.exporter->add_resent(p.pushes_resent);
  if (p.pushes_resent > 0) {
    spdlog::warn(
        "worker {}: {} pushes resent to a promoted backup (replayed: one it already had is "
        "acknowledged without being applied again)",
        p.worker, p.pushes_resent);
  }
  st.pushes += p.pushes;
  if (st.staleness_hist.size() < p.staleness_hist.size()) {
    st.staleness_hist.resize(p.staleness_hist.size(), 0);
  }
  for (std::size_t i = 0; i < p.staleness_hist.size(); ++i) {
    st.staleness_hist[i] += p.staleness_hist[i];
  }
  st.summary.max_staleness = std::max(st.summary.max_staleness, p.staleness_max);
  auto& iv = st.interval;
  if (iv.reports < std::max<std::size_t>(1, st.running.size()) || iv.samples == 0) return;
  const double span = std::chrono::duration<double>(clock_type::now() - iv.start).count();
  spdlog::info(
      "epoch {}/{} step {} | {:.0f} samples/s | loss {:.4f} | train acc {:.1f}% | "
      "waiting {:.1f}%",
      p.epoch + 1, st.job.epochs, st.clocks->max_clock(), span > 0 ? iv.samples / span : 0,
      iv.loss_sum / iv.samples, 100.0 * iv.correct / iv.samples,
      iv.busy_s > 0 ? 100.0 * iv.wait_s / iv.busy_s : 0.0);
  iv = interval_totals{};
}

std::vector<shard_table> shard_slices(const job_config& job, std::uint32_t k) {
  std::vector<shard_table> slices;
  for (const auto& t : workload_tables(job)) {
    slices.push_back(
        {t, t.kind == table_kind::dense ? dense_ranges(t.size, job.shards)[k] : key_range{},
         job.shards});
  }
  return slices;
}

// Node index for actor i of a kind placed on `chosen` (all nodes when empty).
std::size_t place(const std::vector<std::uint32_t>& chosen, std::size_t nodes, std::size_t i) {
  return chosen.empty() ? i % nodes : chosen[i % chosen.size()];
}

worker_request make_worker_request(scheduler_pointer self, std::uint32_t id,
                                   std::uint32_t start_epoch, std::int64_t start_clock) {
  auto& st = self->state;
  return {to_toml(st.job),
          id,
          st.partition.at(id),
          start_epoch,
          start_clock,
          st.shards,
          caf::actor_cast<scheduler_actor>(self)};
}

void launch(scheduler_pointer self);

void shards_ready(scheduler_pointer self);

using head_ready = std::function<void(worker_actor head, const std::string& where)>;

// Asks `where[s]` to host stage s of replica w (a new id for a replacement);
// once all exist, wires the chain and hands the head to `ready`, which
// starts it like a worker. The scheduler monitors every stage.
void place_pipeline(scheduler_pointer self, std::uint32_t w, std::uint32_t epoch,
                    std::int64_t clock, const std::vector<std::size_t>& where, head_ready ready) {
  auto& st = self->state;
  const auto& job = st.job;
  auto chain = std::make_shared<std::vector<stage_actor>>(job.stages);
  auto missing = std::make_shared<std::uint32_t>(job.stages);
  const auto me = caf::actor_cast<scheduler_actor>(self);
  for (std::uint32_t s = 0; s < job.stages; ++s) {
    const auto n = where[s];
    stage_request req{to_toml(job), w,     st.partition.at(w), s, job.stages,
                      epoch,        clock, st.shards,          me};
    self->request(st.nodes[n], std::chrono::seconds(120), spawn_atom::value, std::move(req))
        .then(
            [=](stage_actor& stage) {
              auto& sx = self->state;
              if (sx.finished) return self->send_exit(stage, caf::exit_reason::user_shutdown);
              self->monitor(stage);
              sx.stages[stage.address()] = {w, s, n, stage};
              (*chain)[s] = std::move(stage);
              if (--*missing > 0) return;
              wire_stages(*chain, caf::actor_cast<caf::actor>(self));
              std::string text;
              for (std::uint32_t i = 0; i < where.size(); ++i) {
                text += fmt::format("{}stage {} on {}", i ? ", " : "", i, sx.job.nodes[where[i]]);
              }
              spdlog::info("pipeline {}: {}", w, text);
              ready(caf::actor_cast<worker_actor>(chain->front()), text);
            },
            [=](caf::error& err) {
              abort_job(self, "placing stage " + std::to_string(s) + " of pipeline " +
                                  std::to_string(w) + " on " + self->state.job.nodes[n] + ": " +
                                  describe(err));
            });
  }
}

// Cluster mode with [model] stages: stage s of replica w goes to worker node
// (w x S + s) round-robin, so neighbouring stages sit on different nodes
// whenever there are two or more.
void place_pipelines(scheduler_pointer self) {
  auto& st = self->state;
  const auto& job = st.job;
  st.workers.resize(job.workers);
  auto pending = std::make_shared<std::size_t>(job.workers);
  for (std::uint32_t w = 0; w < job.workers; ++w) {
    std::vector<std::size_t> where;
    for (std::uint32_t s = 0; s < job.stages; ++s) {
      where.push_back(place(job.worker_nodes, st.nodes.size(), std::size_t{w} * job.stages + s));
    }
    st.node_of[w] = where.front();
    place_pipeline(self, w, st.resume ? st.resume->epoch : 0u,
                   st.resume ? st.resume->clock : std::int64_t{0}, where,
                   [=](worker_actor head, const std::string&) {
                     // Ordered after `wire`: the head passes re-points down the chain.
                     for (std::uint32_t k = 0; k < self->state.shards.size(); ++k) {
                       self->send(head, repoint_atom::value, k, self->state.shards[k]);
                     }
                     self->state.workers[w] = std::move(head);
                     if (--*pending == 0) launch(self);
                   });
  }
}

// Cluster mode, step 2: workers on their nodes, once every shard exists.
void place_workers(scheduler_pointer self) {
  auto& st = self->state;
  const auto& job = st.job;
  if (job.stages > 1) return place_pipelines(self);
  st.workers.resize(job.workers);
  auto pending = std::make_shared<std::size_t>(job.workers);
  for (std::uint32_t w = 0; w < job.workers; ++w) {
    const auto n = place(job.worker_nodes, st.nodes.size(), w);
    st.node_of[w] = n;
    const auto epoch = st.resume ? st.resume->epoch : 0u;
    const auto clock = st.resume ? st.resume->clock : std::int64_t{0};
    auto req = make_worker_request(self, w, epoch, clock);
    // Generous: the node may have to load the data set first.
    self->request(st.nodes[n], std::chrono::seconds(120), spawn_atom::value, std::move(req))
        .then(
            [=](worker_actor& worker) {
              self->monitor(worker);
              // Shards may have failed over while it was being placed.
              for (std::uint32_t k = 0; k < self->state.shards.size(); ++k) {
                self->send(worker, repoint_atom::value, k, self->state.shards[k]);
              }
              self->state.workers[w] = std::move(worker);
              if (--*pending == 0) launch(self);
            },
            [=](caf::error& err) {
              abort_job(self, "placing worker " + std::to_string(w) + " on " +
                                  self->state.job.nodes[n] + ": " + describe(err));
            });
  }
}

// Cluster mode, step 1: every shard on its node.
// A live node for a copy of shard k other than `avoid` (the other copy's
// node): the next shard node after it, else any live node; nodes.size() if none.
std::size_t backup_node_for(scheduler_pointer self, std::size_t avoid) {
  auto& st = self->state;
  const auto& chosen = st.job.shard_nodes;
  const std::size_t n = st.nodes.size();
  for (std::size_t step = 1; step <= n; ++step) {
    std::size_t candidate = (avoid + step) % n;
    if (!chosen.empty()) {
      auto it = std::find(chosen.begin(), chosen.end(), avoid);
      const std::size_t pos =
          it == chosen.end() ? 0 : static_cast<std::size_t>(it - chosen.begin());
      candidate = step <= chosen.size() ? chosen[(pos + step) % chosen.size()] : (avoid + step) % n;
    }
    if (candidate != avoid && !st.dead_nodes.count(candidate)) return candidate;
  }
  for (std::size_t c = 0; c < n; ++c) {
    if (c != avoid && !st.dead_nodes.count(c)) return c;
  }
  return n;
}

// Spawns a backup of shard k and attaches it to the primary, which sends it
// its state and then forwards every push to it.
void make_backup(scheduler_pointer self, std::uint32_t k, std::function<void()> then,
                 int attempts = 2) {
  auto& st = self->state;
  const auto n = backup_node_for(self, st.shard_node[k]);
  if (n >= st.nodes.size()) {
    spdlog::warn("shard {}: no live node left for a backup; running without one", k);
    return then();
  }
  const auto t0 = clock_type::now();
  const auto primary = st.shards[k];
  auto retry = [=](const std::string& why) {
    spdlog::warn("shard {}: no backup on {}: {}", k, self->state.job.nodes[n], why);
    if (attempts > 1 && !self->state.finished) return make_backup(self, k, then, attempts - 1);
    then();
  };
  self->request(st.nodes[n], std::chrono::seconds(30), spawn_atom::value,
                shard_request{k, shard_slices(st.job, k)})
      .then(
          [=](shard_actor& backup) {
            // The backup counts only once it holds the primary's state, and
            // only for the primary it was made for.
            self->request(primary, std::chrono::seconds(150), replica_atom::value,
                          caf::actor_cast<caf::actor>(backup))
                .then(
                    [=](bool) {
                      auto& s = self->state;
                      if (s.shards[k] != primary || s.finished) {
                        self->send_exit(backup, caf::exit_reason::user_shutdown);
                        return then();
                      }
                      self->monitor(backup);
                      s.backup_node[k] = n;
                      s.backups[k] = backup;
                      spdlog::info("shard {}: backup on {} in sync ({:.0f} ms)", k, s.job.nodes[n],
                                   std::chrono::duration<double, std::milli>(clock_type::now() - t0)
                                       .count());
                      then();
                    },
                    [=](caf::error& err) {
                      self->send_exit(backup, caf::exit_reason::user_shutdown);
                      retry(describe(err));
                    });
          },
          [=](caf::error& err) {
            // The node may be dying: another one next time.
            self->state.dead_nodes.insert(n);
            retry(describe(err));
          });
}

void place_shards(scheduler_pointer self) {
  auto& st = self->state;
  const auto& job = st.job;
  st.shards.resize(job.shards);
  st.backups.resize(job.shards);
  auto pending = std::make_shared<std::size_t>(job.shards);
  for (std::uint32_t k = 0; k < job.shards; ++k) {
    const auto n = place(job.shard_nodes, st.nodes.size(), k);
    st.shard_node[k] = n;
    self->request(st.nodes[n], std::chrono::seconds(30), spawn_atom::value,
                  shard_request{k, shard_slices(job, k)})
        .then(
            [=](shard_actor& shard) {
              self->monitor(shard);
              self->state.shards[k] = std::move(shard);
              auto done = [=] {
                if (--*pending == 0) shards_ready(self);
              };
              if (self->state.job.replication > 1) return make_backup(self, k, done);
              done();
            },
            [=](caf::error& err) {
              abort_job(self, "placing shard " + std::to_string(k) + " on " +
                                  self->state.job.nodes[n] + ": " + describe(err));
            });
  }
}

// Shard k's primary was lost: its backup becomes the primary, every worker
// and the evaluator are re-pointed, and a new backup is made.
void repoint_all(scheduler_pointer self, std::uint32_t k) {
  auto& st = self->state;
  for (auto& w : st.workers) {
    if (w) self->send(w, repoint_atom::value, k, st.shards[k]);
  }
  if (st.evaluator) self->send(st.evaluator, repoint_atom::value, k, st.shards[k]);
}

// Without a backup, a lost shard comes back from its last checkpoint on a
// surviving node; the updates since that checkpoint are lost, and said so.
void restore_from_checkpoint(scheduler_pointer self, std::uint32_t k, const std::string& why) {
  auto& st = self->state;
  latest_checkpoint latest;
  if (st.job.checkpoint_every == 0 || !find_latest_checkpoint(st.checkpoint_dir, k, latest) ||
      !latest.found()) {
    return abort_job(self, "shard " + std::to_string(k) + " lost (" + why +
                               "), no backup and no checkpoint to restore it from");
  }
  const auto n = backup_node_for(self, st.shard_node[k]);
  if (n >= st.nodes.size()) {
    return abort_job(self, "shard " + std::to_string(k) + " lost and no live node left");
  }
  const auto t0 = clock_type::now();
  const auto lost_clocks = std::max<std::int64_t>(
      0, (st.clocks->size() ? st.clocks->min_clock() : 0) - latest.data.header.clock);
  for (const auto& w : latest.warnings) spdlog::warn("shard {}: {}", k, w);
  auto data = encode_checkpoint(latest.data.header, latest.data.snapshot);
  self->request(st.nodes[n], std::chrono::seconds(30), spawn_atom::value,
                shard_request{k, shard_slices(st.job, k)})
      .then(
          [=](shard_actor& shard) mutable {
            self->monitor(shard);
            // Sequence numbers are kept: the workers go on counting.
            self->request(shard, std::chrono::seconds(120), restore_atom::value, std::move(data),
                          true)
                .then(
                    [=](std::uint64_t) {
                      auto& s = self->state;
                      s.shards[k] = shard;
                      s.shard_node[k] = n;
                      ++s.summary.shards_failed_over;
                      if (s.exporter) s.exporter->add_failover();
                      repoint_all(self, k);
                      if (s.job.replication > 1) make_backup(self, k, [] {});
                      spdlog::warn(
                          "shard {}: restored on {} from the checkpoint of clock {} in "
                          "{:.0f} ms; about {} clocks of its updates are lost",
                          k, s.job.nodes[n], latest.data.header.clock,
                          std::chrono::duration<double, std::milli>(clock_type::now() - t0).count(),
                          lost_clocks);
                    },
                    [=](caf::error& err) {
                      abort_job(self,
                                "restoring shard " + std::to_string(k) + ": " + describe(err));
                    });
          },
          [=](caf::error& err) {
            abort_job(self, "replacing shard " + std::to_string(k) + ": " + describe(err));
          });
}

void fail_over(scheduler_pointer self, std::uint32_t k, const std::string& why) {
  auto& st = self->state;
  const auto t0 = clock_type::now();
  if (st.nodes.empty()) {
    return abort_job(self, "shard " + std::to_string(k) + " lost: " + why);
  }
  if (k >= st.backups.size() || !st.backups[k]) return restore_from_checkpoint(self, k, why);
  st.shards[k] = st.backups[k];
  st.backups[k] = shard_actor{};
  st.shard_node[k] = st.backup_node[k];
  repoint_all(self, k);
  ++st.summary.shards_failed_over;
  if (st.exporter) st.exporter->add_failover();
  spdlog::warn(
      "shard {}: primary lost ({}); backup on {} promoted, workers re-pointed in {:.2f} ms", k, why,
      st.job.nodes[st.shard_node[k]],
      std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
  make_backup(self, k, [] {});
}

void start_job(scheduler_pointer self) {
  auto& st = self->state;
  const auto& job = st.job;
  st.clocks = std::make_unique<clock_table>(job.staleness);
  const std::int64_t clock = st.resume ? st.resume->clock : 0;
  const std::int64_t epoch = st.resume ? st.resume->epoch : 0;
  for (std::uint32_t w = 0; w < job.workers; ++w) {
    st.clocks->add_worker(w, clock);
    st.start_clock[w] = clock;
    st.running.insert(w);
    st.last_epoch[w] = epoch - 1;
    st.partition[w] = w;
  }
  st.next_eval = static_cast<std::uint32_t>(epoch);
  st.next_checkpoint = clock + 1;
  if (!st.nodes.empty()) {
    for (auto& n : st.nodes) self->monitor(n);
    return place_shards(self);
  }
  for (std::uint32_t k = 0; k < job.shards; ++k) {
    st.shards.push_back(spawn_shard(self->system(), k, shard_slices(job, k)));
    self->monitor(st.shards.back());
  }
  shards_ready(self);
}

// Every shard exists (and holds its checkpoint when resuming): the evaluator
// and the workers follow.
void spawn_workers(scheduler_pointer self) {
  auto& st = self->state;
  const auto& job = st.job;
  st.evaluator = spawn_evaluator(self->system(), job, st.data, st.shards);
  self->monitor(st.evaluator);
  if (!st.nodes.empty()) return place_workers(self);
  auto me = caf::actor_cast<scheduler_actor>(self);
  for (std::uint32_t w = 0; w < job.workers; ++w) {
    worker_config cfg;
    cfg.id = w;
    cfg.partition = w;
    cfg.start_epoch = st.resume ? st.resume->epoch : 0;
    cfg.start_clock = st.resume ? st.resume->clock : 0;
    cfg.job = job;
    // A replica is one worker, or a pipeline of stages whose head acts as one.
    st.workers.push_back(job.stages > 1
                             ? spawn_pipeline(self->system(), cfg, st.data, st.shards, me)
                             : spawn_worker(self->system(), cfg, st.data, st.shards, me));
    self->monitor(st.workers.back());
  }
  launch(self);
}

void shards_ready(scheduler_pointer self) {
  auto& st = self->state;
  if (!st.resume) return spawn_workers(self);
  auto pending = std::make_shared<std::size_t>(st.shards.size());
  for (std::size_t k = 0; k < st.shards.size(); ++k) {
    std::ifstream in(st.resume->files[k], std::ios::binary);
    bytes data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    self->request(st.shards[k], std::chrono::seconds(120), restore_atom::value, std::move(data),
                  false)
        .then(
            [=](std::uint64_t) {
              if (--*pending == 0) spawn_workers(self);
            },
            [=](caf::error& err) {
              abort_job(self, "restoring shard " + std::to_string(k) + " from " +
                                  self->state.resume->files[k] + ": " + describe(err));
            });
  }
}

// Every checkpoint_every clocks of the slowest worker, each shard writes a
// checkpoint; once all have, a progress file records the clock and epoch a
// resumed job starts from. Training goes on meanwhile.
void maybe_checkpoint(scheduler_pointer self) {
  auto& st = self->state;
  if (st.job.checkpoint_every == 0 || st.checkpointing || st.clocks->size() == 0) return;
  const auto clock = st.clocks->min_clock();
  if (clock < st.next_checkpoint || clock % st.job.checkpoint_every != 0) return;
  st.next_checkpoint = clock + 1;
  std::int64_t epoch = std::numeric_limits<std::int64_t>::max();
  for (const auto& [w, e] : st.last_epoch) epoch = std::min(epoch, e + 1);
  st.checkpointing = true;
  const auto t0 = clock_type::now();
  auto pending = std::make_shared<std::size_t>(st.shards.size());
  for (auto& shard : st.shards) {
    self->request(shard, std::chrono::seconds(120), checkpoint_atom::value, st.checkpoint_dir,
                  st.job.name, clock)
        .then(
            [=](const std::string&) {
              if (--*pending > 0) return;
              auto& s = self->state;
              s.checkpointing = false;
              const auto name = s.checkpoint_dir + "/progress-clock-" + std::to_string(clock);
              {
                std::ofstream out(name + ".tmp");
                out << "clock=" << clock << "\nepoch=" << epoch << "\n";
              }
              std::error_code ec;
              std::filesystem::rename(name + ".tmp", name + ".txt", ec);
              if (ec) {
                // The shards wrote their files; only this process cannot record the set
                // (shards on other machines need a shared checkpoint directory).
                spdlog::error("checkpoint at clock {}: cannot write {}.txt: {}", clock, name,
                              ec.message());
                return;
              }
              spdlog::info(
                  "checkpoint at clock {} (epoch {}) written by {} shards in {:.0f} ms", clock,
                  epoch + 1, s.shards.size(),
                  std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
            },
            [=](caf::error& err) {
              self->state.checkpointing = false;
              spdlog::error("checkpoint at clock {} failed: {}; training goes on", clock,
                            describe(err));
            });
  }
}

// Every actor exists: log the job and start the workers.
void launch(scheduler_pointer self) {
  auto& st = self->state;
  const auto& job = st.job;
  const auto tables = workload_tables(job);
  std::string table_list;
  for (const auto& t : tables) {
    table_list += (table_list.empty() ? "" : ", ") + t.name +
                  (t.kind == table_kind::dense
                       ? " (dense, " + std::to_string(t.size) + " keys)"
                       : " (sparse, width " + std::to_string(t.width) + ", " +
                             std::to_string(sparse_row_bytes(t)) + " bytes/row" +
                             (t.max_rows ? ", at most " + std::to_string(t.max_rows) + " rows/shard"
                                         : std::string{}) +
                             ")");
  }
  spdlog::info(
      "job '{}': {} workers{}, {} shards{}, staleness {}, stragglers {}, tables {}; {} "
      "train / {} test rows",
      job.name, job.workers,
      job.stages > 1 ? fmt::format(" (pipelines of {} stages, {} micro-batches)", job.stages,
                                   job.micro_batches)
                     : std::string{},
      job.shards,
      st.nodes.empty() ? std::string{" in this process"}
                       : " on " + std::to_string(st.nodes.size()) + " nodes",
      staleness_to_string(job.staleness), job.stragglers, table_list, st.data->train_rows(),
      st.data->test_rows());
  st.start = clock_type::now();
  st.interval = interval_totals{};
  for (auto& w : st.workers) self->send(w, start_atom::value);
}

// Starts a replacement for lost worker `lost` on its data partition, from the
// beginning of the epoch it was in, under a new id (its pushes must not be
// mistaken for retries of the lost worker's).
void replace_worker(scheduler_pointer self, std::uint32_t lost, const std::string& why) {
  auto& st = self->state;
  const auto detected = clock_type::now();
  const auto clock = st.clocks->clock_of(lost);
  const auto epoch = static_cast<std::uint32_t>(std::max<std::int64_t>(st.last_epoch[lost] + 1, 0));
  st.running.erase(lost);
  st.clocks->remove_worker(lost);
  st.last_epoch.erase(lost);
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
  st.running.insert(id);
  st.last_epoch[id] = static_cast<std::int64_t>(epoch) - 1;
  st.workers.emplace_back();
  ++st.summary.workers_replaced;
  if (st.exporter) st.exporter->add_worker_replaced();
  spdlog::warn(
      "worker {} (partition {}) lost at clock {} in epoch {}: {}; replacing it with worker "
      "{}",
      lost, st.partition[id], clock, epoch + 1, why, id);
  release_waiting(self);
  auto started = [=](worker_actor worker, const std::string& where) {
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
  if (st.nodes.empty()) {
    worker_config cfg;
    cfg.id = id;
    cfg.partition = st.partition[id];
    cfg.start_epoch = epoch;
    cfg.start_clock = start_clock;
    cfg.job = st.job;
    const auto me = caf::actor_cast<scheduler_actor>(self);
    return started(st.job.stages > 1 ? spawn_pipeline(self->system(), cfg, st.data, st.shards, me)
                                     : spawn_worker(self->system(), cfg, st.data, st.shards, me),
                   "in this process");
  }
  // Another live worker node, preferring one other than the lost worker's.
  std::vector<std::size_t> candidates;
  const auto& chosen = st.job.worker_nodes;
  for (std::size_t i = 0; i < (chosen.empty() ? st.nodes.size() : chosen.size()); ++i) {
    const auto n = chosen.empty() ? i : chosen[i];
    if (!st.dead_nodes.count(n)) candidates.push_back(n);
  }
  if (candidates.empty())
    return abort_job(self, "no live node left to run worker " + std::to_string(id));
  const std::size_t first = (st.node_of[lost] + 1) % candidates.size();
  const auto n = candidates[first];
  st.node_of[id] = n;
  if (st.job.stages > 1) {
    // A new chain on the live worker nodes, neighbours apart where possible.
    std::vector<std::size_t> where;
    for (std::uint32_t s = 0; s < st.job.stages; ++s) {
      where.push_back(candidates[(first + s) % candidates.size()]);
    }
    return place_pipeline(self, id, epoch, start_clock, where,
                          [=](worker_actor head, const std::string& text) {
                            started(std::move(head), "as a pipeline (" + text + ")");
                          });
  }
  self->request(st.nodes[n], std::chrono::seconds(120), spawn_atom::value,
                make_worker_request(self, id, epoch, start_clock))
      .then(
          [=](worker_actor& worker) {
            started(std::move(worker), "on " + self->state.job.nodes[n]);
          },
          [=](caf::error& err) {
            abort_job(self, "replacing worker " + std::to_string(lost) + ": " + describe(err));
          });
}

// Worker (or pipeline replica) w's node is lost.
void worker_lost(scheduler_pointer self, std::uint32_t w, const std::string& why) {
  auto& st = self->state;
  if (st.last_epoch[w] + 1 >= static_cast<std::int64_t>(st.job.epochs)) {
    // It had finished its last epoch; only its `done` was lost.
    st.running.erase(w);
    st.clocks->remove_worker(w);
    release_waiting(self);
    return maybe_finish(self);
  }
  replace_worker(self, w, why);
}

void on_down(scheduler_pointer self, const caf::down_msg& dm) {
  auto& st = self->state;
  if (st.finished) return;
  // Whatever went down first, its node is gone: never place anything there.
  if (dm.reason == caf::exit_reason::remote_link_unreachable) {
    for (std::size_t n = 0; n < st.nodes.size(); ++n) {
      if (st.nodes[n].node() == dm.source.node()) st.dead_nodes.insert(n);
    }
  }
  for (std::size_t n = 0; n < st.nodes.size(); ++n) {
    if (dm.source == st.nodes[n].address()) {
      st.dead_nodes.insert(n);
      spdlog::warn("node {} lost: {}", st.job.nodes[n], describe(dm.reason));
      return;
    }
  }
  if (auto it = st.stages.find(dm.source); it != st.stages.end()) {
    const auto p = it->second;
    st.stages.erase(it);
    // A chain ends normally (user_shutdown) when its head finished.
    if (!dm.reason || dm.reason == caf::exit_reason::user_shutdown ||
        !st.running.count(p.replica)) {
      return;
    }
    const auto why = "pipeline " + std::to_string(p.replica) + ": stage " +
                     std::to_string(p.stage) + " on node " + st.job.nodes[p.node] + " went down (" +
                     describe(dm.reason) + ")";
    // A stage that failed by itself would fail the same way again.
    if (dm.reason != caf::exit_reason::remote_link_unreachable) return abort_job(self, why);
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
    // Only a lost link (a killed or hung node) is worth a replacement: a
    // worker that failed by itself would fail the same way again.
    if (dm.reason != caf::exit_reason::remote_link_unreachable) {
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
      self->request(st.shards[k], std::chrono::seconds(30), replica_atom::value, caf::actor{})
          .then([](bool) {}, [](caf::error&) {});
      return make_backup(self, k, [] {});
    }
  }
  if (dm.source == st.evaluator.address() && dm.reason) {
    abort_job(self, "the evaluator went down: " + describe(dm.reason));
  }
}

scheduler_actor::behavior_type scheduler_behavior(scheduler_pointer self, job_config job,
                                                  std::shared_ptr<const workload_data> data,
                                                  std::vector<node_actor> nodes,
                                                  std::optional<resume_point> resume,
                                                  std::shared_ptr<metrics_exporter> metrics) {
  self->state.exporter = std::move(metrics);
  self->state.resume = std::move(resume);
  // Replicas need somewhere else to live: two copies by default on >= 2 nodes.
  if (job.replication == 0) job.replication = nodes.size() >= 2 ? 2 : 1;
  if (nodes.size() < 2) job.replication = 1;
  self->state.checkpoint_dir =
      std::filesystem::absolute(job.output_dir + "/checkpoints").lexically_normal().string();
  self->state.job = std::move(job);
  self->state.data = std::move(data);
  self->state.nodes = std::move(nodes);
  self->state.metrics = std::make_unique<metrics_log>(self->state.job.output_dir + "/metrics.csv",
                                                      self->state.resume.has_value());
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  // An exception would otherwise end the scheduler without answering `run`.
  self->set_exception_handler([=](std::exception_ptr& eptr) -> caf::error {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(eptr);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    abort_job(self, "scheduler error: " + what);
    return make_troupe_error(errc::stopped, what);
  });
  return {
      [=](run_atom) -> caf::result<job_summary> {
        auto& st = self->state;
        if (st.run_promise.pending()) {
          return make_troupe_error(errc::bad_config, "the job is already running");
        }
        st.run_promise = self->make_response_promise<job_summary>();
        start_job(self);
        return st.run_promise;
      },
      [=](clock_atom, const bytes& msg) -> caf::result<std::int64_t> {
        auto& st = self->state;
        clock_advance adv;
        status status = decode_clock_advance(msg, adv);
        if (status) status = st.clocks->advance(adv.worker, adv.clock);
        if (!status) {
          spdlog::warn("scheduler: rejected clock advance: {}", status.to_string());
          return to_caf_error(status);
        }
        release_waiting(self);
        maybe_evaluate_between_epochs(self);
        maybe_checkpoint(self);
        if (st.clocks->may_start(adv.clock)) return st.clocks->min_clock();
        auto promise = self->make_response_promise<std::int64_t>();
        st.waiting.push_back({adv.worker, adv.clock, promise});
        return promise;
      },
      [=](progress_atom, const worker_progress& p) { on_progress(self, p); },
      [=](epoch_atom, std::uint32_t worker, std::uint32_t epoch) {
        auto it = self->state.last_epoch.find(worker);
        if (it == self->state.last_epoch.end()) return;
        it->second = std::max<std::int64_t>(it->second, epoch);
        evaluate_completed_epochs(self);
      },
      [=](done_atom, std::uint32_t worker) {
        auto& st = self->state;
        if (st.running.erase(worker) == 0) return;  // unknown, replaced or repeated
        const auto clock = std::max<std::int64_t>(0, st.clocks->clock_of(worker));
        st.finished_clock = std::max(st.finished_clock, clock);
        st.finished_steps += static_cast<std::uint64_t>(clock - st.start_clock[worker]);
        // A finished worker must not hold the others back.
        st.clocks->remove_worker(worker);
        release_waiting(self);
        maybe_finish(self);
      },
      [=](fail_atom, std::uint32_t worker, const std::string& why) {
        abort_job(self, "worker " + std::to_string(worker) + ": " + why);
      },
  };
}

}  // namespace

scheduler_actor spawn_scheduler(caf::actor_system& sys, job_config job,
                                std::shared_ptr<const workload_data> data,
                                std::vector<node_actor> nodes, std::optional<resume_point> resume,
                                std::shared_ptr<metrics_exporter> metrics) {
  return sys.spawn(scheduler_behavior, std::move(job), std::move(data), std::move(nodes),
                   std::move(resume), std::move(metrics));
}

}  // namespace troupe
