// The CUDA backend: cuBLAS for gemm/axpy, small kernels for the rest, all on
// one stream per backend object. Only CUDA, cuBLAS and kernels/ headers here:
// every extra header multiplies nvcc's compile time (see STACK-NOTES).

#include "kernels/cuda_backend.hpp"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace troupe::kernels {
namespace {

// ---- error handling ----------------------------------------------------------

void check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  throw std::runtime_error(std::string("CUDA: ") + what + " failed: " + cudaGetErrorName(err) +
                           " (" + cudaGetErrorString(err) + ")");
}

void check(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw std::runtime_error(std::string("cuBLAS: ") + what +
                           " failed: " + cublasGetStatusName(status) + " (" +
                           cublasGetStatusString(status) + ")");
}

// ---- RAII for the handles ----------------------------------------------------

struct stream_deleter {
  void operator()(cudaStream_t s) const noexcept { cudaStreamDestroy(s); }
};
struct blas_deleter {
  void operator()(cublasHandle_t h) const noexcept { cublasDestroy(h); }
};
struct device_deleter {
  void operator()(void* p) const noexcept { cudaFree(p); }
};
struct event_deleter {
  void operator()(cudaEvent_t e) const noexcept { cudaEventDestroy(e); }
};
struct pinned_deleter {
  void operator()(float* p) const noexcept { cudaFreeHost(p); }
};
using stream_ptr = std::unique_ptr<std::remove_pointer_t<cudaStream_t>, stream_deleter>;
using event_ptr = std::unique_ptr<std::remove_pointer_t<cudaEvent_t>, event_deleter>;
using pinned_ptr = std::unique_ptr<float, pinned_deleter>;
using blas_ptr = std::unique_ptr<std::remove_pointer_t<cublasHandle_t>, blas_deleter>;
template <class T>
using device_ptr = std::unique_ptr<T, device_deleter>;

template <class T>
device_ptr<T> device_malloc(std::size_t count) {
  void* p = nullptr;
  check(cudaMalloc(&p, count * sizeof(T)), "cudaMalloc");
  return device_ptr<T>(static_cast<T*>(p));
}

stream_ptr make_stream() {
  cudaStream_t stream = nullptr;
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  return stream_ptr(stream);
}

event_ptr make_event() {
  cudaEvent_t event = nullptr;
  check(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "cudaEventCreate");
  return event_ptr(event);
}

// Page-locked host memory, or null when the system refuses it (the caller
// then copies from pageable memory: slower, still correct).
pinned_ptr pinned_malloc(std::size_t count) {
  void* p = nullptr;
  if (cudaHostAlloc(&p, count * sizeof(float), cudaHostAllocDefault) != cudaSuccess) {
    cudaGetLastError();  // not sticky, but later checks must not see it
    return nullptr;
  }
  return pinned_ptr(static_cast<float*>(p));
}

// A bump region of pinned host memory: step-sized copies go through it so
// that the DMA engine reads or writes it while the CPU and the SMs do other
// work. Offsets stay 256-byte aligned (the DMA engine's preference). When a
// request does not fit, the owner either starts over (once no copy in flight
// uses the region) or grows it: a region twice as large takes over and the
// full one is retired, kept until the owner knows its copies are done. So
// after the first steps one region holds a whole step.
class pinned_stage {
 public:
  static constexpr std::size_t min_floats = std::size_t{1} << 20;  // 4 MiB
  static constexpr std::size_t max_floats = std::size_t{1} << 25;  // 128 MiB

  static std::size_t rounded(std::size_t n) { return (n + 63) / 64 * 64; }
  bool fits(std::size_t n) const { return used_ + rounded(n) <= capacity_; }
  bool empty() const { return used_ == 0; }
  // Only once no copy in flight uses this region or a retired one.
  void reset() {
    used_ = 0;
    retired_.clear();
  }
  // A fresh region with room for n floats; the current one is retired. False
  // when it may not grow further or pinned memory is refused (then never
  // tried again: the owner copies from pageable memory instead).
  bool grow(std::size_t n) {
    if (unavailable_ || rounded(n) > max_floats || capacity_ >= max_floats) return false;
    const std::size_t want =
        std::min(max_floats, std::max({rounded(n), 2 * capacity_, min_floats}));
    auto fresh = pinned_malloc(want);
    if (!fresh) {
      unavailable_ = true;
      return false;
    }
    if (memory_) retired_.push_back(std::move(memory_));
    memory_ = std::move(fresh);
    capacity_ = want;
    used_ = 0;
    return true;
  }
  float* take(std::size_t n) {
    float* p = memory_.get() + used_;
    used_ += rounded(n);
    return p;
  }

