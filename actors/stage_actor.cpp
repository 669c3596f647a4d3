#include "actors/stage_actor.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "actors/actor_config.hpp"
#include "actors/peer_guard.hpp"
#include "actors/stage_state.hpp"
#include "engine/wire/pipeline_codec.hpp"

namespace troupe {

namespace pipeline_detail {

void fail(stage_pointer self, const std::string& what, const caf::error& err) {
  auto& st = self->state;
  if (st.failed) return;
  st.failed = true;
  const auto why = "stage " + std::to_string(st.cfg.stage) + ": " + what + ": " + describe(err);
  spdlog::error("pipeline {}: step {}: {}", st.cfg.worker.id, st.step, why);
  self->send(st.scheduler, fail_atom::value, st.cfg.worker.id, why);
  self->quit(err);
}

namespace {

void fail_status(stage_pointer self, const std::string& what, const status& s) {
  fail(self, what, to_caf_error(s));
}

void step_finished(stage_pointer self) {
  auto& st = self->state;
  st.step_report.compute_s = st.step_report.busy_s;  // a stage's busy time is its compute
  st.step_report.staleness_hist = st.staleness.buckets();
  st.staleness.clear();
  if (st.cfg.stage == 0) {
    head_on_stepped(self, 0, st.step, st.step_report);
  } else {
    self->send(st.head, stepped_atom::value, st.cfg.stage, st.step, st.step_report);
  }
  st.step_report = worker_progress{};
}

void redo_unanswered(stage_pointer self);

// A request that timed out is asked again, this many times per step, before
// the stage treats it as a lost link.
constexpr std::uint32_t max_timeout_retries = 8;

// A request that timed out while its shard lives on is asked again: a
// primary acknowledges a push only once its backup holds it, which may take
// longer than the request timeout (up to the primary's 120 s forward
// timeout), and CAF drops a reply that comes after its request timed out, so
// no answer would ever come (and no re-point either: the shard is fine).
// Pulls are idempotent and pushes keep their seq, so asking again loses
// nothing and applies nothing twice. Several requests timing out together
// make one redo. Beyond that, a lost link to a shard that the job can
// recover waits for the re-point (like a data-parallel worker); anything
// else ends the replica.
void on_exchange_error(stage_pointer self, const std::string& what, const caf::error& err) {
  auto& st = self->state;
  const auto who =
      "pipeline " + std::to_string(st.cfg.worker.id) + " stage " + std::to_string(st.cfg.stage);
  if (err == caf::sec::request_timeout && st.now != stage_state::exchange::none &&
      st.timeout_retries < max_timeout_retries) {
    const auto now = clock_type::now();
    if (now - st.last_retry < st.cfg.worker.request_timeout / 2) return;  // redone already
    st.last_retry = now;
    ++st.timeout_retries;
    spdlog::warn("{}: {} timed out; asking again (retry {} of {} this step)", who, what,
                 st.timeout_retries, max_timeout_retries);
    return redo_unanswered(self);
  }
  const bool was_waiting = st.failover.waiting();
  const auto why =
      st.failover.why_not_wait(st.cfg.worker.job, who, what, err, st.cfg.worker.clock_timeout);
  if (!why.empty()) return fail(self, why, err);
  // Nothing may be left outstanding to fail again (the retries are over): a
  // tick of its own checks the wait's limit.
  if (!was_waiting && st.failover.waiting()) {
    self->delayed_send(self, std::chrono::seconds(1), tick_atom::value);
  }
}

void on_push_ack(stage_pointer self, const bytes& reply) {
  auto& st = self->state;
  st.failover.over();
  push_ack ack;
  if (auto s = decode_push_ack(reply, ack); !s) return fail_status(self, "bad push ack", s);
  st.step_report.staleness_sum += static_cast<double>(ack.staleness);
  st.step_report.staleness_max = std::max(st.step_report.staleness_max, ack.staleness);
  st.staleness.add(ack.staleness);
  ++st.step_report.pushes;
  if (st.outbox.unacked() > 0) return;
  st.now = stage_state::exchange::none;
  st.step_report.push_s += seconds_since(st.exchange_start);
  step_finished(self);
}

// All micro-batches are through: the slice's accumulated gradient goes to
// its shards, exactly as a data-parallel worker's push (kept until acked).
void push_step(stage_pointer self) {
  auto& st = self->state;
  st.now = stage_state::exchange::pushing;
  st.exchange_start = clock_type::now();
  st.outbox.start_step();
  for (std::size_t i = 0; i < st.plan.size(); ++i) {
    const auto& ex = st.plan[i];
    const push_header h{st.table_id, st.push_id, st.step, ++st.seq[ex.shard], st.pulled_version[i]};
    st.outbox.add(ex.shard, caf::make_message(push_atom::value, st.stage->encode_push(ex, h)));
  }
  send_pushes(self);
}

void count_backward(stage_pointer self) {
  auto& st = self->state;
  if (++st.backwards == st.micro_batches) push_step(self);
}

// Checks what a stage relies on before it touches memory: the replica, the
// step, the micro-batch, the shapes and (last stage) the labels.
status check_forward(stage_pointer self, const stage_tensor_view& v) {
  auto& st = self->state;
  const auto& r = st.stage->range();
  if (v.pipeline != st.cfg.worker.id || v.step != st.step) {
    return {errc::wrong_size, "activations of replica " + std::to_string(v.pipeline) + " step " +
                                  std::to_string(v.step) + " during step " +
                                  std::to_string(st.step)};
  }
  if (v.width != static_cast<std::uint32_t>(r.in_width) ||
      v.rows > static_cast<std::uint32_t>(st.stage->max_micro_rows()) ||
      v.micro_batches > static_cast<std::uint32_t>(st.stage->micro_batches()) ||
      (st.micro_batches != 0 && v.micro_batches != st.micro_batches)) {
    return {errc::wrong_size, std::to_string(v.rows) + " x " + std::to_string(v.width) +
                                  " activations (micro-batch " + std::to_string(v.micro) + " of " +
                                  std::to_string(v.micro_batches) + ") do not fit this stage"};
  }
  if (st.stage->is_last()) {
    for (std::uint32_t i = 0; i < v.rows; ++i) {
      if (v.labels[i] < 0 || v.labels[i] >= r.out_width) {
        return {errc::out_of_range, "label " + std::to_string(v.labels[i]) + " outside [0, " +
                                        std::to_string(r.out_width) + ")"};
      }
    }
  }
  return {};
}

void run_forward(stage_pointer self, const bytes& msg) {
  auto& st = self->state;
  stage_tensor_view v;
  status s = decode_activations(msg, v);
  if (s) s = check_forward(self, v);
  if (!s) return fail_status(self, "bad activations", s);
  st.micro_batches = v.micro_batches;
  const auto t0 = clock_type::now();
  const int m = static_cast<int>(v.micro), rows = static_cast<int>(v.rows);
  const int batch_rows = static_cast<int>(v.batch_rows);
  if (st.stage->is_last()) {
    auto g = activation_grads_writer::make({v.pipeline, v.step, v.micro, 0, 0, v.rows, v.width});
    const auto r = st.stage->forward_backward(m, v.values, v.labels, rows, batch_rows, g.values());
    st.step_report.loss_sum += r.loss_sum;
    st.step_report.correct += static_cast<std::uint64_t>(r.correct);
    st.step_report.samples += v.rows;
    st.step_report.busy_s += seconds_since(t0);
    self->send(st.prev, bwd_atom::value, std::move(g).finish());
    return count_backward(self);
  }
  stage_tensor_header h = v;
  h.width = static_cast<std::uint32_t>(st.stage->range().out_width);
  auto w = activations_writer::make(h);
  st.stage->forward(m, v.values, rows, batch_rows, w.values());
  std::copy(v.labels, v.labels + v.rows, w.labels());
  st.step_report.busy_s += seconds_since(t0);
  self->send(st.next, fwd_atom::value, std::move(w).finish());
}

void on_forward(stage_pointer self, bytes msg) {
  auto& st = self->state;
  stage_tensor_view v;
  if (auto s = decode_activations(msg, v); !s) return fail_status(self, "bad activations", s);
  if (v.step != st.step) {
    // The head starts step c + 1 only when every stage finished step c.
    if (v.step < st.step || st.now != stage_state::exchange::none ||
        st.backwards != st.micro_batches) {
      return fail_status(self, "out of order activations",
                         {errc::wrong_size, "step " + std::to_string(v.step) + " while step " +
                                                std::to_string(st.step) + " is unfinished"});
    }
    st.early.push_back(std::move(msg));
    return begin_step(self, v.step);
  }
  if (!st.pulled) return st.early.push_back(std::move(msg));
  run_forward(self, msg);
}

void on_backward(stage_pointer self, const bytes& msg) {
  auto& st = self->state;
  stage_tensor_view v;
  status s = decode_activation_grads(msg, v);
  if (s && (v.pipeline != st.cfg.worker.id || v.step != st.step || v.micro >= st.micro_batches ||
            v.width != static_cast<std::uint32_t>(st.stage->range().out_width) ||
            static_cast<int>(v.rows) != st.stage->rows_of(static_cast<int>(v.micro)))) {
    s = {errc::wrong_size, "gradient of micro-batch " + std::to_string(v.micro) + " step " +
                               std::to_string(v.step) + " (" + std::to_string(v.rows) + " x " +
                               std::to_string(v.width) + ") does not match its forward"};
  }
  if (!s) return fail_status(self, "bad activation gradient", s);
  const auto t0 = clock_type::now();
  if (st.stage->is_first()) {
    st.stage->backward(static_cast<int>(v.micro), v.values, nullptr);
  } else {
    auto g =
        activation_grads_writer::make({v.pipeline, v.step, v.micro, 0, 0, v.rows,
                                       static_cast<std::uint32_t>(st.stage->range().in_width)});
    st.stage->backward(static_cast<int>(v.micro), v.values, g.values());
    self->send(st.prev, bwd_atom::value, std::move(g).finish());
  }
  st.step_report.busy_s += seconds_since(t0);
  count_backward(self);
}

// Pulls are idempotent and pushes keep their seq: redoing what is
// unanswered loses nothing and applies nothing twice.
void redo_unanswered(stage_pointer self) {
  auto& st = self->state;
  if (st.now == stage_state::exchange::pulling) return send_pulls(self);
  if (st.now != stage_state::exchange::pushing) return;
  st.step_report.pushes_resent += st.outbox.unacked();
  send_pushes(self);
}

}  // namespace

void run_early(stage_pointer self) {
  auto& st = self->state;
  while (!st.early.empty() && !st.failed) {
    auto msg = std::move(st.early.front());
    st.early.pop_front();
    run_forward(self, msg);
  }
}

void send_pushes(stage_pointer self) {
  auto& st = self->state;
  st.outbox.send(
      self, st.shards, st.cfg.worker.request_timeout, st.ctx,
      [=](std::uint32_t, const bytes& reply) { on_push_ack(self, reply); },
      [=](std::uint32_t shard, caf::error& err) {
        on_exchange_error(self, "push to shard " + std::to_string(shard), err);
      });
}

void send_pulls(stage_pointer self) {
  auto& st = self->state;
  const auto step = st.step;
  for (std::size_t i = 0; i < st.plan.size(); ++i) {
    if (st.pull_done[i]) continue;
    const auto ex = st.plan[i];
    self->request(st.shards[ex.shard], st.cfg.worker.request_timeout, pull_atom::value,
                  encode_dense_pull(st.table_id, st.push_id, ex.keys.begin, ex.keys.size()))
        .then(
            [=](const bytes& reply) {
              auto& s = self->state;
              // The first reply wins: a re-point may have asked again.
              if (s.step != step || s.pull_done[i]) return;
              if (auto ok = s.stage->accept_pull(ex, s.table_id, reply, s.pulled_version[i]); !ok) {
                return fail_status(self, "bad pull reply from shard " + std::to_string(ex.shard),
                                   ok);
              }
              s.pull_done[i] = true;
              if (--s.pending > 0) return;
              s.now = stage_state::exchange::none;
              s.pulled = true;
              s.step_report.pull_s += seconds_since(s.exchange_start);
              if (s.cfg.stage == 0) return head_after_pull(self);
              run_early(self);
            },
            [=](caf::error& err) {
              auto& s = self->state;
              if (s.step != step || s.pull_done[i]) return;
              on_exchange_error(self, "pull from shard " + std::to_string(ex.shard), err);
            });
  }
}

void begin_step(stage_pointer self, std::int64_t step) {
  auto& st = self->state;
  st.step = step;
  st.pulled = false;
  st.backwards = 0;
  st.micro_batches = 0;
  st.stage->begin_step();
  st.now = stage_state::exchange::pulling;
  st.exchange_start = clock_type::now();
  st.timeout_retries = 0;
  st.pull_done.assign(st.plan.size(), false);
  st.pending = st.plan.size();
  send_pulls(self);
}

void redo_exchange(stage_pointer self, std::uint32_t shard) {
  auto& st = self->state;
  if (st.now == stage_state::exchange::none) return;
  spdlog::info("pipeline {} stage {}: shard {} re-pointed; redoing the step's {}", st.cfg.worker.id,
               st.cfg.stage, shard,
               st.now == stage_state::exchange::pulling ? "pulls" : "unacknowledged pushes");
  redo_unanswered(self);
}

}  // namespace pipeline_detail

using namespace pipeline_detail;

namespace {

// On a node daemon only the job's authenticated nodes may drive a stage.
bool allowed(stage_pointer self, const char* what) {
  const auto& guard = self->state.ctx.guard;
  if (!guard || sender_allowed(self, *guard)) return true;
  spdlog::warn("pipeline {} stage {}: ignored {} from an unauthenticated node",
               self->state.cfg.worker.id, self->state.cfg.stage, what);
  return false;
}

// The stage's model slice, backend and exchange plan (may throw).
void init_stage(stage_pointer self) {
  auto& st = self->state;
  const auto& job = st.cfg.worker.job;
  const auto ranges = split_mlp(job.model, job.stages);
  const int max_rows =
      micro_batch_rows(static_cast<int>(job.batch), static_cast<int>(job.micro_batches), 0);
  st.be = kernels::make_backend(job.backend, 1);
  st.stage = std::make_unique<pipeline_stage>(job.model, ranges.at(st.cfg.stage), *st.be, max_rows,
                                              static_cast<int>(job.micro_batches));
  const auto table = workload_tables(job).front();
  st.table_id = table.id;
  st.table_size = table.size;
  st.push_id = st.cfg.worker.id * job.stages + st.cfg.stage;
  st.plan = st.stage->plan(table.size, static_cast<std::uint32_t>(st.shards.size()));
  st.pulled_version.assign(st.plan.size(), 0);
  st.seq.assign(st.shards.size(), 0);
}

stage_actor::behavior_type stage_behavior(stage_pointer self, stage_config cfg,
                                          std::shared_ptr<const workload_data> data,
                                          std::vector<shard_actor> shards,
                                          scheduler_actor scheduler, host_context ctx) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.cfg = std::move(cfg);
  st.data = std::move(data);
  st.shards = std::move(shards);
  st.scheduler = std::move(scheduler);
  // Set before anything can throw: a stage that dies while starting must
  // still tell the scheduler, or its head would wait for it forever.
  self->set_exception_handler([=](std::exception_ptr& eptr) -> caf::error {
    const std::string what = describe(eptr);
    auto err = make_troupe_error(errc::stopped, what);
    fail(self, "error", err);
    return err;
  });
  // A neighbour whose node was lost or is stopping takes this stage down
  // with it (they are linked), but under a reason of its own: the scheduler
  // reads remote_link_unreachable and node_stopping as "this stage's node is
  // gone" and must not mistake a healthy node for a dead one (it would then
  // place the replacement on the node that really went). A node_stopping
  // from this stage's own node (its drain) keeps its reason.
  self->set_exit_handler([=](caf::exit_msg& em) {
    const auto& st = self->state;
    const bool from_neighbour =
        (st.prev && em.source == st.prev.address()) || (st.next && em.source == st.next.address());
    if (em.reason == caf::exit_reason::remote_link_unreachable ||
        (from_neighbour && is_troupe_error(em.reason, errc::node_stopping))) {
      self->quit(make_troupe_error(errc::peer_lost, neighbour_lost));
    } else {
      self->quit(std::move(em.reason));
    }
  });
  try {
    init_stage(self);
  } catch (...) {
    auto eptr = std::current_exception();
    fail(self, "starting", make_troupe_error(errc::bad_config, describe(eptr)));
  }
  return {
      [=](start_atom) {
        if (allowed(self, "start")) head_start(self);
      },
      [=](tick_atom) {
        auto& s = self->state;
        if (self->current_sender() != self->ctrl() || s.failed || !s.failover.waiting()) return;
        const auto who =
            "pipeline " + std::to_string(s.cfg.worker.id) + " stage " + std::to_string(s.cfg.stage);
        const auto lost = caf::make_error(caf::sec::request_timeout);
        const auto why = s.failover.why_not_wait(s.cfg.worker.job, who, "an exchange with a shard",
                                                 lost, s.cfg.worker.clock_timeout);
        if (!why.empty()) return fail(self, why, lost);
        self->delayed_send(self, std::chrono::seconds(1), tick_atom::value);
      },
      [=](repoint_atom, std::uint32_t shard, shard_actor& primary) {
        auto& s = self->state;
        if (shard >= s.shards.size() || !allowed(self, "repoint")) return;
        // The scheduler re-points the head, each stage the next one.
        const auto& from = self->current_sender();
        if (s.scheduler.address() != from && (!s.prev || s.prev.address() != from)) {
          spdlog::warn(
              "pipeline {} stage {}: ignored a repoint from neither the scheduler nor "
              "the previous stage",
              s.cfg.worker.id, s.cfg.stage);
          return;
        }
        s.shards[shard] = primary;
        s.failover.over();
        if (s.next) self->send(s.next, repoint_atom::value, shard, primary);
        redo_exchange(self, shard);
      },
      [=](wire_atom, caf::actor& prev, caf::actor& next, caf::actor& head) {
        if (!allowed(self, "wire")) return;
        auto& s = self->state;
        s.prev = caf::actor_cast<stage_actor>(prev);
        s.next = caf::actor_cast<stage_actor>(next);
        s.head = caf::actor_cast<stage_actor>(head);
        // Linked along the chain: one stage failing (or the head being
        // stopped) ends every stage of the replica.
        if (prev) self->link_to(prev);
      },
      [=](fwd_atom, bytes& msg) {
        if (allowed(self, "activations")) on_forward(self, std::move(msg));
      },
      [=](bwd_atom, const bytes& msg) {
        if (allowed(self, "activation gradients")) on_backward(self, msg);
      },
      [=](stepped_atom, std::uint32_t stage, std::int64_t step, const worker_progress& r) {
        if (allowed(self, "stepped")) head_on_stepped(self, stage, step, r);
      },
  };
}

}  // namespace

