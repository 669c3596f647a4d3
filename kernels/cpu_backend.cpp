#include "kernels/cpu_backend.hpp"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

// Declared by OpenBLAS's cblas.h but not by the netlib one that the Debian
// alternatives system may put first on the include path; the library we link
// always has it.
extern "C" void openblas_set_num_threads(int num_threads);

namespace troupe::kernels {
namespace {

constexpr std::size_t alignment = 64;  // a cache line and an AVX-512 vector

float* aligned_floats(std::size_t n, bool zeroed) {
  if (n > (SIZE_MAX - alignment) / sizeof(float)) throw std::bad_alloc();
  // std::aligned_alloc wants the size to be a multiple of the alignment.
  const std::size_t bytes = (n * sizeof(float) + alignment - 1) / alignment * alignment;
  void* p = std::aligned_alloc(alignment, bytes);
  if (p == nullptr) throw std::bad_alloc();
  if (zeroed) std::memset(p, 0, bytes);
  return static_cast<float*>(p);
}

void check_labels(const char* op, int rows, int classes, const std::int32_t* labels) {
  for (int r = 0; r < rows; ++r) {
    if (labels[r] < 0 || labels[r] >= classes) {
      throw std::out_of_range(std::string(op) + ": label " + std::to_string(labels[r]) +
                              " of row " + std::to_string(r) + " is outside [0, " +
                              std::to_string(classes) + ")");
    }
  }
}

}  // namespace

cpu_backend::cpu_backend(int threads) {
  if (threads < 0) {
    throw std::invalid_argument("cpu backend: threads must be >= 0, got " +
                                std::to_string(threads));
  }
  if (threads > 0) openblas_set_num_threads(threads);
}

device_array cpu_backend::alloc(std::size_t n) {
  if (n == 0) return {};
  return device_array(this, aligned_floats(n, true), n);
}

device_array cpu_backend::alloc_scratch(std::size_t n) {
  if (n == 0) return {};
  return device_array(this, aligned_floats(n, false), n);
}

void cpu_backend::release(float* ptr) noexcept {
  std::free(ptr);
}

void cpu_backend::upload(const float* host_src, std::size_t n, float* dst) {
  if (n > 0) std::memcpy(dst, host_src, n * sizeof(float));
}

void cpu_backend::download(const float* src, std::size_t n, float* host_dst) {
  if (n > 0) std::memcpy(host_dst, src, n * sizeof(float));
}

void cpu_backend::fill_zero(float* dst, std::size_t n) {
  if (n > 0) std::memset(dst, 0, n * sizeof(float));
}

void cpu_backend::gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                       int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  if (m <= 0 || n <= 0) return;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void cpu_backend::add_bias(int rows, int cols, const float* bias, float* x) {
  for (int r = 0; r < rows; ++r) {
    float* row = x + static_cast<std::size_t>(r) * cols;
    for (int c = 0; c < cols; ++c) row[c] += bias[c];
  }
}

void cpu_backend::bias_grad(int rows, int cols, const float* dy, float beta, float* db) {
  // beta == 0 overwrites without reading db, as BLAS does, so stale NaNs in an
  // uninitialised gradient buffer cannot leak through 0 * NaN.
  if (beta == 0.f) {
    std::fill_n(db, cols, 0.f);
  } else if (beta != 1.f) {
    for (int c = 0; c < cols; ++c) db[c] *= beta;
  }
  // Row by row so the inner loop is contiguous and vectorises.
  for (int r = 0; r < rows; ++r) {
    const float* row = dy + static_cast<std::size_t>(r) * cols;
    for (int c = 0; c < cols; ++c) db[c] += row[c];
  }
}

// Branch-free selects over restrict pointers, so that they vectorise: the
// sign of a ReLU input is a coin flip, and a mispredicted branch per element
// cost more than the GEMMs of the step's small layers.
namespace {

// Built for AVX-512, AVX2 and plain x86-64; the loader picks what the CPU has.
#define TROUPE_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

TROUPE_VECTOR_CLONES void relu_select(std::size_t n, const float* __restrict y,
                                      const float* __restrict dy, float* __restrict dx) {
  for (std::size_t i = 0; i < n; ++i) dx[i] = y[i] > 0.f ? dy[i] : 0.f;
}

TROUPE_VECTOR_CLONES void relu_mask_in_place(std::size_t n, const float* __restrict y,
                                             float* __restrict dx) {
  for (std::size_t i = 0; i < n; ++i) dx[i] = y[i] > 0.f ? dx[i] : 0.f;
}

TROUPE_VECTOR_CLONES void relu_copy(std::size_t n, const float* __restrict x, float* __restrict y) {
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
}

TROUPE_VECTOR_CLONES void relu_in_place(std::size_t n, float* x) {
  for (std::size_t i = 0; i < n; ++i) x[i] = x[i] > 0.f ? x[i] : 0.f;
}

}  // namespace

void cpu_backend::relu_forward(std::size_t n, const float* x, float* y) {
  if (x == y) return relu_in_place(n, y);
  relu_copy(n, x, y);
}

void cpu_backend::relu_backward(std::size_t n, const float* y, const float* dy, float* dx) {
  if (dx == dy) return relu_mask_in_place(n, y, dx);
  relu_select(n, y, dy, dx);
}

void cpu_backend::tanh_forward(std::size_t n, const float* x, float* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

void cpu_backend::tanh_backward(std::size_t n, const float* y, const float* dy, float* dx) {
  for (std::size_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.f - y[i] * y[i]);
}

void cpu_backend::sigmoid_forward(std::size_t n, const float* x, float* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] = 1.f / (1.f + std::exp(-x[i]));
}

void cpu_backend::sigmoid_backward(std::size_t n, const float* y, const float* dy, float* dx) {
  for (std::size_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (1.f - y[i]);
}

xent_result cpu_backend::logistic_xent(int rows, const float* logits,
                                       const std::int32_t* host_labels, float* dlogits) {
  xent_result result;
  if (rows <= 0) return result;
  check_labels("logistic_xent", rows, 2, host_labels);
  const float inv_rows = 1.f / static_cast<float>(rows);
  for (int r = 0; r < rows; ++r) {
    const float z = logits[r];
    const int y = host_labels[r];
    // log(1 + exp(t)) without overflow, t = -z for label 1 and z for 0.
    const double t = y == 1 ? -static_cast<double>(z) : static_cast<double>(z);
    result.loss_sum += t > 0 ? t + std::log1p(std::exp(-t)) : std::log1p(std::exp(t));
    if ((z >= 0.f) == (y == 1)) ++result.correct;
    if (dlogits != nullptr) dlogits[r] = (1.f / (1.f + std::exp(-z)) - y) * inv_rows;
  }
  return result;
}

xent_result cpu_backend::squared_error(int rows, int cols, const float* outputs,
                                       const float* host_targets, float* doutputs) {
  xent_result result;
  if (rows <= 0 || cols <= 0) return result;
  const float scale = 2.f / static_cast<float>(rows);
  const std::size_t n = static_cast<std::size_t>(rows) * cols;
  for (std::size_t i = 0; i < n; ++i) {
    const float e = outputs[i] - host_targets[i];
    result.loss_sum += static_cast<double>(e) * e;
    result.abs_err_sum += std::fabs(static_cast<double>(e));
    if (doutputs != nullptr) doutputs[i] = scale * e;
  }
  return result;
}

xent_result cpu_backend::softmax_xent(int rows, int classes, const float* logits,
                                      const std::int32_t* host_labels, float* dlogits) {
  xent_result result;
  if (rows <= 0 || classes <= 0) return result;
  check_labels("softmax_xent", rows, classes, host_labels);
  const float inv_rows = 1.f / static_cast<float>(rows);
  for (int r = 0; r < rows; ++r) {
    const std::size_t offset = static_cast<std::size_t>(r) * classes;
    const float* x = logits + offset;
    const int label = host_labels[r];
    // First index of the maximum: the same tie-break as the CUDA kernel.
    int arg_max = 0;
    for (int c = 1; c < classes; ++c) {
      if (x[c] > x[arg_max]) arg_max = c;
    }
    const float max = x[arg_max];
    // Subtracting the row max keeps exp() from overflowing on large logits.
    float sum = 0.f;
    for (int c = 0; c < classes; ++c) sum += std::exp(x[c] - max);
    const float log_sum = std::log(sum);
    result.loss_sum += static_cast<double>(log_sum - (x[label] - max));
    if (arg_max == label) ++result.correct;
    if (dlogits != nullptr) {
      // Every read of x above happens before this loop writes, so dlogits
      // may alias logits.
      float* d = dlogits + offset;
      const float inv_sum = 1.f / sum;
      for (int c = 0; c < classes; ++c) d[c] = std::exp(x[c] - max) * inv_sum * inv_rows;
      d[label] -= inv_rows;
    }
  }
  return result;
}

void cpu_backend::axpy(std::size_t n, float alpha, const float* x, float* y) {
  // cblas takes an int count; split arrays longer than INT_MAX.
  while (n > 0) {
    const int chunk = static_cast<int>(std::min<std::size_t>(n, INT_MAX));
    cblas_saxpy(chunk, alpha, x, 1, y, 1);
    x += chunk;
    y += chunk;
    n -= static_cast<std::size_t>(chunk);
  }
}

}  // namespace troupe::kernels
