#pragma once
// Layers of a feed-forward model. A layer reads its input activations,
// keeps what backward needs, and writes parameter gradients into the flat
// gradient buffer at the same offsets its parameters have in the table.

#include <cstddef>
#include <memory>

#include "engine/model/model_spec.hpp"
#include "kernels/backend.hpp"

namespace troupe {

class layer {
 public:
  virtual ~layer() = default;
  virtual int in_features() const = 0;
  virtual int out_features() const = 0;
  virtual std::size_t num_params() const { return 0; }
  /// Points the layer at its parameters and gradients (backend memory).
  virtual void bind(const float* /*params*/, float* /*grads*/) {}
  /// Computes the output for `rows` inputs `x` (rows x in); returns it
  /// (rows x out, owned by the layer, valid until the next forward).
  virtual const float* forward(kernels::backend& be, const float* x, int rows) = 0;
  /// Given the input `x` of the last forward and `dy` (rows x out), writes
  /// parameter gradients and, if `need_dx`, returns dx (rows x in, owned by
  /// the layer); otherwise returns nullptr.
  virtual const float* backward(kernels::backend& be, const float* x, const float* dy, int rows,
                                bool need_dx) = 0;
};

/// y = x W + b with W stored row-major as [in, out] followed by b [out].
std::unique_ptr<layer> make_dense_layer(kernels::backend& be, int in, int out, int max_rows);
/// y = max(x, 0).
std::unique_ptr<layer> make_relu_layer(kernels::backend& be, int features, int max_rows);
/// y = act(x) elementwise: relu, tanh or sigmoid.
std::unique_ptr<layer> make_activation_layer(kernels::backend& be, activation_kind act,
                                             int features, int max_rows);

}  // namespace troupe
