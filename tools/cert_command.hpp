#pragma once
// `troupe cert`: the CA and certificates of a cluster (tools/certificates.hpp).
//
//   troupe cert ca --dir pki                       # pki/ca.crt, pki/ca.key (keep the key safe)
//   troupe cert node n1 --dir pki --host 10.0.0.1  # pki/n1.crt, pki/n1.key for a node daemon
//   troupe cert client trainer --dir pki           # pki/trainer.crt, .key for train/status/clients

#include <CLI/CLI.hpp>

#include <functional>

namespace troupe::cli {

/// Adds the `cert` subcommand; the callback returns the exit code (0, or 2
/// after an error it logged), or -1 when `cert` was not given.
std::function<int()> add_cert_command(CLI::App& app);

}  // namespace troupe::cli
