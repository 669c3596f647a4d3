#pragma once
// `troupe train`: runs a training job in this process.

#include <CLI/CLI.hpp>

#include <functional>

#include "engine/errors.hpp"

namespace troupe::cli {

/// The exit code of a job that failed with `code`, for scripts: 2 fix the
/// job (bad_config, missing_dataset, io_error), 3 fix the credentials
/// (auth_failed), 4 try again later (peer_lost, timeout, node_stopping,
/// no_capacity), 1 anything that went wrong while it ran.
int exit_code_of(errc code);

/// Adds the `train` subcommand to `app`; the returned callback runs it and
/// returns the process exit code.
std::function<int()> add_train_command(CLI::App& app);

}  // namespace troupe::cli
