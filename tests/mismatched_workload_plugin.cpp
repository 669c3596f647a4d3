// A workload plugin as one built against other Troupe headers looks to the
// loader: it announces another plugin interface version, through the entry
// that the headers' inline plugin_host::add calls. Loading it must be a
// clear error, not a crash in the first call across the boundary.
#include "troupe/workload.hpp"

namespace {

struct other_headers : troupe::plugin_host {
  static troupe::result<void> add_as(troupe::plugin_host& host, std::uint32_t version) {
    const auto entry = &other_headers::add_checked;  // protected: reached through a subclass
    return (host.*entry)(version, layout(), "from_other_headers", {});
  }
};

}  // namespace

extern "C" void troupe_register_workloads(troupe::plugin_host& host) {
  (void)other_headers::add_as(host, troupe::plugin_host::interface_version + 1);
}
