#pragma once
// A user's custom_workload (include/troupe/workload.hpp) as the engine's
// internal workload: the adapter keeps the views' storage, turns the rows a
// batch asks for into sorted, unique sparse keys, and copies values in and
// gradients out through the internal interface. The public interface only
// sees views, so the internal one may change (e.g. to zero-copy pull replies)
// without breaking users' code.
//
//   auto wl = adapt_custom_workload(factory(ctx), specs, "my_model");   // specs:
//   table_spec_of(tables()) wl->next_batch(); ... wl->train_step();

#include <memory>
#include <string>
#include <vector>

#include "engine/workloads/workload.hpp"
#include "troupe/workload.hpp"

namespace troupe {

/// `specs` are the engine's specs of w->tables(), in the same order; `kind`
/// is the name it was registered under, which its error messages give.
std::unique_ptr<workload> adapt_custom_workload(std::unique_ptr<custom_workload> w,
                                                std::vector<table_spec> specs,
                                                const std::string& kind);

}  // namespace troupe
