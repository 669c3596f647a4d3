// troupe::load_workload_plugin (include/troupe/workload.hpp): custom workload
// kinds from a shared library, so that a node daemon can host them.
#include <dlfcn.h>

#include <spdlog/spdlog.h>

#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/custom_workload_kind.hpp"
#include "engine/errors.hpp"
#include "engine/workloads/workload_registry.hpp"
#include "troupe/workload.hpp"

namespace troupe {

namespace {

// Takes what the plugin adds and registers it only once the plugin's entry
// returned without a refusal or an exception: a plugin that fails half-way
// leaves no kind behind (a later fixed copy could not register its names).
class registering_host final : public plugin_host {
 public:
  result<void> add_checked(std::uint32_t version, std::uint64_t layout, const std::string& name,
                           workload_factory factory) override {
    if (version != interface_version || layout != plugin_host::layout()) {
      // `factory` is not touched: its layout may not be ours (the plugin,
      // the caller, destroys it).
      failure_ = api_error{
          api_errc::bad_argument,
          "it was built against other Troupe headers (plugin interface " + std::to_string(version) +
              ", layout " + std::to_string(layout % 100000) + ") than this binary's (interface " +
              std::to_string(interface_version) + ", layout " +
              std::to_string(plugin_host::layout() % 100000) +
              "): rebuild it against this installation's include/troupe, with the same compiler "
              "and C++ library"};
      return *failure_;
    }
    auto r = check(name, factory);
    if (r) {
      pending_.emplace_back(name, std::move(factory));
    } else if (!failure_) {
      failure_ = r.error();
    }
    return r;
  }
  const std::optional<api_error>& failure() const { return failure_; }
  bool empty() const { return pending_.empty(); }

  /// Registers every kind added, or none (a name taken since the check, by
  /// another thread's register_workload); the names registered.
  result<std::vector<std::string>> commit() {
    std::vector<std::string> names;
    std::vector<workload_kind> kinds;
    for (auto& [name, factory] : pending_) {
      names.push_back(name);
      kinds.push_back(custom_workload_kind(name, std::move(factory)));
    }
    try {
      register_workload_kinds(std::move(kinds));
    } catch (const troupe_error& e) {
      return api_error{api_errc::bad_argument, e.what()};
    }
    return names;
  }

 private:
  result<void> check(const std::string& name, const workload_factory& factory) const {
    if (name.empty()) return api_error{api_errc::bad_argument, "a workload needs a name"};
    if (!factory) {
      return api_error{api_errc::bad_argument, "workload '" + name + "' has no factory"};
    }
    for (const auto& p : pending_) {
      if (p.first == name) {
        return api_error{api_errc::bad_argument, "workload '" + name + "' is added twice"};
      }
    }
    if (find_workload_kind(name) != nullptr) {
      return api_error{api_errc::bad_argument,
                       "register workload '" + name + "': the name is taken"};
    }
    return {};
  }

  std::vector<std::pair<std::string, workload_factory>> pending_;
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
  if (host.empty()) {
    return api_error{api_errc::bad_argument, "workload plugin " + path + " added no workload"};
  }
  auto added = host.commit();
  if (!added) {
    return api_error{api_errc::bad_argument,
                     "workload plugin " + path + ": " + added.error().message};
  }
  std::string names;
  for (const auto& n : *added) names += (names.empty() ? "" : ", ") + n;
  spdlog::info("workload plugin {}: {}", path, names);
  return {};
}

}  // namespace troupe
