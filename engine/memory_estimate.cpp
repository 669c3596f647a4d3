#include "engine/memory_estimate.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "engine/errors.hpp"
#include "engine/model/model.hpp"
#include "engine/store/optimizer.hpp"
#include "engine/store/table.hpp"
#include "engine/workloads/workload_factory.hpp"

namespace troupe {

namespace {

constexpr std::uint64_t float_bytes = 4;

// The rows of sparse tables one training example touches, roughly.
std::uint64_t sparse_rows_per_example(const job_config& job) {
  if (job.model_kind == "logreg") return 300;  // a mail's distinct words, generously
  if (job.model_kind == "mf") return 4;        // user and item rows and biases
  // skipgram: each context within the window, plus the negatives of each.
  return std::uint64_t{2} * job.window * (2 + job.negatives);
}

std::uint64_t data_bytes(const job_config& job, const workload_data* data) {
  if (data != nullptr) {
    // What was loaded: a user's 36 MB file counted as nothing.
    std::uint64_t total = 0;
    for (const auto* d :
         {data->dense_train.get(), data->dense_test.get(), data->dense_validation.get()}) {
      if (d == nullptr) continue;
      total += d->features.size() * float_bytes + d->labels.size() * 4 + d->targets.size() * 4;
    }
    for (const auto* d :
         {data->sparse_train.get(), data->sparse_test.get(), data->sparse_validation.get()}) {
      if (d == nullptr) continue;
      total += d->row_ptr.size() * 8 + d->cols.size() * 4 + d->values.size() * float_bytes +
               d->labels.size() * 4;
    }
    for (const auto* d :
         {data->ratings_train.get(), data->ratings_test.get(), data->ratings_validation.get()}) {
      if (d != nullptr) total += d->size() * (8 + 8 + float_bytes);
    }
    return total;
  }
  if (job.data_set != "fashion-mnist") return 0;  // small corpora; not counted
  const std::uint64_t train =
      job.train_limit ? std::min<std::uint64_t>(job.train_limit, 60000) : 60000;
  const std::uint64_t test =
      job.test_limit ? std::min<std::uint64_t>(job.test_limit, 10000) : 10000;
  return (train + test) * (784 * float_bytes + 4);
}

std::uint64_t table_bytes(const job_config& job) {
  std::uint64_t total = 0;
  for (const auto& t : workload_tables(job)) {
    if (t.kind == table_kind::dense) {
      total += t.size * dense_key_bytes(t.optimizer);
    } else if (t.max_rows > 0) {
      total += t.max_rows * job.shards * sparse_row_bytes(t);
    }
  }
  return total;
}

}  // namespace

memory_estimate estimate_job_memory(const job_config& job, const workload_data* data) {
  memory_estimate est;
  est.workers = job.workers;
  est.copies = std::max<std::uint32_t>(
      1, job.replication ? job.replication : (job.nodes.size() >= 2 ? 2u : 1u));
  est.data = data_bytes(job, data);
  est.tables = table_bytes(job);
  if (job.keep_best) est.held = est.tables * est.copies;  // backups hold it too
  if (job.model_kind == "mlp") {
    const auto params = static_cast<std::uint64_t>(mlp_num_params(job.model));
    const auto per_row = mlp_floats_per_row(job.model.sizes);
    // Parameters and gradients, plus a pull reply and a push message in flight.
    est.per_worker_idle = 4 * params * float_bytes;
    est.per_worker = est.per_worker_idle + std::uint64_t{job.batch} * per_row * float_bytes;
    // The next batch, gathered ahead where a thread is to spare.
    if (job.stage_batches && !job.model.sizes.empty()) {
      est.per_worker +=
          std::uint64_t{job.batch} * static_cast<std::uint64_t>(job.model.sizes[0]) * float_bytes;
    }
    // Its chunk of rows as the evaluator sizes it (engine/model).
    std::size_t scored = 1000;
    if (data != nullptr && data->dense_test) {
      scored = std::max(data->dense_test->rows,
                        data->dense_validation ? data->dense_validation->rows : 0);
    }
    est.evaluator =
        (4 * params + std::uint64_t(mlp_eval_rows(job.model, scored)) * per_row) * float_bytes;
  } else {
    std::uint64_t width = 1;
    std::uint64_t dense = 0;  // floats of the model's dense tables
    for (const auto& t : workload_tables(job)) {
      width = std::max<std::uint64_t>(width, t.width);
      if (t.kind == table_kind::dense) dense += t.size;
    }
    // Each worker holds every dense table whole, with its gradients, plus a
    // pull reply and a push in flight (a custom model's 8 GiB table passed
    // the check uncounted, and the machine thrashed); pulled rows, their
    // gradients and the keys of one batch come on top.
    est.per_worker_idle = 4 * dense * float_bytes;
    est.per_worker = est.per_worker_idle + std::uint64_t{job.batch} * sparse_rows_per_example(job) *
                                               (2 * width + 2) * float_bytes;
    est.evaluator = est.per_worker - 2 * dense * float_bytes;
  }
  // The compute pool (actors/compute_pool.hpp) lets only so many workers of
  // one process hold a step's buffers at once.
  est.busy_workers = static_cast<std::uint32_t>(
      std::min<std::size_t>(job.workers, compute_slots(job, actor_threads(job.threads))));
  return est;
}

std::uint64_t memory_estimate::all_workers() const {
  return std::uint64_t{busy_workers} * per_worker +
         std::uint64_t{workers - std::min(workers, busy_workers)} * per_worker_idle;
}

std::uint64_t memory_estimate::in_process() const {
  return all_workers() + data + tables * copies + held + evaluator;
}

std::string memory_estimate::describe() const {
  std::ostringstream out;
  out << "workers " << workers << " x " << format_bytes(per_worker);
  if (busy_workers < workers) out << " (" << busy_workers << " at once)";
  out << ", data " << format_bytes(data) << ", tables " << format_bytes(tables);
  if (copies > 1) out << " x " << copies << " copies";
  if (held > 0) out << " + " << format_bytes(held) << " held for keep_best";
  out << ", evaluator " << format_bytes(evaluator);
  return out.str();
}

void check_memory(const job_config& job, std::uint64_t need, const std::string& what,
                  std::uint64_t ram, const memory_estimate* estimate) {
  if (ram == 0) return;
  const auto allowed = static_cast<std::uint64_t>(job.memory_share * static_cast<double>(ram));
  if (need <= allowed) return;
  const auto est = estimate ? *estimate : estimate_job_memory(job);
  // The advice follows the part that takes most: "lower the batch" was all
  // it said of a data file or a model too large.
  const std::uint64_t parts[] = {est.all_workers(), est.data, est.tables * est.copies + est.held,
                                 est.evaluator};
  const char* advice[] = {
      "lower the batch or the workers per node",
      "the data takes most of it: train on fewer rows (train_limit) or a smaller file",
      "the model's tables take most of it: a smaller model, or bound its sparse tables",
      "the evaluation of the model takes most of it: a smaller model"};
  const auto top = static_cast<std::size_t>(std::max_element(std::begin(parts), std::end(parts)) -
                                            std::begin(parts));
  std::ostringstream msg;
  msg << what << " needs about " << format_bytes(need) << " of memory (" << est.describe()
      << "; batch " << job.batch << "), more than limits.memory_share = " << job.memory_share
      << " of this machine's " << format_bytes(ram) << " (" << format_bytes(allowed)
      << "): " << advice[top] << ", or raise limits.memory_share";
  throw troupe_error(errc::bad_config, msg.str());
}

std::string format_bytes(std::uint64_t bytes) {
  char buf[32];
  if (bytes >= (1ull << 30)) {
    std::snprintf(buf, sizeof(buf), "%.1f GB", static_cast<double>(bytes) / (1ull << 30));
  } else if (bytes >= (1ull << 20)) {
    std::snprintf(buf, sizeof(buf), "%.0f MB", static_cast<double>(bytes) / (1ull << 20));
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f KB", static_cast<double>(bytes) / 1024.0);
  }
  return buf;
}

}  // namespace troupe
