// Fuzz target: the node daemon's configuration file (tools/node_config.hpp).
// Anything but a node_config or a troupe_error is a bug.
#include "engine/errors.hpp"
#include "fuzz_target.hpp"
#include "tools/node_config.hpp"

namespace troupe::fuzz {

std::vector<std::string> seeds() {
  return {
      "listen = \"10.0.0.1:7000\"\nname = \"n1\"\nslots = 8\nmetrics = \"127.0.0.1:9100\"\n"
      "secret_file = \"/etc/troupe/cluster.key\"\ndata_dir = \"/var/lib/troupe\"\n"
      "checkpoint_dir = \"/srv/troupe\"\nauth_timeout_s = 2.5\n[tls]\n"
      "certificate = \"n1.crt\"\nkey = \"n1.key\"\nca = \"ca.crt\"\npassphrase_file = \"\"\n",
      "listen = \"[::1]:0\"\nslots = 4096\n"};
}

}  // namespace troupe::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    troupe::cli::parse_node_config(std::string_view(reinterpret_cast<const char*>(data), size),
                                   "node.toml");
  } catch (const troupe::troupe_error&) {
    // a clear error is the expected answer to bad input
  }
  return 0;
}
