// A workload plugin that adds a kind and then fails (an exception from its
// entry): loading it must leave no kind of it registered.
#include <memory>
#include <stdexcept>

#include "linear_workload.hpp"

extern "C" void troupe_register_workloads(troupe::plugin_host& host) {
  host.add("half_registered_linear", [](const troupe::workload_context& ctx) {
    return std::make_unique<troupe::test_support::linear_with_offsets>(ctx);
  });
  throw std::runtime_error("no licence for the second kind");
}
