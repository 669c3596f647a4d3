#include "engine/model/model.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace troupe {

std::vector<param_tensor> mlp_layout(const mlp_spec& spec) {
  if (spec.sizes.size() < 2) throw std::invalid_argument("an MLP needs at least 2 layer sizes");
  std::vector<param_tensor> out;
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i + 1 < spec.sizes.size(); ++i) {
    const int in = spec.sizes[i], o = spec.sizes[i + 1];
    if (in <= 0 || o <= 0) throw std::invalid_argument("layer sizes must be positive");
    const std::string prefix = "fc" + std::to_string(i + 1);
    out.push_back({prefix + ".weight", offset, static_cast<std::uint64_t>(in) * o, in});
    offset += static_cast<std::uint64_t>(in) * o;
    out.push_back({prefix + ".bias", offset, static_cast<std::uint64_t>(o), in});
    offset += o;
  }
  return out;
}

std::uint64_t mlp_num_params(const mlp_spec& spec) {
  auto layout = mlp_layout(spec);
  return layout.back().offset + layout.back().size;
}

std::uint64_t mlp_floats_per_row(const std::vector<int>& sizes) {
  std::uint64_t floats =
      2 * std::uint64_t(sizes.front()) + 1 + sizes.back();  // input, batch (+ label), dlogits
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    floats += sizes[i + 1] + sizes[i];                     // dense: y, dx
    if (i + 2 < sizes.size()) floats += 2 * sizes[i + 1];  // relu: y, dx
  }
  return floats;
}

int mlp_eval_rows(const mlp_spec& spec, std::size_t rows) {
  constexpr std::uint64_t budget = std::uint64_t{64} << 20;
  const auto per_row = std::max<std::uint64_t>(1, mlp_floats_per_row(spec.sizes) * sizeof(float));
  const auto fit = std::max<std::uint64_t>(1, budget / per_row);
  return static_cast<int>(std::min<std::uint64_t>({1000, fit, std::max<std::size_t>(rows, 1)}));
}

std::vector<init_segment> mlp_init_segments(const mlp_spec& spec) {
  std::vector<init_segment> out;
  for (const auto& t : mlp_layout(spec)) {
    out.push_back({t.offset + t.size, 1.0f / std::sqrt(static_cast<float>(t.fan_in))});
  }
  return out;
}

mlp::mlp(const mlp_spec& spec, kernels::backend& be, int max_batch)
    : be_(be),
      loss_(spec.loss),
      max_batch_(max_batch),
      classes_(spec.sizes.back()),
      inputs_(spec.sizes.front()),
      size_(mlp_num_params(spec)) {
  if (max_batch <= 0) throw std::invalid_argument("max batch must be positive");
  std::size_t offset = 0;
  for (std::size_t i = 0; i + 1 < spec.sizes.size(); ++i) {
    layers_.push_back(make_dense_layer(be, spec.sizes[i], spec.sizes[i + 1], max_batch));
    dense_.push_back({layers_.size() - 1, offset, spec.sizes[i], spec.sizes[i + 1]});
    offset += layers_.back()->num_params();
    if (i + 2 < spec.sizes.size()) {
      layers_.push_back(make_activation_layer(be, spec.activation, spec.sizes[i + 1], max_batch));
    }
  }
  layer_inputs_.resize(layers_.size(), nullptr);
}

float* mlp::params() {
  if (params_.empty()) params_ = be_.alloc(size_);
  return params_.data();
}

float* mlp::grads() {
  if (grads_.empty()) grads_ = be_.alloc(size_);
  return grads_.data();
}

void mlp::release_workspace() {
  for (auto& l : layers_) l->release_workspace();
  views_.release();
  input_ = {};
  dlogits_ = {};
}

const float* mlp::forward(const float* host_x, int rows) {
  const float* x = host_x;
  if (!be_.host_memory()) {
    if (input_.empty()) input_ = be_.alloc(static_cast<std::size_t>(max_batch_) * inputs_);
    be_.upload(host_x, static_cast<std::size_t>(rows) * inputs_, input_.data());
    x = input_.data();
  }
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    layer_inputs_[i] = x;
    x = layers_[i]->forward(be_, x, rows);
  }
  return x;
}

