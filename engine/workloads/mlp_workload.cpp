#include "engine/workloads/mlp_workload.hpp"

#include <algorithm>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "engine/data/batch_sampler.hpp"

namespace troupe {

table_spec mlp_table(const mlp_workload_options& o) {
  table_spec t;
  t.id = o.table_id;
  t.name = "model";
  t.kind = table_kind::dense;
  t.size = mlp_num_params(o.model);
  t.init = mlp_init_segments(o.model);
  t.seed = o.seed;
  t.optimizer = o.optimizer;
  return t;
}

namespace {

class mlp_workload final : public workload {
 public:
  mlp_workload(const mlp_workload_options& o, std::shared_ptr<const dataset> train,
               std::shared_ptr<const dataset> test, std::uint32_t part, std::uint32_t parts,
               std::shared_ptr<const dataset> validation)
      : train_(std::move(train)),
        test_(std::move(test)),
        validation_(std::move(validation)),
        tables_{mlp_table(o)},
        regression_(is_regression(o.model.loss)) {
    // Evaluation runs in large chunks; training needs exactly one batch.
    backend_ = kernels::make_backend(train_ ? o.backend : kernels::backend_kind::cpu, 1);
    const std::size_t scored =
        std::max(test_ ? test_->rows : 0, validation_ ? validation_->rows : 0);
    net_ = std::make_unique<mlp>(
        o.model, *backend_, train_ ? static_cast<int>(o.batch) : mlp_eval_rows(o.model, scored));
    if (train_) {
      sampler_ = std::make_unique<batch_sampler>(train_->rows, part, parts, o.batch, o.seed);
    }
  }

  const std::vector<table_spec>& tables() const override { return tables_; }

  void start_epoch(std::uint64_t epoch) override {
    const std::lock_guard<std::mutex> lock(sampler_mutex_);
    staged_ready_ = false;  // the end of the last epoch (0 rows), if anything
    sampler_->start_epoch(epoch);
  }
  std::size_t next_batch() override {
    device_grads_.clear();  // bindings of a step that never ran point into dropped messages
    const std::lock_guard<std::mutex> lock(sampler_mutex_);
    if (staged_error_) {
      // A gather that failed on the stager's thread fails here, as it would
      // have had this thread gathered.
      std::rethrow_exception(std::exchange(staged_error_, nullptr));
    }
    if (staged_ready_) {
      // Swapped, not moved: both buffers keep their memory from step to step.
      std::swap(x_, staged_.x);
      std::swap(y_, staged_.y);
      std::swap(t_, staged_.t);
      staged_ready_ = false;
      return rows_ = staged_.rows;
    }
    return rows_ = gather(x_, y_, t_);
  }
  bool stage_next_batch() override {
    if (!sampler_) return false;
    const std::lock_guard<std::mutex> lock(sampler_mutex_);
    if (staged_ready_ || staged_error_) return true;  // one batch ahead at most
    try {
      staged_.rows = gather(staged_.x, staged_.y, staged_.t);
      staged_ready_ = true;
    } catch (...) {
      staged_error_ = std::current_exception();
    }
    return true;
  }
  step_result train_step() override {
    if (device_grads_.empty()) {
      auto r = net_->train_step(x_.data(), targets(y_.data(), t_.data()), static_cast<int>(rows_));
      return {r.loss_sum, static_cast<std::uint64_t>(r.correct), rows_, r.abs_err_sum};
    }
    // A device backend with gradients bound to push messages: each layer's
    // part of them leaves the device as soon as that layer's backward is
    // done, and all of it is in the messages once the step returns. The
    // bindings point into this step's messages: never kept past it.
    auto bound = std::move(device_grads_);
    device_grads_.clear();
    auto start_download = [&](std::uint64_t offset, std::uint64_t count) {
      for (const auto& g : bound) {
        const std::uint64_t lo = std::max(offset, g.offset);
        const std::uint64_t hi = std::min(offset + count, g.offset + g.n);
        if (lo >= hi) continue;
        backend_->download_async(net_->grads() + lo, hi - lo, g.out + (lo - g.offset));
      }
    };
    try {
      auto r = net_->train_step(x_.data(), targets(y_.data(), t_.data()), static_cast<int>(rows_),
                                start_download);
      backend_->finish_downloads();
      return {r.loss_sum, static_cast<std::uint64_t>(r.correct), rows_, r.abs_err_sum};
    } catch (...) {
      try {
        backend_->finish_downloads();  // nothing may land in a message later
      } catch (...) {
      }
      throw;
    }
  }

