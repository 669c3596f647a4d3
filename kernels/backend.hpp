#pragma once
// The compute backend interface: the few dense kernels a worker needs for
// forward and backward passes, over memory the backend owns (host memory for
// the CPU backend, device memory for CUDA).
//
// Usage:
//   auto backend = troupe::kernels::make_backend(troupe::kernels::backend_kind::automatic);
//   auto a = backend->alloc(m * k);                 // zero-filled
//   backend->upload(host_a, m * k, a.data());
//   backend->gemm(false, false, m, n, k, 1.f, a.data(), k, b.data(), n, 0.f, c.data(), n);
//   backend->download(c.data(), m * n, host_c);
//   backend->download_async(c.data(), m * n, host_c);   // or: queued, lands at
//   backend->finish_downloads();                        // finish_downloads()
//
// All matrices are row-major. Pointers passed to kernels must come from
// `alloc` of the same backend (or be host pointers where a parameter says so).
// Kernels may run asynchronously; `download` and `softmax_xent` synchronise.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace troupe::kernels {

enum class backend_kind { cpu, cuda, automatic };

class backend;

/// A float array owned by a backend; released when it goes out of scope.
class device_array {
 public:
  device_array() = default;
  device_array(backend* owner, float* ptr, std::size_t n) : owner_(owner), ptr_(ptr), size_(n) {}
  device_array(device_array&& other) noexcept { swap(other); }
  device_array& operator=(device_array&& other) noexcept {
    device_array tmp(std::move(other));
    swap(tmp);
    return *this;
  }
  device_array(const device_array&) = delete;
  device_array& operator=(const device_array&) = delete;
  ~device_array();

  float* data() const { return ptr_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  void swap(device_array& other) noexcept {
    std::swap(owner_, other.owner_);
    std::swap(ptr_, other.ptr_);
    std::swap(size_, other.size_);
  }
  backend* owner_ = nullptr;
  float* ptr_ = nullptr;
  std::size_t size_ = 0;
};

/// Result of a softmax cross-entropy evaluation over a batch.
struct xent_result {
  double loss_sum = 0;  ///< sum over rows of -log softmax(logits)[label] (or the loss's own term)
  int correct = 0;      ///< rows whose arg-max equals the label (classification losses)
  double abs_err_sum = 0;  ///< squared_error only: sum of |output - target|
};

class backend {
 public:
  virtual ~backend() = default;

  /// "cpu" or "cuda:<device name>".
  virtual std::string name() const = 0;

  /// True when backend memory is host memory: kernels may then read host
  /// pointers directly (no upload needed).
  virtual bool host_memory() const { return false; }

  /// Allocates `n` floats, zero-filled.
  virtual device_array alloc(std::size_t n) = 0;
  /// Allocates `n` floats whose contents are unspecified, for buffers that a
  /// kernel writes before anything reads them (activations, scratch).
  virtual device_array alloc_scratch(std::size_t n) { return alloc(n); }

  /// Copies `n` floats from host memory into backend memory `dst`; the source
  /// may be reused once it returns (the copy itself may still be queued).
  virtual void upload(const float* host_src, std::size_t n, float* dst) = 0;
  /// Copies `n` floats from backend memory into host memory; synchronises.
  virtual void download(const float* src, std::size_t n, float* host_dst) = 0;
  /// Queues a copy of `n` floats of backend memory `src` into host memory
  /// `host_dst`, which holds them once `finish_downloads` returns (not
  /// before). Work queued afterwards runs meanwhile but must not write `src`
  /// until then: a step's gradients travel to the host while the rest of its
  /// backward pass computes. Host-memory backends copy at once.
  virtual void download_async(const float* src, std::size_t n, float* host_dst) {
    download(src, n, host_dst);
  }
  /// Completes every `download_async` queued so far; synchronises with them.
  virtual void finish_downloads() {}
  /// Sets `n` floats of backend memory to zero.
  virtual void fill_zero(float* dst, std::size_t n) = 0;

  /// C[m,n] = alpha * op(A) * op(B) + beta * C (row-major; op = transpose if
  /// the flag is set; lda/ldb/ldc are row strides of the stored matrices).
  virtual void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                    int lda, const float* b, int ldb, float beta, float* c, int ldc) = 0;