kernels::xent_result mlp::loss(const float* outputs, batch_targets y, std::size_t offset, int rows,
                               float* d) {
  switch (loss_) {
    case loss_kind::softmax:
      if (y.labels == nullptr) throw std::invalid_argument("softmax loss without labels");
      return be_.softmax_xent(rows, classes_, outputs, y.labels + offset, d);
    case loss_kind::logistic:
      if (y.labels == nullptr) throw std::invalid_argument("logistic loss without labels");
      return be_.logistic_xent(rows, outputs, y.labels + offset, d);
    case loss_kind::mse:
      if (y.values == nullptr) throw std::invalid_argument("squared error without targets");
      return be_.squared_error(rows, classes_, outputs, y.values + offset * classes_, d);
  }
  throw std::invalid_argument("unknown loss");
}

void mlp::bind_layers() {
  if (views_.empty()) {
    if (bound_to_own_) return;
    float* p = params();
    float* g = grads();
    for (const auto& d : dense_) layers_[d.layer]->bind(p + d.offset, g + d.offset);
    bound_to_own_ = true;
    return;
  }
  if (!be_.host_memory()) throw std::logic_error("parameter views need a host-memory backend");
  // The model's own buffers only where the views leave keys uncovered.
  auto own_values = [&](std::uint64_t offset, std::uint64_t n) -> const float* {
    return views_.values_cover(offset, n) ? nullptr : params();
  };
  auto own_grads = [&](std::uint64_t offset, std::uint64_t n) -> float* {
    return views_.grads_cover(offset, n) ? nullptr : grads();
  };
  for (const auto& d : dense_) {
    const auto weights = static_cast<std::uint64_t>(d.in) * d.out;
    const auto bias = d.offset + weights;
    dense_binding at;
    at.w = views_.value_rows(d.offset, d.in, d.out, own_values(d.offset, weights));
    at.b = views_.value_rows(bias, 1, d.out, own_values(bias, d.out)).front().data;
    at.dw = views_.grad_rows(d.offset, d.in, d.out, own_grads(d.offset, weights));
    at.db = views_.grad_rows(bias, 1, d.out, own_grads(bias, d.out)).front().data;
    layers_[d.layer]->bind(at);
  }
  bound_to_own_ = false;
}

kernels::xent_result mlp::train_step(const float* host_x, batch_targets y, int rows,
                                     const grads_ready_fn& ready) {
  if (rows <= 0 || rows > max_batch_) throw std::invalid_argument("batch size out of range");
  bind_layers();
  const float* logits = forward(host_x, rows);
  if (dlogits_.empty())
    dlogits_ = be_.alloc_scratch(static_cast<std::size_t>(max_batch_) * classes_);
  auto result = loss(logits, y, 0, rows, dlogits_.data());
  const float* dy = dlogits_.data();
  auto slot = dense_.rbegin();
  for (std::size_t i = layers_.size(); i-- > 0;) {
    dy = layers_[i]->backward(be_, layer_inputs_[i], dy, rows, i > 0);
    if (slot != dense_.rend() && slot->layer == i) {
      if (ready) ready(slot->offset, static_cast<std::uint64_t>(slot->in) * slot->out + slot->out);
      ++slot;
    }
  }
  views_.scatter();
  views_.clear();  // they point into this step's messages
  return result;
}

kernels::xent_result mlp::evaluate(const float* host_x, batch_targets y, std::size_t rows) {
  bind_layers();
  kernels::xent_result total;
  for (std::size_t begin = 0; begin < rows; begin += max_batch_) {
    const int n = static_cast<int>(std::min<std::size_t>(max_batch_, rows - begin));
    const float* logits = forward(host_x + begin * inputs_, n);
    auto r = loss(logits, y, begin, n, nullptr);
    total.loss_sum += r.loss_sum;
    total.correct += r.correct;
    total.abs_err_sum += r.abs_err_sum;
  }
  return total;
}

}  // namespace troupe
