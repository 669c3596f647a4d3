#include "actors/custom_workload_kind.hpp"

#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <stdexcept>
#include <utility>

#include "actors/custom_workload_adapter.hpp"
#include "actors/public_tables.hpp"
#include "engine/errors.hpp"
#include "engine/job_config.hpp"
#include "engine/workloads/workload_factory.hpp"

namespace troupe {

namespace {

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
    std::unique_ptr<custom_workload> w;
    // A constructor's exception names the workload, as every other of its
    // faults does (it said only its own message).
    try {
      w = factory(ctx);
    } catch (const troupe_error& e) {
      throw troupe_error(e.code(), "workload '" + name + "': " + e.what());
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      // The same kind of exception, to be handled as before, with a name.
      throw std::runtime_error("workload '" + name + "': " + e.what());
    }
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

// "" when `b` declares the tables `a` does (names, kinds and sizes), else
// the first difference.
std::string layout_difference(const std::vector<table_spec>& a, const std::vector<table_spec>& b) {
  if (a.size() != b.size()) {
    return std::to_string(b.size()) + " tables, not " + std::to_string(a.size());
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto shape = [](const table_spec& t) {
      return t.kind == table_kind::dense
                 ? "dense '" + t.name + "' of " + std::to_string(t.size)
                 : "sparse '" + t.name + "' of width " + std::to_string(t.width);
    };
    if (shape(a[i]) != shape(b[i])) return shape(b[i]) + ", not " + shape(a[i]);
  }
  return {};
}

}  // namespace

workload_kind custom_workload_kind(const std::string& name, workload_factory factory) {
  auto kind = std::make_shared<custom_kind>();
  kind->name = name;
  kind->factory = std::move(factory);
  workload_kind k;
  k.name = name;
  // A custom workload brings its own data (read in its constructor).
  k.load_data = [](const job_config&) { return std::make_shared<const workload_data>(); };
  k.own_data = true;
  // Checked once before training: the tables are valid and named uniquely.
  k.fit = [kind](job_config& job, const workload_data&) { kind->shape(job); };
  k.tables = [kind](const job_config& job) { return kind->shape(job).first; };
  k.regression = [kind](const job_config& job) { return kind->shape(job).second; };
  // The shards hold the tables of the evaluation instance (shape): an
  // instance declaring others (sized from its own part of the data, say)
  // would train part of a table, or fail on a pull, without saying why.
  const auto checked = [kind](const job_config& job, std::unique_ptr<custom_workload> w,
                              const std::string& which) {
    auto specs = custom_kind::specs_of(*w, kind->name);
    const auto& placed = kind->shape(job).first;
    if (auto why = layout_difference(placed, specs); !why.empty()) {
      throw troupe_error(errc::bad_config, "workload '" + kind->name + "': " + which +
                                               " returns other tables than the instance that "
                                               "placed them (" +
                                               why + "): tables() must not depend on the part");
    }
    return adapt_custom_workload(std::move(w), std::move(specs), kind->name);
  };
  k.make_train = [kind, checked](const job_config& job, std::shared_ptr<const workload_data>,
                                 std::uint32_t part, std::uint32_t parts) {
    return checked(job, kind->make(context_of(job, part, parts, false)),
                   "the instance of part " + std::to_string(part) + " of " + std::to_string(parts));
  };
  k.make_eval = [kind, checked](const job_config& job, std::shared_ptr<const workload_data>) {
    return checked(job, kind->make(context_of(job, 0, 1, true)), "an evaluation instance");
  };
  return k;
}

}  // namespace troupe
