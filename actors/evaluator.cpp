#include "actors/evaluator.hpp"

#include <caf/all.hpp>

#include "actors/actor_config.hpp"

namespace troupe {

namespace {

struct evaluator_state {
  std::unique_ptr<kernels::backend> backend;
  std::unique_ptr<mlp> net;
  std::shared_ptr<const dataset> test;
  static inline const char* name = "troupe.evaluator";
};

evaluator_actor::behavior_type evaluator_behavior(
    evaluator_actor::stateful_pointer<evaluator_state> self, mlp_spec model,
    std::shared_ptr<const dataset> test) {
  // The evaluator stays on the CPU: it runs once per epoch, and keeping the
  // GPU for the workers matters more.
  self->state.backend = kernels::make_backend(kernels::backend_kind::cpu, 1);
  self->state.net = std::make_unique<mlp>(model, *self->state.backend, 1000);
  self->state.test = std::move(test);
  return {
      [=](eval_atom, const std::vector<float>& params) -> caf::result<eval_result> {
        auto& st = self->state;
        if (params.size() != st.net->size()) {
          return make_troupe_error(errc::wrong_size,
                                   "snapshot of " + std::to_string(params.size()) +
                                       " values for a model of " + std::to_string(st.net->size()));
        }
        st.backend->upload(params.data(), params.size(), st.net->params());
        auto r = st.net->evaluate(st.test->features.data(), st.test->labels.data(), st.test->rows);
        eval_result out;
        out.rows = st.test->rows;
        out.accuracy = st.test->rows ? static_cast<double>(r.correct) / st.test->rows : 0;
        out.loss = st.test->rows ? r.loss_sum / st.test->rows : 0;
        return out;
      },
  };
}

}  // namespace

evaluator_actor spawn_evaluator(caf::actor_system& sys, mlp_spec model,
                                std::shared_ptr<const dataset> test) {
  return sys.spawn<caf::detached>(evaluator_behavior, std::move(model), std::move(test));
}

}  // namespace troupe
