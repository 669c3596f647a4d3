#include "kernels/backend.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>

#include "kernels/cpu_backend.hpp"
#include "kernels/cuda_module.hpp"

namespace troupe::kernels {

namespace {

// Asks the CUDA driver (libcuda.so.1, not the toolkit's libraries) whether a
// GPU is there, so that `auto` on a CPU-only machine loads nothing of CUDA.
bool driver_reports_gpu(std::string& why) {
  void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (driver == nullptr) {
    why = "no GPU: the CUDA driver (libcuda.so.1) is not installed";
    return false;
  }
  using init_fn = int (*)(unsigned);
  using count_fn = int (*)(int*);
  auto init = reinterpret_cast<init_fn>(dlsym(driver, "cuInit"));
  auto count = reinterpret_cast<count_fn>(dlsym(driver, "cuDeviceGetCount"));
  int devices = 0;
  bool ok = false;
  if (init == nullptr || count == nullptr) {
    why = "no GPU: libcuda.so.1 lacks cuInit/cuDeviceGetCount";
  } else if (const int err = init(0); err != 0) {
    why = "no GPU: cuInit failed with CUDA driver error " + std::to_string(err);
  } else if (count(&devices) != 0 || devices == 0) {
    why = "no GPU: the CUDA driver reports no device";
  } else {
    ok = true;
  }
  if (!ok) dlclose(driver);  // with a GPU, the module will need it anyway
  return ok;
}

// libtroupe_cuda.so, loaded once (TROUPE_CUDA_MODULE names another path);
// its functions, or why it cannot be used.
struct cuda_module {
  int (*device_present)(char*, std::size_t) = nullptr;
  backend* (*make)(char*, std::size_t) = nullptr;
  std::string problem;

  static const cuda_module& get() {
    static const cuda_module m = load();
    return m;
  }

 private:
  static cuda_module load() {
    cuda_module m;
    const char* env = std::getenv("TROUPE_CUDA_MODULE");
    const std::string path = env != nullptr && *env != '\0' ? env : "libtroupe_cuda.so";
    // Never closed: backends it made may live until the process ends.
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* err = dlerror();
      m.problem = "the CUDA module " + path + " could not be loaded (" +
                  (err != nullptr ? err : "unknown error") +
                  "): this Troupe was built without CUDA, or the module is not installed";
      return m;
    }
    auto abi = reinterpret_cast<int (*)()>(dlsym(handle, "troupe_cuda_module_abi"));
    m.device_present =
        reinterpret_cast<int (*)(char*, std::size_t)>(dlsym(handle, "troupe_cuda_device_present"));
    m.make = reinterpret_cast<backend* (*)(char*, std::size_t)>(
        dlsym(handle, "troupe_cuda_make_backend"));
    if (abi == nullptr || m.device_present == nullptr || m.make == nullptr) {
      m.problem = path + " is not a Troupe CUDA module (entry points missing)";
    } else if (abi() != cuda_module_abi) {
      m.problem = path + " was built for interface version " + std::to_string(abi()) +
                  ", this Troupe needs " + std::to_string(cuda_module_abi);
    }
    if (!m.problem.empty()) {
      m.device_present = nullptr;
      m.make = nullptr;
    }
    return m;
  }
};

std::unique_ptr<backend> make_cuda() {
  std::string why;
  if (!driver_reports_gpu(why)) throw std::runtime_error("CUDA backend requested but " + why);
  const auto& m = cuda_module::get();
  if (m.make == nullptr) throw std::runtime_error("CUDA backend requested but " + m.problem);
  char reason[512] = {};
  std::unique_ptr<backend> b(m.make(reason, sizeof reason));
  if (!b) throw std::runtime_error(reason);
  return b;
}

// With a GPU reported by the driver: why the CUDA module cannot use it,
// empty when it can.
std::string module_problem() {
  const auto& m = cuda_module::get();
  if (m.device_present == nullptr) return m.problem;
  char reason[512] = {};
  if (m.device_present(reason, sizeof reason) == 1) return {};
  return reason[0] != '\0' ? std::string(reason) : "the CUDA module reports no usable device";
}

}  // namespace

bool cuda_available() {
  std::string why;
  return driver_reports_gpu(why) && module_problem().empty();
}

std::string cuda_fallback_reason() {
  std::string why;
  return driver_reports_gpu(why) ? module_problem() : std::string{};
}

std::unique_ptr<backend> make_backend(backend_kind kind, int threads) {
  switch (kind) {
    case backend_kind::cpu:
      return std::make_unique<cpu_backend>(threads);
    case backend_kind::cuda:
      return make_cuda();  // throws saying why when no GPU or no module
    case backend_kind::automatic:
      if (cuda_available()) return make_cuda();
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
