#pragma once
// A model of your own, trained by Troupe's engine exactly like the built-in
// ones: its tables live on the parameter shards, workers run its steps
// under the job's staleness bound, and checkpoints, failover, evaluation and
// the summary work unchanged. You write the model; the engine moves values.
//
//   class my_model : public troupe::custom_workload { ... };          // below
//   troupe::register_workload("my_model", [](const troupe::workload_context& ctx) {
//     return std::make_unique<my_model>(ctx);
//   });
//   // job.toml: [model] kind = "my_model"
//   auto s = troupe::train(troupe::job_spec::file("job.toml").set("train.staleness", "inf"));
//
// One step, as the engine drives it (each worker has its own instance):
//
//   next_batch(need)  -> you load a batch and say which sparse rows it needs
//   [the engine pulls those rows and every dense table from the shards]
//   step(params, grads) -> you read the values (read-only views), compute the
//                          loss and write gradients of the mean loss into the
//                          engine's buffers (zeroed before each step)
//   [the engine pushes the gradients; the shards apply the tables' optimizers]
//
// Views are valid only during the call they are passed to. The evaluator has
// an instance of its own (context.evaluation) on which only prepare_eval()
// and evaluate() are called, with every value the held-out set needs.
//
// Threads: each instance is used by one thread at a time, but different
// instances run concurrently: share read-only data between them freely.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "troupe/engine.hpp"
#include "troupe/result.hpp"
#include "troupe/table.hpp"

