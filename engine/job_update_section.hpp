#pragma once
// The job file's [update] section: the staleness-aware update rule of every
// table, and per-table overrides in [update.<table name>] (see
// engine/store/update_rule.hpp for the rules).
//
//   [update]
//   rule = "dcasgd"       # plain, staleness or dcasgd
//   dc_lambda = 0.04
//   clip_norm = 0         # 0 = no clipping
//   min_staleness = 1     # staleness: pushes count as at least this stale
//   warmup_pushes = 0     # learning rate ramps up over the first N pushes (0 = off)
//   half_life_pushes = 0  # learning rate / (1 + pushes / N) (0 = off)
//   [update.bias]         # the logreg model's bias table keeps plain updates
//   rule = "plain"
//
// Internal to the engine's job config: it includes toml++, so only .cpp
// files include it.

#include <toml++/toml.h>

#include <string>

#include "engine/job_config.hpp"

namespace troupe {

/// Reads [update] into job.update; throws troupe_error(bad_config) naming
/// the key (unknown keys, wrong types, unknown rules, negative settings).
void parse_update_section(const toml::table& section, const std::string& source, job_config& job);

/// The section as TOML text ("" when every table uses the default plain rule).
std::string update_section_toml(const update_rules& rules);

}  // namespace troupe
