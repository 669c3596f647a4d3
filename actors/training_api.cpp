// The training half of the public API: troupe::engine::train (engine.hpp)
// and custom workloads, job_spec and troupe::train (workload.hpp). A custom
// workload becomes an entry of the engine's registry of workload kinds, the
// same registry the built-in models are in.
#include <spdlog/spdlog.h>

#include "actors/custom_workload_kind.hpp"
#include "actors/job_runner.hpp"
#include "actors/public_tables.hpp"
#include "engine/errors.hpp"
#include "engine/job_config.hpp"
#include "engine/job_overrides.hpp"
#include "engine/workloads/workload_factory.hpp"
#include "engine/workloads/workload_registry.hpp"
#include "troupe/engine.hpp"
#include "troupe/workload.hpp"

namespace troupe {

namespace {

result<train_summary> run(const job_config& config) {
  try {
    const auto s = run_job(config);
    train_summary out{s.test_accuracy, s.test_loss,     s.samples_per_s, s.wall_s,
                      s.epochs,        summary_line(s), s.output_dir};
    out.regression = s.regression;
    out.test_mae = s.test_mae;
    return out;
  } catch (const troupe_error& e) {
    const auto code = e.code() == errc::bad_config ? api_errc::bad_argument : api_errc::internal;
    return {code, std::string(to_string(e.code())) + ": " + e.what()};
  } catch (const std::exception& e) {
    return {api_errc::internal, e.what()};
  } catch (...) {  // a user's workload factory may throw anything
    return {api_errc::internal, "the job threw a non-standard exception (a workload factory?)"};
  }
}

// A job file that cannot be read is the caller's bad argument, like a bad
// job in it (a data set missing at run time stays internal).
job_config load_job_file(const std::string& path, bool check) {
  try {
    return load_job_config(path, check);
  } catch (const troupe_error& e) {
    if (e.code() != errc::io_error) throw;
    throw troupe_error(errc::bad_config, e.what());
  }
}

}  // namespace

result<train_summary> engine::train(const std::string& job) {
  try {
    return run(job.empty() ? default_job_config() : load_job_file(job, true));
  } catch (const troupe_error& e) {
    const auto code = e.code() == errc::bad_config ? api_errc::bad_argument : api_errc::internal;
    return {code, std::string(to_string(e.code())) + ": " + e.what()};
  }
}

result<void> register_workload(const std::string& name, workload_factory factory) {
  if (name.empty()) return api_error{api_errc::bad_argument, "a workload needs a name"};
  if (!factory) return api_error{api_errc::bad_argument, "workload '" + name + "' has no factory"};
  try {
    register_workload_kind(custom_workload_kind(name, std::move(factory)));
  } catch (const troupe_error& e) {
    return api_error{api_errc::bad_argument, e.what()};
  }
  return {};
}

job_spec job_spec::file(std::string path) {
  job_spec j;
  j.path_ = std::move(path);
  return j;
}

job_spec job_spec::toml(std::string text) {
  job_spec j;
  j.text_ = std::move(text);
  return j;
}

job_spec& job_spec::set(std::string key, std::string value) {
  sets_.emplace_back(std::move(key), std::move(value));
  return *this;
}

result<train_summary> train(const job_spec& spec) {
  try {
    // Checked once the overrides are applied, as `troupe train --set` is: a
    // file whose model kind an override replaces was refused for its own.
    job_config job = !spec.path().empty()   ? load_job_file(spec.path(), false)
                     : !spec.text().empty() ? parse_job_config(spec.text(), "<job text>", false)
                                            : default_job_config();
    std::vector<job_override> overrides;
    for (const auto& [key, value] : spec.overrides()) {
      overrides.push_back(parse_job_override(key + "=" + value));
    }
    job = apply_job_overrides(job, overrides, false);
    validate(job);
    return run(job);
  } catch (const troupe_error& e) {
    const auto code = e.code() == errc::bad_config ? api_errc::bad_argument : api_errc::internal;
    return {code, std::string(to_string(e.code())) + ": " + e.what()};
  }
}

}  // namespace troupe
