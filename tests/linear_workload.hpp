#pragma once
// A small custom workload through the public header only, shared by the
// custom-workload tests and the test plugin (workload_plugin.cpp).

#include <troupe/workload.hpp>

#include <cmath>
#include <random>
#include <vector>

namespace troupe::test_support {

// y = 2 x0 - 3 x1 + offset[id % 8]: a dense weight pair and a sparse offset
// table, fitted by least squares.
class linear_with_offsets : public troupe::custom_workload {
 public:
  explicit linear_with_offsets(const troupe::workload_context& ctx) : ctx_(ctx) {
    std::mt19937 rng(11);
    std::normal_distribution<float> x(0.f, 1.f);
    for (int i = 0; i < 1200; ++i) {
      const float a = x(rng), b = x(rng);
      const auto id = static_cast<std::uint64_t>(i % 8);
      rows_.push_back({a, b, id, 2 * a - 3 * b + 0.5f * static_cast<float>(id)});
    }
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      const bool test = i % 5 == 0;
      if (ctx.evaluation ? test : (!test && i % ctx.parts == ctx.part)) mine_.push_back(i);
    }
  }
  std::vector<troupe::table> tables() const override {
    auto w = troupe::table::dense("w", 2);
    auto offsets = troupe::table::sparse("offsets", 1);
    w.optimizer = offsets.optimizer = ctx_.optimizer;
    return {w, offsets};
  }
  bool regression() const override { return true; }
  void start_epoch(std::uint64_t) override { cursor_ = 0; }
  std::size_t next_batch(troupe::row_request& need) override {
    batch_.clear();
    while (cursor_ < mine_.size() && batch_.size() < ctx_.batch) batch_.push_back(mine_[cursor_++]);
    for (auto i : batch_) need.add(1, rows_[i].id);
    return batch_.size();
  }
  troupe::step_stats step(const troupe::param_view& p, troupe::grad_buffers& g) override {
    troupe::step_stats s;
    for (auto i : batch_) {
      const auto& r = rows_[i];
      const float err = p.dense(0)[0] * r.a + p.dense(0)[1] * r.b + p.row(1, r.id)[0] - r.y;
      const float d = 2 * err / static_cast<float>(batch_.size());
      g.dense(0)[0] += d * r.a;
      g.dense(0)[1] += d * r.b;
      g.row(1, r.id)[0] += d;
      s.loss_sum += double(err) * err;
      s.abs_err_sum += std::fabs(err);
      ++s.rows;
    }
    return s;
  }
  void prepare_eval(troupe::row_request& need) override {
    for (auto i : mine_) need.add(1, rows_[i].id);
  }
  troupe::step_stats evaluate(const troupe::param_view& p) override {
    troupe::step_stats s;
    for (auto i : mine_) {
      const auto& r = rows_[i];
      const float err = p.dense(0)[0] * r.a + p.dense(0)[1] * r.b + p.row(1, r.id)[0] - r.y;
      s.loss_sum += double(err) * err;
      s.abs_err_sum += std::fabs(err);
      ++s.rows;
    }
    return s;
  }

 protected:
  struct row {
    float a, b;
    std::uint64_t id;
    float y;
  };
  troupe::workload_context ctx_;
  std::vector<row> rows_;
  std::vector<std::size_t> mine_, batch_;
  std::size_t cursor_ = 0;
};

}  // namespace troupe::test_support
