#include "kernels/backend.hpp"

#include <stdexcept>
#include <string>

#include "kernels/cpu_backend.hpp"
#include "kernels/cuda_backend.hpp"

namespace troupe::kernels {

bool cuda_available() {
#if defined(TROUPE_HAVE_CUDA)
  return cuda_device_present();
#else
  return false;
#endif
}

std::unique_ptr<backend> make_backend(backend_kind kind, int threads) {
  switch (kind) {
    case backend_kind::cpu:
      return std::make_unique<cpu_backend>(threads);
    case backend_kind::cuda:
#if defined(TROUPE_HAVE_CUDA)
      // Throws with the CUDA error when no GPU is usable.
      return make_cuda_backend();
#else
      throw std::runtime_error(
          "CUDA backend requested but this Troupe was built without CUDA (nvcc not found at "
          "configure time, or TROUPE_CUDA=OFF)");
#endif
    case backend_kind::automatic:
      if (cuda_available()) return make_backend(backend_kind::cuda, threads);
      return std::make_unique<cpu_backend>(threads);
  }
  throw std::invalid_argument("make_backend: unknown backend_kind " +
                              std::to_string(static_cast<int>(kind)));
}

backend_kind parse_backend_kind(const std::string& text) {
  if (text == "cpu") return backend_kind::cpu;
  if (text == "cuda") return backend_kind::cuda;
  if (text == "auto") return backend_kind::automatic;
  throw std::invalid_argument("unknown backend \"" + text + "\"; expected cpu, cuda or auto");
}

}  // namespace troupe::kernels
