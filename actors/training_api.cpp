// The training half of the public API: troupe::engine::train (engine.hpp)
// and custom workloads, job_spec and troupe::train (workload.hpp). A custom
// workload becomes an entry of the engine's registry of workload kinds, the
// same registry the built-in models are in.
#include <spdlog/spdlog.h>

#include <map>
#include <mutex>
#include <set>

#include "actors/custom_workload_adapter.hpp"
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

workload_context context_of(const job_config& job, std::uint32_t part, std::uint32_t parts,
                            bool evaluation) {
  workload_context ctx;
  ctx.part = part;
  ctx.parts = parts;
  ctx.evaluation = evaluation;
  ctx.batch = job.batch;
  ctx.seed = job.seed;
  ctx.optimizer = optimizer_options_of(job.optimizer);
  ctx.params = job.params;
  return ctx;
}

// A registered factory, and the specs of its tables per job (instantiating
// a workload may load its data: do it once per job, not per question).
struct custom_kind {
  std::string name;
  workload_factory factory;
  std::mutex mutex;
  std::map<std::string, std::pair<std::vector<table_spec>, bool>> by_job;  // to_toml -> specs

  std::unique_ptr<custom_workload> make(const workload_context& ctx) const {
    auto w = factory(ctx);
    if (!w)
      throw troupe_error(errc::bad_config, "workload '" + name + "': the factory returned none");
    return w;
  }

  static std::vector<table_spec> specs_of(const custom_workload& w, const std::string& name) {
    std::vector<table_spec> specs;
    std::set<std::string> names;
    for (const auto& t : w.tables()) {
      auto s = table_spec_of(t, static_cast<std::uint32_t>(specs.size() + 1));
      if (!s) throw troupe_error(errc::bad_config, "workload '" + name + "': " + s.error().message);
      if (!names.insert(t.name).second) {
        throw troupe_error(errc::bad_config,
                           "workload '" + name + "': two tables named '" + t.name + "'");
      }
      specs.push_back(std::move(s).value());
    }
    if (specs.empty())
      throw troupe_error(errc::bad_config, "workload '" + name + "' has no tables");
    return specs;
  }

  // The job's tables and regression flag, from one evaluation instance.
  std::pair<std::vector<table_spec>, bool> shape(const job_config& job) {
    const auto key = to_toml(job);
    std::lock_guard<std::mutex> lock(mutex);
    auto it = by_job.find(key);
    if (it == by_job.end()) {
      const auto w = make(context_of(job, 0, 1, true));
      it = by_job.emplace(key, std::make_pair(specs_of(*w, name), w->regression())).first;
    }
    return it->second;
  }
};

}  // namespace

result<train_summary> engine::train(const std::string& job) {
  try {
    return run(job.empty() ? default_job_config() : load_job_config(job));
  } catch (const troupe_error& e) {
    const auto code = e.code() == errc::bad_config ? api_errc::bad_argument : api_errc::internal;
    return {code, std::string(to_string(e.code())) + ": " + e.what()};
  }
}

result<void> register_workload(const std::string& name, workload_factory factory) {
  if (name.empty()) return api_error{api_errc::bad_argument, "a workload needs a name"};
  if (!factory) return api_error{api_errc::bad_argument, "workload '" + name + "' has no factory"};
  auto kind = std::make_shared<custom_kind>();
  kind->name = name;
  kind->factory = std::move(factory);
  workload_kind k;
  k.name = name;
  // A custom workload brings its own data (read in its constructor).
  k.load_data = [](const job_config&) { return std::make_shared<const workload_data>(); };
  // Checked once before training: the tables are valid and named uniquely.
  k.fit = [kind](job_config& job, const workload_data&) { kind->shape(job); };
  k.tables = [kind](const job_config& job) { return kind->shape(job).first; };
  k.regression = [kind](const job_config& job) { return kind->shape(job).second; };
  k.make_train = [kind](const job_config& job, std::shared_ptr<const workload_data>,
                        std::uint32_t part, std::uint32_t parts) {
    auto w = kind->make(context_of(job, part, parts, false));
    auto specs = custom_kind::specs_of(*w, kind->name);
    return adapt_custom_workload(std::move(w), std::move(specs), kind->name);
  };
  k.make_eval = [kind](const job_config& job, std::shared_ptr<const workload_data>) {
    auto w = kind->make(context_of(job, 0, 1, true));
    auto specs = custom_kind::specs_of(*w, kind->name);
    return adapt_custom_workload(std::move(w), std::move(specs), kind->name);
  };
  try {
    register_workload_kind(std::move(k));
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
    job_config job = !spec.path().empty()   ? load_job_config(spec.path())
                     : !spec.text().empty() ? parse_job_config(spec.text(), "<job text>")
                                            : default_job_config();
    std::vector<job_override> overrides;
    for (const auto& [key, value] : spec.overrides()) {
      overrides.push_back(parse_job_override(key + "=" + value));
    }
    return run(apply_job_overrides(job, overrides));
  } catch (const troupe_error& e) {
    const auto code = e.code() == errc::bad_config ? api_errc::bad_argument : api_errc::internal;
    return {code, std::string(to_string(e.code())) + ": " + e.what()};
  }
}

}  // namespace troupe
