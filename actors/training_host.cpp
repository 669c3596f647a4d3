#include "actors/training_host.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <chrono>
#include <future>
#include <map>
#include <mutex>

#include "actors/worker.hpp"
#include "engine/job_config.hpp"
#include "engine/memory_estimate.hpp"
#include "engine/node_paths.hpp"
#include "engine/physical_memory.hpp"
#include "engine/workloads/workload_factory.hpp"
#include "engine/workloads/workload_registry.hpp"

namespace troupe {

namespace {

class node_training final : public training_host {
 public:
  node_training(std::string name, std::string data_dir)
      : name_(std::move(name)), data_dir_(std::move(data_dir)) {}

  hosted_spawn<worker_actor> prepare_worker(worker_request& req) override {
    hosted_spawn<worker_actor> out;
    job_config job;
    std::shared_ptr<const workload_data> data;
    try {
      job = local_job(req.job_toml, "worker request");
      if (req.partition >= job.workers || req.shards.size() != job.shards || !req.scheduler ||
          req.start_epoch >= job.epochs) {
        out.problem = {errc::bad_config, "worker " + std::to_string(req.worker) + " (partition " +
                                             std::to_string(req.partition) + ")" +
                                             " does not fit a job of " +
                                             std::to_string(job.workers) + " workers and " +
                                             std::to_string(job.shards) + " shards"};
        return out;
      }
      check_memory(job, estimate_job_memory(job).worker_node(),
                   "worker " + std::to_string(req.worker) + " on node " + name_,
                   physical_memory_bytes());
      data = job_data(job);
    } catch (const troupe_error& e) {
      out.problem = {e.code(), e.what()};
      return out;
    }
    worker_config cfg;
    cfg.id = req.worker;
    cfg.partition = req.partition;
    cfg.start_epoch = req.start_epoch;
    cfg.start_clock = req.start_clock;
    cfg.skip_batches = req.skip_batches;
    cfg.job = std::move(job);
    out.spawn = [cfg = std::move(cfg), data, shards = std::move(req.shards),
                 scheduler = std::move(req.scheduler)](caf::actor_system& sys,
                                                       host_context ctx) mutable {
      return spawn_worker(sys, std::move(cfg), data, std::move(shards), std::move(scheduler),
                          std::move(ctx));
    };
    return out;
  }

  std::vector<std::string> models() const override { return workload_kind_names(); }

  load_need needs_load(const std::string& job_toml) override {
    job_config job;
    try {
      job = local_job(job_toml, "worker request");
      // A job refused for its memory is refused by prepare_* before any
      // load, at once (preload() would refuse to load it, and the request
      // went back and forth between the node and its loaders).
      check_memory(job, estimate_job_memory(job).worker_node(), "a worker on node " + name_,
                   physical_memory_bytes());
    } catch (...) {
      return load_need::none;  // prepare_* refuses it, at once
    }
    if (brings_own_data(job.model_kind)) return load_need::none;
    const auto key = data_key(job);
    std::lock_guard<std::mutex> lock(mutex_);
    trim_locked(std::chrono::steady_clock::now());
    if (loading_.count(key)) return load_need::wait;
    if (pins_.count(key) || failures_.count(key)) return load_need::none;
    const auto it = cache_.find(key);
    return it == cache_.end() || it->second.expired() ? load_need::load : load_need::none;
  }

