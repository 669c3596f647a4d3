#pragma once
// A multi-layer perceptron (dense + ReLU layers, softmax cross-entropy loss)
// whose parameters form one flat vector: the key layout of the "model"
// table. Workers upload pulled values into `params()`, run `train_step`,
// and push `grads()`.
//
//   mlp_spec spec{{784, 256, 128, 10}};
//   mlp net(spec, *backend, /*max_batch=*/64);
//   backend->upload(pulled.data(), net.size(), net.params());
//   auto r = net.train_step(x, labels, 64);   // loss and grads
//   backend->download(net.grads(), net.size(), out);

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/layers.hpp"
#include "engine/model/model_spec.hpp"
#include "engine/model/param_views.hpp"
#include "engine/store/table.hpp"
#include "kernels/backend.hpp"

namespace troupe {

struct mlp_spec {
  std::vector<int> sizes;  ///< input, hidden..., outputs; at least 2 entries
  activation_kind activation = activation_kind::relu;  ///< between dense layers
  loss_kind loss = loss_kind::softmax;
};

/// A batch's targets: class labels (softmax, logistic) or values (mse,
/// rows x outputs), host memory.
struct batch_targets {
  const std::int32_t* labels = nullptr;
  const float* values = nullptr;
};

/// One parameter tensor's place in the flat vector.
struct param_tensor {
  std::string name;  ///< "fc1.weight", "fc1.bias", ...
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  int fan_in = 0;
};

std::vector<param_tensor> mlp_layout(const mlp_spec& spec);
std::uint64_t mlp_num_params(const mlp_spec& spec);
/// Floats the network keeps per batch row: the uploaded input and the host
/// batch, each dense layer's output and input gradient, each ReLU's output
/// and gradient, and the loss gradient of the logits.
std::uint64_t mlp_floats_per_row(const std::vector<int>& sizes);
/// Rows an evaluation scores at once: up to 1000, fewer where that many
/// rows' activations would pass 64 MiB (3,000,000 input features made an
/// evaluator of 12 GB for a 3-row test set), never more than `rows` (> 0).
int mlp_eval_rows(const mlp_spec& spec, std::size_t rows);
/// PyTorch's default initialisation bounds (1/sqrt(fan_in)) per tensor.
std::vector<init_segment> mlp_init_segments(const mlp_spec& spec);

class mlp {
 public:
  mlp(const mlp_spec& spec, kernels::backend& be, int max_batch);
  mlp(const mlp&) = delete;
  mlp& operator=(const mlp&) = delete;

  std::size_t size() const { return size_; }
  /// The model's own parameters and gradients (allocated on first use: a
  /// worker whose views cover everything never needs them).
  float* params();
  float* grads();
  kernels::backend& backend() { return be_; }

  /// Host-memory backends only: views of parameters and gradients for the
  /// next train_step (read and written in place, see param_views.hpp); keys
  /// no view covers come from params() and go to grads(). The step clears them.
  param_views& views() { return views_; }

  /// Forward and backward on `rows` host samples; gradients of the mean loss
  /// land in grads(). Returns the batch's loss sum and correct count (and
  /// absolute error sum for mse).
  kernels::xent_result train_step(const float* host_x, batch_targets y, int rows) {
    return train_step(host_x, y, rows, {});
  }
  /// Called during a train_step as soon as the kernels computing a dense
  /// layer's gradients are queued on the backend: the (offset, count) of its
  /// weights and bias, last layer first; together they cover [0, size()) once.
  /// Work queued from there on sees them in grads() (with views, in the
  /// views). On a device backend the caller starts their download there, so
  /// that it overlaps the backward pass of the layers below.
  using grads_ready_fn = std::function<void(std::uint64_t offset, std::uint64_t count)>;
  kernels::xent_result train_step(const float* host_x, batch_targets y, int rows,
                                  const grads_ready_fn& ready);
  kernels::xent_result train_step(const float* host_x, const std::int32_t* labels, int rows) {
    return train_step(host_x, batch_targets{labels, nullptr}, rows);
  }
  /// Forward only, in chunks of at most max_batch rows.
  kernels::xent_result evaluate(const float* host_x, batch_targets y, std::size_t rows);
  kernels::xent_result evaluate(const float* host_x, const std::int32_t* labels, std::size_t rows) {
    return evaluate(host_x, batch_targets{labels, nullptr}, rows);
  }

  /// Frees the buffers a step needs only while it runs (activations,
  /// scratch); the next step allocates them again.
  void release_workspace();

 private:
  const float* forward(const float* host_x, int rows);
  /// The loss of `rows` outputs against y[offset..]; gradients into `d` (may be null).
  kernels::xent_result loss(const float* outputs, batch_targets y, std::size_t offset, int rows,
                            float* d);
  // Binds the dense layers to the views, or back to params_ / grads_.
  void bind_layers();

  struct dense_slot {
    std::size_t layer;
    std::uint64_t offset;  // of the weight; the bias follows it
    int in, out;
  };

  kernels::backend& be_;
  loss_kind loss_;
  int max_batch_;
  int classes_;
  int inputs_;
  std::size_t size_;
  std::vector<std::unique_ptr<layer>> layers_;
  std::vector<const float*> layer_inputs_;  // activations of the last forward
  std::vector<dense_slot> dense_;
  param_views views_;
  bool bound_to_own_ = false;
  kernels::device_array params_, grads_, input_, dlogits_;
};

}  // namespace troupe
