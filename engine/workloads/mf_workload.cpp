#include "engine/workloads/mf_workload.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/data/batch_sampler.hpp"

namespace troupe {

std::vector<table_spec> mf_tables(const mf_workload_options& o) {
  auto sparse = [&](std::uint32_t id, const char* name, std::uint32_t width, float bound) {
    table_spec t;
    t.id = id;
    t.name = name;
    t.kind = table_kind::sparse;
    t.width = width;
    t.row_init_bound = bound;
    t.seed = o.seed + id;
    t.optimizer = o.optimizer;
    return t;
  };
  return {sparse(1, "user_embedding", o.dim, o.init_bound),
          sparse(2, "item_embedding", o.dim, o.init_bound), sparse(3, "user_bias", 1, 0.0f),
          sparse(4, "item_bias", 1, 0.0f)};
}

namespace {

enum : std::size_t { kUser = 0, kItem = 1, kUserBias = 2, kItemBias = 3 };

class mf_workload final : public workload {
 public:
  mf_workload(const mf_workload_options& o, std::shared_ptr<const ratings_dataset> train,
              std::shared_ptr<const ratings_dataset> test, float mean, std::uint32_t part,
              std::uint32_t parts, std::shared_ptr<const ratings_dataset> validation)
      : o_(o),
        train_(std::move(train)),
        test_(std::move(test)),
        validation_(std::move(validation)),
        mean_(mean),
        tables_(mf_tables(o)) {
    if (train_) {
      sampler_ = std::make_unique<batch_sampler>(train_->size(), part, parts, o.batch, o.seed);
    }
  }

  const std::vector<table_spec>& tables() const override { return tables_; }
  void start_epoch(std::uint64_t epoch) override { sampler_->start_epoch(epoch); }

  std::size_t next_batch() override {
    batch_ = sampler_->next_indices();
    keys_[kUser].clear();
    keys_[kItem].clear();
    for (auto r : batch_) {
      keys_[kUser].push_back(train_->users[r]);
      keys_[kItem].push_back(train_->items[r]);
    }
    finish_keys();
    return batch_.size();
  }

  step_result train_step() override {
    for (auto& g : grads_) std::fill(g.begin(), g.end(), 0.0f);
    step_result out;
    const float scale = batch_.empty() ? 0.f : 1.0f / static_cast<float>(batch_.size());
    const std::size_t d = o_.dim;
    for (auto r : batch_) {
      const std::size_t u = position(kUser, train_->users[r]);
      const std::size_t i = position(kItem, train_->items[r]);
      const float err = predict(u, i) - train_->ratings[r];
      out.loss_sum += static_cast<double>(err) * err;
      out.abs_err_sum += std::fabs(static_cast<double>(err));
      ++out.rows;
      const float g = 2.0f * err * scale;
      const float l2 = 2.0f * o_.l2 * scale;
      const float* p = &values_[kUser][u * d];
      const float* q = &values_[kItem][i * d];
      float* gp = &grads_[kUser][u * d];
      float* gq = &grads_[kItem][i * d];
      for (std::size_t k = 0; k < d; ++k) {
        gp[k] += g * q[k] + l2 * p[k];
        gq[k] += g * p[k] + l2 * q[k];
      }
      grads_[kUserBias][u] += g;
      grads_[kItemBias][i] += g;
    }
    return out;
  }

  void prepare_eval() override {
    if (!test_) throw std::logic_error("no test set to evaluate on");
    keys_[kUser] = test_->users;
    keys_[kItem] = test_->items;
    if (validation_) {
      keys_[kUser].insert(keys_[kUser].end(), validation_->users.begin(), validation_->users.end());
      keys_[kItem].insert(keys_[kItem].end(), validation_->items.begin(), validation_->items.end());
    }
    finish_keys();
  }

  step_result evaluate() override { return evaluate(*test_); }
  bool has_validation() const override { return validation_ != nullptr; }
  step_result evaluate_validation() override {
    if (!validation_) throw std::logic_error("no validation set to evaluate on");
    return evaluate(*validation_);
  }

  bool squared_error_loss() const override { return true; }

  const std::vector<std::uint64_t>& sparse_keys(std::size_t t) const override {
    return keys_[t == kUserBias ? kUser : t == kItemBias ? kItem : t];
  }
  void set_dense(std::size_t, std::uint64_t, const float*, std::size_t) override {
    throw std::logic_error("matrix factorisation has no dense table");
  }
  void set_row(std::size_t t, std::size_t index, const float* v) override {
    const std::size_t w = tables_[t].width;
    std::copy(v, v + w, values_[t].begin() + static_cast<long>(index * w));
  }
  void dense_grad(std::size_t, std::uint64_t, std::size_t, float*) override {
    throw std::logic_error("matrix factorisation has no dense table");
  }
  const float* row_grad(std::size_t t, std::size_t index) const override {
    return &grads_[t][index * tables_[t].width];
  }

 private:
  void finish_keys() {
    for (auto t : {kUser, kItem}) {
      auto& k = keys_[t];
      std::sort(k.begin(), k.end());
      k.erase(std::unique(k.begin(), k.end()), k.end());
    }
    for (std::size_t t = 0; t < 4; ++t) {
      const std::size_t n = sparse_keys(t).size() * tables_[t].width;
      values_[t].assign(n, 0.0f);
      grads_[t].assign(n, 0.0f);
    }
  }
  std::size_t position(std::size_t t, std::uint64_t key) const {
    const auto& k = keys_[t];
    return static_cast<std::size_t>(std::lower_bound(k.begin(), k.end(), key) - k.begin());
  }
  float predict(std::size_t u, std::size_t i) const {
    const std::size_t d = o_.dim;
    float dot = 0;
    for (std::size_t k = 0; k < d; ++k)
      dot += values_[kUser][u * d + k] * values_[kItem][i * d + k];
    return mean_ + values_[kUserBias][u] + values_[kItemBias][i] + dot;
  }

  step_result evaluate(const ratings_dataset& d) const {
    step_result out;
    for (std::size_t r = 0; r < d.size(); ++r) {
      const float err =
          predict(position(kUser, d.users[r]), position(kItem, d.items[r])) - d.ratings[r];
      out.loss_sum += static_cast<double>(err) * err;
      out.abs_err_sum += std::fabs(static_cast<double>(err));
      ++out.rows;
    }
    return out;
  }

  mf_workload_options o_;
  std::shared_ptr<const ratings_dataset> train_, test_, validation_;
  float mean_;
  std::vector<table_spec> tables_;
  std::unique_ptr<batch_sampler> sampler_;
  std::vector<std::size_t> batch_;
  std::vector<std::uint64_t> keys_[2];
  std::vector<float> values_[4], grads_[4];
};

}  // namespace

std::unique_ptr<workload> make_mf_workload(const mf_workload_options& o,
                                           std::shared_ptr<const ratings_dataset> train,
                                           std::shared_ptr<const ratings_dataset> test, float mean,
                                           std::uint32_t part, std::uint32_t parts,
                                           std::shared_ptr<const ratings_dataset> validation) {
  return std::make_unique<mf_workload>(o, std::move(train), std::move(test), mean, part, parts,
                                       std::move(validation));
}

}  // namespace troupe
