#pragma once
// The configuration file of a node daemon (`troupe node --config FILE`);
// flags given on the command line override its values. Example
// (deploy/node.toml is a commented one):
//
//   listen = "10.0.0.1:7000"            # HOST:PORT (default 127.0.0.1:7000)
//   name = "n1"                         # shown by troupe status (default: host name)
//   slots = 4                           # actors it may host at once
//   threads = 0                         # actor threads; 0 = one per core
//   metrics = "127.0.0.1:9100"          # Prometheus /metrics; "0" = off
//   secret_file = "/etc/troupe/cluster.key"   # optional with [tls]
//   data_dir = "/var/lib/troupe"        # relative data paths of jobs resolve here
//   checkpoint_dir = "/srv/troupe"      # checkpoints only inside (a shared mount)
//   auth_timeout_s = 10                 # a peer must authenticate within this
//   lease_timeout_s = 10                # a lost scheduler's actors go after this
//   drain_timeout_s = 3                 # on SIGTERM, wait this for hosted actors
//   peer_timeout_s = 1                  # a silent peer is lost after this
//   [tls]
//   certificate = "/etc/troupe/pki/n1.crt"
//   key = "/etc/troupe/pki/n1.key"      # mode 0600
//   ca = "/etc/troupe/pki/ca.crt"
//   passphrase_file = ""                # for an encrypted key
//
//   auto cfg = troupe::cli::load_node_config("/etc/troupe/node.toml");

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/tls_files.hpp"

namespace troupe::cli {

struct node_config {
  std::string listen = "127.0.0.1:7000";
  std::string name;
  std::uint32_t slots = 4;
  /// Threads that run hosted actors; 0: one per core. Daemons sharing a
  /// machine do best with the cores split between them.
  std::uint32_t threads = 0;
  std::string metrics = "0";
  std::string secret_file;
  std::string data_dir;
  std::string checkpoint_dir;
  double auth_timeout_s = 10;
  double lease_timeout_s = 10;  ///< a job's actors go when its scheduler stops renewing
  double drain_timeout_s = 3;   ///< on SIGTERM, the wait for hosted actors to end
  /// A peer silent this long is lost; heartbeats every tenth of it. Every
  /// process of a cluster needs the same (a job's [cluster] peer_timeout_s).
  double peer_timeout_s = 1;
  /// Large messages to other daemons on this host go through shared memory.
  bool shared_memory = true;
  tls_files tls;
};

/// Throws troupe_error(bad_config) naming the file and key for unknown keys,
/// wrong types and out-of-range values; io_error when it cannot be read.
node_config load_node_config(const std::string& path);
/// The same for TOML text; `source` names it in errors.
node_config parse_node_config(std::string_view text, const std::string& source);

}  // namespace troupe::cli
