#include "engine/workloads/workload_registry.hpp"

#include <map>
#include <mutex>
#include <set>

#include "engine/errors.hpp"

namespace troupe {

namespace {

struct registry {
  std::mutex mutex;
  std::map<std::string, workload_kind> kinds;
};

// All or none: each kind is checked, and every name must be free (and
// distinct) under the one lock that then adds them.
void add(registry& r, std::vector<workload_kind> kinds) {
  for (const auto& kind : kinds) {
    auto fail = [&](const std::string& why) {
      throw troupe_error(errc::bad_config, "register workload '" + kind.name + "': " + why);
    };
    if (kind.name.empty()) fail("the name is empty");
    if (!kind.load_data || !kind.tables || !kind.make_train || !kind.make_eval) {
      fail("load_data, tables, make_train and make_eval are required");
    }
  }
  std::lock_guard<std::mutex> lock(r.mutex);
  std::set<std::string> names;
  for (const auto& kind : kinds) {
    if (r.kinds.count(kind.name) || !names.insert(kind.name).second) {
      throw troupe_error(errc::bad_config,
                         "register workload '" + kind.name + "': the name is taken");
    }
  }
  for (auto& kind : kinds) {
    auto name = kind.name;
    r.kinds.emplace(std::move(name), std::move(kind));
  }
}

registry& raw() {
  static registry r;
  return r;
}

// The registry with the built-in kinds in it (added once, before any use).
registry& ready() {
  static const bool builtins = [] {
    register_builtin_workloads([](workload_kind k) { add(raw(), {std::move(k)}); });
    return true;
  }();
  (void)builtins;
  return raw();
}

}  // namespace

void register_workload_kind(workload_kind kind) {
  std::vector<workload_kind> one;
  one.push_back(std::move(kind));
  add(ready(), std::move(one));
}

void register_workload_kinds(std::vector<workload_kind> kinds) {
  add(ready(), std::move(kinds));
}

const workload_kind* find_workload_kind(const std::string& name) {
  auto& r = ready();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.kinds.find(name);
  return it == r.kinds.end() ? nullptr : &it->second;
}

bool brings_own_data(const std::string& name) {
  const auto* k = find_workload_kind(name);
  return k != nullptr && k->own_data;
}

const workload_kind& workload_kind_of(const std::string& name) {
  if (const auto* k = find_workload_kind(name)) return *k;
  std::string known;
  for (const auto& n : workload_kind_names()) known += (known.empty() ? "" : ", ") + n;
  throw troupe_error(errc::bad_config,
                     "model.kind: unknown model '" + name + "' (known: " + known + ")");
}

std::vector<std::string> workload_kind_names() {
  auto& r = ready();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& [name, kind] : r.kinds) names.push_back(name);
  return names;
}

}  // namespace troupe