 private:
  pinned_ptr memory_;
  std::vector<pinned_ptr> retired_;  // outgrown regions; copies may still use them
  std::size_t capacity_ = 0, used_ = 0;
  bool unavailable_ = false;
};

// ---- kernels -----------------------------------------------------------------

constexpr int block_threads = 256;
constexpr int warp = 32;
constexpr unsigned full_mask = 0xffffffffu;

__device__ std::size_t global_thread() {
  return static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ std::size_t grid_threads() {
  return static_cast<std::size_t>(gridDim.x) * blockDim.x;
}

__global__ void add_bias_kernel(std::size_t total, int cols, const float* __restrict__ bias,
                                float* __restrict__ x) {
  for (std::size_t i = global_thread(); i < total; i += grid_threads()) x[i] += bias[i % cols];
}

// Block (warp, bias_rows): threads along x own adjacent columns, so each row
// read is coalesced; threads along y split the rows and meet in shared memory.
constexpr int bias_rows = 8;

__global__ void bias_grad_kernel(int rows, int cols, const float* __restrict__ dy, float beta,
                                 float* __restrict__ db) {
  __shared__ float partial[bias_rows][warp + 1];
  const int c = blockIdx.x * warp + threadIdx.x;
  float sum = 0.f;
  if (c < cols) {
    for (int r = threadIdx.y; r < rows; r += bias_rows)
      sum += dy[static_cast<std::size_t>(r) * cols + c];
  }
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y != 0 || c >= cols) return;
  float total = 0.f;
  for (int i = 0; i < bias_rows; ++i) total += partial[i][threadIdx.x];
  // beta == 0 must not read db: it may hold NaNs (BLAS convention).
  db[c] = beta == 0.f ? total : beta * db[c] + total;
}

__global__ void relu_forward_kernel(std::size_t n, const float* x, float* y) {
  for (std::size_t i = global_thread(); i < n; i += grid_threads()) y[i] = x[i] > 0.f ? x[i] : 0.f;
}

__global__ void relu_backward_kernel(std::size_t n, const float* y, const float* dy, float* dx) {
  for (std::size_t i = global_thread(); i < n; i += grid_threads()) {
    dx[i] = y[i] > 0.f ? dy[i] : 0.f;
  }
}

__global__ void tanh_forward_kernel(std::size_t n, const float* x, float* y) {
  for (std::size_t i = global_thread(); i < n; i += grid_threads()) y[i] = tanhf(x[i]);
}

__global__ void tanh_backward_kernel(std::size_t n, const float* y, const float* dy, float* dx) {
  for (std::size_t i = global_thread(); i < n; i += grid_threads()) {
    dx[i] = dy[i] * (1.f - y[i] * y[i]);
  }
}

__global__ void sigmoid_forward_kernel(std::size_t n, const float* x, float* y) {
  for (std::size_t i = global_thread(); i < n; i += grid_threads())
    y[i] = 1.f / (1.f + expf(-x[i]));
}

__global__ void sigmoid_backward_kernel(std::size_t n, const float* y, const float* dy, float* dx) {
  for (std::size_t i = global_thread(); i < n; i += grid_threads()) {
    dx[i] = dy[i] * y[i] * (1.f - y[i]);
  }
}

struct xent_totals {
  double loss;
  int correct;
  double abs_err;  // squared_error only
};

