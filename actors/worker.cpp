#include "actors/worker.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "actors/actor_config.hpp"
#include "actors/batch_stager.hpp"
#include "actors/compute_pool.hpp"
#include "actors/metrics_exporter.hpp"
#include "actors/peer_guard.hpp"
#include "actors/push_outbox.hpp"
#include "actors/push_window.hpp"
#include "actors/request_gate.hpp"
#include "actors/shared_transport.hpp"
#include "actors/step_timer.hpp"
#include "engine/log_histogram.hpp"
#include "engine/store/gradient_scan.hpp"
#include "engine/straggler.hpp"
#include "engine/wire/exchange_plan.hpp"

namespace troupe {

namespace {

using clock_type = std::chrono::steady_clock;

// Steps whose pushes may be unacknowledged at once (with any staleness
// bound, also unbounded): the worker computes step c + 1 while step c's
// acknowledgements travel, but no further ahead, so a slow shard slows its
// workers down instead of letting messages pile up in CAF's BASP.
constexpr std::size_t max_unacked_steps = 2;

// Steps whose pushes a worker may keep for a resend: applied by their
// primaries but not yet held by the backups. Replication must not stall the
// pipeline (a backup is a round trip further away), but it bounds what a
// failover resends.
constexpr std::size_t max_held_steps = 4;

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

// A push held back by the Dai et al. straggler protocol until clock `due`.
struct delayed_push {
  std::int64_t due;
  std::uint32_t shard;
  bytes message;
};

constexpr std::uint64_t ride_pending = std::numeric_limits<std::uint64_t>::max();
// sent_phase of a pull waiting in the request gate (no reply matches it).
constexpr std::uint64_t gate_pending = std::numeric_limits<std::uint64_t>::max();
// Requests a worker keeps in flight at once (actors/request_gate.hpp): far
// more than a step of any model with a few tables per shard sends, few
// enough that CAF's linear search of pending responses stays cheap.
constexpr std::size_t max_requests_in_flight = 256;

// The pulls of one step: sent when the staleness bound allows the step,
// possibly while the previous step computes (prefetch). A prefetched pull
// from a primary with a backup is no request at all: it rides on the
// previous step's push to the same range, and the primary's applied notice
// brings the values (a request and its reply fewer per step and
// shard; the values include that push). Replies are kept (no copy: CAF hands
// over the buffer, and a reply in a shard's shared memory is read where it
// lies) until the step's pushes are built.
struct pull_set {
  std::int64_t step = -1;  // -1: none
  std::vector<exchange_op> ops;
  std::vector<bytes> replies;
  std::vector<shared_slot> slots;         // per op: the reply, when it came through shared memory
  std::vector<std::uint64_t> sent_phase;  // per op: replies to older sends are ignored
  std::vector<std::uint64_t> versions;    // per op: shard table version of the values
  // Per op: the seq of this worker's push to the same range whose notice
  // brings the values (PushRequest.pullAfter); `ride_pending` until that
  // push is built; 0 when the pull went as a request.
  std::vector<std::uint64_t> ride_seq;
  std::size_t missing = 0;
  clock_type::time_point sent_at;
};

// A slot of the compute pool, given back however the worker ends.
struct pool_slot {
  std::shared_ptr<compute_pool> pool;
  bool held = false;
  void release() {
    if (held) pool->release();
    held = false;
  }
  pool_slot() = default;
  pool_slot(const pool_slot&) = delete;
  pool_slot& operator=(const pool_slot&) = delete;
  ~pool_slot() { release(); }
};

// The next epoch's start: asked for (waiting), allowed (granted), or not at
// an epoch's end (none).
enum class epoch_hold { none, waiting, granted };

struct worker_state {
  worker_config cfg;
  // The whole data set, held while the worker lives: a node's cache keeps
  // a data set only while an actor of it holds it (the workload keeps just
  // its training rows, and a daemon loaded the same set again per job).
  std::shared_ptr<const workload_data> data;
  pool_slot slot;
  std::vector<shard_actor> shards;
  scheduler_actor scheduler;
  // Shared with the batch stager, which may be gathering the next batch.
  std::shared_ptr<workload> wl;
  caf::actor stager;           // invalid: batches are gathered in next_batch()
  bool stage_decided = false;  // whether to stage is decided with the first batch
  std::unique_ptr<straggler_model> straggler;
  std::vector<std::uint64_t> seq;  // last seq sent, per shard
  std::deque<delayed_push> held;
  std::uint32_t delay = 0;               // Dai protocol: this step's gradient delay
  std::vector<push_in_progress> pushes;  // this step's, while it computes
  std::vector<std::uint64_t> push_seqs;  // their seq, per op
  push_window window;
  request_gate gate{max_requests_in_flight};  // every pull and push request counts
  // Pulls waiting to ride on a push: (shard, the push's seq) -> (step, op).
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::pair<std::int64_t, std::size_t>> riders;
  // Dense-only workloads exchange the same ranges every step, so the next
  // step's pulls can leave before this step computes; empty otherwise.
  std::optional<std::vector<exchange_op>> fixed_plan;
  pull_set current, next;  // pulls of step `clock` and (prefetched) of `clock + 1`
  std::uint64_t phase = 0;
  std::int64_t clock = 0;  // steps computed (their pushes sent or held)
  std::int64_t acked = 0;  // steps whose pushes are all acknowledged
  std::uint64_t acks = 0;  // replies (lasting acks) since it started, sent with every advance
  std::uint64_t reported_acks = 0;         // `acks` as the scheduler last heard it
  std::vector<std::uint32_t> gap_resends;  // per shard: out_of_order resends since its last ack
  // Per shard: its primary sends applied notices (it has a backup), so a
  // prefetched pull can ride on the push before it instead of being a request.
  std::vector<bool> notices;
  std::int64_t known_min = 0;  // slowest worker's acknowledged steps, from the scheduler
  std::uint32_t epoch = 0;
  bool batch_loaded = false;  // the batch of step `clock` is loaded
  bool epoch_done = false;    // partition exhausted: drain, then next epoch or done
  epoch_hold next_epoch = epoch_hold::none;
  bool delayed = false;        // a straggler delay is running; pushes wait for `cont`
  bool continue_sent = false;  // a `cont` to ourselves is queued
  bool slot_wait = false;      // queued at the compute pool for a slot
  bool finished = false, failed = false;
  failover_wait failover;  // for a lost shard's backup, bounded
  step_timer timer;
  worker_progress report;  // accumulates until sent
  log_histogram staleness;
  clock_type::time_point report_start;
  host_context ctx;
  // The shared memory replies come through: ctx.shm, kept when ctx.shm is
  // dropped (sends go through the socket then), so that envelopes already on
  // their way are still read or freed rather than left to expire.
  std::shared_ptr<shared_memory> received_shm;
  static inline const char* name = "troupe.worker";
};

using worker_pointer = worker_actor::stateful_pointer<worker_state>;

// The pulls of `step`: the current step's, the prefetched next one's, or
// none (the step is over).
pull_set* pull_set_of(worker_state& s, std::int64_t step) {
  return s.current.step == step ? &s.current : s.next.step == step ? &s.next : nullptr;
}

void advance(worker_pointer self);
void repull_ridden(worker_pointer self, std::uint32_t shard, std::uint64_t seq);
void send_pull(worker_pointer self, pull_set& set, std::size_t i);
void queue_pull(worker_pointer self, pull_set& set, std::size_t i);

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
  st.timer.take(st.report);
  st.report.staleness_hist = st.staleness.buckets();
  st.staleness.clear();
  self->send(st.scheduler, progress_atom::value, st.report);
  st.report = worker_progress{};
  st.report_start = clock_type::now();
}

// A failed request: with replicas, the scheduler will re-point this worker at
// the shard's backup and the request is redone; without, the job cannot go on.
void on_request_error(worker_pointer self, const std::string& what, const caf::error& err) {
  auto& s = self->state;
  const auto why = s.failover.why_not_wait(s.cfg.job, "worker " + std::to_string(s.cfg.id), what,
                                           err, s.cfg.clock_timeout);
  if (!why.empty()) fail(self, why, err);
}

// -- pushes and acknowledgements -------------------------------------------

// Steps complete in order, once every push of theirs is applied by its
// primary (a step whose pushes are all held back by the Dai protocol
// completes at once). The clock the scheduler sees only counts complete
// steps: that keeps SSP exact. (While a shard fails over, a read can miss a
// push that only the lost primary had applied until its worker resends it,
// at once on the repoint.)
void send_advance(worker_pointer self) {
  auto& s = self->state;
  s.reported_acks = s.acks;
  self->send(s.scheduler, advance_atom::value, encode_clock_advance({s.cfg.id, s.acked, s.acks}));
}

void report_acked(worker_pointer self) {
  auto& s = self->state;
  const auto complete = std::min(s.window.oldest_step(), s.clock);
  if (complete <= s.acked) return;
  s.acked = complete;
  // The only worker of a job is the slowest one: waiting for the scheduler
  // to say so only delayed prefetches (3% of a 1 x 1 job's time on pulls).
  if (s.cfg.job.workers == 1) s.known_min = std::max(s.known_min, s.acked);
  send_advance(self);
}

// Counts a push's PushAck (staleness, acknowledgements) once it is applied.
void count_ack(worker_pointer self, const push_ack& ack) {
  auto& s = self->state;
  s.failover.over();
  s.report.staleness_sum += static_cast<double>(ack.staleness);
  s.report.staleness_max = std::max(s.report.staleness_max, ack.staleness);
  s.staleness.add(ack.staleness);
  ++s.report.pushes;
  report_acked(self);
  advance(self);
}

// `first`: this reply completes the push for its step (no early notice of a
// primary with a backup came before it); the reply that follows a notice
// only lets the push go.
void on_ack(worker_pointer self, std::uint32_t shard, const bytes& reply, bool first) {
  if (shard < self->state.gap_resends.size()) self->state.gap_resends[shard] = 0;
  // pushes_acked counts a push once it is lasting: its reply, which a
  // primary with a backup sends once the backup holds it too. The early
  // notice completes the step, but a primary lost with this worker's node
  // right after it could take the push along: counted then, pushes_acked
  // exceeded pushes_applied (seen in scripts/soak.sh).
  ++self->state.acks;
  if (!first) {
    advance(self);  // a worker may be waiting for the window to empty
    return;
  }
  push_ack ack;
  if (auto status = decode_push_ack(reply, ack); !status) {
    fail(self, "bad push ack from shard " + std::to_string(shard), to_caf_error(status));
    return;
  }
  // No notice came first: this primary has no backup (any more), and a pull
  // that rode on the push was never answered. It goes as a request now, and
  // the next ones do not ride. (A push without a seq never asks for a notice.)
  if (ack.seq != 0 && shard < self->state.notices.size()) self->state.notices[shard] = false;
  repull_ridden(self, shard, ack.seq);
  count_ack(self, ack);
}

std::size_t resend_pushes(worker_pointer self, std::uint32_t shard, bool sequenced_only = false);

// Whether `err` says shared memory failed between this worker and a shard
// (it could not read the shard's reply, or the shard its push): then the
// shard refused every message sent after it the same way too. The worker
// stops using shared memory and at once sends every push still unanswered
// again through the socket, to every shard, before any newer push. Another
// shard may refuse an envelope sent before the switch too (say, one in
// another process that cannot read this one's region either); resent only
// once that refusal came back, the push would arrive behind newer pushes
// sent through the socket meanwhile. (Pushes without a seq, which a shard cannot tell
// from a retry, go again only once refused themselves: on_push_error.)
bool shared_memory_refused(worker_pointer self, const std::string& what, const caf::error& err) {
  auto& s = self->state;
  if (!is_shared_memory_error(err)) return false;
  if (s.ctx.shm) {
    spdlog::warn("worker {}: {}: {}; using the socket from now on", s.cfg.id, what, describe(err));
    s.ctx.shm.reset();
    for (std::uint32_t k = 0; k < s.shards.size(); ++k) resend_pushes(self, k, true);
  }
  return true;
}

void on_push_error(worker_pointer self, std::uint32_t shard, std::uint64_t id,
                   const caf::error& err);

auto ack_handler(worker_pointer self) {
  return [=](std::int64_t, std::uint32_t k, const bytes& reply, bool first) {
    on_ack(self, k, reply, first);
  };
}

auto error_handler(worker_pointer self) {
  return [=](std::uint32_t k, std::uint64_t id, const caf::error& err) {
    on_push_error(self, k, id, err);
  };
}

std::size_t resend_pushes(worker_pointer self, std::uint32_t shard, bool sequenced_only) {
  auto& s = self->state;
  return s.window.resend(self, s.shards, s.ctx, shard, ack_handler(self), error_handler(self),
                         sequenced_only);
}

void on_push_error(worker_pointer self, std::uint32_t shard, std::uint64_t id,
                   const caf::error& err) {
  auto& s = self->state;
  const auto what = "push to shard " + std::to_string(shard);
  // A pull riding on a refused push goes as a request (the resent push's
  // notice may bring the values too; they are dropped then), after the
  // switch to the socket if that is why, so that it asks for bytes.
  const auto seq = s.window.seq_of(id);
  const bool shm = shared_memory_refused(self, what, err);
  repull_ridden(self, shard, seq);
  // The switch to the socket resent this push already if it has a seq; an
  // answer to an earlier send never gets here (push_window drops it).
  if (shm) {
    if (seq == 0) {
      s.window.resend_one(self, s.shards, s.ctx, id, ack_handler(self), error_handler(self));
    }
    return;
  }
  // A push the shard did not take since one before it is missing: every
  // unanswered push to it with a seq goes again, oldest first (a few times
  // at most: the oldest unanswered one is never past the shard's next seq).
  if (is_troupe_error(err, errc::out_of_order) && ++s.gap_resends.at(shard) <= 8) {
    spdlog::warn("worker {}: {}: {}; sending its unanswered pushes again", s.cfg.id, what,
                 describe(err));
    resend_pushes(self, shard, true);
    return;
  }
  on_request_error(self, what, err);
}

void send_window(worker_pointer self) {
  auto& s = self->state;
  s.window.send_new(self, s.shards, s.ctx, ack_handler(self), error_handler(self));
}

// Before the step computes: this step's push messages, into which the
// workload writes its gradients in place where it can (dense tables on a
// host-memory backend: no copy at all).
void prepare_pushes(worker_pointer self) {
  auto& st = self->state;
  st.delay = st.straggler ? st.straggler->gradient_delay() : 0;
  st.pushes.clear();
  st.push_seqs.clear();
  for (std::size_t i = 0; i < st.current.ops.size(); ++i) {
    const auto& op = st.current.ops[i];
    // Held-back pushes go out of order, so they carry seq 0 ("not
    // deduplicated"): the Dai protocol is an in-process experiment control.
    const std::uint64_t seq = st.delay == 0 ? ++st.seq[op.shard] : 0;
    // A push with a seq asks for an early notice (which finds it by seq),
    // and its seqs to each shard count up from 1 without gaps
    // (PushRequest.notifyApplied, inOrder).
    const bool sequenced = seq != 0;
    push_header h{op.table_id, st.cfg.id, st.clock, seq, st.current.versions[i],
                  sequenced,   sequenced};
    // The next step's pull of this range rides on this push when it can: a
    // dense push with a seq (the notice is found by it) to the same range.
    auto& next = st.next;
    if (next.step == st.clock + 1 && i < next.ops.size() && next.ride_seq[i] == ride_pending) {
      const auto& pull = next.ops[i];
      if (sequenced && !op.sparse && !pull.sparse && pull.shard == op.shard &&
          pull.table_id == op.table_id && pull.range.begin == op.range.begin &&
          pull.range.end == op.range.end) {
        h.pull_after =
            st.ctx.shm ? push_header::pull_after_kind::shared : push_header::pull_after_kind::bytes;
        next.ride_seq[i] = seq;
        st.riders[{op.shard, seq}] = {next.step, i};
      } else {
        queue_pull(self, next, i);  // behind earlier steps' pushes still waiting for room
      }
    }
    st.pushes.push_back(begin_push(op, h, *st.wl));
    st.push_seqs.push_back(seq);
  }
}

// What value `at` of op `op`'s push holds, and where, for the error.
std::string unusable_value(const exchange_op& op, const std::string& table, const bytes& msg,
                           std::size_t at) {
  push_view v;
  if (!decode_push(msg, v) || at >= v.count) return "an unusable value";
  const std::string where = op.sparse ? "row " + std::to_string(op.keys.at(at / op.width))
                                      : "key " + std::to_string(op.range.begin + at);
  return describe_unusable(v.values[at]) + " at " + where + " of table '" + table + "'";
}

// Queues this step's gradients, holding some back when the straggler spec
// delays them, and sends what is due. Every value of the step is scanned
// first: a step whose gradient is not finite (or beyond what a shard
// applies) is refused whole, so no shard applies its part of it alone.
void push_gradients(worker_pointer self) {
  auto& st = self->state;
  std::vector<bytes> msgs;
  msgs.reserve(st.current.ops.size());
  for (std::size_t i = 0; i < st.current.ops.size(); ++i) {
    const auto& op = st.current.ops[i];
    std::size_t unusable = no_unusable_value;
    msgs.push_back(finish_push(op, std::move(st.pushes[i]), *st.wl, &unusable));
    if (unusable != no_unusable_value) {
      st.pushes.clear();
      const auto& table = st.wl->tables().at(op.table).name;
      fail(self, "step " + std::to_string(st.clock),
           make_troupe_error(errc::non_finite,
                             "the gradient holds " +
                                 unusable_value(op, table, msgs.back(), unusable) +
                                 "; nothing of this step was pushed (a diverging model: try a "
                                 "lower learning rate, or [update] clip_norm)"));
      return;
    }
  }
  for (std::size_t i = 0; i < st.current.ops.size(); ++i) {
    const auto& op = st.current.ops[i];
    bytes msg = std::move(msgs[i]);
    if (st.delay == 0) {
      st.window.add(st.clock, op.shard, st.push_seqs[i],
                    caf::make_message(push_atom::value, std::move(msg)));
    } else {
      st.held.push_back({st.clock + st.delay, op.shard, std::move(msg)});
    }
  }
  st.pushes.clear();
  for (auto it = st.held.begin(); it != st.held.end();) {
    if (st.epoch_done || it->due <= st.clock) {
      // Counted with the step that releases it: its gradient is older.
      st.window.add(st.clock, it->shard, 0,
                    caf::make_message(push_atom::value, std::move(it->message)));
      it = st.held.erase(it);
    } else {
      ++it;
    }
  }
  send_window(self);
}

// -- pulls -----------------------------------------------------------------

// A shared-memory envelope nobody will read: claimed and so freed at once,
// rather than left to the writer's expiry.
void drop_reply(worker_pointer self, const bytes& reply) {
  auto& s = self->state;
  if (!is_shared_envelope(reply) || !s.received_shm) return;
  shared_slot slot;
  (void)claim_shared(s.ctx, s.received_shm.get(), reply, slot);
}

// Keeps `reply` as the answer to pull `i` of `set` (read in place when it is
// a shared-memory envelope) and goes on once the step has all of its.
void take_reply(worker_pointer self, pull_set& set, std::size_t i, bytes& reply) {
  auto& s = self->state;
  if (is_shared_envelope(reply)) {
    const auto st = claim_shared(s.ctx, s.received_shm.get(), reply, set.slots[i]);
    if (!st) {
      // Pulls are idempotent: ask again, for bytes this time.
      shared_memory_refused(self, "pull from shard " + std::to_string(set.ops[i].shard),
                            to_caf_error(st));
      send_pull(self, set, i);
      return;
    }
  } else {
    set.replies[i] = std::move(reply);
  }
  set.sent_phase[i] = 0;
  if (--set.missing == 0 && &set == &s.current) advance(self);
}

void send_pull(worker_pointer self, pull_set& set, std::size_t i) {
  auto& st = self->state;
  const auto phase = ++st.phase;
  set.sent_phase[i] = phase;
  set.ride_seq[i] = 0;
  const auto step = set.step;
  const auto& op = set.ops[i];
  const auto counted = count_inflight(st.ctx.metrics);
  const auto ticket = st.gate.sent(op.shard);
  self->request(st.shards[op.shard], caf::infinite, pull_atom::value,
                encode_pull(op, st.cfg.id, st.ctx.shm != nullptr))
      .then(
          [=, counted = counted](bytes& reply) {
            auto& s = self->state;
            s.gate.answered(ticket);
            pull_set* target = pull_set_of(s, step);
            if (target == nullptr || target->sent_phase[i] != phase) {  // superseded
              drop_reply(self, reply);
              return;
            }
            take_reply(self, *target, i, reply);
          },
          [=, counted = counted](caf::error& err) {
            auto& s = self->state;
            s.gate.answered(ticket);
            pull_set* target = pull_set_of(s, step);
            if (target == nullptr || target->sent_phase[i] != phase) return;
            on_request_error(self, "pull from shard " + std::to_string(target->ops[i].shard), err);
          });
}

// Whether shard `k`'s primary runs in this process or another one on this
// host. Only there does a pull ride on a push: between hosts, a pull request
// sent before the step computes has its reply cross the network meanwhile,
// while a riding pull's values would follow the push after the compute.
bool nearby(worker_pointer self, std::uint32_t k) {
  const auto& shard = self->state.shards[k];
  return shard && (shard.node() == self->node() || same_host_pid(self->node(), shard.node()) != 0);
}

// Pull `i` of `set` through the gate: sent now, or when answers make room,
// unless a failover's repeat sent it first or its step is gone by then.
void queue_pull(worker_pointer self, pull_set& set, std::size_t i) {
  set.sent_phase[i] = gate_pending;
  set.ride_seq[i] = 0;
  self->state.gate.submit([self, step = set.step, i] {
    auto& s = self->state;
    pull_set* target = pull_set_of(s, step);
    if (target == nullptr || target->sent_phase[i] != gate_pending) return false;
    send_pull(self, *target, i);
    return true;
  });
}

// `ride`: pulls from a nearby primary that sends notices wait to ride on
// this step's push to the same range (prepare_pushes) instead of being sent.
void start_pulls(worker_pointer self, pull_set& set, std::int64_t step,
                 std::vector<exchange_op> ops, bool ride = false) {
  auto& st = self->state;
  set.step = step;
  set.ops = std::move(ops);
  set.replies.assign(set.ops.size(), bytes{});
  set.slots.clear();
  set.slots.resize(set.ops.size());
  set.sent_phase.assign(set.ops.size(), 0);
  set.ride_seq.assign(set.ops.size(), 0);
  set.missing = set.ops.size();
  set.sent_at = clock_type::now();
  for (std::size_t i = 0; i < set.ops.size(); ++i) {
    const auto k = set.ops[i].shard;
    if (ride && k < st.notices.size() && st.notices[k] && nearby(self, k)) {
      set.sent_phase[i] = ++st.phase;
      set.ride_seq[i] = ride_pending;
    } else {
      queue_pull(self, set, i);
    }
  }
}

// The pull still waiting to ride on push `seq` to `shard` (seqs to a shard
// are unique, so there is at most one); {nullptr, 0} when none.
// Looked up by the push, once: every caller takes the pull (its values, or
// a request instead).
std::pair<pull_set*, std::size_t> find_ridden(worker_state& s, std::uint32_t shard,
                                              std::uint64_t seq) {
  if (seq == 0) return {nullptr, 0};
  const auto found = s.riders.find({shard, seq});
  if (found == s.riders.end()) return {nullptr, 0};
  const auto [step, i] = found->second;
  s.riders.erase(found);
  pull_set* set = pull_set_of(s, step);
  if (set == nullptr || i >= set->ops.size() || set->ops[i].shard != shard ||
      set->ride_seq[i] != seq || set->sent_phase[i] == 0) {
    return {nullptr, 0};  // answered as a request meanwhile, or its step is over
  }
  return {set, i};
}

// The values of the pull that rode on push `seq` to `shard`, from its
// notice; empty when the shard could not read them (then it is a request).
void take_ridden(worker_pointer self, std::uint32_t shard, std::uint64_t seq, bytes& values) {
  auto [set, i] = find_ridden(self->state, shard, seq);
  if (set == nullptr) {
    drop_reply(self, values);  // its pull went as a request meanwhile
  } else if (values.empty()) {
    send_pull(self, *set, i);
  } else {
    set->ride_seq[i] = 0;
    take_reply(self, *set, i, values);
  }
}

void repull_ridden(worker_pointer self, std::uint32_t shard, std::uint64_t seq) {
  if (auto [set, i] = find_ridden(self->state, shard, seq); set != nullptr)
    send_pull(self, *set, i);
}

// Hands the replies of step `clock` to the workload.
bool accept_pulls(worker_pointer self) {
  auto& st = self->state;
  st.current.versions.assign(st.current.ops.size(), 0);
  for (std::size_t i = 0; i < st.current.ops.size(); ++i) {
    const auto& op = st.current.ops[i];
    auto& version = st.current.versions[i];
    // In place: the replies stay in `current` until the step's pushes are built.
    const auto& slot = st.current.slots[i];
    const auto& reply = st.current.replies[i];
    const auto status = slot
                            ? accept_pull_reply(op, slot.data(), slot.size(), *st.wl, version, true)
                            : accept_pull_reply(op, reply, *st.wl, version, true);
    if (!status) {
      fail(self, "bad pull reply from shard " + std::to_string(op.shard), to_caf_error(status));
      return false;
    }
  }
  return true;
}

// -- the step loop -----------------------------------------------------------

bool window_full(const worker_state& st) {
  return st.window.steps() >= max_unacked_steps || st.window.held_steps() >= max_held_steps;
}

bool bound_allows(const worker_state& st, std::int64_t step) {
  const auto s = st.cfg.job.staleness;
  return s == staleness_unbounded || step - st.known_min <= s;
}

// At the partition's end: ends the epoch once every push of it is
// acknowledged (so that an evaluation of the epoch sees them all), then asks
// the scheduler whether the next may begin (its answer grants it).
void end_epoch(worker_pointer self) {
  auto& st = self->state;
  if (!st.epoch_done) {
    st.epoch_done = true;
    if (!st.held.empty()) {
      // Held-back gradients belong to this epoch: deliver them before it ends.
      for (auto& p : st.held) {
        st.window.add(st.clock - 1, p.shard, 0,
                      caf::make_message(push_atom::value, std::move(p.message)));
      }
      st.held.clear();
      send_window(self);
    }
  }
  if (!st.window.empty()) {
    st.timer.block(step_timer::push);
    return;
  }
  st.epoch_done = false;
  // Acknowledgements that completed no step (pushes the straggler protocol
  // held back, flushed as the epoch ends into a step already counted) reach
  // the scheduler before the epoch ends: pushes_acked must count them.
  if (st.acks != st.reported_acks) send_advance(self);
  // Before the epoch's end, so that the scheduler has every step of the
  // epoch counted when it evaluates it (CAF keeps one sender's order): the
  // test row's samples/s read 0 when an epoch took fewer than log_every steps.
  flush_report(self);
  auto ended = self->request(st.scheduler, caf::infinite, epoch_atom::value, st.cfg.id, st.epoch);
  if (st.epoch + 1 >= st.cfg.job.epochs) {
    ended.then([](bool) {}, [](caf::error&) {});  // the last: nothing to wait for
    st.finished = true;
    self->send(st.scheduler, done_atom::value, st.cfg.id);
    self->quit();
    return;
  }
  // The scheduler holds the answer while the evaluation of an earlier epoch
  // waits to be scored (actors/scheduler.cpp); waiting for it counts as
  // waiting on the bound.
  st.next_epoch = epoch_hold::waiting;
  st.timer.block(step_timer::staleness);
  ended.then(
      [=](bool) {
        self->state.next_epoch = epoch_hold::granted;
        advance(self);
      },
      [=, epoch = st.epoch](caf::error& err) {
        if (is_troupe_error(err, errc::stopped)) return self->quit(err);  // the job ended
        fail(self, "end of epoch " + std::to_string(epoch + 1), err);
      });
}

// Whether this worker's next batch is gathered by a stager while it
// computes: with a thread to spare in this process (actors/batch_stager.hpp).
// Asked with its first batch, once every worker of its job is placed; the
// first stage runs here, which also asks whether the workload can.
void decide_staging(worker_pointer self) {
  auto& st = self->state;
  st.stage_decided = true;
  const std::size_t here = st.ctx.workers ? st.ctx.workers->load() : st.cfg.job.workers;
  const auto threads = self->home_system().scheduler().num_workers();
  if (st.slot.pool || !stage_batches_here(st.cfg.job.stage_batches, threads, here) ||
      !st.wl->stage_next_batch()) {
    return;
  }
  st.stager = spawn_batch_stager(self, st.wl);
  spdlog::debug(
      "worker {}: its next batch is gathered while a step computes ({} threads, {} "
      "workers in this process)",
      st.cfg.id, threads, here);
}

// A batch was loaded: the one after it is gathered meanwhile, when a
// stager runs.
bool loaded(worker_pointer self) {
  auto& st = self->state;
  if (st.stager) {
    caf::anon_send(st.stager, stage_atom::value);
  } else if (!st.stage_decided) {
    decide_staging(self);
  }
  return st.batch_loaded = true;
}

// Loads the batch of step `clock`, beginning the next epoch at the
// partition's end once the scheduler lets it. False while the step cannot
// start.
bool load_batch(worker_pointer self) {
  auto& st = self->state;
  if (st.batch_loaded) return true;
  if (st.next_epoch != epoch_hold::granted) {
    if (st.next_epoch == epoch_hold::none) {
      if (!st.epoch_done && st.wl->next_batch() > 0) return loaded(self);
      end_epoch(self);
    }
    return false;
  }
  st.next_epoch = epoch_hold::none;
  st.wl->start_epoch(++st.epoch);
  if (st.wl->next_batch() == 0) {
    fail(self, "empty partition", make_troupe_error(errc::bad_config, "no training rows"));
    return false;
  }
  return loaded(self);
}

// Sends the pulls of `step` when the bound and the push window allow.
bool ensure_pulls(worker_pointer self) {
  auto& st = self->state;
  if (st.current.step == st.clock) return true;
  if (st.next.step == st.clock) {  // prefetched
    st.current = std::move(st.next);
    st.next = pull_set{};
    // The watchdog's clock for these pulls starts with the step: a riding
    // one cannot be answered before the previous step computed and pushed.
    st.current.sent_at = clock_type::now();
    return true;
  }
  if (!bound_allows(st, st.clock)) {
    st.timer.block(step_timer::staleness);
    return false;
  }
  if (window_full(st)) {
    st.timer.block(step_timer::push);
    return false;
  }
  if (st.slot.pool && !st.slot.held) {
    // Waiting for a slot counts as waiting to pull: it is waiting for a thread.
    if (st.slot_wait || !st.slot.pool->acquire(self)) {
      st.slot_wait = true;
      st.timer.block(step_timer::pull);
      return false;
    }
    st.slot.held = true;
  }
  start_pulls(self, st.current, st.clock,
              st.fixed_plan ? *st.fixed_plan
                            : plan_exchange(*st.wl, static_cast<std::uint32_t>(st.shards.size())));
  return true;
}

// With a fixed plan, the next step's pulls leave before this step computes
// (behind the previous step's pushes to each shard) and are answered
// meanwhile, when the bound already allows the next step. They lack this
// step's own update, which SSP with s >= 1 does not promise; at s = 0 the
// bound never allows them early.
void prefetch(worker_pointer self) {
  auto& st = self->state;
  if (!st.cfg.job.prefetch || st.slot.pool || !st.fixed_plan || st.next.step == st.clock + 1 ||
      !bound_allows(st, st.clock + 1))
    return;
  start_pulls(self, st.next, st.clock + 1, *st.fixed_plan, true);
}

void finish_step(worker_pointer self) {
  auto& st = self->state;
  push_gradients(self);
  if (st.failed) return;  // the step was refused whole
  st.current = pull_set{};
  ++st.clock;
  report_acked(self);
  if (st.slot.pool) {
    // The next in line may go; this worker holds nothing big until its turn.
    st.wl->release_workspace();
    st.slot.release();
  }
  st.batch_loaded = false;
  if (st.clock % st.cfg.job.log_every == 0) flush_report(self);
  // The next step starts behind what is in the mailbox already (replies,
  // acknowledgements, clock news). Not a yield: CAF lets an actor keep its
  // thread while messages wait for it (max-throughput is unbounded), and
  // bounding it measured slower.
  if (!st.continue_sent) {
    st.continue_sent = true;
    self->send(self, continue_atom::value);
  }
}

void compute(worker_pointer self) {
  auto& st = self->state;
  const auto t0 = clock_type::now();
  const auto r = st.wl->train_step();
  const double took = seconds_since(t0);
  st.timer.add(step_timer::compute, took);
  st.report.samples += r.rows;
  st.report.loss_sum += r.loss_sum;
  st.report.correct += r.correct;
  if (st.straggler && st.straggler->active()) {
    // A slow machine: the gradient leaves later. A timer, not a sleep, so
    // that the thread serves other actors meanwhile.
    const double extra = st.straggler->extra_delay_s(took);
    if (extra > 0) {
      st.delayed = true;
      st.timer.block(step_timer::compute);
      self->delayed_send(self,
                         std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::duration<double>(extra)),
                         continue_atom::value);
      return;
    }
  }
  finish_step(self);
}

