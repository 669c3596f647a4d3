#pragma once
// `troupe bench pushpull`: protocol 1 of shared/BENCHMARKS.md (the push/pull
// transport benchmark) across real processes on 127.0.0.1, with Troupe's own
// shard actor and wire messages, compared with the ps-lite reference figures.
//
//   troupe bench pushpull --servers 2 --workers 2 --keys 1,1000,100000,1000000
//                         --store both --seconds 6 --out pushpull.csv
//
// For each store and N it starts S server and W worker processes (this same
// binary, `bench bench-server` / `bench bench-worker`, internal), runs the
// workers behind a barrier, checks that every key ended at exactly minus the
// number of pushes, and prints one table row per run. Exit code 0 when every
// run finished and passed its check, 1 otherwise, 2 for bad options.

#include <CLI/CLI.hpp>

#include <functional>

namespace troupe::cli {

/// Adds the `bench` subcommand (with `pushpull` and the internal
/// `bench-server` / `bench-worker`) to `app`; the returned callback runs
/// whichever was given and returns the process exit code (-1 when `bench`
/// was not the command given).
std::function<int()> add_bench_command(CLI::App& app);

}  // namespace troupe::cli
