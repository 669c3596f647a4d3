#pragma once
// Internal to the job-file reader: the readers of the keys that the data
// and model descriptions add to the [data] and [model] sections. Kept apart
// from job_config.cpp so that each concern's keys live with its struct
// (engine/data/data_spec.hpp, engine/model/model_spec.hpp). Includes toml++.

#include <string>

#include "engine/toml_read.hpp"

namespace troupe {

struct data_spec;
struct job_config;

/// The data_spec keys of the [data] table `t`; throws troupe_error(bad_config)
/// naming "source: data.key".
void read_data_spec(const toml::table& t, const std::string& source, data_spec& out);

/// The model-description keys of the [model] table (activation, loss,
/// hidden) and the validation keys of [train] (early_stopping, keep_best).
void read_model_spec(const toml::table& model, const std::string& source, job_config& job);
void read_validation_spec(const toml::table& train, const std::string& source, job_config& job);
/// The [params] table: any keys, values kept as TOML text.
void read_params(const toml::table& params, const std::string& source, job_config& job);
/// [params] as TOML lines (empty without params).
std::string params_toml(const job_config& job);

}  // namespace troupe
