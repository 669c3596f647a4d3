#include "engine/workloads/logreg_workload.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/data/batch_sampler.hpp"

namespace troupe {

std::vector<table_spec> logreg_tables(const logreg_workload_options& o) {
  table_spec weights;
  weights.id = o.weights_table;
  weights.name = "weights";
  weights.kind = table_kind::sparse;
  weights.width = 1;
  weights.row_init_bound = 0.0f;  // a convex model: start at zero
  weights.seed = o.seed;
  weights.optimizer = o.optimizer;
  table_spec bias;
  bias.id = o.bias_table;
  bias.name = "bias";
  bias.kind = table_kind::dense;
  bias.size = 1;
  bias.init = {{1, 0.0f}};
  bias.seed = o.seed;
  bias.optimizer = o.optimizer;
  return {weights, bias};
}

namespace {

constexpr std::size_t kWeights = 0, kBias = 1;

// log(1 + exp(x)) without overflow.
double softplus(double x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

class logreg_workload final : public workload {
 public:
  logreg_workload(const logreg_workload_options& o, std::shared_ptr<const sparse_dataset> train,
                  std::shared_ptr<const sparse_dataset> test, std::uint32_t part,
                  std::uint32_t parts, std::shared_ptr<const sparse_dataset> validation)
      : train_(std::move(train)),
        test_(std::move(test)),
        validation_(std::move(validation)),
        tables_(logreg_tables(o)) {
    if (train_) {
      sampler_ = std::make_unique<batch_sampler>(train_->rows, part, parts, o.batch, o.seed);
    }
  }

  const std::vector<table_spec>& tables() const override { return tables_; }

  void start_epoch(std::uint64_t epoch) override { sampler_->start_epoch(epoch); }

  std::size_t next_batch() override {
    batch_ = sampler_->next_indices();
    keys_.clear();
    for (auto r : batch_) {
      const auto row = train_->row(r);
      keys_.insert(keys_.end(), row.cols, row.cols + row.size);
    }
    finish_keys();
    return batch_.size();
  }

  step_result train_step() override {
    std::fill(grad_.begin(), grad_.end(), 0.0f);
    grad_bias_ = 0;
    step_result out;
    const double scale = batch_.empty() ? 0.0 : 1.0 / static_cast<double>(batch_.size());
    for (auto r : batch_) {
      const auto row = train_->row(r);
      const double z = logit(row);
      const int y = train_->labels[r];
      score(z, y, out);
      // d(mean loss)/dz = (sigmoid(z) - y) / batch
      const float g = static_cast<float>((1.0 / (1.0 + std::exp(-z)) - y) * scale);
      for (std::size_t k = 0; k < row.size; ++k) grad_[position(row.cols[k])] += g * row.values[k];
      grad_bias_ += g;
    }
    return out;
  }

  void prepare_eval() override {
    if (!test_) throw std::logic_error("no test set to evaluate on");
    keys_.assign(test_->cols.begin(), test_->cols.end());
    if (validation_) keys_.insert(keys_.end(), validation_->cols.begin(), validation_->cols.end());
    finish_keys();
  }

  step_result evaluate() override { return evaluate(*test_); }
  bool has_validation() const override { return validation_ != nullptr; }
  step_result evaluate_validation() override {
    if (!validation_) throw std::logic_error("no validation set to evaluate on");
    return evaluate(*validation_);
  }

  const std::vector<std::uint64_t>& sparse_keys(std::size_t t) const override {
    return t == kWeights ? keys_ : no_keys_;
  }
  void set_dense(std::size_t t, std::uint64_t offset, const float* values, std::size_t n) override {
    if (t != kBias || offset != 0 || n != 1) throw std::out_of_range("the bias is one value");
    bias_ = values[0];
  }
  void set_row(std::size_t t, std::size_t index, const float* values) override {
    if (t != kWeights || index >= weights_.size()) throw std::out_of_range("no such weight row");
    weights_[index] = values[0];
  }
  void dense_grad(std::size_t t, std::uint64_t offset, std::size_t n, float* out) override {
    if (t != kBias || offset != 0 || n != 1) throw std::out_of_range("the bias is one value");
    out[0] = grad_bias_;
  }
  const float* row_grad(std::size_t t, std::size_t index) const override {
    if (t != kWeights || index >= grad_.size()) throw std::out_of_range("no such weight row");
    return &grad_[index];
  }

 private:
  void finish_keys() {
    std::sort(keys_.begin(), keys_.end());
    keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
    weights_.assign(keys_.size(), 0.0f);
    grad_.assign(keys_.size(), 0.0f);
  }

  std::size_t position(std::uint32_t col) const {
    return static_cast<std::size_t>(std::lower_bound(keys_.begin(), keys_.end(), col) -
                                    keys_.begin());
  }

  double logit(const sparse_row& row) const {
    double z = bias_;
    for (std::size_t k = 0; k < row.size; ++k) z += weights_[position(row.cols[k])] * row.values[k];
    return z;
  }

  step_result evaluate(const sparse_dataset& d) const {
    step_result out;
    for (std::size_t r = 0; r < d.rows; ++r) score(logit(d.row(r)), d.labels[r], out);
    return out;
  }

  static void score(double z, int y, step_result& out) {
    out.loss_sum += y ? softplus(-z) : softplus(z);
    out.correct += (z >= 0) == (y == 1);
    ++out.rows;
  }

  std::shared_ptr<const sparse_dataset> train_, test_, validation_;
  std::vector<table_spec> tables_;
  std::unique_ptr<batch_sampler> sampler_;
  std::vector<std::size_t> batch_;
  std::vector<std::uint64_t> keys_, no_keys_;
  std::vector<float> weights_, grad_;
  float bias_ = 0, grad_bias_ = 0;
};

}  // namespace

std::unique_ptr<workload> make_logreg_workload(const logreg_workload_options& o,
                                               std::shared_ptr<const sparse_dataset> train,
                                               std::shared_ptr<const sparse_dataset> test,
                                               std::uint32_t part, std::uint32_t parts,
                                               std::shared_ptr<const sparse_dataset> validation) {
  return std::make_unique<logreg_workload>(o, std::move(train), std::move(test), part, parts,
                                           std::move(validation));
}

}  // namespace troupe
