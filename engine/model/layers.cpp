#include "engine/model/layers.hpp"

namespace troupe {

namespace {

class dense_layer final : public layer {
 public:
  dense_layer(kernels::backend& be, int in, int out, int max_rows)
      : in_(in),
        out_(out),
        y_(be.alloc(static_cast<std::size_t>(max_rows) * out)),
        dx_(be.alloc(static_cast<std::size_t>(max_rows) * in)) {}

  int in_features() const override { return in_; }
  int out_features() const override { return out_; }
  std::size_t num_params() const override {
    return static_cast<std::size_t>(in_) * out_ + static_cast<std::size_t>(out_);
  }
  void bind(const float* params, float* grads) override {
    w_ = params;
    b_ = params + static_cast<std::size_t>(in_) * out_;
    dw_ = grads;
    db_ = grads + static_cast<std::size_t>(in_) * out_;
  }

  const float* forward(kernels::backend& be, const float* x, int rows) override {
    be.gemm(false, false, rows, out_, in_, 1.0f, x, in_, w_, out_, 0.0f, y_.data(), out_);
    be.add_bias(rows, out_, b_, y_.data());
    return y_.data();
  }

  const float* backward(kernels::backend& be, const float* x, const float* dy, int rows,
                        bool need_dx) override {
    // dW = x^T dy, db = column sums of dy, dx = dy W^T
    be.gemm(true, false, in_, out_, rows, 1.0f, x, in_, dy, out_, 0.0f, dw_, out_);
    be.bias_grad(rows, out_, dy, 0.0f, db_);
    if (!need_dx) return nullptr;
    be.gemm(false, true, rows, in_, out_, 1.0f, dy, out_, w_, out_, 0.0f, dx_.data(), in_);
    return dx_.data();
  }

 private:
  int in_, out_;
  const float* w_ = nullptr;
  const float* b_ = nullptr;
  float* dw_ = nullptr;
  float* db_ = nullptr;
  kernels::device_array y_, dx_;
};

// relu, tanh and sigmoid: each backward needs only the forward output.
class activation_layer final : public layer {
 public:
  activation_layer(kernels::backend& be, activation_kind act, int features, int max_rows)
      : act_(act),
        n_(features),
        y_(be.alloc(static_cast<std::size_t>(max_rows) * features)),
        dx_(be.alloc(static_cast<std::size_t>(max_rows) * features)) {}

  int in_features() const override { return n_; }
  int out_features() const override { return n_; }

  const float* forward(kernels::backend& be, const float* x, int rows) override {
    const std::size_t n = static_cast<std::size_t>(rows) * n_;
    switch (act_) {
      case activation_kind::relu:
        be.relu_forward(n, x, y_.data());
        break;
      case activation_kind::tanh:
        be.tanh_forward(n, x, y_.data());
        break;
      case activation_kind::sigmoid:
        be.sigmoid_forward(n, x, y_.data());
        break;
    }
    return y_.data();
  }

  const float* backward(kernels::backend& be, const float*, const float* dy, int rows,
                        bool need_dx) override {
    if (!need_dx) return nullptr;
    const std::size_t n = static_cast<std::size_t>(rows) * n_;
    switch (act_) {
      case activation_kind::relu:
        be.relu_backward(n, y_.data(), dy, dx_.data());
        break;
      case activation_kind::tanh:
        be.tanh_backward(n, y_.data(), dy, dx_.data());
        break;
      case activation_kind::sigmoid:
        be.sigmoid_backward(n, y_.data(), dy, dx_.data());
        break;
    }
    return dx_.data();
  }

 private:
  activation_kind act_;
  int n_;
  kernels::device_array y_, dx_;
};

}  // namespace

std::unique_ptr<layer> make_dense_layer(kernels::backend& be, int in, int out, int max_rows) {
  return std::make_unique<dense_layer>(be, in, out, max_rows);
}

std::unique_ptr<layer> make_relu_layer(kernels::backend& be, int features, int max_rows) {
  return std::make_unique<activation_layer>(be, activation_kind::relu, features, max_rows);
}

std::unique_ptr<layer> make_activation_layer(kernels::backend& be, activation_kind act,
                                             int features, int max_rows) {
  return std::make_unique<activation_layer>(be, act, features, max_rows);
}

}  // namespace troupe
