// The scheduler actor (protocol in scheduler.hpp): its behavior, the clock
// table and staleness bound, progress, evaluations, periodic checkpoints,
// and the end of the job (summary or abort). Placement and failure recovery
// live in scheduler_placement.cpp and scheduler_recovery.cpp.
#include "actors/scheduler.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "actors/actor_config.hpp"
#include "actors/metrics_exporter.hpp"
#include "actors/scheduler_state.hpp"
#include "actors/timer.hpp"
#include "engine/clock_table.hpp"
#include "engine/metrics_log.hpp"
#include "engine/shared_dir.hpp"
#include "engine/store/checkpoint.hpp"
#include "engine/store/progress_files.hpp"

namespace troupe::scheduler_detail {

namespace {

double elapsed(const scheduler_state& st) {
  return std::chrono::duration<double>(clock_type::now() - st.start).count();
}

// `reason`: why the job failed, which its nodes log as the end of its lease
// (a failed job read "its scheduler ended: normal exit" there).
void shutdown(scheduler_pointer self, caf::error reason = {}) {
  auto& st = self->state;
  st.finished = true;
  for (auto& w : st.workers) {
    if (w) self->send_exit(w, caf::exit_reason::user_shutdown);
  }
  for (auto& s : st.shards) {
    if (s) self->send_exit(s, caf::exit_reason::user_shutdown);
  }
  for (auto& b : st.backups) {
    if (b) self->send_exit(b, caf::exit_reason::user_shutdown);
  }
  for (auto& [k, b] : st.backup_in_progress) self->send_exit(b, caf::exit_reason::user_shutdown);
  if (st.timer) self->send_exit(st.timer, caf::exit_reason::user_shutdown);
  for (auto& [addr, s] : st.stages) self->send_exit(s.handle, caf::exit_reason::user_shutdown);
  if (st.evaluator) self->send_exit(st.evaluator, caf::exit_reason::user_shutdown);
  for (auto& w : st.waiting) w.promise.deliver(make_troupe_error(errc::stopped, "job ended"));
  st.waiting.clear();
  for (auto& [epoch, hold] : st.epoch_holds) {
    hold.deliver(make_troupe_error(errc::stopped, "job ended"));
  }
  st.epoch_holds.clear();
  self->quit(std::move(reason));
}

void deliver_summary(scheduler_pointer self) {
  auto& st = self->state;
  auto& s = st.summary;
  s.epochs = s.stopped_early ? st.stop_epoch : st.job.epochs;
  s.regression = st.regression;
  if (st.validation.has_best()) {
    s.best_val_loss = st.validation.best_loss();
    s.best_epoch = static_cast<std::int32_t>(st.validation.best_epoch());
    s.best_clock = st.validation.best_clock();
    if (st.job.keep_best) {  // the model selected on validation, not the last one
      s.test_accuracy = st.best.accuracy;
      s.test_loss = st.best.loss;
      s.test_mae = st.best.mae;
      s.eval_report = st.best.report;
    }
  }
  s.steps = st.finished_steps;
  s.samples_per_s = s.wall_s > 0 ? static_cast<double>(st.total.samples) / s.wall_s : 0;
  const auto share = [&](double part) { return st.total.busy_s > 0 ? part / st.total.busy_s : 0; };
  s.wait_fraction = share(st.total.wait_s);
  s.compute_fraction = share(st.total.compute_s);
  s.pull_fraction = share(st.total.pull_s);
  s.push_fraction = share(st.total.push_s);
  s.mean_staleness = st.pushes ? st.staleness_sum / static_cast<double>(st.pushes) : 0;
  // Counted from clock advances, not progress reports: a lost worker's last
  // report may be up to log_every steps old.
  s.pushes_acked = 0;
  for (const auto& [w, n] : st.acked) s.pushes_acked += n;
  s.staleness_p50 = st.staleness_hist.quantile(0.50);
  s.staleness_p99 = st.staleness_hist.quantile(0.99);
  s.output_dir = st.job.output_dir;
  st.run_promise.deliver(s);
  shutdown(self);
}

}  // namespace

void abort_job(scheduler_pointer self, const std::string& why, errc code) {
  auto& st = self->state;
  if (st.finished) return;
  spdlog::error("job '{}' failed: {}", st.job.name, why);
  st.run_promise.deliver(make_troupe_error(code, why));
  shutdown(self, make_troupe_error(errc::stopped, "the job failed: " + why));
}

namespace {

// Shard k's copy `shard` did not give its counters (`err`). A copy being
// replaced is asked again once its successor is in place (shard_replaced);
// its down message may come just after this error, so in a cluster the job
// waits a moment for it before giving up.
void counters_failed(scheduler_pointer self, std::uint32_t k, const shard_actor& shard,
                     const caf::error& err, bool waited) {
  auto& st = self->state;
  const auto it = st.counters_asked.find(k);
  if (it == st.counters_asked.end() || it->second != shard) return;  // replaced and asked again
  if (st.replacing(k)) return;
  if (waited || st.nodes.empty() || !st.timer) {
    return abort_job(self, "shard statistics: " + describe(err));
  }
  self->request(st.timer, std::chrono::seconds(30), wait_atom::value, std::int64_t{2000})
      .then([=](bool) { counters_failed(self, k, shard, err, true); },
            [=](caf::error& e) { abort_job(self, "shard statistics: " + describe(e)); });
}

// While the job is finishing and shard k's counters are not in, asks its
// current primary (again, when it replaced a lost one); else does nothing.
void ask_counters(scheduler_pointer self, std::uint32_t k) {
  auto& st = self->state;
  // Only a shard whose counters are not in: a copy that answered before it
  // was lost already counted every push its successor holds.
  if (!st.finishing || st.finished || !st.counters_asked.count(k)) return;
  const auto shard = st.shards[k];
  st.counters_asked[k] = shard;
  self->request(shard, std::chrono::seconds(30), stats_atom::value)
      .then(
          [=](const shard_stats& stats) {
            auto& s = self->state;
            const auto it = s.counters_asked.find(k);
            if (it == s.counters_asked.end() || it->second != shard) return;
            s.counters_asked.erase(it);
            s.summary.pushes_rejected += stats.pushes_rejected;
            // Table versions count every push applied once, also those a
            // promoted backup received before its promotion.
            // Less what a resumed job's shards were restored with: the
            // summary counts this run's pushes (resumed, it read 308
            // applied to 48 acknowledged).
            const auto restored = s.restored_version.count(k) ? s.restored_version.at(k) : 0;
            s.summary.pushes_applied += stats.version - std::min(stats.version, restored);
            if (s.counters_asked.empty()) deliver_summary(self);
          },
          [=](caf::error& err) { counters_failed(self, k, shard, err, false); });
}

void maybe_write_progress(scheduler_pointer self);
void start_checkpoint(scheduler_pointer self, std::int64_t clock);

}  // namespace

// Collects the shards' counters, then ends the job. A shard lost meanwhile
// gives them from the copy that replaces it.
void maybe_finish(scheduler_pointer self) {
  auto& st = self->state;
  // Every way a worker leaves ends here: the last round's progress file is
  // written before the job ends (a worker lost after its last step held it
  // back and then never said it was done).
  if (st.running.empty()) maybe_write_progress(self);
  // A checkpoint under way is finished first, and a job whose last clock is
  // not one of checkpoint_every's writes one there: the last set of a job
  // is where a later resume (with more epochs) starts from, and a finished
  // job's last set must say so (one inside the last epoch made a resume of
  // the finished job train that epoch again).
  if (st.finished || st.finishing || !st.running.empty() || st.evals_pending > 0 ||
      !st.checkpoint_waiting.empty()) {
    return;
  }
  if (st.job.checkpoint_every > 0 && !st.summary.stopped_early &&
      st.finished_clock >= st.next_checkpoint && !st.shards.empty()) {
    return start_checkpoint(self, st.finished_clock);
  }
  st.finishing = true;
  st.summary.wall_s = elapsed(st);
  if (st.shards.empty()) return deliver_summary(self);
  for (std::uint32_t k = 0; k < st.shards.size(); ++k) st.counters_asked[k] = st.shards[k];
  for (std::uint32_t k = 0; k < st.shards.size(); ++k) ask_counters(self, k);
}

// Answers every waiting pipeline head the staleness bound now lets through,
// and tells the data-parallel workers the slowest clock when it grew (they
// check the bound themselves; unbounded staleness needs no news).
void release_waiting(scheduler_pointer self) {
  auto& st = self->state;
  if (st.job.stages <= 1 && !st.clocks->unbounded() && st.clocks->size() > 0) {
    const auto min_clock = st.clocks->min_clock();
    if (min_clock > st.told_min_clock) {
      st.told_min_clock = min_clock;
      for (const auto id : st.running) {
        if (id < st.workers.size() && st.workers[id]) {
          self->send(st.workers[id], clock_atom::value, min_clock);
        }
      }
    }
  }
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

namespace {

void record_eval(scheduler_pointer self, std::uint32_t epoch, double at_s, std::int64_t min_clock,
                 const eval_result& r, bool epoch_end) {
  auto& st = self->state;
  std::string line = describe_metrics("test", r.regression, r.accuracy, r.loss, r.mae);
  if (r.validated) {
    line +=
        "; " + describe_metrics("validation", r.regression, r.val_accuracy, r.val_loss, r.val_mae);
  }
  // On a resumed job's time axis, which goes on from the interrupted run's.
  at_s += st.time_offset_s;
  spdlog::info("epoch {}/{} {}: {} at {:.1f} s", epoch + 1, st.job.epochs,
               epoch_end ? "done" : "clock " + std::to_string(min_clock), line, at_s);
  // The training rate so far: the samples reported by now over the time
  // until now (over the snapshot's earlier time, a queued evaluation showed
  // a rate up to twice the real one).
  const double now = elapsed(st);
  const double rate = now > 0 ? static_cast<double>(st.total.samples) / now : 0;
  st.metrics->append({at_s, epoch, -1, min_clock, "test", r.loss, r.accuracy, rate, 0});
  if (r.validated) {
    st.metrics->append(
        {at_s, epoch, -1, min_clock, "validation", r.val_loss, r.val_accuracy, rate, 0});
  }
  if (st.summary.stopped_early) return;               // a late evaluation after the stop
  if (epoch_end && epoch + 1 >= st.summary.epochs) {  // the latest epoch's result is final
    st.summary.test_accuracy = r.accuracy;
    st.summary.test_loss = r.loss;
    st.summary.test_mae = r.mae;
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
  if (!r.validated) return;
  const auto v = st.validation.record(r.val_loss, epoch + 1, min_clock);
  if (v.improved) {
    st.best = r;
    if (st.job.keep_best) checkpoint_best(self, min_clock, epoch, r.val_loss, r.held_round);
  }
  if (v.stop) {
    // The summary reports this evaluation (or, with keep_best, the best one).
    st.summary.test_accuracy = r.accuracy;
    st.summary.test_loss = r.loss;
    st.summary.test_mae = r.mae;
    st.summary.eval_report = r.report;
    stop_early(self, epoch);
  }
}

// Appends the slowest clock when it changed; keeps what the evaluation in
// flight may look up (from one entry before it was asked), else the last.
void note_slowest_clock(scheduler_state& st) {
  const auto clock = st.slowest_clock();
  auto& h = st.clock_history;
  if (h.empty() || h.back().second != clock) h.emplace_back(elapsed(st), clock);
  const double keep_from = st.evals_pending > 0 ? st.eval_sent_s : h.back().first;
  while (h.size() > 1 && h[1].first <= keep_from) h.pop_front();
}

// The slowest clock at `at_s` (elapsed seconds), from that history;
// `fallback` before it begins.
std::int64_t clock_at(const scheduler_state& st, double at_s, std::int64_t fallback) {
  auto clock = fallback;
  for (const auto& [t, c] : st.clock_history) {
    if (t > at_s) break;
    clock = c;
  }
  return clock;
}

// The clock an evaluation's row is labelled with. For a model of dense
// tables, from the shards' versions: each data-parallel step pushes once to
// every shard, so a version of v at every shard read holds v / workers
// steps of each worker on average (exactly the steps of a lone worker).
// Otherwise the slowest worker's clock when the evaluator had the pulls
// answered, as the scheduler knew it then, which lags: it hears of steps
// late (a one-worker job of tiny steps was 17 steps ahead of the advances
// it had read) and replies may wait in the evaluator's mailbox. Also once a
// shard was restored from a checkpoint: its versions went back by the
// pushes lost, and the rows read tens of clocks low from then on.
std::int64_t evaluation_clock(const scheduler_state& st, double sent_s, const eval_result& res,
                              std::int64_t fallback) {
  if (st.job.stages <= 1 && res.read_version > 0 && st.job.workers > 0 && !st.versions_rewound) {
    return static_cast<std::int64_t>(res.read_version / st.job.workers);
  }
  return clock_at(st, sent_s + res.read_delay_s, fallback);
}

// Whether the evaluation of an epoch before `epoch` is asked (it waits for
// no worker) but not scored yet.
bool scoring_behind(const scheduler_state& st, std::uint32_t epoch) {
  if (st.summary.stopped_early) return false;
  if (st.eval_asked && st.eval_asked->epoch_end && st.eval_asked->epoch < epoch) return true;
  return std::any_of(st.evals_queued.begin(), st.evals_queued.end(),
                     [&](const queued_eval& q) { return q.epoch_end && q.epoch < epoch; });
}

void release_epoch_holds(scheduler_pointer self) {
  auto& holds = self->state.epoch_holds;
  for (auto it = holds.begin(); it != holds.end();) {
    if (scoring_behind(self->state, it->first)) {
      ++it;
    } else {
      it->second.deliver(true);
      it = holds.erase(it);
    }
  }
}

// Has the evaluator pull the current parameters and score them; `epoch` is
// the epoch the evaluation belongs to (the slowest worker's current one for
// evaluations between epoch ends). One at a time, labelled with the clock
// of what it read: labelled when asked, an evaluation queued behind a busy
// one scored a model tens of steps past its label (see evaluation_clock).
void ask_evaluation(scheduler_pointer self, const queued_eval& e) {
  const double sent_s = elapsed(self->state);
  const auto min_clock = self->state.slowest_clock();
  self->state.eval_sent_s = sent_s;
  self->state.eval_asked = e;
  note_slowest_clock(self->state);
  self->request(self->state.evaluator, std::chrono::minutes(10), eval_atom::value)
      .then(
          [=](const eval_result& res) {
            auto& st = self->state;
            // The snapshot is as of when the evaluator pulled it.
            const auto read_clock = evaluation_clock(st, sent_s, res, min_clock);
            record_eval(self, e.epoch, sent_s + res.snapshot_delay_s, read_clock, res, e.epoch_end);
            --st.evals_pending;
            st.eval_asked.reset();
            // keep_best: the next evaluation's pulls leave after this one's
            // checkpoint requests (record_eval sent them), so the shards
            // still hold the state it scored when they come.
            if (st.summary.stopped_early) {  // nothing more to select from
              st.evals_pending -= static_cast<std::uint32_t>(st.evals_queued.size());
              st.evals_queued.clear();
            }
            if (!st.evals_queued.empty()) {
              const auto next = st.evals_queued.front();
              st.evals_queued.pop_front();
              ask_evaluation(self, next);
            }
            release_epoch_holds(self);
            maybe_finish(self);
          },
          [=](caf::error& err) { abort_job(self, "evaluation: " + describe(err)); });
}

void evaluate_epoch(scheduler_pointer self, std::uint32_t epoch, bool epoch_end = true) {
  auto& st = self->state;
  if (st.evals_pending == 0) {
    ++st.evals_pending;
    return ask_evaluation(self, {epoch, epoch_end});
  }
  // One between epoch ends already waits: it will read the parameters as
  // they are when its turn comes, which is what this one would read too.
  if (!epoch_end) {
    for (const auto& q : st.evals_queued) {
      if (!q.epoch_end) return;
    }
  }
  ++st.evals_pending;
  st.evals_queued.push_back({epoch, epoch_end});
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
  if (st.job.eval_every == 0 || st.clocks->size() == 0 || st.summary.stopped_early) return;
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
  // A report of no steps (a worker's last, when its steps ended on a
  // multiple of log_every) still counts its time below, but a row of zeros
  // would read as a loss of 0.
  if (p.samples > 0) {
    // A regression's loss column is an RMSE in every row, as its test rows
    // and the progress line have it: train rows held the mean squared error.
    const double loss = p.loss_sum / p.samples;
    st.metrics->append(
        {now + st.time_offset_s, p.epoch, p.worker, p.clock, "train",
         st.regression ? std::sqrt(loss) : loss, static_cast<double>(p.correct) / p.samples,
         p.busy_s > 0 ? p.samples / p.busy_s : 0, p.wait_s, p.compute_s, p.pull_s, p.push_s});
  }
  for (auto* t : {&st.interval, &st.total}) {
    t->samples += p.samples;
    t->correct += p.correct;
    t->loss_sum += p.loss_sum;
    t->busy_s += p.busy_s;
    t->wait_s += p.wait_s;
    t->compute_s += p.compute_s;
    t->pull_s += p.pull_s;
    t->push_s += p.push_s;
    ++t->reports;
  }
  st.staleness_sum += p.staleness_sum;
  st.summary.pushes_resent += p.pushes_resent;
  if (st.exporter && p.pushes_resent > 0) st.exporter->add_resent(p.pushes_resent);
  if (p.pushes_resent > 0) {
    spdlog::warn(
        "worker {}: {} pushes resent to a shard's new copy (a promoted backup or one restored "
        "from a checkpoint; one it already had is acknowledged without being applied again)",
        p.worker, p.pushes_resent);
  }
  st.pushes += p.pushes;
  st.staleness_hist.merge(p.staleness_hist);
  st.summary.max_staleness = std::max(st.summary.max_staleness, p.staleness_max);
  auto& iv = st.interval;
  if (iv.reports < std::max<std::size_t>(1, st.running.size()) || iv.samples == 0) return;
  // A regression's training loss is a mean squared error: shown as its root.
  const auto train = st.regression
                         ? fmt::format("train RMSE {:.4f}", std::sqrt(iv.loss_sum / iv.samples))
                         : fmt::format("loss {:.4f} | train acc {:.1f}%", iv.loss_sum / iv.samples,
                                       100.0 * iv.correct / iv.samples);
  const auto pct = [&](double part) { return iv.busy_s > 0 ? 100.0 * part / iv.busy_s : 0.0; };
  spdlog::info(
      "epoch {}/{} step {} | {:.0f} samples/s | {} | "
      "time: compute {:.0f}% pull {:.0f}% push {:.0f}% staleness {:.1f}%",
      p.epoch + 1, st.job.epochs, st.clocks->max_clock(), iv.samples_per_s(clock_type::now()),
      train, pct(iv.compute_s), pct(iv.pull_s), pct(iv.push_s), pct(iv.wait_s));
  iv = interval_totals{};
}

// The progress file of the checkpoint every shard wrote at clock C, once
// every live worker is past C: a worker reports an epoch after the clock
// advance of its last step, so an epoch that ended at C itself is known only
// then (taken at C, the file said the epoch before, and a resume replayed a
// whole epoch; a finished job's last set looked unfinished).
void maybe_write_progress(scheduler_pointer self) {
  auto& st = self->state;
  const auto clock = st.progress_pending;
  if (clock < 0) return;
  for (const auto w : st.running) {
    if (st.clocks->contains(w) && st.clocks->clock_of(w) <= clock) return;
  }
  st.progress_pending = -1;
  std::int64_t epoch = std::numeric_limits<std::int64_t>::max();
  for (const auto& [w, base] : st.epoch_base) {
    const auto& ends = st.epoch_end_clocks[w];
    epoch = std::min<std::int64_t>(
        epoch, base + std::count_if(ends.begin(), ends.end(), [&](auto c) { return c <= clock; }));
  }
  if (epoch == std::numeric_limits<std::int64_t>::max()) return;  // no worker: no job
  if (auto w = write_progress_file(st.checkpoint_dir, clock, epoch, model_signature(st.job),
                                   st.data_signature);
      !w) {
    // The shards wrote their files; only this process cannot record the set
    // (shards on other machines need a shared checkpoint directory).
    spdlog::error("checkpoint at clock {}: {}", clock, w.message());
    return;
  }
  // As many as the shards keep of their own files.
  if (auto w = prune_progress_files(st.checkpoint_dir, 3); !w) {
    spdlog::warn("checkpoint at clock {}: {}", clock, w.message());
  }
  spdlog::info("checkpoint at clock {} recorded: a resumed job starts at epoch {}", clock,
               epoch + 1);
}

// Each shard writes a checkpoint of clock `clock`; once all have, and every
// worker is past it, a progress file records the clock and epoch a resumed
// job starts from. Training goes on meanwhile.
void start_checkpoint(scheduler_pointer self, std::int64_t clock) {
  auto& st = self->state;
  st.next_checkpoint = clock + 1;
  const auto round = ++st.checkpoint_round;
  const auto t0 = clock_type::now();
  for (std::uint32_t k = 0; k < st.shards.size(); ++k) st.checkpoint_waiting.insert(k);
  for (std::uint32_t k = 0; k < st.shards.size(); ++k) {
    self->request(st.shards[k], std::chrono::seconds(120), checkpoint_atom::value,
                  st.checkpoint_dir, st.job.name, clock, std::uint64_t{0})
        .then(
            [=](const std::string&) {
              auto& s = self->state;
              // An abandoned round's shards are no longer waited for.
              if (s.checkpoint_round != round || s.checkpoint_waiting.erase(k) == 0) return;
              if (!s.checkpoint_waiting.empty()) return;
              spdlog::info(
                  "checkpoint at clock {} written by {} shards in {:.0f} ms", clock,
                  s.shards.size(),
                  std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
              s.progress_pending = clock;
              maybe_write_progress(self);
              maybe_finish(self);
            },
            [=](caf::error& err) {
              auto& s = self->state;
              if (s.checkpoint_round != round || s.checkpoint_waiting.count(k) == 0) return;
              s.checkpoint_waiting.clear();
              spdlog::error("checkpoint at clock {} failed: {}; training goes on", clock,
                            describe(err));
              maybe_finish(self);
            });
  }
}

// Pipeline heads advance by request (clock_atom), data-parallel workers by
// message (advance_atom): both count.
void note_clock_spread(scheduler_state& st) {
  st.summary.max_clock_spread =
      std::max(st.summary.max_clock_spread, st.clocks->max_clock() - st.clocks->min_clock());
}

// Every checkpoint_every clocks of the slowest worker.
void maybe_checkpoint(scheduler_pointer self) {
  auto& st = self->state;
  if (st.job.checkpoint_every == 0 || !st.checkpoint_waiting.empty() || st.clocks->size() == 0 ||
      st.summary.stopped_early) {
    return;
  }
  const auto clock = st.clocks->min_clock();
  if (clock < st.next_checkpoint || clock % st.job.checkpoint_every != 0) return;
  start_checkpoint(self, clock);
}

}  // namespace

void shard_replaced(scheduler_pointer self, std::uint32_t k) {
  auto& st = self->state;
  // The lost copy's checkpoint of this round will never come (a hung node's
  // request would hold every later checkpoint back until its timeout): the
  // round ends without a progress file, and the next multiple of
  // checkpoint_every starts a new one with the new copy.
  if (st.checkpoint_waiting.count(k)) {
    st.checkpoint_waiting.clear();
    spdlog::warn("checkpoint round {} abandoned: shard {} was replaced before it wrote its file",
                 st.checkpoint_round, k);
    // The job's last set (every worker done) is taken again with the new
    // copy: there is no later multiple of checkpoint_every to wait for.
    if (st.running.empty()) st.next_checkpoint = std::min(st.next_checkpoint, st.finished_clock);
  }
  // Before the counters: the new copy answers in order, so best.txt is
  // written before the job's summary.
  best_checkpoint_shard_replaced(self, k);
  ask_counters(self, k);
  maybe_finish(self);  // it may have waited for the abandoned round
}

namespace {

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
  // Made here, group-writable below a shared directory: nodes running as a
  // user of their own could not create it in the trainer's output directory.
  if (job.checkpoint_every > 0) {
    if (auto made = make_shared_dir(self->state.checkpoint_dir); !made) {
      spdlog::warn("checkpoints: {}", made.message());
    }
  }
  self->state.regression = regression_job(job);
  self->state.validation = early_stopping(job.early_stopping);
  self->state.job = std::move(job);
  self->state.data = std::move(data);
  self->state.nodes = std::move(nodes);
  self->state.metrics = std::make_unique<metrics_log>(self->state.job.output_dir + "/metrics.csv",
                                                      self->state.resume.has_value());
  restore_history(self);
  // For the progress files: taken before the job runs (a CRC of the whole
  // set, ~50 ms for Fashion-MNIST) rather than in the middle of it.
  if (self->state.job.checkpoint_every > 0 && self->state.data) {
    self->state.data_signature = data_signature(*self->state.data);
  }
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  // An exception would otherwise end the scheduler without answering `run`.
  self->set_exception_handler([=](std::exception_ptr& eptr) -> caf::error {
    const std::string what = describe(eptr);
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
        auto& acked = st.acked[adv.worker];
        acked = std::max(acked, adv.pushes_acked);
        note_clock_spread(st);
        note_slowest_clock(st);
        release_waiting(self);
        maybe_evaluate_between_epochs(self);
        maybe_checkpoint(self);
        maybe_write_progress(self);
        if (st.clocks->may_start(adv.clock)) return st.clocks->min_clock();
        auto promise = self->make_response_promise<std::int64_t>();
        st.waiting.push_back({adv.worker, adv.clock, promise});
        return promise;
      },
      [=](advance_atom, const bytes& msg) {
        auto& st = self->state;
        clock_advance adv;
        status status = decode_clock_advance(msg, adv);
        if (status) {
          // Acknowledgements the worker counted (a real count even when it was
          // replaced meanwhile).
          auto& acked = st.acked[adv.worker];
          acked = std::max(acked, adv.pushes_acked);
        }
        if (status && !st.clocks->contains(adv.worker)) return;  // finished or replaced
        if (status) status = st.clocks->advance(adv.worker, adv.clock);
        if (!status) {
          spdlog::warn("scheduler: rejected clock advance: {}", status.to_string());
          return;
        }
        note_clock_spread(st);
        note_slowest_clock(st);
        release_waiting(self);
        maybe_evaluate_between_epochs(self);
        maybe_checkpoint(self);
        maybe_write_progress(self);
      },
      [=](progress_atom, const worker_progress& p) { on_progress(self, p); },
      [=](epoch_atom, std::uint32_t worker, std::uint32_t epoch) -> caf::result<bool> {
        auto& st = self->state;
        auto it = st.last_epoch.find(worker);
        if (it == st.last_epoch.end()) return true;
        if (epoch > it->second && st.clocks->contains(worker)) {
          st.epoch_end_clocks[worker].push_back(st.clocks->clock_of(worker));
        }
        it->second = std::max<std::int64_t>(it->second, epoch);
        evaluate_completed_epochs(self);
        // Epoch-end evaluations run behind training, one at a time, and
        // each scores the parameters as they are when its turn comes. A
        // worker that ran a whole epoch past one not yet scored waits for
        // it: on small data sets epochs took less time than an evaluation,
        // the evaluations fell behind until every one of them scored the
        // last model, and early stopping counted that one model as epochs
        // that showed no progress. Only evaluations already asked hold a
        // worker back (they wait for no worker), so this cannot deadlock.
        if (!scoring_behind(st, epoch)) return true;
        auto hold = self->make_response_promise<bool>();
        st.epoch_holds.emplace_back(epoch, hold);
        return hold;
      },
      [=](done_atom, std::uint32_t worker) {
        auto& st = self->state;
        if (st.running.erase(worker) == 0) return;  // unknown, replaced or repeated
        const auto clock = std::max<std::int64_t>(0, st.clocks->clock_of(worker));
        st.finished_clock = std::max(st.finished_clock, clock);
        st.finished_steps += static_cast<std::uint64_t>(clock - st.start_clock[worker]);
        // A finished worker must not hold the others back.
        st.clocks->remove_worker(worker);
        note_slowest_clock(st);
        release_waiting(self);
        maybe_write_progress(self);
        maybe_finish(self);
      },
      [=](fail_atom, std::uint32_t worker, const std::string& why) {
        // A worker already replaced (or done) fails no job: its successor runs.
        if (!self->state.running.count(worker)) {
          spdlog::warn("worker {} (no longer in the job) failed: {}", worker, why);
          return;
        }
        abort_job(self, "worker " + std::to_string(worker) + ": " + why);
      },
  };
}

}  // namespace

}  // namespace troupe::scheduler_detail

namespace troupe {

scheduler_actor spawn_scheduler(caf::actor_system& sys, job_config job,
                                std::shared_ptr<const workload_data> data,
                                std::vector<node_actor> nodes, std::optional<resume_point> resume,
                                std::shared_ptr<metrics_exporter> metrics) {
  return sys.spawn(scheduler_detail::scheduler_behavior, std::move(job), std::move(data),
                   std::move(nodes), std::move(resume), std::move(metrics));
}

}  // namespace troupe
