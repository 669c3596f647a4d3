#pragma once
// The C interface of the CUDA backend module, libtroupe_cuda.so: the only
// code that links cuBLAS and the CUDA runtime. kernels/backend.cpp loads it
// with dlopen when a CUDA backend is asked for (or `auto` finds a GPU
// through the driver), so a CPU-only process never maps the CUDA libraries.
//
//   void* m = dlopen("libtroupe_cuda.so", RTLD_NOW | RTLD_LOCAL);
//   auto abi = reinterpret_cast<int (*)()>(dlsym(m, "troupe_cuda_module_abi"));
//   if (abi() != troupe::kernels::cuda_module_abi) ...   // refuse a stale module

#include <cstddef>

namespace troupe::kernels {

class backend;

/// Bumped whenever `backend`'s virtual functions or these signatures change:
/// a module built against another version is refused, never called.
inline constexpr int cuda_module_abi = 3;

}  // namespace troupe::kernels

extern "C" {
/// The cuda_module_abi the module was built with.
int troupe_cuda_module_abi();
/// 1 when the CUDA runtime reports a usable device; else 0, with the reason
/// in `why` (NUL-terminated, at most `n` bytes).
int troupe_cuda_device_present(char* why, std::size_t n);
/// A new CUDA backend (delete it through `backend*`), or null with the
/// reason in `why`.
troupe::kernels::backend* troupe_cuda_make_backend(char* why, std::size_t n);
}
