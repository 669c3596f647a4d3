#pragma once
// `troupe node`: runs the node daemon of this machine until SIGTERM/SIGINT.
//
//   troupe node --listen 127.0.0.1:7000 --secret /etc/troupe/secret --slots 4
//               --metrics 127.0.0.1:9100
//   -> listening on 127.0.0.1:7000        (stdout; port 0 prints the port taken)
//   -> metrics on 127.0.0.1:9100

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace troupe::cli {

/// Adds the `node` subcommand to `app`; the returned callback runs it and
/// returns the process exit code (0 after a clean stop on a signal, 1 if the
/// node actor failed, 2 for bad options, secret or addresses).
std::function<int()> add_node_command(CLI::App& app);

}  // namespace troupe::cli
