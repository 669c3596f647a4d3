#pragma once
// The TLS flags every `troupe` command that talks to other processes takes
// (node, train, status, serve):
//
//   --tls-cert FILE  this process's certificate (troupe cert node|client)
//   --tls-key FILE   its private key (mode 0600)
//   --tls-ca FILE    the cluster CA's certificate
//   --tls-passphrase FILE  passphrase of an encrypted key (mode 0600)

#include <CLI/CLI.hpp>

#include "engine/tls_files.hpp"

namespace troupe::cli {

/// Adds the four flags to `cmd`, writing into `tls`.
void add_tls_options(CLI::App& cmd, tls_files& tls);

}  // namespace troupe::cli
