#pragma once
// Entry points of the CUDA/cuBLAS backend, inside the module
// libtroupe_cuda.so (kernels/cuda_module.hpp is its C interface, which the
// rest of Troupe loads at run time). A plain C++ header: no CUDA headers.

#include <memory>

#include "kernels/backend.hpp"

namespace troupe::kernels {

/// Creates a backend on the calling thread's current CUDA device (device 0
/// unless the caller chose another with cudaSetDevice). Throws
/// std::runtime_error naming the CUDA error when no usable GPU is present.
std::unique_ptr<backend> make_cuda_backend();

/// True when the CUDA runtime reports at least one device. Any error from
/// cudaGetDeviceCount (without a GPU the driver answers 35, "insufficient
/// driver", not 100, "no device") counts as "no GPU".
bool cuda_device_present();

}  // namespace troupe::kernels