// Sums one double (and an int) per thread into `totals`: a block reduction
// in shared memory, then one atomic per block.
__device__ void add_block_totals(double loss, int correct, double abs_err,
                                 xent_totals* __restrict__ totals) {
  __shared__ double block_loss[block_threads];
  __shared__ double block_abs[block_threads];
  __shared__ int block_correct[block_threads];
  block_loss[threadIdx.x] = loss;
  block_abs[threadIdx.x] = abs_err;
  block_correct[threadIdx.x] = correct;
  __syncthreads();
  for (int half = block_threads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) {
      block_loss[threadIdx.x] += block_loss[threadIdx.x + half];
      block_abs[threadIdx.x] += block_abs[threadIdx.x + half];
      block_correct[threadIdx.x] += block_correct[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    atomicAdd(&totals->loss, block_loss[0]);
    atomicAdd(&totals->abs_err, block_abs[0]);
    atomicAdd(&totals->correct, block_correct[0]);
  }
}

__global__ void logistic_xent_kernel(int rows, const float* logits,
                                     const std::int32_t* __restrict__ labels, float* dlogits,
                                     float inv_rows, xent_totals* __restrict__ totals) {
  double loss = 0.0;
  int correct = 0;
  for (std::size_t r = global_thread(); r < static_cast<std::size_t>(rows); r += grid_threads()) {
    const float z = logits[r];
    const int y = labels[r];
    const double t = y == 1 ? -static_cast<double>(z) : static_cast<double>(z);
    loss += t > 0 ? t + log1p(exp(-t)) : log1p(exp(t));
    correct += (z >= 0.f) == (y == 1) ? 1 : 0;
    if (dlogits != nullptr) dlogits[r] = (1.f / (1.f + expf(-z)) - y) * inv_rows;
  }
  add_block_totals(loss, correct, 0.0, totals);
}

__global__ void squared_error_kernel(std::size_t n, const float* outputs,
                                     const float* __restrict__ targets, float* doutputs,
                                     float scale, xent_totals* __restrict__ totals) {
  double loss = 0.0, abs_err = 0.0;
  for (std::size_t i = global_thread(); i < n; i += grid_threads()) {
    const float e = outputs[i] - targets[i];
    loss += static_cast<double>(e) * e;
    abs_err += fabs(static_cast<double>(e));
    if (doutputs != nullptr) doutputs[i] = scale * e;
  }
  add_block_totals(loss, 0, abs_err, totals);
}

constexpr int xent_warps = 4;  // rows in flight per block

// One warp per row: classification heads are narrow (tens to thousands of
// classes), so a warp covers a row in a few strided steps and reduces with
// shuffles, without shared memory or block barriers per row.
__global__ void softmax_xent_kernel(int rows, int classes, const float* logits,
                                    const std::int32_t* __restrict__ labels, float* dlogits,
                                    float inv_rows, xent_totals* __restrict__ totals) {
  const int lane = threadIdx.x % warp;
  const int warp_id = threadIdx.x / warp;
  double loss = 0.0;
  int correct = 0;
  for (int r = blockIdx.x * xent_warps + warp_id; r < rows; r += gridDim.x * xent_warps) {
    const float* x = logits + static_cast<std::size_t>(r) * classes;
    // Arg-max with the first index winning ties, as on the CPU; INT_MAX marks
    // a lane that owns no class.
    float max = -INFINITY;
    int arg = INT_MAX;
    for (int c = lane; c < classes; c += warp) {
      if (arg == INT_MAX || x[c] > max) {
        max = x[c];
        arg = c;
      }
    }
    for (int offset = warp / 2; offset > 0; offset /= 2) {
      const float other_max = __shfl_xor_sync(full_mask, max, offset);
      const int other_arg = __shfl_xor_sync(full_mask, arg, offset);
      if (other_arg != INT_MAX &&
          (arg == INT_MAX || other_max > max || (other_max == max && other_arg < arg))) {
        max = other_max;
        arg = other_arg;
      }
    }
    // Subtracting the row max keeps expf() from overflowing on large logits.
    float sum = 0.f;
    for (int c = lane; c < classes; c += warp) sum += expf(x[c] - max);
    for (int offset = warp / 2; offset > 0; offset /= 2) {
      sum += __shfl_xor_sync(full_mask, sum, offset);
    }
    const int label = labels[r];
    if (lane == 0) {
      loss += static_cast<double>(logf(sum) - (x[label] - max));
      correct += arg == label ? 1 : 0;
    }
    if (dlogits != nullptr) {
      // dlogits may alias logits: no lane may write before lane 0 read x[label].
      __syncwarp();
      float* d = dlogits + static_cast<std::size_t>(r) * classes;
      const float inv_sum = 1.f / sum;
      for (int c = lane; c < classes; c += warp) {
        d[c] = expf(x[c] - max) * inv_sum * inv_rows - (c == label ? inv_rows : 0.f);
      }
    }
  }
  // One atomic per block rather than per row.
  __shared__ double block_loss[xent_warps];
  __shared__ int block_correct[xent_warps];
  if (lane == 0) {
    block_loss[warp_id] = loss;
    block_correct[warp_id] = correct;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < xent_warps; ++w) {
      loss += block_loss[w];
      correct += block_correct[w];
    }
    atomicAdd(&totals->loss, loss);
    atomicAdd(&totals->correct, correct);
  }
}

