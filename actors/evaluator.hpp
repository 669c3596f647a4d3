#pragma once
// The evaluator actor: scores parameter snapshots on the test set.
//
//   eval(params) --> [ready] --> eval_result{accuracy, loss}
//
// It runs detached because one evaluation computes for a while and must not
// hold up the clock and shard traffic of the cooperative scheduler.

#include <caf/fwd.hpp>

#include <memory>

#include "actors/protocol.hpp"
#include "engine/dataset.hpp"
#include "engine/model.hpp"

namespace troupe {

evaluator_actor spawn_evaluator(caf::actor_system& sys, mlp_spec model,
                                std::shared_ptr<const dataset> test);

}  // namespace troupe
