#include "engine/workloads/mlp_workload.hpp"

#include <stdexcept>

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
               std::shared_ptr<const dataset> test, std::uint32_t part, std::uint32_t parts)
      : train_(std::move(train)), test_(std::move(test)), tables_{mlp_table(o)} {
    // Evaluation runs in large chunks; training needs exactly one batch.
    backend_ = kernels::make_backend(train_ ? o.backend : kernels::backend_kind::cpu, 1);
    net_ = std::make_unique<mlp>(o.model, *backend_, static_cast<int>(train_ ? o.batch : 1000));
    if (train_) {
      sampler_ = std::make_unique<batch_sampler>(train_->rows, part, parts, o.batch, o.seed);
    }
  }

  const std::vector<table_spec>& tables() const override { return tables_; }

  void start_epoch(std::uint64_t epoch) override { sampler_->start_epoch(epoch); }
  std::size_t next_batch() override { return rows_ = sampler_->next(*train_, x_, y_); }
  step_result train_step() override {
    auto r = net_->train_step(x_.data(), y_.data(), static_cast<int>(rows_));
    return {r.loss_sum, static_cast<std::uint64_t>(r.correct), rows_};
  }

  void release_workspace() override {
    net_->release_workspace();
    x_ = {};
    y_ = {};
  }

  void prepare_eval() override {}
  step_result evaluate() override {
    if (!test_) throw std::logic_error("no test set to evaluate on");
    auto r = net_->evaluate(test_->features.data(), test_->labels.data(), test_->rows);
    return {r.loss_sum, static_cast<std::uint64_t>(r.correct), test_->rows};
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
    if (!backend_->host_memory()) return false;
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
  std::shared_ptr<const dataset> train_, test_;
  std::vector<table_spec> tables_;
  std::unique_ptr<kernels::backend> backend_;
  std::unique_ptr<mlp> net_;
  std::unique_ptr<batch_sampler> sampler_;
  std::vector<float> x_;
  std::vector<std::int32_t> y_;
  std::size_t rows_ = 0;
  std::vector<std::uint64_t> no_keys_;
};

}  // namespace

std::unique_ptr<workload> make_mlp_workload(const mlp_workload_options& o,
                                            std::shared_ptr<const dataset> train,
                                            std::shared_ptr<const dataset> test, std::uint32_t part,
                                            std::uint32_t parts) {
  return std::make_unique<mlp_workload>(o, std::move(train), std::move(test), part, parts);
}

}  // namespace troupe