// ---- the backend ---------------------------------------------------------------

/// Uses the device current at construction. Kernels, cuBLAS and uploads run
/// in order on one compute stream; `download_async` copies run on a second
/// stream, each behind an event on the first, so gradients leave the device
/// while later kernels of the same step still compute. Both directions go
/// through pinned staging memory: a host-to-device copy from it is truly
/// asynchronous (from pageable memory the driver would stage it itself,
/// holding the caller until it has), and a device-to-host copy into it needs
/// no wait until the data is wanted.
class cuda_backend final : public backend {
 public:
  cuda_backend() {
    int device = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    name_ = std::string("cuda:") + prop.name;
    sm_count_ = std::max(1, prop.multiProcessorCount);
    stream_ = make_stream();
    copy_stream_ = make_stream();
    computed_ = make_event();
    uploaded_ = make_event();
    cublasHandle_t handle = nullptr;
    check(cublasCreate(&handle), "cublasCreate");
    blas_.reset(handle);
    check(cublasSetStream(handle, stream_.get()), "cublasSetStream");
    totals_ = device_malloc<xent_totals>(1);
  }

  // Copies in flight read or write the staging memory freed below.
  ~cuda_backend() override {
    cudaStreamSynchronize(stream_.get());
    cudaStreamSynchronize(copy_stream_.get());
  }

  std::string name() const override { return name_; }

  device_array alloc(std::size_t n) override {
    if (n == 0) return {};
    if (n > SIZE_MAX / sizeof(float)) throw std::bad_alloc();
    auto p = device_malloc<float>(n);
    check(cudaMemsetAsync(p.get(), 0, n * sizeof(float), stream_.get()), "cudaMemsetAsync");
    return device_array(this, p.release(), n);
  }

