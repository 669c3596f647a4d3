#pragma once
// The tables file of `troupe serve`: one [[table]] per table of the engine.
//
//   shards = 2                     # optional, default 2
//   [[table]]
//   name = "emb"                   # required, unique
//   kind = "sparse"                # "sparse" (rows) or "dense" (a vector)
//   width = 64                     # sparse: floats per row
//   size = 1000                    # dense: number of floats
//   optimizer = "adagrad"          # sgd | momentum | adagrad | adam (default sgd)
//   lr = 0.1                       # learning rate (default 0.05)
//   init = 0.01                    # initial values uniform in [-init, init] (default 0)
//   seed = 7                       # initialiser seed (default 1)
//   max_rows = 100000              # sparse: rows per shard, LRU beyond (default 0: no bound)
//   max_row_id = 1048576           # sparse: ids must be below (default 0: any)
//
//   troupe::engine_options opts = troupe::cli::load_table_file("tables.toml");

#include <string>
#include <string_view>

#include "troupe/engine.hpp"

namespace troupe::cli {

/// Throws troupe_error(bad_config) naming the file and key for unknown keys,
/// wrong types and missing or invalid values.
engine_options load_table_file(const std::string& path);
/// The same for TOML text; `source` names it in errors.
engine_options parse_table_file(std::string_view text, const std::string& source);

}  // namespace troupe::cli
