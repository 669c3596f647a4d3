#include "actors/evaluator.hpp"

#include <caf/all.hpp>

#include <cmath>

#include "actors/actor_config.hpp"
#include "engine/exchange_plan.hpp"

namespace troupe {

namespace {

constexpr std::uint32_t kEvaluatorId = 0xffffffffu;  // the worker id it pulls as
constexpr auto kPullTimeout = std::chrono::seconds(60);

struct evaluator_state {
  std::unique_ptr<workload> wl;
  std::vector<shard_actor> shards;
  std::vector<exchange_op> ops;  // the same every time: the test set is fixed
  static inline const char* name = "troupe.evaluator";
};

using evaluator_pointer = evaluator_actor::stateful_pointer<evaluator_state>;

eval_result score(workload& wl) {
  const auto r = wl.evaluate();
  eval_result out;
  out.rows = r.rows;
  out.accuracy = r.rows ? static_cast<double>(r.correct) / static_cast<double>(r.rows) : 0;
  out.loss = r.rows ? r.loss_sum / static_cast<double>(r.rows) : 0;
  if (wl.squared_error_loss()) out.loss = std::sqrt(out.loss);  // RMSE
  return out;
}

evaluator_actor::behavior_type evaluator_behavior(evaluator_pointer self, job_config job,
                                                  std::shared_ptr<const workload_data> data,
                                                  std::vector<shard_actor> shards) {
  auto& st = self->state;
  st.wl = make_eval_workload(job, std::move(data));
  st.wl->prepare_eval();
  st.shards = std::move(shards);
  st.ops = plan_exchange(*st.wl, static_cast<std::uint32_t>(st.shards.size()));
  return {
      [=](eval_atom) -> caf::result<eval_result> {
        auto& s = self->state;
        auto promise = self->make_response_promise<eval_result>();
        auto pending = std::make_shared<std::size_t>(s.ops.size());
        if (*pending == 0) return score(*s.wl);
        for (std::size_t i = 0; i < s.ops.size(); ++i) {
          self->request(s.shards[s.ops[i].shard], kPullTimeout, pull_atom::value,
                        encode_pull(s.ops[i], kEvaluatorId))
              .then(
                  [=](const bytes& reply) mutable {
                    std::uint64_t version = 0;
                    auto& ss = self->state;
                    if (auto status = accept_pull_reply(ss.ops[i], reply, *ss.wl, version);
                        !status) {
                      promise.deliver(to_caf_error(status));
                      *pending = 0;
                      return;
                    }
                    if (*pending > 0 && --*pending == 0) promise.deliver(score(*ss.wl));
                  },
                  [=](caf::error& err) mutable {
                    if (*pending == 0) return;
                    *pending = 0;
                    promise.deliver(err);
                  });
        }
        return promise;
      },
  };
}

}  // namespace

evaluator_actor spawn_evaluator(caf::actor_system& sys, const job_config& job,
                                std::shared_ptr<const workload_data> data,
                                std::vector<shard_actor> shards) {
  return sys.spawn<caf::detached>(evaluator_behavior, job, std::move(data), std::move(shards));
}

}  // namespace troupe
