#pragma once
// Overrides of any job key by its dotted TOML path, as `troupe train --set`
// (and sweeps) give them. An override goes through the same parser and
// checks as the job file: unknown keys, wrong types and bad values are
// errors naming the key.
//
//   auto job = load_job_config("examples/fashion_mlp.toml");
//   job = apply_job_overrides(job, {parse_job_override("model.layers=[784, 64, 10]"),
//                                   parse_job_override("train.staleness=inf")});
//
// A VALUE is read as a TOML value (`64`, `0.01`, `true`, `[1, 2]`,
// `"text"`); anything that is not one is taken as a string, so
// `train.optimizer=adam` and `train.staleness=inf` need no quotes.

#include <string>
#include <string_view>
#include <vector>

#include "engine/job_config.hpp"

namespace troupe {

/// One KEY=VALUE, KEY a dotted path such as "train.learning_rate" or "model.dim".
struct job_override {
  std::string key;
  std::string value;
};

/// Splits "KEY=VALUE" at the first '='; throws troupe_error(bad_config)
/// when there is none, or the key is empty or not a dotted path.
job_override parse_job_override(const std::string& text);

/// The job TOML `toml_text` with the overrides applied in order (a later
/// one wins), as TOML text. `source` names the text in parse errors.
std::string apply_job_overrides(std::string_view toml_text, const std::string& source,
                                const std::vector<job_override>& overrides);

/// `job` with the overrides applied, parsed and validated like a job file
/// (`check` false: parsed only, for a caller that validates after more
/// overrides). Runtime-only fields (resume_from, metrics_listen) are kept.
/// Errors name `source`, the flag the overrides came from.
job_config apply_job_overrides(const job_config& job, const std::vector<job_override>& overrides,
                               bool check = true, const std::string& source = "--set");

}  // namespace troupe
