// The head of a pipeline (stage 0): the replica's worker towards the
// scheduler. It owns the data partition and the clock, cuts each batch into
// micro-batches and streams their activations down the chain, and advances
// the clock once every stage has pushed its gradient for the step.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <numeric>

#include "actors/actor_config.hpp"
#include "actors/stage_state.hpp"
#include "engine/wire/pipeline_codec.hpp"

namespace troupe::pipeline_detail {

namespace {

void request_clock(stage_pointer self);

void flush_report(stage_pointer self) {
  auto& st = self->state;
  st.report.worker = st.cfg.worker.id;
  st.report.epoch = st.epoch;
  st.report.clock = st.clock;
  st.report.busy_s = seconds_since(st.report_start);
  st.report.staleness_hist = st.report_staleness.buckets();
  st.report_staleness.clear();
  self->send(st.scheduler, progress_atom::value, st.report);
  st.report = worker_progress{};
  st.report_start = clock_type::now();
}

// How busy each stage was: above 1, the sum of busy fractions says stages
// computed at the same time (they overlapped); 1 - busy is a stage's idle share.
void log_utilisation(stage_pointer self) {
  auto& st = self->state;
  const double wall = seconds_since(st.run_start);
  if (wall <= 0) return;
  std::string busy;
  double sum = 0;
  for (std::size_t s = 0; s < st.stage_busy.size(); ++s) {
    const double f = st.stage_busy[s] / wall;
    sum += f;
    busy += (s ? ", " : "") + fmt::format("{:.0f}%", 100.0 * f);
  }
  spdlog::info(
      "pipeline {}: {} stages, {} micro-batches: stage compute busy {} of {:.1f} s "
      "(idle {:.0f}% on average); busy sum {:.2f}{}",
      st.cfg.worker.id, st.stage_busy.size(), st.cfg.worker.job.micro_batches, busy, wall,
      100.0 * (1.0 - sum / static_cast<double>(st.stage_busy.size())), sum,
      sum > 1 ? " (above 1: stages overlapped)" : "");
}

// A pipeline goes on into its next epoch without waiting for the answer
// (the scheduler holds it only while an earlier epoch's evaluation waits).
void end_epoch(stage_pointer self) {
  auto& st = self->state;
  self->request(st.scheduler, caf::infinite, epoch_atom::value, st.cfg.worker.id, st.epoch)
      .then([](bool) {}, [](caf::error&) {});
}

void finish(stage_pointer self) {
  auto& st = self->state;
  flush_report(self);
  log_utilisation(self);
  end_epoch(self);
  self->send(st.scheduler, done_atom::value, st.cfg.worker.id);
  // A normal exit does not travel along links: stop the chain explicitly.
  if (st.next) self->send_exit(st.next, caf::exit_reason::user_shutdown);
  self->quit();
}

void next_step(stage_pointer self) {
  auto& st = self->state;
  const auto& train = *st.data->dense_train;
  st.rows = st.sampler->next(train, st.x, st.y);
  if (st.rows > 0) return begin_step(self, st.clock);
  if (st.epoch + 1 >= st.cfg.worker.job.epochs) return finish(self);
  flush_report(self);  // the epoch's steps counted before its evaluation, as a worker's
  end_epoch(self);
  st.sampler->start_epoch(++st.epoch);
  st.rows = st.sampler->next(train, st.x, st.y);
  if (st.rows == 0) {
    return fail(self, "empty partition", make_troupe_error(errc::bad_config, "no training rows"));
  }
  begin_step(self, st.clock);
}

void request_clock(stage_pointer self) {
  auto& st = self->state;
  const auto asked = clock_type::now();
  self->request(st.scheduler, st.cfg.worker.clock_timeout, clock_atom::value,
                encode_clock_advance({st.cfg.worker.id, st.clock, st.acked}))
      .then(
          [=](std::int64_t) {
            self->state.report.wait_s += seconds_since(asked);
            next_step(self);
          },
          [=](caf::error& err) { fail(self, "clock advance", err); });
}

}  // namespace

void head_start(stage_pointer self) {
  auto& st = self->state;
  if (st.cfg.stage != 0 || st.sampler) return;  // only the head starts, once
  const auto& job = st.cfg.worker.job;
  if (!st.data || !st.data->dense_train) {
    return fail(self, "start", make_troupe_error(errc::bad_config, "no dense training data"));
  }
  // The same sampler (partition, seed) as the data-parallel MLP workload:
  // the same batches in the same order.
  st.sampler = std::make_unique<batch_sampler>(st.data->dense_train->rows, st.cfg.worker.partition,
                                               job.workers, job.batch, job.seed);
  st.epoch = st.cfg.worker.start_epoch;
  st.clock = st.cfg.worker.start_clock;
  st.stage_busy.assign(job.stages, 0.0);
  st.sampler->start_epoch(st.epoch);
  // A replacement goes on after the batches its predecessor finished.
  for (std::uint64_t i = 0; i < st.cfg.worker.skip_batches; ++i) {
    if (st.sampler->next(*st.data->dense_train, st.x, st.y) == 0) break;
  }
  st.report_start = st.run_start = clock_type::now();
  request_clock(self);
}

// The slice is pulled: stream the micro-batches' activations forward.
void head_after_pull(stage_pointer self) {
  auto& st = self->state;
  const int batch = static_cast<int>(st.rows);
  const int parts = std::min(batch, static_cast<int>(st.cfg.worker.job.micro_batches));
  const int in = st.stage->range().in_width;
  st.micro_batches = static_cast<std::uint32_t>(parts);
  for (int m = 0; m < parts; ++m) {
    int offset = 0;
    const int rows = micro_batch_rows(batch, parts, m, &offset);
    const auto t0 = clock_type::now();
    auto w = activations_writer::make({st.cfg.worker.id, st.step, static_cast<std::uint32_t>(m),
                                       static_cast<std::uint32_t>(parts),
                                       static_cast<std::uint32_t>(batch),
                                       static_cast<std::uint32_t>(rows),
                                       static_cast<std::uint32_t>(st.stage->range().out_width)});
    st.stage->forward(m, st.x.data() + static_cast<std::size_t>(offset) * in, rows, batch,
                      w.values());
    std::copy(st.y.begin() + offset, st.y.begin() + offset + rows, w.labels());
    st.step_report.busy_s += seconds_since(t0);
    // Sent at once: the next stage starts on m while this one computes m + 1.
    self->send(st.next, fwd_atom::value, std::move(w).finish());
  }
}

void head_on_stepped(stage_pointer self, std::uint32_t stage, std::int64_t step,
                     const worker_progress& r) {
  auto& st = self->state;
  if (st.cfg.stage != 0 || stage >= st.stage_busy.size() || step != st.clock) {
    return fail(
        self, "stepped",
        make_troupe_error(errc::wrong_size, "stage " + std::to_string(stage) + " finished step " +
                                                std::to_string(step) + " during step " +
                                                std::to_string(st.clock)));
  }
  st.stage_busy[stage] += r.busy_s;
  st.report.samples += r.samples;  // only the last stage counts rows and loss
  st.report.loss_sum += r.loss_sum;
  st.report.correct += r.correct;
  st.report.pushes += r.pushes;
  st.acked += r.pushes;
  st.report.pushes_resent += r.pushes_resent;
  st.report.staleness_sum += r.staleness_sum;
  st.report.staleness_max = std::max(st.report.staleness_max, r.staleness_max);
  st.report_staleness.merge(r.staleness_hist);
  // A replica's time shares are the mean of its stages' (each stage's
  // compute, pull and push time over the same wall time).
  const auto stages = static_cast<double>(st.stage_busy.size());
  st.report.compute_s += r.compute_s / stages;
  st.report.pull_s += r.pull_s / stages;
  st.report.push_s += r.push_s / stages;
  if (++st.stepped < st.stage_busy.size()) return;
  st.stepped = 0;
  ++st.clock;
  if (st.clock % st.cfg.worker.job.log_every == 0) flush_report(self);
  request_clock(self);
}

}  // namespace troupe::pipeline_detail
