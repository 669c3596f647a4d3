#pragma once
// The registry of workload kinds: `[model] kind` names an entry, and the
// workers, the evaluator, the shards' placement and the job runner reach a
// model only through it (workload_factory.hpp). The built-in kinds (mlp,
// logreg, mf, skipgram) are entries like any other; a user's own model
// registers through the public include/troupe/workload.hpp, which adds an
// entry here.
//
//   workload_kind k;
//   k.name = "my_model";
//   k.tables = [](const job_config& job) { ... };
//   ...
//   register_workload_kind(std::move(k));
//   find_workload_kind("mlp")->tables(job);
//
// The registry is process-wide by design (a name in a job file has to find
// its code from anywhere in the process); it is guarded by a mutex, and
// entries are never removed, so a found entry stays valid.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/job_config.hpp"
#include "engine/workloads/workload.hpp"

namespace troupe {

struct workload_data;

struct workload_kind {
  std::string name;
  /// Throws troupe_error(bad_config) naming the key when the job's data or
  /// model settings do not fit this kind. May be empty.
  std::function<void(const job_config&)> check;
  /// Loads the job's data, once per process. Workloads that bring their own
  /// data return an empty workload_data.
  std::function<std::shared_ptr<const workload_data>(const job_config&)> load_data;
  /// Completes the job's model from the loaded data (input width, outputs)
  /// and checks it; throws bad_config naming both numbers. May be empty.
  std::function<void(job_config&, const workload_data&)> fit;
  /// The tables of the model (ids from 1).
  std::function<std::vector<table_spec>(const job_config&)> tables;
  std::function<std::unique_ptr<workload>(const job_config&, std::shared_ptr<const workload_data>,
                                          std::uint32_t part, std::uint32_t parts)>
      make_train;
  std::function<std::unique_ptr<workload>(const job_config&, std::shared_ptr<const workload_data>)>
      make_eval;
  /// True when the job is a regression (metrics RMSE and MAE, not accuracy
  /// and log-loss). May be empty: a classifier.
  std::function<bool(const job_config&)> regression;
  /// The model brings its own data ([data] is not read): a job is named
  /// after the model alone.
  bool own_data = false;
};

/// Adds a kind; throws troupe_error(bad_config) for an empty or taken name
/// or a missing function (all but check and fit are required).
void register_workload_kind(workload_kind kind);
/// Adds all of `kinds` or, throwing as register_workload_kind does (a name
/// taken, also by another thread meanwhile, or given twice), none.
void register_workload_kinds(std::vector<workload_kind> kinds);
/// The kind named `name`, or nullptr.
const workload_kind* find_workload_kind(const std::string& name);
/// Whether the kind named `name` brings its own data (false when unknown).
bool brings_own_data(const std::string& name);
/// The kind named `name`; throws bad_config "unknown model 'x' (known: ...)".
const workload_kind& workload_kind_of(const std::string& name);
/// Every registered name, sorted.
std::vector<std::string> workload_kind_names();

/// Hands mlp, logreg, mf and skipgram to `add` (builtin_workloads.cpp); the
/// registry calls it once, before its first use.
void register_builtin_workloads(const std::function<void(workload_kind)>& add);

}  // namespace troupe
