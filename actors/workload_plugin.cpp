// troupe::load_workload_plugin (include/troupe/workload.hpp): custom workload
// kinds from a shared library, so that a node daemon can host them.
#include <dlfcn.h>

#include <spdlog/spdlog.h>

#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "troupe/workload.hpp"

namespace troupe {

namespace {

// Registers what the plugin adds, remembering the first refusal.
class registering_host final : public plugin_host {
 public:
  result<void> add(const std::string& name, workload_factory factory) override {
    auto r = register_workload(name, std::move(factory));
    if (r) {
      added_.push_back(name);
    } else if (!failure_) {
      failure_ = r.error();
    }
    return r;
  }
  const std::vector<std::string>& added() const { return added_; }
  const std::optional<api_error>& failure() const { return failure_; }

 private:
  std::vector<std::string> added_;
  std::optional<api_error> failure_;
};

}  // namespace

result<void> load_workload_plugin(const std::string& path) {
  // dlopen and dlerror share state between threads.
  static std::mutex loading;
  std::lock_guard<std::mutex> lock(loading);
  // Never closed: the kinds' factories and vtables live in it.
  void* lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = ::dlerror();
    return api_error{api_errc::bad_argument,
                     "cannot load workload plugin " + path + ": " + (why ? why : "unknown reason")};
  }
  using entry_fn = void (*)(plugin_host&);
  auto entry = reinterpret_cast<entry_fn>(::dlsym(lib, "troupe_register_workloads"));
  if (entry == nullptr) {
    return api_error{api_errc::bad_argument,
                     path +
                         " is not a workload plugin: it defines no extern \"C\" "
                         "troupe_register_workloads(troupe::plugin_host&)"};
  }
  registering_host host;
  try {
    entry(host);
  } catch (const std::exception& e) {
    return api_error{api_errc::bad_argument,
                     "workload plugin " + path + " failed to register: " + e.what()};
  } catch (...) {
    return api_error{api_errc::bad_argument, "workload plugin " + path + " failed to register"};
  }
  if (host.failure()) {
    return api_error{api_errc::bad_argument,
                     "workload plugin " + path + ": " + host.failure()->message};
  }
  if (host.added().empty()) {
    return api_error{api_errc::bad_argument, "workload plugin " + path + " added no workload"};
  }
  std::string names;
  for (const auto& n : host.added()) names += (names.empty() ? "" : ", ") + n;
  spdlog::info("workload plugin {}: {}", path, names);
  return {};
}

}  // namespace troupe
