#pragma once
// Public table definitions (include/troupe/table.hpp) as the engine's
// table_spec: shared by the table engine (troupe::engine::start) and custom
// workloads (include/troupe/workload.hpp), so both check them alike.
//
//   auto spec = table_spec_of(troupe::table::dense("w", 10).sgd(0.1f), /*id=*/1);
//   if (!spec) return spec.error();   // bad_argument naming the table

#include <cstdint>

#include "engine/store/table.hpp"
#include "troupe/result.hpp"
#include "troupe/table.hpp"

namespace troupe {

/// The table's spec with id `id`, or bad_argument saying what is invalid.
result<table_spec> table_spec_of(const table& t, std::uint32_t id);

/// The public optimizer settings as the engine's, and back.
optimizer_spec optimizer_spec_of(const optimizer_options& o);
optimizer_options optimizer_options_of(const optimizer_spec& s);

}  // namespace troupe
