#pragma once
// A user's workload factory (include/troupe/workload.hpp) as an entry of
// the engine's workload registry: its tables and regression flag come from
// one evaluation instance per job, its training and evaluation instances
// through adapt_custom_workload.
//
//   register_workload_kind(custom_workload_kind("linear", make_linear));

#include <string>

#include "engine/workloads/workload_registry.hpp"
#include "troupe/workload.hpp"

namespace troupe {

/// The registry entry for `factory` under `name` (not yet registered);
/// `name` and `factory` must be non-empty.
workload_kind custom_workload_kind(const std::string& name, workload_factory factory);

}  // namespace troupe
