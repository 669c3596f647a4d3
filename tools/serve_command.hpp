#pragma once
// `troupe serve`: a standalone parameter server for services. Starts an
// engine (include/troupe/engine.hpp) with the tables of a tables file
// (tools/table_file.hpp) and serves remote clients (client::connect) that
// hold the secret, until SIGTERM or SIGINT.
//
//   troupe serve tables.toml --listen 127.0.0.1:7100 --secret /etc/troupe/secret
//   -> listening on 127.0.0.1:7100        (stdout; port 0 prints the port taken)

#include <CLI/CLI.hpp>

#include <functional>

namespace troupe::cli {

/// Adds the `serve` subcommand; the callback returns 0 after a clean stop on
/// a signal, 2 for a bad tables file, secret or address.
std::function<int()> add_serve_command(CLI::App& app);

}  // namespace troupe::cli
