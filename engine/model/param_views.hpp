#pragma once
// Zero-copy parameters and gradients for models in host memory: a worker
// hands the model views of the pull replies (read in place) and of the push
// messages being built (gradients written in place), instead of copying
// replies into the model and gradients out of it. A view covers a key range
// of the flat parameter vector; the ranges of a step's views come from the
// shards' partition, so a weight matrix may be split between two views.
// bind_matrix() turns that into runs of whole rows per buffer (a layer does
// one GEMM per run); a row split by a view boundary is assembled in the
// model's own buffer (parameters) or written there and scattered afterwards
// (gradients).
//
//   param_views v;
//   v.add_values(0, n0, reply0); v.add_values(n0, n1, reply1);
//   v.add_grads(0, n0, push0);   v.add_grads(n0, n1, push1);
//   auto w = v.bind_matrix<const float>(offset, rows, cols, own_params);   // copies split rows
//   ... backward ...
//   v.scatter();   // split rows of the gradient from own_grads into the pushes

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/model/layers.hpp"

namespace troupe {

class param_views {
 public:
  /// Values of keys [offset, offset + n) are at `data` until clear().
  void add_values(std::uint64_t offset, std::size_t n, const float* data);
  /// The gradient of keys [offset, offset + n) goes to `data`.
  void add_grads(std::uint64_t offset, std::size_t n, float* data);
  bool empty() const { return values_.empty() && grads_.empty(); }
  bool has_grads() const { return !grads_.empty(); }
  void clear();

  /// Rows of the rows x cols matrix at keys [offset, ...): runs in the value
  /// views where whole rows lie in one, else in `own` (the model's buffer,
  /// indexed by key), into which the parts of split rows that views cover
  /// are copied now.
  std::vector<row_run<const float>> value_rows(std::uint64_t offset, int rows, int cols,
                                               float* own) const;
  /// The same for gradients; rows computed into `own` are copied to the
  /// views they belong to by scatter().
  std::vector<row_run<float>> grad_rows(std::uint64_t offset, int rows, int cols, float* own);
  /// Copies the gradient parts computed into the model's buffer to the
  /// views that cover them (after backward).
  void scatter();

 private:
  template <class T>
  struct view {
    std::uint64_t offset;
    std::size_t n;
    T* data;
  };
  struct pending_copy {
    const float* from;
    float* to;
    std::size_t n;
  };

  std::vector<view<const float>> values_;
  std::vector<view<float>> grads_;
  std::vector<pending_copy> scatter_;
};

}  // namespace troupe
