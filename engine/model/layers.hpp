#pragma once
// Layers of a feed-forward model. A layer reads its input activations,
// keeps what backward needs, and writes parameter gradients into the flat
// gradient buffer at the same offsets its parameters have in the table.

#include <cstddef>
#include <memory>
#include <vector>

#include "kernels/backend.hpp"

namespace troupe {

/// Whole rows [begin, end) of a row-major matrix that live at `data` (row
/// `begin` first, rows `cols` apart), so that a layer can read parameters
/// straight from a pull reply and write gradients straight into a push.
template <class T>
struct row_run {
  int begin = 0, end = 0;
  T* data = nullptr;
};

/// Where a dense layer's parameters and gradients are for the next steps:
/// the weight's rows in runs (covering every row, in order), and the bias.
struct dense_binding {
  std::vector<row_run<const float>> w;
  const float* b = nullptr;
  std::vector<row_run<float>> dw;
  float* db = nullptr;
};

class layer {
 public:
  virtual ~layer() = default;
  virtual int in_features() const = 0;
  virtual int out_features() const = 0;
  virtual std::size_t num_params() const { return 0; }
  /// Points the layer at its parameters and gradients (backend memory).
  virtual void bind(const float* /*params*/, float* /*grads*/) {}
  /// Points a dense layer at parameters and gradients split over buffers;
  /// other layers have none.
  virtual void bind(const dense_binding& /*where*/) {}
  /// Frees the activation buffers until the next forward (a worker that
  /// waits for a thread of the pool between steps need not hold them).
  virtual void release_workspace() {}
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

}  // namespace troupe
