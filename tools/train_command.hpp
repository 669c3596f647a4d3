#pragma once
// `troupe train`: runs a training job in this process.

#include <CLI/CLI.hpp>

#include <functional>

namespace troupe::cli {

/// Adds the `train` subcommand to `app`; the returned callback runs it and
/// returns the process exit code.
std::function<int()> add_train_command(CLI::App& app);

}  // namespace troupe::cli