  // The source (a pull reply, a batch: pageable) is copied into pinned
  // staging and the caller may reuse it at once; the DMA from staging is
  // queued on the compute stream, ahead of the kernels that read `dst`, and
  // nothing waits for it. Staging is reused from its start once the last
  // copy out of it is done, which by then it nearly always is (a step's
  // kernels ran behind it).
  void upload(const float* host_src, std::size_t n, float* dst) override {
    if (n == 0) return;
    const std::size_t bytes = n * sizeof(float);
    float* staged = stage_upload(n);
    if (staged == nullptr) {  // too big to stage, or no pinned memory
      check(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_.get()),
            "cudaMemcpyAsync (upload)");
      return;
    }
    std::memcpy(staged, host_src, bytes);
    check(cudaMemcpyAsync(dst, staged, bytes, cudaMemcpyHostToDevice, stream_.get()),
          "cudaMemcpyAsync (upload from pinned staging)");
    check(cudaEventRecord(uploaded_.get(), stream_.get()), "cudaEventRecord (upload)");
  }

  void download_async(const float* src, std::size_t n, float* host_dst) override {
    if (n == 0) return;
    float* staged = stage_download(n);
    if (staged == nullptr) return download(src, n, host_dst);
    // The copy stream waits for what the compute stream has queued so far
    // (the kernels that wrote `src`), not for what comes after. Recorded
    // first: a copy in flight is never without its record.
    pending_.push_back({staged, host_dst, n});
    try {
      check(cudaEventRecord(computed_.get(), stream_.get()), "cudaEventRecord (download)");
      check(cudaStreamWaitEvent(copy_stream_.get(), computed_.get(), 0), "cudaStreamWaitEvent");
      check(cudaMemcpyAsync(staged, src, n * sizeof(float), cudaMemcpyDeviceToHost,
                            copy_stream_.get()),
            "cudaMemcpyAsync (download to pinned staging)");
    } catch (...) {
      pending_.pop_back();
      throw;
    }
  }

  void finish_downloads() override {
    if (pending_.empty()) {  // nothing in flight: all of it is free
      down_stage_.reset();
      return;
    }
    // Whatever happens below, these copies are not reported twice.
    auto pending = std::move(pending_);
    pending_.clear();
    check(cudaStreamSynchronize(copy_stream_.get()), "cudaStreamSynchronize (downloads)");
    for (const auto& p : pending) std::memcpy(p.host, p.staged, p.n * sizeof(float));
    down_stage_.reset();  // only now: no copy in flight uses it any more
  }

  void download(const float* src, std::size_t n, float* host_dst) override {
    if (n == 0) return;
    check(cudaMemcpyAsync(host_dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, stream_.get()),
          "cudaMemcpyAsync (download)");
    synchronize();
  }

  void fill_zero(float* dst, std::size_t n) override {
    if (n == 0) return;
    check(cudaMemsetAsync(dst, 0, n * sizeof(float), stream_.get()), "cudaMemsetAsync");
  }

  void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
            const float* b, int ldb, float beta, float* c, int ldc) override {
    if (m <= 0 || n <= 0) return;
    // cuBLAS is column-major, and a row-major matrix read column-major is its
    // transpose: compute C^T = op(B)^T op(A)^T by swapping the operands.
    check(cublasSgemm(blas_.get(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                      trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, b, ldb, a, lda, &beta,
                      c, ldc),
          "cublasSgemm");
  }

  void add_bias(int rows, int cols, const float* bias, float* x) override {
    if (rows <= 0 || cols <= 0) return;
    const std::size_t total = static_cast<std::size_t>(rows) * cols;
    add_bias_kernel<<<grid_for(total), block_threads, 0, stream_.get()>>>(total, cols, bias, x);
    check(cudaGetLastError(), "add_bias kernel launch");
  }

  void bias_grad(int rows, int cols, const float* dy, float beta, float* db) override {
    if (cols <= 0) return;
    const dim3 block(warp, bias_rows);
    const unsigned grid = static_cast<unsigned>((cols + warp - 1) / warp);
    bias_grad_kernel<<<grid, block, 0, stream_.get()>>>(std::max(rows, 0), cols, dy, beta, db);
    check(cudaGetLastError(), "bias_grad kernel launch");
  }

  void relu_forward(std::size_t n, const float* x, float* y) override {
    if (n == 0) return;
    relu_forward_kernel<<<grid_for(n), block_threads, 0, stream_.get()>>>(n, x, y);
    check(cudaGetLastError(), "relu_forward kernel launch");
  }

  void relu_backward(std::size_t n, const float* y, const float* dy, float* dx) override {
    if (n == 0) return;
    relu_backward_kernel<<<grid_for(n), block_threads, 0, stream_.get()>>>(n, y, dy, dx);
    check(cudaGetLastError(), "relu_backward kernel launch");
  }

  void tanh_forward(std::size_t n, const float* x, float* y) override {
    if (n == 0) return;
    tanh_forward_kernel<<<grid_for(n), block_threads, 0, stream_.get()>>>(n, x, y);
    check(cudaGetLastError(), "tanh_forward kernel launch");
  }

  void tanh_backward(std::size_t n, const float* y, const float* dy, float* dx) override {
    if (n == 0) return;
    tanh_backward_kernel<<<grid_for(n), block_threads, 0, stream_.get()>>>(n, y, dy, dx);
    check(cudaGetLastError(), "tanh_backward kernel launch");
  }

  void sigmoid_forward(std::size_t n, const float* x, float* y) override {
    if (n == 0) return;
    sigmoid_forward_kernel<<<grid_for(n), block_threads, 0, stream_.get()>>>(n, x, y);
    check(cudaGetLastError(), "sigmoid_forward kernel launch");
  }

  void sigmoid_backward(std::size_t n, const float* y, const float* dy, float* dx) override {
    if (n == 0) return;
    sigmoid_backward_kernel<<<grid_for(n), block_threads, 0, stream_.get()>>>(n, y, dy, dx);
    check(cudaGetLastError(), "sigmoid_backward kernel launch");
  }

  xent_result logistic_xent(int rows, const float* logits, const std::int32_t* host_labels,
                            float* dlogits) override {
    xent_result result;
    if (rows <= 0) return result;
    for (int r = 0; r < rows; ++r) {
      if (host_labels[r] != 0 && host_labels[r] != 1) {
        throw std::out_of_range("logistic_xent: label " + std::to_string(host_labels[r]) +
                                " of row " + std::to_string(r) + " is outside [0, 2)");
      }
    }
    upload_labels(host_labels, static_cast<std::size_t>(rows));
    cudaStream_t s = stream_.get();
    check(cudaMemsetAsync(totals_.get(), 0, sizeof(xent_totals), s), "cudaMemsetAsync (totals)");
    logistic_xent_kernel<<<grid_for(static_cast<std::size_t>(rows)), block_threads, 0, s>>>(
        rows, logits, labels_.get(), dlogits, 1.f / rows, totals_.get());
    check(cudaGetLastError(), "logistic_xent kernel launch");
    const auto totals = download_totals();
    result.loss_sum = totals.loss;
    result.correct = totals.correct;
    return result;
  }

  xent_result squared_error(int rows, int cols, const float* outputs, const float* host_targets,
                            float* doutputs) override {
    xent_result result;
    if (rows <= 0 || cols <= 0) return result;
    const std::size_t n = static_cast<std::size_t>(rows) * cols;
    if (n > targets_capacity_) {
      targets_ = device_malloc<float>(n);
      targets_capacity_ = n;
    }
    cudaStream_t s = stream_.get();
    check(
        cudaMemcpyAsync(targets_.get(), host_targets, n * sizeof(float), cudaMemcpyHostToDevice, s),
        "cudaMemcpyAsync (targets)");
    check(cudaMemsetAsync(totals_.get(), 0, sizeof(xent_totals), s), "cudaMemsetAsync (totals)");
    squared_error_kernel<<<grid_for(n), block_threads, 0, s>>>(n, outputs, targets_.get(), doutputs,
                                                               2.f / rows, totals_.get());
    check(cudaGetLastError(), "squared_error kernel launch");
    const auto totals = download_totals();
    result.loss_sum = totals.loss;
    result.abs_err_sum = totals.abs_err;
    return result;
  }

  xent_result softmax_xent(int rows, int classes, const float* logits,
                           const std::int32_t* host_labels, float* dlogits) override {
    xent_result result;
    if (rows <= 0 || classes <= 0) return result;
    // Checked on the host: an out-of-range label would read past the row on
    // the device and fail silently.
    for (int r = 0; r < rows; ++r) {
      if (host_labels[r] < 0 || host_labels[r] >= classes) {
        throw std::out_of_range("softmax_xent: label " + std::to_string(host_labels[r]) +
                                " of row " + std::to_string(r) + " is outside [0, " +
                                std::to_string(classes) + ")");
      }
    }
    upload_labels(host_labels, static_cast<std::size_t>(rows));
    cudaStream_t s = stream_.get();
    check(cudaMemsetAsync(totals_.get(), 0, sizeof(xent_totals), s), "cudaMemsetAsync (totals)");
    const int blocks = std::min((rows + xent_warps - 1) / xent_warps, sm_count_ * 16);
    softmax_xent_kernel<<<blocks, xent_warps * warp, 0, s>>>(rows, classes, logits, labels_.get(),
                                                             dlogits, 1.f / rows, totals_.get());
    check(cudaGetLastError(), "softmax_xent kernel launch");
    const auto totals = download_totals();
    result.loss_sum = totals.loss;
    result.correct = totals.correct;
    return result;
  }

  void axpy(std::size_t n, float alpha, const float* x, float* y) override {
    // cuBLAS takes an int count; split arrays longer than INT_MAX.
    while (n > 0) {
      const int chunk = static_cast<int>(std::min<std::size_t>(n, INT_MAX));
      check(cublasSaxpy(blas_.get(), chunk, &alpha, x, 1, y, 1), "cublasSaxpy");
      x += chunk;
      y += chunk;
      n -= static_cast<std::size_t>(chunk);
    }
  }

  void synchronize() override {
    check(cudaStreamSynchronize(stream_.get()), "cudaStreamSynchronize");
    check(cudaStreamSynchronize(copy_stream_.get()), "cudaStreamSynchronize (copies)");
    // Every upload is done (they run on the compute stream): the next ones
    // start at the region's beginning. A step synchronises once (its loss),
    // so the region holds one step's uploads instead of growing to its cap.
    up_stage_.reset();
  }

 private:
  struct pending_download {
    const float* staged;
    float* host;
    std::size_t n;
  };

  // Queued kernels and copies may still use `ptr`: let them finish before
  // freeing. (A stream-ordered cudaFreeAsync would avoid the wait, but arrays
  // are meant to be allocated once and reused, not per step.)
  void release(float* ptr) noexcept override {
    cudaStreamSynchronize(stream_.get());
    cudaStreamSynchronize(copy_stream_.get());
    cudaFree(ptr);
  }

  // Pinned room for an upload of n floats, or null: then the caller copies
  // from pageable memory.
  float* stage_upload(std::size_t n) {
    if (pinned_stage::rounded(n) > pinned_stage::max_floats) return nullptr;  // never staged
    if (up_stage_.fits(n)) return up_stage_.take(n);
    // Full. The latest staged copy is queued behind all the others: once it
    // is done (usually: a step's kernels ran behind it), start over.
    if (!up_stage_.empty()) {
      const cudaError_t state = cudaEventQuery(uploaded_.get());
      if (state == cudaSuccess) {
        up_stage_.reset();
        if (up_stage_.fits(n)) return up_stage_.take(n);
      } else if (state != cudaErrorNotReady) {
        check(state, "cudaEventQuery (upload staging)");
      }
    }
    if (up_stage_.grow(n)) return up_stage_.take(n);
    // It may not grow: wait for the copies out of it.
    if (!up_stage_.empty()) {
      check(cudaEventSynchronize(uploaded_.get()), "cudaEventSynchronize (upload staging)");
    }
    up_stage_.reset();
    return up_stage_.fits(n) ? up_stage_.take(n) : nullptr;
  }

  // Pinned room for a download of n floats, or null (then a synchronous
  // download). A full region grows while it may (copies into the retired one
  // still land there and finish_downloads collects them), else is emptied by
  // completing what it holds.
  float* stage_download(std::size_t n) {
    if (down_stage_.fits(n)) return down_stage_.take(n);
    if (down_stage_.grow(n)) return down_stage_.take(n);
    finish_downloads();
    return down_stage_.fits(n) ? down_stage_.take(n) : nullptr;
  }

  void upload_labels(const std::int32_t* host_labels, std::size_t count) {
    if (count > labels_capacity_) {
      labels_ = device_malloc<std::int32_t>(count);
      labels_capacity_ = count;
    }
    check(cudaMemcpyAsync(labels_.get(), host_labels, count * sizeof(std::int32_t),
                          cudaMemcpyHostToDevice, stream_.get()),
          "cudaMemcpyAsync (labels)");
  }

  xent_totals download_totals() {
    xent_totals totals{};
    check(cudaMemcpyAsync(&totals, totals_.get(), sizeof totals, cudaMemcpyDeviceToHost,
                          stream_.get()),
          "cudaMemcpyAsync (totals)");
    synchronize();
    return totals;
  }

  unsigned grid_for(std::size_t n) const {
    const std::size_t blocks = (n + block_threads - 1) / block_threads;
    // Grid-stride loops cover the rest; a few waves per SM keep it busy.
    return static_cast<unsigned>(std::min<std::size_t>(blocks, std::size_t(sm_count_) * 32));
  }

  int sm_count_ = 1;
  std::string name_;
  // Declaration order is destruction order reversed: device buffers, the
  // cuBLAS handle, pinned staging, then the events and streams (the
  // destructor has waited for both streams).
  stream_ptr stream_;
  stream_ptr copy_stream_;
  event_ptr computed_;  // recorded on stream_ before each download_async
  event_ptr uploaded_;  // recorded on stream_ after each staged upload
  pinned_stage up_stage_, down_stage_;
  std::vector<pending_download> pending_;
  blas_ptr blas_;
  device_ptr<xent_totals> totals_;
  device_ptr<std::int32_t> labels_;
  std::size_t labels_capacity_ = 0;
  device_ptr<float> targets_;
  std::size_t targets_capacity_ = 0;
};

std::string device_count_problem() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear it so later, unrelated calls do not report it
    return std::string("cudaGetDeviceCount failed with error ") +
           std::to_string(static_cast<int>(err)) + " (" + cudaGetErrorName(err) + ": " +
           cudaGetErrorString(err) + ")";
  }
  if (count == 0) return "cudaGetDeviceCount reports 0 devices";
  return {};
}

}  // namespace

bool cuda_device_present() {
  return device_count_problem().empty();
}

std::unique_ptr<backend> make_cuda_backend() {
  const std::string problem = device_count_problem();
  if (!problem.empty()) {
    throw std::runtime_error("CUDA backend requested but no GPU was found: " + problem);
  }
  return std::make_unique<cuda_backend>();
}

}  // namespace troupe::kernels
