#pragma once
// Zero-copy parameters and gradients for models in host memory: a worker
// hands the model views of the pull replies (read in place) and of the push
// messages being built (gradients written in place), instead of copying
// replies into the model and gradients out of it. A view covers a key range
// of the flat parameter vector; the ranges of a step's views come from the
// shards' partition, so a weight matrix may be split between two views.
// value_rows() / grad_rows() turn that into runs of whole rows per buffer (a
// layer does one GEMM per run); a row split by a view boundary is assembled
// in a small scratch buffer (parameters) or written there and scattered
// afterwards (gradients). Keys no view covers live in the model's own
// buffers.
//
//   param_views v;
//   v.add_values(0, n0, reply0); v.add_values(n0, n1, reply1);
//   v.add_grads(0, n0, push0);   v.add_grads(n0, n1, push1);
//   auto w = v.value_rows(offset, rows, cols, nullptr);   // all covered: no own buffer
//   ... backward ...
//   v.scatter();   // split rows of the gradient from the scratch into the pushes

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
  /// Whether the value (gradient) views cover every key of [offset, offset + n).
  bool values_cover(std::uint64_t offset, std::uint64_t n) const;
  bool grads_cover(std::uint64_t offset, std::uint64_t n) const;
  /// Forgets the views (they point into one step's messages).
  void clear();
  /// Also frees the scratch buffers.
  void release();

  /// Rows of the rows x cols matrix at keys [offset, ...): runs in the value
  /// views where whole rows lie in one, else in scratch rows assembled now
  /// from the views' parts and, for keys no view covers, from `own` (the
  /// model's buffer, indexed by key; may be null when the views cover all).
  std::vector<row_run<const float>> value_rows(std::uint64_t offset, int rows, int cols,
                                               const float* own);
  /// The same for gradients: rows computed into scratch are copied to the
  /// views by scatter(), and keys no view covers to `own`.
  std::vector<row_run<float>> grad_rows(std::uint64_t offset, int rows, int cols, float* own);
  /// Copies the gradients computed into scratch to where they belong (after
  /// backward).
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

  // `floats` floats of scratch, valid until clear().
  float* scratch(std::size_t floats);
  template <class View>
  static bool covers(const std::vector<View>& views, std::uint64_t offset, std::uint64_t n);

  std::vector<view<const float>> values_;
  std::vector<view<float>> grads_;
  std::vector<pending_copy> scatter_;
  std::vector<std::vector<float>> scratch_;  // chunks; reused step after step
  std::size_t scratch_used_ = 0;             // chunks handed out this step
};

}  // namespace troupe
