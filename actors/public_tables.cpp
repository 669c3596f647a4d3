#include "actors/public_tables.hpp"

#include <cmath>
#include <string>

namespace troupe {

optimizer_spec optimizer_spec_of(const optimizer_options& o) {
  optimizer_spec s;
  s.kind = static_cast<optimizer_kind>(o.type);
  s.learning_rate = o.learning_rate;
  s.momentum = o.momentum;
  s.beta1 = o.beta1;
  s.beta2 = o.beta2;
  s.epsilon = o.epsilon;
  s.weight_decay = o.weight_decay;
  return s;
}

optimizer_options optimizer_options_of(const optimizer_spec& s) {
  optimizer_options o;
  o.type = static_cast<optimizer_type>(s.kind);
  o.learning_rate = s.learning_rate;
  o.momentum = s.momentum;
  o.beta1 = s.beta1;
  o.beta2 = s.beta2;
  o.epsilon = s.epsilon;
  o.weight_decay = s.weight_decay;
  return o;
}

result<table_spec> table_spec_of(const table& t, std::uint32_t id) {
  auto bad = [&](const std::string& why) {
    return api_error{api_errc::bad_argument, "table '" + t.name + "': " + why};
  };
  if (t.name.empty()) return api_error{api_errc::bad_argument, "a table without a name"};
  if (t.optimizer.type > optimizer_type::adam) return bad("unknown optimizer");
  if (auto why = check_optimizer(optimizer_spec_of(t.optimizer)); !why.empty()) return bad(why);
  if (!std::isfinite(t.init_bound) || t.init_bound < 0) return bad("init bound must be >= 0");
  // Like the rate and the decay (check_optimizer): values of 1e38 with a
  // decay of 1e6 made Adagrad's first step NaN, which the shard then served.
  if (t.init_bound > 1e6f) return bad("init bound must be at most 1e6");
  table_spec s;
  s.id = id;
  s.name = t.name;
  s.seed = t.seed;
  s.optimizer = optimizer_spec_of(t.optimizer);
  if (t.is_sparse) {
    if (t.width == 0 || t.width > (1u << 20)) return bad("row width must be in [1, 2^20]");
    s.kind = table_kind::sparse;
    s.width = t.width;
    s.row_init_bound = t.init_bound;
    s.max_rows = t.max_rows_per_shard;
    s.max_row_id = t.row_id_limit;
  } else {
    if (t.size == 0 || t.size > (std::uint64_t{1} << 34)) return bad("size must be in [1, 2^34]");
    // Row settings on a table without rows were ignored in silence.
    if (t.max_rows_per_shard != 0) return bad("max_rows is for sparse tables; this one is dense");
    if (t.row_id_limit != 0) return bad("max_row_id is for sparse tables; this one is dense");
    s.kind = table_kind::dense;
    s.size = t.size;
    s.init = {{t.size, t.init_bound}};
  }
  return s;
}

}  // namespace troupe
