// `troupe`: the command-line tool of the Troupe training engine.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <malloc.h>

#include <csignal>
#include <exception>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "tools/bench_pushpull.hpp"
#include "tools/cert_command.hpp"
#include "tools/node_command.hpp"
#include "tools/serve_command.hpp"
#include "tools/status_command.hpp"
#include "tools/sweep_command.hpp"
#include "tools/train_command.hpp"
#include "troupe/workload.hpp"

int main(int argc, char** argv) {
  // Every step allocates and frees messages of hundreds of kilobytes (pulls,
  // pushes). By default glibc maps each with mmap and unmaps it on free, so
  // every message paid page faults and the kernel's zeroing of fresh pages
  // (~8% of the reference job's CPU): keep them in the heap and keep freed
  // memory for the next message instead.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  // The log goes to stdout: once whatever read it went away (`| head`, a
  // broken journald stream), the next log line raised SIGPIPE and a node
  // daemon ended without a word (systemd counts that a clean exit and does
  // not restart it). A write to a closed pipe is EPIPE now, and a lost log
  // line is no reason to stop. (Sockets never raised it: CAF sends with
  // MSG_NOSIGNAL.)
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"Troupe: an actor-based parameter-server training engine"};
  app.require_subcommand(1);
  // The version a workload plugin must be built against is the plugin
  // interface's (include/troupe/workload.hpp), named here for its author.
  app.set_version_flag("--version",
                       std::string("troupe ") + TROUPE_VERSION + " (workload plugin interface " +
                           std::to_string(troupe::plugin_host::interface_version) + ")");
  // `troupe train --log-level warn` as well as `troupe --log-level warn
  // train`: options of the tool itself are taken after a command too.
  app.fallthrough();
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  std::vector<std::string> plugins;
  app.add_option("--plugin", plugins,
                 "workload plugin (a shared library defining troupe_register_workloads, see "
                 "include/troupe/workload.hpp) whose model kinds jobs may use; repeatable. Give it "
                 "to every process of a job: train, and node on every node")
      ->check(CLI::ExistingFile)
      // One file a --plugin: greedy, `--plugin x.so job.toml` took the job
      // file for a second plugin ("cannot load workload plugin job.toml").
      ->allow_extra_args(false);
  auto train = troupe::cli::add_train_command(app);
  auto sweep = troupe::cli::add_sweep_command(app);
  auto node = troupe::cli::add_node_command(app);
  auto status = troupe::cli::add_status_command(app);
  auto bench = troupe::cli::add_bench_command(app);
  auto serve = troupe::cli::add_serve_command(app);
  auto cert = troupe::cli::add_cert_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end with 0; a bad flag or value with 2, like a
    // bad job file (CLI11's own codes, 105 for a value out of range, said
    // nothing more and differed from the job file's).
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
  for (const auto& path : plugins) {
    if (auto loaded = troupe::load_workload_plugin(path); !loaded) {
      spdlog::error("{}", loaded.error().to_string());
      return 2;
    }
  }
  // The commands report the errors they know (troupe_error) themselves;
  // anything else that reaches here (memory exhausted by a data file, a
  // library's exception) is still an error message and exit code 2, not an
  // abort with a core dump.
  try {
    for (const auto& command : {train, sweep, node, status, bench, serve, cert}) {
      if (const int rc = command(); rc >= 0) return rc;
    }
  } catch (const std::bad_alloc&) {
    spdlog::error("out of memory (a data set or batch larger than this machine can hold?)");
    return 2;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 2;
  } catch (...) {  // a plugin's workload may throw anything
    spdlog::error("a non-standard exception (from a workload plugin?)");
    return 2;
  }
  return 1;
}
