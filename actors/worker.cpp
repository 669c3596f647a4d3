#include "actors/worker.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <deque>
#include <thread>

#include "actors/actor_config.hpp"
#include "actors/metrics_exporter.hpp"
#include "actors/peer_guard.hpp"
#include "actors/push_outbox.hpp"
#include "engine/straggler.hpp"
#include "engine/wire/exchange_plan.hpp"

namespace troupe {

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::size_t kStalenessBuckets = 257;  // 0..255 exactly, then "more"

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

// A push held back by the Dai et al. straggler protocol until clock `due`.
struct delayed_push {
  std::int64_t due;
  std::uint32_t shard;
  bytes message;
};

struct worker_state {
  worker_config cfg;
  std::vector<shard_actor> shards;
  scheduler_actor scheduler;
  std::unique_ptr<workload> wl;
  std::unique_ptr<straggler_model> straggler;
  std::vector<exchange_op> ops;  // this step's pulls and pushes
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t>
      pulled_version;              // (table, shard)
  std::vector<std::uint64_t> seq;  // last seq sent, per shard
  std::deque<delayed_push> held;
  std::size_t pending = 0;  // outstanding pull replies
  push_outbox outbox;       // this step's pushes, until acknowledged
  enum class stage { waiting, pulling, pushing } now = stage::waiting;
  std::uint64_t phase = 0;  // replies of an earlier (restarted) pull phase are ignored
  std::int64_t clock = 0;
  std::uint32_t epoch = 0;
  std::uint64_t acked = 0;  // acknowledgements since it started, sent with every clock
  worker_progress report;   // accumulates until sent
  clock_type::time_point report_start;
  bool failed = false;
  host_context ctx;
  static inline const char* name = "troupe.worker";
};

using worker_pointer = worker_actor::stateful_pointer<worker_state>;

void request_clock(worker_pointer self);
void pull_parameters(worker_pointer self);

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

void on_ack(worker_pointer self, std::uint32_t shard, const bytes& reply) {
  auto& s = self->state;
  push_ack ack;
  if (auto status = decode_push_ack(reply, ack); !status) {
    fail(self, "bad push ack from shard " + std::to_string(shard), to_caf_error(status));
    return;
  }
  s.report.staleness_sum += static_cast<double>(ack.staleness);
  s.report.staleness_max = std::max(s.report.staleness_max, ack.staleness);
  auto& hist = s.report.staleness_hist;
  if (hist.empty()) hist.assign(kStalenessBuckets, 0);
  ++hist[std::min<std::uint64_t>(ack.staleness, kStalenessBuckets - 1)];
  ++s.report.pushes;
  ++s.acked;
  if (s.outbox.unacked() > 0) return;
  s.now = worker_state::stage::waiting;
  ++s.clock;
  if (s.clock % s.cfg.job.log_every == 0) flush_report(self);
  request_clock(self);
}

// A failed request: with replicas, the scheduler will re-point this worker at
// the shard's backup and the phase restarts; without, the job cannot go on.
void on_request_error(worker_pointer self, const std::string& what, caf::error& err) {
  const auto& s = self->state;
  if (!wait_for_failover(s.cfg.job, "worker " + std::to_string(s.cfg.id), what, err)) {
    fail(self, what, err);
  }
}

// (Re)sends every unacknowledged push of this step.
void send_outbox(worker_pointer self) {
  auto& s = self->state;
  s.now = worker_state::stage::pushing;
  s.outbox.send(
      self, s.shards, s.cfg.request_timeout, s.ctx,
      [=](std::uint32_t shard, const bytes& reply) { on_ack(self, shard, reply); },
      [=](std::uint32_t shard, caf::error& err) {
        on_request_error(self, "push to shard " + std::to_string(shard), err);
      });
}

void send_pushes(worker_pointer self, std::vector<delayed_push> pushes) {
  auto& s = self->state;
  s.outbox.start_step();
  for (auto& p : pushes) {
    s.outbox.add(p.shard, caf::make_message(push_atom::value, std::move(p.message)));
  }
  send_outbox(self);
}

// Sends this step's gradients, holding some back when the straggler spec
// delays them; `flush` sends everything still held (the partition's end).
void push_gradients(worker_pointer self, bool flush) {
  auto& st = self->state;
  const std::uint32_t delay = st.straggler ? st.straggler->gradient_delay() : 0;
  for (const auto& op : st.ops) {
    // Held-back pushes go out of order, so they carry seq 0 ("not
    // deduplicated"): the Dai protocol is an in-process experiment control.
    const std::uint64_t seq = delay == 0 ? ++st.seq[op.shard] : 0;
    const push_header h{op.table_id, st.cfg.id, st.clock, seq,
                        st.pulled_version[{op.table_id, op.shard}]};
    // The gradient goes from the backend straight into the message: one copy.
    st.held.push_back({st.clock + delay, op.shard, encode_push(op, h, *st.wl)});
  }
  std::vector<delayed_push> due;
  for (auto it = st.held.begin(); it != st.held.end();) {
    if (flush || it->due <= st.clock) {
      due.push_back(std::move(*it));
      it = st.held.erase(it);
    } else {
      ++it;
    }
  }
  if (due.empty()) {  // everything held back: the step is done for now
    st.now = worker_state::stage::waiting;
    ++st.clock;
    if (st.clock % st.cfg.job.log_every == 0) flush_report(self);
    request_clock(self);
    return;
  }
  send_pushes(self, std::move(due));
}

void compute(worker_pointer self) {
  auto& st = self->state;
  const auto t0 = clock_type::now();
  const auto r = st.wl->train_step();
  st.report.samples += r.rows;
  st.report.loss_sum += r.loss_sum;
  st.report.correct += r.correct;
  if (st.straggler && st.straggler->active()) {
    // The worker is detached (its own thread): sleeping is the straggler.
    const double extra = st.straggler->extra_delay_s(seconds_since(t0));
    if (extra > 0) std::this_thread::sleep_for(std::chrono::duration<double>(extra));
  }
  push_gradients(self, false);
}

void pull_parameters(worker_pointer self) {
  auto& st = self->state;
  st.ops = plan_exchange(*st.wl, static_cast<std::uint32_t>(st.shards.size()));
  st.pending = st.ops.size();
  if (st.pending == 0) return compute(self);
  st.now = worker_state::stage::pulling;
  const auto phase = ++st.phase;
  if (st.ctx.metrics) st.ctx.metrics->add_inflight(static_cast<double>(st.pending));
  for (std::size_t i = 0; i < st.ops.size(); ++i) {
    const auto& op = st.ops[i];
    self->request(st.shards[op.shard], st.cfg.request_timeout, pull_atom::value,
                  encode_pull(op, st.cfg.id))
        .then(
            [=](const bytes& reply) {
              auto& s = self->state;
              if (s.ctx.metrics) s.ctx.metrics->add_inflight(-1);
              if (s.phase != phase) return;  // the pull phase was restarted
              const auto& o = s.ops[i];
              std::uint64_t version = 0;
              if (auto status = accept_pull_reply(o, reply, *s.wl, version); !status) {
                fail(self, "bad pull reply from shard " + std::to_string(o.shard),
                     to_caf_error(status));
                return;
              }
              s.pulled_version[{o.table_id, o.shard}] = version;
              if (--s.pending == 0) compute(self);
            },
            [=](caf::error& err) {
              if (self->state.phase != phase) return;
              on_request_error(self, "pull from shard " + std::to_string(op.shard), err);
            });
  }
}

// Starts the next step, moving to the next epoch when the partition is done.
void next_step(worker_pointer self) {
  auto& st = self->state;
  if (st.wl->next_batch() > 0) return pull_parameters(self);
  const bool last = st.epoch + 1 >= st.cfg.job.epochs;
  if (!st.held.empty()) {
    // Held-back gradients belong to this epoch: deliver them before it ends.
    st.ops.clear();
    std::vector<delayed_push> all(std::make_move_iterator(st.held.begin()),
                                  std::make_move_iterator(st.held.end()));
    st.held.clear();
    return send_pushes(self, std::move(all));
  }
  if (last) flush_report(self);
  self->send(st.scheduler, epoch_atom::value, st.cfg.id, st.epoch);
  if (last) {
    self->send(st.scheduler, done_atom::value, st.cfg.id);
    self->quit();
    return;
  }
  st.wl->start_epoch(++st.epoch);
  if (st.wl->next_batch() == 0) {
    fail(self, "empty partition", make_troupe_error(errc::bad_config, "no training rows"));
    return;
  }
  pull_parameters(self);
}

void request_clock(worker_pointer self) {
  auto& st = self->state;
  const auto asked = clock_type::now();
  self->request(st.scheduler, st.cfg.clock_timeout, clock_atom::value,
                encode_clock_advance({st.cfg.id, st.clock, st.acked}))
      .then(
          [=](std::int64_t min_clock) {
            auto& s = self->state;
            const double waited = seconds_since(asked);
            s.report.wait_s += waited;
            if (s.ctx.metrics) {
              // A reply slower than a millisecond was held back by the bound.
              if (waited > 1e-3) s.ctx.metrics->add_staleness_wait();
              s.ctx.metrics->set_clock_lag(s.cfg.id, static_cast<double>(s.clock - min_clock));
            }
            next_step(self);
          },
          [=](caf::error& err) { fail(self, "clock advance", err); });
}

worker_actor::behavior_type worker_behavior(worker_pointer self, worker_config cfg,
                                            std::shared_ptr<const workload_data> data,
                                            std::vector<shard_actor> shards,
                                            scheduler_actor scheduler, host_context ctx) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.wl = make_train_workload(cfg.job, std::move(data), cfg.partition, cfg.job.workers);
  // Stragglers follow the partition: a replacement inherits its predecessor's role.
  const auto spec = parse_straggler_spec(cfg.job.stragglers);
  if (!spec.none()) {
    st.straggler = std::make_unique<straggler_model>(spec, cfg.partition, cfg.job.seed);
  }
  st.epoch = cfg.start_epoch;
  st.clock = cfg.start_clock;
  st.seq.assign(shards.size(), 0);
  st.cfg = std::move(cfg);
  st.shards = std::move(shards);
  st.scheduler = std::move(scheduler);
  return {
      [=](repoint_atom, std::uint32_t shard, shard_actor& primary) {
        auto& s = self->state;
        if (shard >= s.shards.size() || s.scheduler.address() != self->current_sender()) return;
        // Placement re-sends the handles it started with: nothing moved.
        if (s.shards[shard] == primary) return;
        s.shards[shard] = std::move(primary);
        spdlog::info("worker {}: shard {} re-pointed to its backup", s.cfg.id, shard);
        // Pulls are idempotent and pushes carry their seq: redoing the
        // current phase loses nothing and applies nothing twice.
        if (s.now == worker_state::stage::pulling) pull_parameters(self);
        if (s.now == worker_state::stage::pushing) {
          const std::uint64_t unacked = s.outbox.unacked();
          s.report.pushes_resent += unacked;
          if (s.ctx.metrics) s.ctx.metrics->add_resent(unacked);
          send_outbox(self);
        }
      },
      [=](start_atom) {
        const auto& guard = self->state.ctx.guard;
        if (guard && !sender_allowed(self, *guard)) {
          spdlog::warn("worker {}: ignored a start from an unauthenticated node",
                       self->state.cfg.id);
          return;
        }
        auto& s = self->state;
        s.wl->start_epoch(s.epoch);
        s.report_start = clock_type::now();
        request_clock(self);
      },
  };
}

}  // namespace

worker_actor spawn_worker(caf::actor_system& sys, worker_config cfg,
                          std::shared_ptr<const workload_data> data,
                          std::vector<shard_actor> shards, scheduler_actor scheduler,
                          host_context ctx) {
  // Detached: a worker computes for milliseconds at a time and must not
  // hold up the cooperative scheduler threads that shards and clocks use.
  return sys.spawn<caf::detached>(worker_behavior, std::move(cfg), std::move(data),
                                  std::move(shards), std::move(scheduler), std::move(ctx));
}

}  // namespace troupe
