// Fuzz target: job files (engine/job_config.hpp), which nodes also parse
// from the job TOML a scheduler sends. Anything but a job or a troupe_error
// is a bug; and a job that parsed must parse again from to_toml() (that is
// the job.toml `troupe train --resume` reads back).
#include "engine/errors.hpp"
#include "engine/job_config.hpp"
#include "fuzz_target.hpp"

namespace troupe::fuzz {

std::vector<std::string> seeds() {
  auto cluster = default_job_config();
  cluster.nodes = {"10.0.0.1:7000", "[::1]:7001"};
  cluster.secret_file = "/etc/troupe/cluster.key";
  cluster.tls = {"n.crt", "n.key", "ca.crt", ""};
  cluster.shard_nodes = {0};
  cluster.worker_nodes = {1};
  cluster.stragglers = "fixed:worker=0,factor=3+random:dist=exp,mean_ms=2";
  return {std::string(default_job_toml()), to_toml(cluster),
          "[job]\nepochs = 2\n[train]\nstaleness = \"inf\"\nworkers = 3\n"
          "[model]\nkind = \"mf\"\n[data]\nset = \"movielens\"\n"};
}

}  // namespace troupe::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace troupe;
  job_config job;
  try {
    job = parse_job_config(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  } catch (const troupe_error&) {
    return 0;
  }
  try {
    parse_job_config(to_toml(job), "to_toml");
  } catch (const troupe_error&) {
    __builtin_trap();  // the job we write cannot be read back
  }
  return 0;
}
