#include "actors/custom_workload_adapter.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "engine/errors.hpp"

namespace troupe {

namespace {

// Values (or gradients) of every table: dense ones whole, sparse ones by the
// rows of the current batch (keys sorted and unique).
struct table_buffers {
  std::string kind;  // the workload's registered name, for messages
  std::vector<table_spec> specs;
  std::vector<std::vector<std::uint64_t>> keys;  // sparse tables only
  std::vector<std::vector<float>> values, grads;

  std::size_t index_of(std::size_t t, std::uint64_t id, const char* what) const {
    check(t, table_kind::sparse, what);
    const auto& k = keys[t];
    const auto it = std::lower_bound(k.begin(), k.end(), id);
    if (it == k.end() || *it != id) {
      throw std::out_of_range(where(what) + ": row " + std::to_string(id) + " of table '" +
                              specs[t].name + "' was not asked for by the batch");
    }
    return static_cast<std::size_t>(it - k.begin());
  }

  void check(std::size_t t, table_kind kind, const char* what) const {
    if (t >= specs.size()) {
      throw std::out_of_range(where(what) + ": table " + std::to_string(t) + " of " +
                              std::to_string(specs.size()));
    }
    if (specs[t].kind != kind) {
      throw std::out_of_range(where(what) + ": table '" + specs[t].name + "' is " +
                              (specs[t].kind == table_kind::dense ? "dense" : "sparse"));
    }
  }

  // "workload 'NAME': what": a job may run several kinds (and a daemon
  // several jobs), so each message says whose call it was.
  std::string where(const char* what) const { return "workload '" + kind + "': " + what; }
};

class values_view final : public param_view {
 public:
  explicit values_view(const table_buffers& b) : b_(b) {}
  span<const float> dense(std::size_t t) const override {
    b_.check(t, table_kind::dense, "params.dense");
    return {b_.values[t].data(), b_.values[t].size()};
  }
  span<const float> row(std::size_t t, std::uint64_t id) const override {
    const std::size_t w = b_.specs[t < b_.specs.size() ? t : 0].width;
    const auto i = b_.index_of(t, id, "params.row");
    return {b_.values[t].data() + i * w, w};
  }

 private:
  const table_buffers& b_;
};

class grads_view final : public grad_buffers {
 public:
  explicit grads_view(table_buffers& b) : b_(b) {}
  span<float> dense(std::size_t t) override {
    b_.check(t, table_kind::dense, "grads.dense");
    return {b_.grads[t].data(), b_.grads[t].size()};
  }
  span<float> row(std::size_t t, std::uint64_t id) override {
    const std::size_t w = b_.specs[t < b_.specs.size() ? t : 0].width;
    const auto i = b_.index_of(t, id, "grads.row");
    return {b_.grads[t].data() + i * w, w};
  }

 private:
  table_buffers& b_;
};

class adapter final : public workload {
 public:
  adapter(std::unique_ptr<custom_workload> w, std::vector<table_spec> specs, std::string kind)
      : w_(std::move(w)), regression_(w_->regression()), params_(b_), grads_(b_) {
    b_.kind = std::move(kind);
    b_.specs = std::move(specs);
    const auto n = b_.specs.size();
    b_.keys.resize(n);
    b_.values.resize(n);
    b_.grads.resize(n);
    for (std::size_t t = 0; t < n; ++t) {
      if (b_.specs[t].kind == table_kind::dense) {
        b_.values[t].assign(b_.specs[t].size, 0.f);
        b_.grads[t].assign(b_.specs[t].size, 0.f);
      }
    }
  }

  const std::vector<table_spec>& tables() const override { return b_.specs; }
  void start_epoch(std::uint64_t epoch) override { w_->start_epoch(epoch); }

  std::size_t next_batch() override {
    need_.clear();
    const auto rows = w_->next_batch(need_);
    take_keys();
    batch_rows_ = rows;
    return rows;
  }

  step_result train_step() override {
    for (auto& g : b_.grads) std::fill(g.begin(), g.end(), 0.f);
    return checked("step", w_->step(params_, grads_), batch_rows_, b_);
  }

  void prepare_eval() override {
    need_.clear();
    w_->prepare_eval(need_);
    take_keys();
  }
  step_result evaluate() override {
    const auto r = checked("evaluate", w_->evaluate(params_), 0, b_);
    // No rows scored would report a perfect score.
    if (r.rows == 0) {
      throw troupe_error(errc::bad_config,
                         b_.where("evaluate()") + " scored no rows (step_stats::rows = 0)");
    }
    return r;
  }
  bool squared_error_loss() const override { return regression_; }