  void release_workspace() override {
    net_->release_workspace();
    x_ = {};
    y_ = {};
  }

  void prepare_eval() override {}
  step_result evaluate() override {
    if (!test_) throw std::logic_error("no test set to evaluate on");
    return score(*test_);
  }
  bool squared_error_loss() const override { return regression_; }
  bool has_validation() const override { return validation_ != nullptr; }
  step_result evaluate_validation() override {
    if (!validation_) throw std::logic_error("no validation set to evaluate on");
    return score(*validation_);
  }

  const std::vector<std::uint64_t>& sparse_keys(std::size_t) const override { return no_keys_; }
  void set_dense(std::size_t, std::uint64_t offset, const float* values, std::size_t n) override {
    backend_->upload(values, n, net_->params() + offset);
  }
  void view_dense(std::size_t t, std::uint64_t offset, const float* values,
                  std::size_t n) override {
    if (!backend_->host_memory()) return set_dense(t, offset, values, n);
    net_->views().add_values(offset, n, values);
  }
  bool bind_dense_grad(std::size_t, std::uint64_t offset, float* out, std::size_t n) override {
    if (!backend_->host_memory()) {
      if (offset + n > net_->size()) return false;
      device_grads_.push_back({offset, out, n});
      return true;
    }
    net_->views().add_grads(offset, n, out);
    return true;
  }
  void set_row(std::size_t, std::size_t, const float*) override {
    throw std::logic_error("the MLP has no sparse table");
  }
  void dense_grad(std::size_t, std::uint64_t offset, std::size_t n, float* out) override {
    backend_->download(net_->grads() + offset, n, out);
  }
  const float* row_grad(std::size_t, std::size_t) const override {
    throw std::logic_error("the MLP has no sparse table");
  }

 private:
  // The next batch of the epoch into x and y (or t, the targets of a
  // regression); its rows, 0 at the epoch's end. Holds sampler_mutex_.
  std::size_t gather(std::vector<float>& x, std::vector<std::int32_t>& y, std::vector<float>& t) {
    if (!regression_) return sampler_->next(*train_, x, y);
    const auto& rows = sampler_->next_indices();
    x.resize(rows.size() * train_->cols);
    t.resize(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      std::copy_n(train_->row(rows[i]), train_->cols, x.data() + i * train_->cols);
      t[i] = train_->targets[rows[i]];
    }
    return rows.size();
  }

  batch_targets targets(const std::int32_t* labels, const float* values) const {
    return regression_ ? batch_targets{nullptr, values} : batch_targets{labels, nullptr};
  }
  step_result score(const dataset& d) {
    auto r = net_->evaluate(d.features.data(), targets(d.labels.data(), d.targets.data()), d.rows);
    return {r.loss_sum, static_cast<std::uint64_t>(r.correct), d.rows, r.abs_err_sum};
  }

  std::shared_ptr<const dataset> train_, test_, validation_;
  std::vector<table_spec> tables_;
  bool regression_;
  std::unique_ptr<kernels::backend> backend_;
  std::unique_ptr<mlp> net_;
  std::unique_ptr<batch_sampler> sampler_;
  // A batch gathered ahead (stage_next_batch), perhaps on another thread:
  // the sampler and the staged batch are shared with it, the loaded batch
  // (x_, y_, t_) is not.
  struct staged_batch {
    std::vector<float> x;
    std::vector<std::int32_t> y;
    std::vector<float> t;
    std::size_t rows = 0;
  };
  std::mutex sampler_mutex_;
  staged_batch staged_;
  bool staged_ready_ = false;
  std::exception_ptr staged_error_;  // a stage that failed, for the next next_batch()
  std::vector<float> x_;
  std::vector<std::int32_t> y_;
  std::vector<float> t_;
  std::size_t rows_ = 0;
  std::vector<std::uint64_t> no_keys_;
  struct bound_grad {
    std::uint64_t offset;
    float* out;
    std::size_t n;
  };
  std::vector<bound_grad> device_grads_;  // device backend: where the next step's gradients go
};

}  // namespace

std::unique_ptr<workload> make_mlp_workload(const mlp_workload_options& o,
                                            std::shared_ptr<const dataset> train,
                                            std::shared_ptr<const dataset> test, std::uint32_t part,
                                            std::uint32_t parts,
                                            std::shared_ptr<const dataset> validation) {
  return std::make_unique<mlp_workload>(o, std::move(train), std::move(test), part, parts,
                                        std::move(validation));
}

}  // namespace troupe