  /// x[r, c] += bias[c] for a rows x cols matrix.
  virtual void add_bias(int rows, int cols, const float* bias, float* x) = 0;
  /// db[c] = beta * db[c] + sum_r dy[r, c].
  virtual void bias_grad(int rows, int cols, const float* dy, float beta, float* db) = 0;

  /// y = max(x, 0); x and y may alias.
  virtual void relu_forward(std::size_t n, const float* x, float* y) = 0;
  /// dx = dy where y > 0, else 0; dy and dx may alias.
  virtual void relu_backward(std::size_t n, const float* y, const float* dy, float* dx) = 0;

  /// y = tanh(x); x and y may alias.
  virtual void tanh_forward(std::size_t n, const float* x, float* y) = 0;
  /// dx = dy * (1 - y^2), y the forward output; dy and dx may alias.
  virtual void tanh_backward(std::size_t n, const float* y, const float* dy, float* dx) = 0;
  /// y = 1 / (1 + exp(-x)); x and y may alias.
  virtual void sigmoid_forward(std::size_t n, const float* x, float* y) = 0;
  /// dx = dy * y * (1 - y), y the forward output; dy and dx may alias.
  virtual void sigmoid_backward(std::size_t n, const float* y, const float* dy, float* dx) = 0;

  /// Binary logistic loss of one logit z per row against host `labels` in
  /// {0, 1}: loss = log(1 + exp(-z)) for 1, log(1 + exp(z)) for 0; a row is
  /// correct when (z >= 0) == (label == 1). When `dlogits` is not null it
  /// receives (sigmoid(z) - label) / rows (may alias logits). Synchronises.
  virtual xent_result logistic_xent(int rows, const float* logits, const std::int32_t* host_labels,
                                    float* dlogits) = 0;

  /// Squared error of `outputs` (rows x cols) against host `targets` (same
  /// shape): loss_sum = sum (y - t)^2, abs_err_sum = sum |y - t|. When
  /// `doutputs` is not null it receives 2 (y - t) / rows, the gradient of
  /// the per-row mean (may alias outputs). Synchronises.
  virtual xent_result squared_error(int rows, int cols, const float* outputs,
                                    const float* host_targets, float* doutputs) = 0;

  /// Row-wise softmax cross-entropy of `logits` (rows x classes) against host
  /// `labels` (rows entries in [0, classes)). When `dlogits` is not null it
  /// receives d(mean loss)/d(logits) = (softmax - onehot) / rows. Synchronises.
  virtual xent_result softmax_xent(int rows, int classes, const float* logits,
                                   const std::int32_t* host_labels, float* dlogits) = 0;

  /// y += alpha * x.
  virtual void axpy(std::size_t n, float alpha, const float* x, float* y) = 0;

  /// Waits for all queued work.
  virtual void synchronize() = 0;

 private:
  friend class device_array;
  virtual void release(float* ptr) noexcept = 0;
};

inline device_array::~device_array() {
  if (owner_ != nullptr && ptr_ != nullptr) owner_->release(ptr_);
}

/// True when the CUDA driver reports a GPU and the CUDA backend module
/// (libtroupe_cuda.so, see cuda_module.hpp) loads and finds it. Without a
/// driver nothing of CUDA is loaded.
bool cuda_available();

/// Why `automatic` would pick the CPU although the driver reports a GPU (the
/// module is missing, or the CUDA runtime refuses the device); empty when
/// CUDA is usable, and when there is no GPU at all (the expected CPU case).
std::string cuda_fallback_reason();

/// Creates a backend. `automatic` picks CUDA when `cuda_available()`, else
/// the CPU. Asking for `cuda` without a GPU or without the module throws
/// std::runtime_error saying why. The CPU backend never loads CUDA.
/// `threads` bounds BLAS threads of the CPU backend (0 = library default).
std::unique_ptr<backend> make_backend(backend_kind kind, int threads = 1);

/// Parses "cpu", "cuda" or "auto"; throws std::invalid_argument otherwise.
backend_kind parse_backend_kind(const std::string& text);

}  // namespace troupe::kernels