  const std::vector<std::uint64_t>& sparse_keys(std::size_t t) const override {
    return b_.keys.at(t);
  }
  void set_dense(std::size_t t, std::uint64_t offset, const float* values, std::size_t n) override {
    auto& v = b_.values.at(t);
    if (offset > v.size() || n > v.size() - offset) throw std::out_of_range("dense range");
    std::memcpy(v.data() + offset, values, n * sizeof(float));
  }
  void set_row(std::size_t t, std::size_t index, const float* values) override {
    const std::size_t w = b_.specs.at(t).width;
    auto& v = b_.values[t];
    if ((index + 1) * w > v.size()) throw std::out_of_range("sparse row index");
    std::memcpy(v.data() + index * w, values, w * sizeof(float));
  }
  void dense_grad(std::size_t t, std::uint64_t offset, std::size_t n, float* out) override {
    const auto& g = b_.grads.at(t);
    if (offset > g.size() || n > g.size() - offset) throw std::out_of_range("dense range");
    std::memcpy(out, g.data() + offset, n * sizeof(float));
  }
  const float* row_grad(std::size_t t, std::size_t index) const override {
    return b_.grads.at(t).data() + index * b_.specs.at(t).width;
  }

 private:
  // The batch's requested rows as sorted, unique keys, with room for their
  // values and gradients.
  void take_keys() {
    for (std::size_t t = 0; t < b_.specs.size(); ++t) {
      if (b_.specs[t].kind == table_kind::sparse) b_.keys[t].clear();
    }
    for (const auto& [t, ids] : need_.ids()) {
      b_.check(t, table_kind::sparse, "row_request");
      b_.keys[t].insert(b_.keys[t].end(), ids.begin(), ids.end());
    }
    for (std::size_t t = 0; t < b_.specs.size(); ++t) {
      if (b_.specs[t].kind != table_kind::sparse) continue;
      auto& k = b_.keys[t];
      std::sort(k.begin(), k.end());
      k.erase(std::unique(k.begin(), k.end()), k.end());
      b_.values[t].assign(k.size() * b_.specs[t].width, 0.f);
      b_.grads[t].assign(k.size() * b_.specs[t].width, 0.f);
    }
  }

  // Its statistics go into the reported loss, accuracy and samples/s: a
  // NaN, more correct rows than rows, or more rows than the batch would be
  // reported as results. `batch`: the rows next_batch() said (0: unknown).
  static step_result checked(const char* what, const step_stats& s, std::size_t batch,
                             const table_buffers& b) {
    std::string why;
    if (!std::isfinite(s.loss_sum) || !std::isfinite(s.abs_err_sum) || s.abs_err_sum < 0) {
      why = "loss_sum " + std::to_string(s.loss_sum) + ", abs_err_sum " +
            std::to_string(s.abs_err_sum) + " (finite, abs_err_sum >= 0)";
    } else if (s.correct > s.rows) {
      why = std::to_string(s.correct) + " correct of " + std::to_string(s.rows) + " rows";
    } else if (batch > 0 && s.rows > batch) {
      why = std::to_string(s.rows) + " rows of a batch of " + std::to_string(batch);
    } else if (batch > 0 && s.rows == 0) {
      // It trained as if on nothing: a loss of 0 and 0 samples/s, silently.
      why = "0 rows of a batch of " + std::to_string(batch) +
            " (step_stats::rows: the rows it "
            "trained on)";
    }
    if (!why.empty()) {
      throw troupe_error(errc::bad_config, b.where(what) + "() returned " + why);
    }
    return {s.loss_sum, s.correct, s.rows, s.abs_err_sum};
  }

  std::unique_ptr<custom_workload> w_;
  bool regression_;
  table_buffers b_;
  values_view params_;
  grads_view grads_;
  row_request need_;
  std::size_t batch_rows_ = 0;
};

}  // namespace

std::unique_ptr<workload> adapt_custom_workload(std::unique_ptr<custom_workload> w,
                                                std::vector<table_spec> specs,
                                                const std::string& kind) {
  if (!w) {
    throw std::invalid_argument("the factory of workload '" + kind + "' returned no workload");
  }
  return std::make_unique<adapter>(std::move(w), std::move(specs), kind);
}

}  // namespace troupe
