// A workload plugin (include/troupe/workload.hpp) for the tests: built from
// the public headers alone (linked with --no-undefined, so it needs no
// Troupe library), loaded by `troupe --plugin` and load_workload_plugin.
#include <memory>

#include "linear_workload.hpp"

extern "C" void troupe_register_workloads(troupe::plugin_host& host) {
  host.add("plugin_linear", [](const troupe::workload_context& ctx) {
    return std::make_unique<troupe::test_support::linear_with_offsets>(ctx);
  });
}