void advance(worker_pointer self) {
  auto& st = self->state;
  if (st.failed || st.finished || st.delayed || st.continue_sent) return;
  if (!load_batch(self)) return;
  if (!ensure_pulls(self)) return;
  if (st.current.missing > 0) {
    st.timer.block(step_timer::pull);
    return;
  }
  // Checked again here: prefetched pulls left without asking the window, and
  // this step's pushes must not make a third unacknowledged step.
  if (window_full(st)) {
    st.timer.block(step_timer::push);
    return;
  }
  st.timer.unblock();
  if (!accept_pulls(self)) return;
  prefetch(self);
  prepare_pushes(self);
  compute(self);
}

worker_actor::behavior_type worker_behavior(worker_pointer self, worker_config cfg,
                                            std::shared_ptr<const workload_data> data,
                                            std::vector<shard_actor> shards,
                                            scheduler_actor scheduler, host_context ctx) {
  auto& st = self->state;
  // A workload's exception (a user's model, say) ends the job with its message.
  self->set_exception_handler([=](std::exception_ptr& eptr) -> caf::error {
    auto err = make_troupe_error(errc::stopped, describe(eptr));
    fail(self, "error", err);
    return err;
  });
  // Known before the workload is made: its constructor may throw, and the
  // failure is reported as this worker's, to its scheduler.
  st.cfg.id = cfg.id;
  st.scheduler = scheduler;
  st.ctx = std::move(ctx);
  st.received_shm = st.ctx.shm;
  if (st.ctx.workers) {
    ++*st.ctx.workers;
    self->attach_functor([workers = st.ctx.workers](const caf::error&) { --*workers; });
  }
  if (st.ctx.metrics) {
    self->attach_functor([metrics = st.ctx.metrics, id = cfg.id] { metrics->clear_clock_lag(id); });
  }
  st.data = data;
  st.wl = make_train_workload(cfg.job, std::move(data), cfg.partition, cfg.job.workers);
  // Stragglers follow the partition: a replacement inherits its predecessor's role.
  const auto spec = parse_straggler_spec(cfg.job.stragglers);
  if (!spec.none()) {
    st.straggler = std::make_unique<straggler_model>(spec, cfg.partition, cfg.job.seed);
  }
  st.epoch = cfg.start_epoch;
  st.clock = cfg.start_clock;
  st.acked = cfg.start_clock;
  st.known_min = cfg.start_clock;
  st.seq.assign(shards.size(), 0);
  st.gap_resends.assign(shards.size(), 0);
  st.notices.assign(shards.size(), false);
  st.slot.pool = cfg.pool;
  st.cfg = std::move(cfg);
  st.shards = std::move(shards);
  st.window.set_gate(&st.gate);
  st.scheduler = std::move(scheduler);
  auto from_scheduler = [=] { return self->state.scheduler.address() == self->current_sender(); };
  return {
      [=](repoint_atom, std::uint32_t shard, shard_actor& primary) {
        auto& s = self->state;
        if (shard >= s.shards.size() || !from_scheduler()) return;
        const bool changed = s.shards[shard] != primary;
        s.shards[shard] = std::move(primary);
        if (!changed) return;  // at start: the shards the worker was made with
        s.failover.over();
        spdlog::info("worker {}: shard {} re-pointed to its backup", s.cfg.id, shard);
        s.notices[shard] = false;  // the promoted backup has no backup of its own yet
        // What was out to the old primary may never be answered: it stops
        // counting against the bound, and is sent again below.
        s.gate.forget(shard);
        // Pulls are idempotent and pushes carry their seq: redoing what was in
        // flight to the shard loses nothing and applies nothing twice. The
        // pushes first: CAF keeps the order of one sender's messages to one
        // receiver, so the promoted backup applies them before it answers
        // the pulls (a pull first could miss this worker's own last step,
        // which the lost primary had applied and counted). Pulls waiting in
        // the gate go from there, in their turn.
        const auto resent = resend_pushes(self, shard);
        s.report.pushes_resent += resent;
        if (s.ctx.metrics) s.ctx.metrics->add_resent(resent);
        for (auto* set : {&s.current, &s.next}) {
          for (std::size_t i = 0; i < set->ops.size(); ++i) {
            if (set->sent_phase[i] != 0 && set->sent_phase[i] != gate_pending &&
                set->ops[i].shard == shard) {
              send_pull(self, *set, i);
            }
          }
        }
        s.gate.drain();  // room the lost requests held, for what waited behind them
      },
      [=](clock_atom, std::int64_t min_clock) {
        auto& s = self->state;
        if (!from_scheduler() || min_clock <= s.known_min) return;
        s.known_min = min_clock;
        if (s.ctx.metrics)
          s.ctx.metrics->set_clock_lag(s.cfg.id, static_cast<double>(s.clock - min_clock));
        advance(self);
      },
      [=](slot_atom) {
        if (self->current_sender()) return;  // only the pool sends it (anonymously)
        self->state.slot_wait = false;
        advance(self);
      },
      [=](continue_atom) {
        auto& s = self->state;
        if (self->current_sender() != self->address()) return;
        if (s.delayed) {
          s.delayed = false;
          s.timer.unblock();
          finish_step(self);
          return;
        }
        s.continue_sent = false;
        advance(self);
      },
      [=](applied_atom, std::uint32_t shard, const bytes& ack, bytes& values) {
        // Only from the primary the worker pushes to: a notice from elsewhere
        // (a node that is not this shard, a primary since replaced) is ignored,
        // and values it brought in shared memory are freed.
        auto& s = self->state;
        push_ack decoded;
        if (shard >= s.shards.size() || s.shards[shard].address() != self->current_sender() ||
            !decode_push_ack(ack, decoded)) {  // a bad one: its reply will tell
          drop_reply(self, values);
          return;
        }
        s.notices[shard] = true;
        if (s.window.applied(shard, decoded.seq)) count_ack(self, decoded);
        if (!s.failed && !s.finished) {
          take_ridden(self, shard, decoded.seq, values);
        } else {
          drop_reply(self, values);
        }
      },
      [=](tick_atom) {
        // The watchdog: one timer per worker instead of one per request.
        auto& s = self->state;
        if (self->current_sender() != self->address() || s.failed || s.finished) return;
        const auto now = clock_type::now();
        const auto oldest_push = s.window.oldest_sent();
        auto late = [&](clock_type::time_point since, std::chrono::milliseconds limit) {
          return since != clock_type::time_point::max() && now - since > limit;
        };
        if (late(oldest_push, s.cfg.request_timeout)) {
          on_request_error(self, "push", caf::make_error(caf::sec::request_timeout));
        } else if (s.current.missing > 0 && late(s.current.sent_at, s.cfg.request_timeout)) {
          on_request_error(self, "pull", caf::make_error(caf::sec::request_timeout));
        } else if (s.timer.blocked_on() == step_timer::staleness &&
                   s.next_epoch != epoch_hold::waiting &&  // bounded by the evaluation's own
                   late(s.timer.blocked_since(), s.cfg.clock_timeout)) {
          fail(self, "clock advance", caf::make_error(caf::sec::request_timeout));
        }
        if (!s.failed) self->delayed_send(self, std::chrono::seconds(1), tick_atom::value);
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
        s.timer.start();
        // A replacement goes on after the batches its predecessor finished;
        // when those were all of the epoch, none is loaded and the epoch ends.
        std::size_t rows = s.wl->next_batch();
        for (std::uint64_t i = 0; i < s.cfg.skip_batches && rows > 0; ++i)
          rows = s.wl->next_batch();
        if (rows > 0) {
          loaded(self);
          auto ops = plan_exchange(*s.wl, static_cast<std::uint32_t>(s.shards.size()));
          // Fixed only when the model has no sparse table at all: a first
          // batch that happens to ask for no rows would otherwise leave every
          // later batch's rows unpulled and unpushed.
          if (!ops.empty() && dense_only(*s.wl)) s.fixed_plan = std::move(ops);
        }
        self->delayed_send(self, std::chrono::seconds(1), tick_atom::value);
        advance(self);
      },
  };
}

}  // namespace

worker_actor spawn_worker(caf::actor_system& sys, worker_config cfg,
                          std::shared_ptr<const workload_data> data,
                          std::vector<shard_actor> shards, scheduler_actor scheduler,
                          host_context ctx) {
  // Not detached: workers compute on the actor system's fixed pool of
  // threads (about one per core), so a thousand workers need no thousand
  // threads; each yields after a step so shards and its peers get a turn.
  return sys.spawn(worker_behavior, std::move(cfg), std::move(data), std::move(shards),
                   std::move(scheduler), std::move(ctx));
}

}  // namespace troupe
