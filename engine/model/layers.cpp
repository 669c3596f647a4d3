#include "engine/model/layers.hpp"

namespace troupe {

namespace {

class dense_layer final : public layer {
 public:
  dense_layer(kernels::backend&, int in, int out, int max_rows)
      : in_(in), out_(out), max_rows_(max_rows) {}

  int in_features() const override { return in_; }
  int out_features() const override { return out_; }
  std::size_t num_params() const override {
    return static_cast<std::size_t>(in_) * out_ + static_cast<std::size_t>(out_);
  }
  void bind(const float* params, float* grads) override {
    const std::size_t weights = static_cast<std::size_t>(in_) * out_;
    at_ = {{{0, in_, params}}, params + weights, {{0, in_, grads}}, grads + weights};
  }
  void bind(const dense_binding& where) override { at_ = where; }

  // With W's rows in several runs, y = x W is a sum over the runs of
  // x[:, run] W[run, :]; dW's runs and dx's column blocks are computed run by
  // run. One run (the usual case) is one GEMM each, as before.
  void release_workspace() override {
    y_ = {};
    dx_ = {};
  }

  const float* forward(kernels::backend& be, const float* x, int rows) override {
    if (y_.empty()) y_ = be.alloc_scratch(static_cast<std::size_t>(max_rows_) * out_);
    float beta = 0.0f;
    for (const auto& r : at_.w) {
      be.gemm(false, false, rows, out_, r.end - r.begin, 1.0f, x + r.begin, in_, r.data, out_, beta,
              y_.data(), out_);
      beta = 1.0f;
    }
    be.add_bias(rows, out_, at_.b, y_.data());
    return y_.data();
  }

  const float* backward(kernels::backend& be, const float* x, const float* dy, int rows,
                        bool need_dx) override {
    // dW = x^T dy, db = column sums of dy, dx = dy W^T
    for (const auto& r : at_.dw) {
      be.gemm(true, false, r.end - r.begin, out_, rows, 1.0f, x + r.begin, in_, dy, out_, 0.0f,
              r.data, out_);
    }
    be.bias_grad(rows, out_, dy, 0.0f, at_.db);
    if (!need_dx) return nullptr;
    if (dx_.empty()) dx_ = be.alloc_scratch(static_cast<std::size_t>(max_rows_) * in_);
    for (const auto& r : at_.w) {
      be.gemm(false, true, rows, r.end - r.begin, out_, 1.0f, dy, out_, r.data, out_, 0.0f,
              dx_.data() + r.begin, in_);
    }
    return dx_.data();
  }

 private:
  int in_, out_, max_rows_;
  dense_binding at_;
  kernels::device_array y_, dx_;  // allocated on first use
};

class relu_layer final : public layer {
 public:
  relu_layer(kernels::backend&, int features, int max_rows) : n_(features), max_rows_(max_rows) {}

  int in_features() const override { return n_; }
  int out_features() const override { return n_; }
  void release_workspace() override {
    y_ = {};
    dx_ = {};
  }

  const float* forward(kernels::backend& be, const float* x, int rows) override {
    if (y_.empty()) y_ = be.alloc_scratch(static_cast<std::size_t>(max_rows_) * n_);
    be.relu_forward(static_cast<std::size_t>(rows) * n_, x, y_.data());
    return y_.data();
  }

  const float* backward(kernels::backend& be, const float*, const float* dy, int rows,
                        bool need_dx) override {
    if (!need_dx) return nullptr;
    if (dx_.empty()) dx_ = be.alloc_scratch(static_cast<std::size_t>(max_rows_) * n_);
    be.relu_backward(static_cast<std::size_t>(rows) * n_, y_.data(), dy, dx_.data());
    return dx_.data();
  }

 private:
  int n_, max_rows_;
  kernels::device_array y_, dx_;  // allocated on first use
};

}  // namespace

std::unique_ptr<layer> make_dense_layer(kernels::backend& be, int in, int out, int max_rows) {
  return std::make_unique<dense_layer>(be, in, out, max_rows);
}

std::unique_ptr<layer> make_relu_layer(kernels::backend& be, int features, int max_rows) {
  return std::make_unique<relu_layer>(be, features, max_rows);
}

}  // namespace troupe