namespace troupe {

/// A run of `size()` floats the engine owns: a table's values (read-only)
/// or a gradient buffer (writable). Not owning; valid during one call.
template <class T>
class span {
 public:
  span() = default;
  span(T* data, std::size_t size) : data_(data), size_(size) {}
  T* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](std::size_t i) const { return data_[i]; }
  T* begin() const { return data_; }
  T* end() const { return data_ + size_; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

/// What an instance knows about where it runs and what the job says.
struct workload_context {
  std::uint32_t part = 0;       ///< this worker's share of the data: part `part` of `parts`
  std::uint32_t parts = 1;      ///< [train] workers
  bool evaluation = false;      ///< the evaluator's instance (scores held-out data)
  std::uint32_t batch = 64;     ///< [train] batch
  std::uint64_t seed = 42;      ///< [job] seed
  optimizer_options optimizer;  ///< [train] optimizer, learning_rate, ... for your tables
  /// The job file's [params] table: your model's own settings, each value as
  /// its TOML text ("0.5", "\"file.csv\"" unquoted to file.csv, "[1, 2]").
  std::map<std::string, std::string> params;

  // Defined here, not in a library: a workload plugin (below) needs no
  // Troupe library at all.
  /// params[key] as a number, or `fallback` when absent; throws
  /// std::invalid_argument when it is not a number.
  double number(const std::string& key, double fallback) const {
    const auto it = params.find(key);
    if (it == params.end()) return fallback;
    std::size_t pos = 0;
    double v = 0;
    try {
      v = std::stod(it->second, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (pos == 0 || pos != it->second.size()) {
      // As the job file wrote it (a string keeps its quotes: 'abc').
      throw std::invalid_argument("params." + key + " = " + it->second + " is not a number");
    }
    return v;
  }
  /// params[key] (a TOML string without its quotes), or `fallback` when absent.
  std::string text(const std::string& key, const std::string& fallback) const {
    const auto it = params.find(key);
    if (it == params.end()) return fallback;
    const auto& t = it->second;
    const bool quoted =
        t.size() >= 2 && (t.front() == '"' || t.front() == '\'') && t.back() == t.front();
    return quoted ? t.substr(1, t.size() - 2) : t;
  }
};

/// Sparse rows a batch (or an evaluation) needs, per table; duplicates are fine.
class row_request {
 public:
  ///   need.add(0, user_id);           // table 0 is the first of tables()
  void add(std::size_t table, std::uint64_t id) { ids_[table].push_back(id); }
  void add(std::size_t table, const std::vector<std::uint64_t>& ids) {
    auto& v = ids_[table];
    v.insert(v.end(), ids.begin(), ids.end());
  }
  const std::map<std::size_t, std::vector<std::uint64_t>>& ids() const { return ids_; }
  void clear() { ids_.clear(); }

 private:
  std::map<std::size_t, std::vector<std::uint64_t>> ids_;
};

/// The parameter values of a step: every dense table whole, and the sparse
/// rows the batch asked for.
class param_view {
 public:
  virtual ~param_view() = default;
  ///   troupe::span<const float> w = params.dense(0);
  virtual span<const float> dense(std::size_t table) const = 0;
  /// Row `id` of sparse table `table`; throws std::out_of_range for a row
  /// the batch did not ask for.
  virtual span<const float> row(std::size_t table, std::uint64_t id) const = 0;
};

/// Where a step writes the gradients of its mean loss (zeroed before it).
class grad_buffers {
 public:
  virtual ~grad_buffers() = default;
  virtual span<float> dense(std::size_t table) = 0;
  /// Gradient row of `id` (one the batch asked for; else std::out_of_range).
  virtual span<float> row(std::size_t table, std::uint64_t id) = 0;
};

/// Sums over the rows of a step or an evaluation; the engine divides. A
/// classifier fills loss_sum (its log-loss) and correct; a regression
/// (regression() true) fills loss_sum with squared errors and abs_err_sum.
struct step_stats {
  double loss_sum = 0;
  std::uint64_t correct = 0;
  std::uint64_t rows = 0;
  double abs_err_sum = 0;
};

class custom_workload {
 public:
  virtual ~custom_workload() = default;

  /// The model's tables, in a fixed order (the `table` index of the views);
  /// every instance must return the same. Dense tables are read whole each
  /// step; sparse ones by the rows a batch asks for.
  virtual std::vector<table> tables() const = 0;
  /// True for a regression (metrics RMSE and MAE instead of accuracy and
  /// log-loss).
  virtual bool regression() const { return false; }

  /// Training: the worker's partition, epoch by epoch.
  virtual void start_epoch(std::uint64_t epoch) = 0;
  /// Loads the next batch and adds the sparse rows it needs to `need`;
  /// returns its number of rows, 0 when the epoch is over.
  virtual std::size_t next_batch(row_request& need) = 0;
  /// Forward and backward on the loaded batch.
  virtual step_stats step(const param_view& params, grad_buffers& grads) = 0;

  /// Evaluation: the rows the held-out set needs (called once), then a
  /// score of the current parameters (called for every evaluation).
  virtual void prepare_eval(row_request& need) { (void)need; }
  virtual step_stats evaluate(const param_view& params) = 0;
};

using workload_factory = std::function<std::unique_ptr<custom_workload>(const workload_context&)>;

/// Makes `name` a `[model] kind` of job files in this process. Errors:
/// bad_argument for an empty name, a missing factory or a taken name (mlp,
/// logreg, mf and skipgram are the built-in ones).
///   auto r = troupe::register_workload("linear", make_linear);
///   if (!r) std::cerr << r.error().to_string() << "\n";
result<void> register_workload(const std::string& name, workload_factory factory);

/// Workload plugins: so that node daemons (which run only what is
/// registered in their own process) host your model too, build it as a
/// shared library that defines, with C linkage,
///   extern "C" void troupe_register_workloads(troupe::plugin_host& host) {
///     host.add("linear", [](const troupe::workload_context& c) {
///       return std::make_unique<linear>(c);
///     });
///   }
/// and start every process of the job with it: `troupe --plugin
/// ./liblinear.so node ...` on the nodes, `troupe --plugin ./liblinear.so
/// train job.toml` (or load_workload_plugin in your own program). The
/// plugin needs these headers only, and the compiler and C++ library the
/// troupe binary was built with (the classes cross the boundary).
///
/// A plugin built against other headers than the loading binary's (another
/// Troupe version, another C++ library) is refused at load with both
/// versions named: its classes would not match the host's, and the first
/// call across would crash the process, a node daemon with every job on it.
class plugin_host {
 public:
  /// These headers' version of the plugin interface: raised whenever a class
  /// here changes in a way a plugin built before could not follow.
  static constexpr std::uint32_t interface_version = 1;
  /// Sizes of the classes crossing the boundary, as this compiler lays them
  /// out: another C++ library or a hand-edited header differs here.
  static constexpr std::uint64_t layout() {
    std::uint64_t h = 1469598103934665603ull;
    for (const std::uint64_t s :
         {sizeof(workload_context), sizeof(step_stats), sizeof(table), sizeof(std::string),
          sizeof(workload_factory), sizeof(api_error), sizeof(result<void>),
          sizeof(std::vector<table>), alignof(std::max_align_t)}) {
      h = (h ^ s) * 1099511628211ull;
    }
    return h;
  }

  virtual ~plugin_host() = default;
  /// register_workload in the loading process. Inline, so that the check
  /// compares the plugin's view of the interface with the host's.
  result<void> add(const std::string& name, workload_factory factory) {
    return add_checked(interface_version, layout(), name, std::move(factory));
  }

 protected:
  virtual result<void> add_checked(std::uint32_t version, std::uint64_t layout,
                                   const std::string& name, workload_factory factory) = 0;
};

/// Loads a workload plugin into this process and registers its kinds; the
/// library stays loaded for the life of the process. Errors: bad_argument
/// (a file that cannot be loaded, no troupe_register_workloads in it, a kind
/// it adds that is taken, an exception it throws), with the reason.
///   auto r = troupe::load_workload_plugin("./liblinear.so");
result<void> load_workload_plugin(const std::string& path);

/// A job to train: a job file or TOML text, plus overrides of any key by its
/// dotted path (checked like the file).
///   auto j = troupe::job_spec::file("job.toml").set("train.staleness", "0");
class job_spec {
 public:
  static job_spec file(std::string path);
  static job_spec toml(std::string text);
  job_spec& set(std::string key, std::string value);

  const std::string& path() const { return path_; }
  const std::string& text() const { return text_; }
  const std::vector<std::pair<std::string, std::string>>& overrides() const { return sets_; }

 private:
  std::string path_, text_;
  std::vector<std::pair<std::string, std::string>> sets_;
};

/// Runs the job to its end in this process (scheduler, shards, workers,
/// evaluator) and returns its summary. Errors: bad_argument for a bad job
/// (the message names the key), internal for missing data or a failed run.
///   auto s = troupe::train(troupe::job_spec::toml(text));
///   if (s) std::cout << s->line << "\n";
result<train_summary> train(const job_spec& job);

}  // namespace troupe
