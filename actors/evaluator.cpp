#include "actors/evaluator.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <cmath>
#include <deque>
#include <limits>

#include "actors/actor_config.hpp"
#include "engine/wire/exchange_plan.hpp"

namespace troupe {

namespace {

constexpr std::uint32_t kEvaluatorId = 0xffffffffu;  // the worker id it pulls as
constexpr auto kPullTimeout = std::chrono::seconds(60);
using clock_type = std::chrono::steady_clock;

struct evaluator_state {
  std::unique_ptr<workload> wl;
  std::vector<shard_actor> shards;
  std::vector<exchange_op> ops;  // the same every time: the test set is fixed
  struct request {
    caf::typed_response_promise<eval_result> promise;
    clock_type::time_point asked;
  };
  std::deque<request> queue;  // front: the evaluation in progress
  clock_type::time_point started;
  clock_type::time_point read;     // the last pull of the evaluation in progress answered
  std::uint64_t read_version = 0;  // the lowest table version its pulls read
  bool dense_only = false;         // every step pushes to every shard: versions count steps
  std::size_t pending = 0;
  std::uint64_t round = 0;
  bool replicated = false;
  bool hold = false;  // keep_best: the shards keep what each round reads
  static inline const char* name = "troupe.evaluator";
};

using evaluator_pointer = evaluator_actor::stateful_pointer<evaluator_state>;

void start_next(evaluator_pointer self);

// Accuracy and log-loss, or for a regression RMSE and MAE, of one set.
struct metrics {
  double accuracy = 0, loss = 0, mae = 0;
};

metrics metrics_of(const step_result& r, bool regression) {
  metrics m;
  const double n = static_cast<double>(r.rows);
  if (r.rows == 0) return m;
  m.accuracy = regression ? 0 : static_cast<double>(r.correct) / n;
  m.loss = regression ? std::sqrt(r.loss_sum / n) : r.loss_sum / n;
  m.mae = r.abs_err_sum / n;
  return m;
}

eval_result score(workload& wl) {
  const auto r = wl.evaluate();
  eval_result out;
  out.rows = r.rows;
  out.regression = wl.squared_error_loss();
  const auto test = metrics_of(r, out.regression);
  out.accuracy = test.accuracy;
  out.loss = test.loss;
  out.mae = test.mae;
  if (wl.has_validation()) {
    // The same pulled parameters: validation and test score one snapshot.
    const auto val = metrics_of(wl.evaluate_validation(), out.regression);
    out.validated = true;
    out.val_accuracy = val.accuracy;
    out.val_loss = val.loss;
    out.val_mae = val.mae;
  }
  out.report = wl.eval_report();
  return out;
}

void finish(evaluator_pointer self, caf::expected<eval_result> result) {
  auto& s = self->state;
  auto job = std::move(s.queue.front());
  s.queue.pop_front();
  if (result) {
    if (s.hold && !s.ops.empty()) result->held_round = s.round;
    result->snapshot_delay_s = std::chrono::duration<double>(s.started - job.asked).count();
    result->read_delay_s = std::chrono::duration<double>(s.read - job.asked).count();
    result->read_version = s.ops.empty() || !s.dense_only ? 0 : s.read_version;
    job.promise.deliver(*result);
  } else {
    job.promise.deliver(result.error());
  }
  if (!s.queue.empty()) start_next(self);
}

// Pulls every value the test set needs, then scores them.
void start_next(evaluator_pointer self) {
  auto& s = self->state;
  s.started = clock_type::now();
  s.pending = s.ops.size();
  if (s.pending == 0) {
    s.read = s.started;
    return finish(self, score(*s.wl));
  }
  const auto round = ++s.round;
  s.read_version = std::numeric_limits<std::uint64_t>::max();
  for (std::size_t i = 0; i < s.ops.size(); ++i) {
    self->request(s.shards[s.ops[i].shard], kPullTimeout, pull_atom::value,
                  encode_pull(s.ops[i], kEvaluatorId, false, s.hold ? round : 0))
        .then(
            [=](const bytes& reply) {
              auto& ss = self->state;
              if (ss.round != round || ss.pending == 0) return;  // this round already failed
              std::uint64_t version = 0;
              if (auto status = accept_pull_reply(ss.ops[i], reply, *ss.wl, version); !status) {
                ss.pending = 0;
                return finish(self, to_caf_error(status));
              }
              ss.read_version = std::min(ss.read_version, version);
              if (--ss.pending == 0) {
                ss.read = clock_type::now();  // what the row's clock is looked up by
                finish(self, score(*ss.wl));
              }
            },
            [=](caf::error& err) {
              auto& ss = self->state;
              if (ss.round != round || ss.pending == 0) return;
              // A lost shard fails over and a repoint restarts the round; a refusal stays one.
              if (ss.replicated && err.category() != troupe_error_category()) return;
              ss.pending = 0;
              finish(self, std::move(err));
            });
  }
}

evaluator_actor::behavior_type evaluator_behavior(evaluator_pointer self, job_config job,
                                                  std::shared_ptr<const workload_data> data,
                                                  std::vector<shard_actor> shards) {
  auto& st = self->state;
  // A workload's exception (a user's evaluate(), a row it did not ask for)
  // answers the evaluations waiting with its message, which ends the job
  // with it, instead of a bare "the evaluator went down".
  self->set_exception_handler([=](std::exception_ptr& eptr) -> caf::error {
    // `stopped`, as a worker's: a model's exception is no bad configuration.
    auto err = make_troupe_error(errc::stopped, "evaluation: " + describe(eptr));
    for (auto& r : self->state.queue) r.promise.deliver(err);
    self->state.queue.clear();
    return err;
  });
  st.wl = make_eval_workload(job, std::move(data));
  st.wl->prepare_eval();
  st.shards = std::move(shards);
  st.hold = job.keep_best;
  st.replicated = job.replication > 1 || (job.checkpoint_every > 0 && !job.nodes.empty());
  st.ops = plan_exchange(*st.wl, static_cast<std::uint32_t>(st.shards.size()));
  st.dense_only = dense_only(*st.wl);
  return {
      [=](eval_atom) -> caf::result<eval_result> {
        auto& s = self->state;
        auto promise = self->make_response_promise<eval_result>();
        // One evaluation at a time: the pulls of two overlapping evaluations
        // would write into the same workload and score one mixed snapshot.
        s.queue.push_back({promise, clock_type::now()});
        if (s.queue.size() == 1) start_next(self);
        return promise;
      },
      [=](repoint_atom, std::uint32_t shard, shard_actor& primary) {
        auto& s = self->state;
        if (shard >= s.shards.size()) return;
        s.shards[shard] = std::move(primary);
        // Redo an evaluation in progress: its pulls from the lost shard may never return.
        if (!s.queue.empty()) start_next(self);
      },
  };
}

}  // namespace

evaluator_actor spawn_evaluator(caf::actor_system& sys, const job_config& job,
                                std::shared_ptr<const workload_data> data,
                                std::vector<shard_actor> shards) {
  // Not detached: a detached actor's thread is joined when the actor system
  // shuts down, and an evaluator that has pulled from remote shards can stay
  // referenced by the middleman past the job's end (seen as a hang in
  // ~actor_system). An evaluation blocks one scheduler thread for ~0.1 s.
  return sys.spawn(evaluator_behavior, job, std::move(data), std::move(shards));
}

}  // namespace troupe
