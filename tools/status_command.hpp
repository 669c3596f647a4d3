#pragma once
// `troupe status HOST:PORT --secret FILE`: authenticates with a node daemon
// and prints its state (slots, hosted actors, peers, counters).
//
// Exit codes: 0 printed; 2 bad address or secret file; 3 the node refused
// our proof, or did not prove the secret itself; 4 the node cannot be reached
// or did not answer in time.

#include <CLI/CLI.hpp>

#include <functional>

namespace troupe::cli {

/// Adds the `status` subcommand to `app`; the returned callback runs it and
/// returns the process exit code.
std::function<int()> add_status_command(CLI::App& app);

}  // namespace troupe::cli