  void preload(const std::string& job_toml) override {
    job_config job;
    try {
      job = local_job(job_toml, "worker request");
    } catch (...) {
      return;  // needs_load() said none for it: not asked
    }
    const auto key = data_key(job);
    std::unique_lock<std::mutex> lock(mutex_);
    if (auto running = loading_.find(key); running != loading_.end()) {
      // Another request's loader is loading it: its result serves both.
      auto done = running->second;
      lock.unlock();
      done.wait();
      return;
    }
    // Loaded (and kept) since needs_load() asked for it: by a loader that
    // ended just before this one began.
    if (pins_.count(key) || failures_.count(key)) return;
    if (auto held = cache_.find(key); held != cache_.end() && !held->second.expired()) return;
    std::promise<void> finished;
    loading_[key] = finished.get_future().share();
    lock.unlock();
    std::shared_ptr<const workload_data> data;
    status problem;
    try {
      data = load_logged(job);
    } catch (const troupe_error& e) {
      problem = {e.code(), e.what()};
    } catch (const std::bad_alloc&) {
      problem = {errc::io_error, "out of memory while loading the job's data"};
    } catch (const std::exception& e) {
      problem = {errc::bad_config, e.what()};
    } catch (...) {  // a plugin's loader may throw anything
      problem = {errc::bad_config, "an unknown error while loading the job's data"};
    }
    lock.lock();
    const auto now = std::chrono::steady_clock::now();
    if (data) {
      cache_[key] = data;
      pins_[key] = {data, now};
    } else {
      failures_[key] = {problem, now};
    }
    loading_.erase(key);
    finished.set_value();
  }

  void trim() override {
    std::lock_guard<std::mutex> lock(mutex_);
    trim_locked(std::chrono::steady_clock::now());
  }

  hosted_spawn<stage_actor> prepare_stage(stage_request& req) override {
    hosted_spawn<stage_actor> out;
    out.what = "stage " + std::to_string(req.stage) + " of replica " + std::to_string(req.replica);
    job_config job;
    std::shared_ptr<const workload_data> data;
    try {
      job = local_job(req.job_toml, "stage request");
      if (job.stages < 2 || req.stages != job.stages || req.stage >= job.stages ||
          req.partition >= job.workers || req.shards.size() != job.shards || !req.scheduler ||
          req.start_epoch >= job.epochs) {
        out.problem = {errc::bad_config, out.what + " (of " + std::to_string(req.stages) +
                                             ", partition " + std::to_string(req.partition) +
                                             ") does not fit a job of " +
                                             std::to_string(job.workers) + " replicas of " +
                                             std::to_string(job.stages) + " stages and " +
                                             std::to_string(job.shards) + " shards"};
        return out;
      }
      // Later stages get their labels with the activations: no data to load.
      if (req.stage == 0) data = job_data(job);
    } catch (const troupe_error& e) {
      out.problem = {e.code(), e.what()};
      return out;
    }
    stage_config cfg;
    cfg.stage = req.stage;
    cfg.worker.id = req.replica;
    cfg.worker.partition = req.partition;
    cfg.worker.start_epoch = req.start_epoch;
    cfg.worker.start_clock = req.start_clock;
    cfg.worker.skip_batches = req.skip_batches;
    cfg.worker.job = std::move(job);
    out.spawn = [cfg = std::move(cfg), data, shards = std::move(req.shards),
                 scheduler = std::move(req.scheduler)](caf::actor_system& sys,
                                                       host_context ctx) mutable {
      return spawn_stage(sys, std::move(cfg), data, std::move(shards), std::move(scheduler),
                         std::move(ctx));
    };
    return out;
  }

 private:
  // The request's job as this node sees it (throws troupe_error).
  job_config local_job(const std::string& job_toml, const char* what) const {
    auto job = parse_job_config(job_toml, what);
    localise(job);
    return job;
  }

  // The job as this node sees it: relative data paths under its data_dir.
  void localise(job_config& job) const {
    if (data_dir_.empty()) return;
    job.data_dir = resolve_under(data_dir_, resolved_data_dir(job));
    for (auto* path :
         {&job.data.train, &job.data.test, &job.data.validation, &job.data.train_labels,
          &job.data.test_labels, &job.data.validation_labels}) {
      if (!path->empty()) *path = resolve_under(data_dir_, *path);
    }
  }

