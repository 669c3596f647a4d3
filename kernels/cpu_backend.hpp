#pragma once
// The CPU backend: OpenBLAS for gemm/axpy, plain loops the compiler can
// vectorise for the rest. "Device" memory is 64-byte aligned host memory, so
// upload/download are memcpy and nothing is asynchronous.

#include "kernels/backend.hpp"

namespace troupe::kernels {

class cpu_backend final : public backend {
 public:
  /// `threads` > 0 calls openblas_set_num_threads(threads). OpenBLAS keeps
  /// that setting per process, not per backend object: the last backend
  /// constructed with threads > 0 wins for every backend in the process.
  /// 0 leaves the library default (OPENBLAS_NUM_THREADS or all cores).
  explicit cpu_backend(int threads = 1);

  std::string name() const override { return "cpu"; }
  bool host_memory() const override { return true; }

  device_array alloc(std::size_t n) override;
  device_array alloc_scratch(std::size_t n) override;
  void upload(const float* host_src, std::size_t n, float* dst) override;
  void download(const float* src, std::size_t n, float* host_dst) override;
  void fill_zero(float* dst, std::size_t n) override;

  void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
            const float* b, int ldb, float beta, float* c, int ldc) override;

  void add_bias(int rows, int cols, const float* bias, float* x) override;
  void bias_grad(int rows, int cols, const float* dy, float beta, float* db) override;

  void relu_forward(std::size_t n, const float* x, float* y) override;
  void relu_backward(std::size_t n, const float* y, const float* dy, float* dx) override;

  xent_result softmax_xent(int rows, int classes, const float* logits,
                           const std::int32_t* host_labels, float* dlogits) override;

  void axpy(std::size_t n, float alpha, const float* x, float* y) override;

  void synchronize() override {}

 private:
  void release(float* ptr) noexcept override;
};

}  // namespace troupe::kernels