stage_actor spawn_stage(caf::actor_system& sys, stage_config cfg,
                        std::shared_ptr<const workload_data> data, std::vector<shard_actor> shards,
                        scheduler_actor scheduler, host_context ctx) {
  // Detached like workers: stages compute for milliseconds at a time, and
  // each on its own thread is what lets them overlap.
  return sys.spawn<caf::detached>(stage_behavior, std::move(cfg), std::move(data),
                                  std::move(shards), std::move(scheduler), std::move(ctx));
}

void wire_stages(const std::vector<stage_actor>& stages, const caf::actor& sender) {
  const auto handle = [&](std::size_t s) {
    return s < stages.size() ? caf::actor_cast<caf::actor>(stages[s]) : caf::actor{};
  };
  for (std::size_t s = 0; s < stages.size(); ++s) {
    // Not anonymous: a node daemon's guard refuses messages without a sender.
    caf::send_as(sender, stages[s], wire_atom::value, s > 0 ? handle(s - 1) : caf::actor{},
                 handle(s + 1), handle(0));
  }
}

std::vector<stage_actor> spawn_pipeline(caf::actor_system& sys, const worker_config& cfg,
                                        std::shared_ptr<const workload_data> data,
                                        const std::vector<shard_actor>& shards,
                                        const scheduler_actor& scheduler) {
  std::vector<stage_actor> stages;
  for (std::uint32_t s = 0; s < cfg.job.stages; ++s) {
    stages.push_back(spawn_stage(sys, {s, cfg}, data, shards, scheduler));
  }
  wire_stages(stages, caf::actor_cast<caf::actor>(scheduler));
  return stages;
}

}  // namespace troupe
