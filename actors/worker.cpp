#include "actors/worker.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/actor_config.hpp"
#include "engine/batch_sampler.hpp"

namespace troupe {

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::size_t kStalenessBuckets = 257;  // 0..255 exactly, then "more"

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

struct worker_state {
  worker_config cfg;
  std::shared_ptr<const dataset> data;
  std::vector<shard_actor> shards;
  scheduler_actor scheduler;
  std::unique_ptr<kernels::backend> backend;
  std::unique_ptr<mlp> net;
  std::unique_ptr<batch_sampler> sampler;
  std::vector<float> x;
  std::vector<std::int32_t> y;
  std::size_t rows = 0;  // rows of the current batch

  std::int64_t clock = 0;
  std::uint32_t epoch = 0;
  std::vector<std::uint64_t> seq;             // last seq sent, per shard
  std::vector<std::uint64_t> pulled_version;  // per shard
  std::size_t pending = 0;                    // outstanding replies of this phase

  worker_progress report;  // accumulates until sent
  clock_type::time_point report_start;
  bool failed = false;

  static inline const char* name = "troupe.worker";
};

using worker_pointer = worker_actor::stateful_pointer<worker_state>;

void request_clock(worker_pointer self);

void fail(worker_pointer self, const std::string& what, const caf::error& err) {
  auto& st = self->state;
  if (st.failed) return;
  st.failed = true;
  const auto why = what + ": " + describe(err);
  spdlog::error("worker {}: clock {}: {}", st.cfg.id, st.clock, why);
  self->send(st.scheduler, fail_atom::value, st.cfg.id, why);
  self->quit(err);
}

void flush_report(worker_pointer self) {
  auto& st = self->state;
  st.report.worker = st.cfg.id;
  st.report.epoch = st.epoch;
  st.report.clock = st.clock;
  st.report.busy_s = seconds_since(st.report_start);
  self->send(st.scheduler, progress_atom::value, st.report);
  st.report = worker_progress{};
  st.report_start = clock_type::now();
}

void push_gradients(worker_pointer self) {
  auto& st = self->state;
  st.pending = st.shards.size();
  for (std::size_t k = 0; k < st.shards.size(); ++k) {
    const auto& r = st.cfg.ranges[k];
    auto msg = push_writer::dense(
        {st.cfg.table, st.cfg.id, st.clock, ++st.seq[k], st.pulled_version[k]}, r.begin, r.size());
    // The gradient goes from the backend straight into the message: one copy.
    st.backend->download(st.net->grads() + r.begin, r.size(), msg.values());
    self->request(st.shards[k], st.cfg.request_timeout, push_atom::value, std::move(msg).finish())
        .then(
            [=](const bytes& reply) {
              auto& s = self->state;
              push_ack ack;
              if (auto status = decode_push_ack(reply, ack); !status) {
                fail(self, "bad push ack from shard " + std::to_string(k), to_caf_error(status));
                return;
              }
              s.report.staleness_sum += static_cast<double>(ack.staleness);
              s.report.staleness_max = std::max(s.report.staleness_max, ack.staleness);
              auto& hist = s.report.staleness_hist;
              if (hist.empty()) hist.assign(kStalenessBuckets, 0);
              ++hist[std::min<std::uint64_t>(ack.staleness, kStalenessBuckets - 1)];
              ++s.report.pushes;
              if (--s.pending == 0) {
                ++s.clock;
                if (s.clock % s.cfg.log_every == 0) flush_report(self);
                request_clock(self);
              }
            },
            [=](caf::error& err) { fail(self, "push to shard " + std::to_string(k), err); });
  }
}

void compute(worker_pointer self) {
  auto& st = self->state;
  auto r = st.net->train_step(st.x.data(), st.y.data(), static_cast<int>(st.rows));
  st.report.samples += st.rows;
  st.report.loss_sum += r.loss_sum;
  st.report.correct += static_cast<std::uint64_t>(r.correct);
  push_gradients(self);
}

void pull_parameters(worker_pointer self) {
  auto& st = self->state;
  st.pending = st.shards.size();
  for (std::size_t k = 0; k < st.shards.size(); ++k) {
    const auto& r = st.cfg.ranges[k];
    self->request(st.shards[k], st.cfg.request_timeout, pull_atom::value,
                  encode_dense_pull(st.cfg.table, st.cfg.id, r.begin, r.size()))
        .then(
            [=](const bytes& reply) {
              auto& s = self->state;
              pull_reply_view view;
              status status = decode_pull_reply(reply, view);
              if (status && (view.sparse || view.offset != r.begin || view.count != r.size())) {
                status = {errc::wrong_size, "pull reply does not match the requested range"};
              }
              if (!status) {
                fail(self, "bad pull reply from shard " + std::to_string(k), to_caf_error(status));
                return;
              }
              s.pulled_version[k] = view.shard_version;
              // The one copy of a pull: message -> backend memory.
              s.backend->upload(view.values, view.count, s.net->params() + r.begin);
              if (--s.pending == 0) compute(self);
            },
            [=](caf::error& err) { fail(self, "pull from shard " + std::to_string(k), err); });
  }
}

// Starts the next step, moving to the next epoch when the partition is done.
void next_step(worker_pointer self) {
  auto& st = self->state;
  st.rows = st.sampler->next(*st.data, st.x, st.y);
  if (st.rows == 0) {
    if (st.epoch + 1 >= st.cfg.epochs) flush_report(self);
    self->send(st.scheduler, epoch_atom::value, st.cfg.id, st.epoch);
    if (st.epoch + 1 >= st.cfg.epochs) {
      self->send(st.scheduler, done_atom::value, st.cfg.id);
      self->quit();
      return;
    }
    st.sampler->start_epoch(++st.epoch);
    st.rows = st.sampler->next(*st.data, st.x, st.y);
    if (st.rows == 0) {
      fail(self, "empty partition", make_troupe_error(errc::bad_config, "no training rows"));
      return;
    }
  }
  pull_parameters(self);
}

void request_clock(worker_pointer self) {
  auto& st = self->state;
  const auto asked = clock_type::now();
  self->request(st.scheduler, st.cfg.clock_timeout, clock_atom::value,
                encode_clock_advance({st.cfg.id, st.clock}))
      .then([=](std::int64_t) {
        self->state.report.wait_s += seconds_since(asked);
        next_step(self);
      },
            [=](caf::error& err) { fail(self, "clock advance", err); });
}

worker_actor::behavior_type worker_behavior(worker_pointer self, worker_config cfg,
                                            std::shared_ptr<const dataset> train,
                                            std::vector<shard_actor> shards,
                                            scheduler_actor scheduler) {
  auto& st = self->state;
  st.backend = kernels::make_backend(cfg.backend, 1);
  st.net = std::make_unique<mlp>(cfg.model, *st.backend, static_cast<int>(cfg.batch));
  st.sampler = std::make_unique<batch_sampler>(train->rows, cfg.id, cfg.partitions, cfg.batch,
                                               cfg.seed);
  st.seq.assign(shards.size(), 0);
  st.pulled_version.assign(shards.size(), 0);
  st.cfg = std::move(cfg);
  st.data = std::move(train);
  st.shards = std::move(shards);
  st.scheduler = std::move(scheduler);
  return {
      [=](start_atom) {
        auto& s = self->state;
        spdlog::debug("worker {}: {} rows on {}", s.cfg.id, s.sampler->rows().size(),
                      s.backend->name());
        s.sampler->start_epoch(0);
        s.report_start = clock_type::now();
        request_clock(self);
      },
  };
}

}  // namespace

worker_actor spawn_worker(caf::actor_system& sys, worker_config cfg,
                          std::shared_ptr<const dataset> train, std::vector<shard_actor> shards,
                          scheduler_actor scheduler) {
  // Detached: a worker computes for milliseconds at a time and must not
  // hold up the cooperative scheduler threads that shards and clocks use.
  return sys.spawn<caf::detached>(worker_behavior, std::move(cfg), std::move(train),
                                  std::move(shards), std::move(scheduler));
}

}  // namespace troupe
