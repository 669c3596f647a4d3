// The C entry points of libtroupe_cuda.so (see cuda_module.hpp): they turn
// the CUDA backend's exceptions into messages, since exceptions should not
// cross a dlopen boundary.
#include "kernels/cuda_module.hpp"

#include <cstring>
#include <exception>
#include <string>

#include "kernels/cuda_backend.hpp"

namespace {

void copy_reason(const std::string& text, char* why, std::size_t n) {
  if (why == nullptr || n == 0) return;
  const std::size_t len = text.size() < n - 1 ? text.size() : n - 1;
  std::memcpy(why, text.data(), len);
  why[len] = '\0';
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int troupe_cuda_module_abi() {
  return troupe::kernels::cuda_module_abi;
}

__attribute__((visibility("default"))) int troupe_cuda_device_present(char* why, std::size_t n) {
  try {
    if (troupe::kernels::cuda_device_present()) return 1;
    copy_reason("the CUDA runtime reports no usable device", why, n);
  } catch (const std::exception& e) {
    copy_reason(e.what(), why, n);
  } catch (...) {
    copy_reason("the CUDA module failed with an unknown exception", why, n);
  }
  return 0;
}

__attribute__((visibility("default"))) troupe::kernels::backend* troupe_cuda_make_backend(
    char* why, std::size_t n) {
  try {
    return troupe::kernels::make_cuda_backend().release();
  } catch (const std::exception& e) {
    copy_reason(e.what(), why, n);
  } catch (...) {
    copy_reason("the CUDA module failed with an unknown exception", why, n);
  }
  return nullptr;
}
}