  static std::string data_key(const job_config& job) {
    return job.data_set + "|" + resolved_data_dir(job) + "|" + std::to_string(job.train_limit) +
           "|" + std::to_string(job.test_limit) + "|" + std::to_string(job.split_seed) + "|" +
           std::to_string(job.test_fraction) + "|" + std::to_string(job.min_count) + "|" +
           to_toml_lines(job.data) + "|" + job.model_kind + "|" + to_string(job.model.loss);
  }

  std::shared_ptr<const workload_data> load_logged(const job_config& job) const {
    auto data = load_workload_data(job);
    if (brings_own_data(job.model_kind)) {
      spdlog::info("node {}: model '{}' brings its own data", name_, job.model_kind);
    } else {
      spdlog::info("node {}: loaded {} ({} training rows)", name_,
                   job.data.from_files() ? job.data.train : job.data_set, data->train_rows());
    }
    return data;
  }

  // Workers and pipeline heads need the job's data on this node: loaded once
  // per data set and shared by all of the node's actors (read-only). Each
  // lives while a hosted actor uses it, so an idle node holds none. Throws
  // troupe_error when the data cannot be loaded. Usually preload() loaded it
  // just before, off the node's thread; this loads it only when that was
  // not asked for (a table node's own engine, too many loads at once).
  std::shared_ptr<const workload_data> job_data(const job_config& job) {
    const auto key = data_key(job);
    std::lock_guard<std::mutex> lock(mutex_);
    trim_locked(std::chrono::steady_clock::now());
    if (auto failed = failures_.find(key); failed != failures_.end()) {
      // The load preload() ran for this request failed: refused with its
      // error (loading again here would block the node for it once more).
      const auto problem = failed->second.problem;
      failures_.erase(failed);
      throw troupe_error(problem.code(), problem.message());
    }
    if (auto pinned = pins_.find(key); pinned != pins_.end()) {
      auto data = pinned->second.data;
      pins_.erase(pinned);  // the actor spawned from it holds it from now on
      return data;
    }
    if (auto data = cache_[key].lock()) return data;
    // Entries of data no job holds any more: a daemon runs job after job.
    for (auto it = cache_.begin(); it != cache_.end();) {
      it = it->second.expired() && it->first != key ? cache_.erase(it) : std::next(it);
    }
    std::shared_ptr<const workload_data> data;
    try {
      data = load_logged(job);
    } catch (...) {  // the node refuses the job with what was thrown
      cache_.erase(key);
      throw;
    }
    cache_[key] = data;
    return data;
  }

  // What preload() kept for a request that never came (refused before it
  // got to prepare_*) is let go: the request follows its load at once, and
  // a failure kept longer would be told to a later run of the fixed job.
  void trim_locked(std::chrono::steady_clock::time_point now) {
    constexpr auto keep = std::chrono::seconds(10);
    for (auto it = pins_.begin(); it != pins_.end();) {
      it = now - it->second.at > keep ? pins_.erase(it) : std::next(it);
    }
    for (auto it = failures_.begin(); it != failures_.end();) {
      it = now - it->second.at > keep ? failures_.erase(it) : std::next(it);
    }
  }

  std::string name_;
  std::string data_dir_;
  std::mutex mutex_;
  std::map<std::string, std::weak_ptr<const workload_data>> cache_;
  // preload()'s results for the requests that follow it: data held until an
  // actor takes it, or the error to refuse them with.
  struct pinned {
    std::shared_ptr<const workload_data> data;
    std::chrono::steady_clock::time_point at;
  };
  struct failed {
    status problem;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, pinned> pins_;
  std::map<std::string, failed> failures_;
  std::map<std::string, std::shared_future<void>> loading_;  // loads under way
};

}  // namespace

std::shared_ptr<training_host> make_training_host(std::string node_name, std::string data_dir) {
  return std::make_shared<node_training>(std::move(node_name), std::move(data_dir));
}

}  // namespace troupe
