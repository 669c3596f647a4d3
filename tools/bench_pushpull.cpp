#include "tools/bench_pushpull.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>

#include "tools/bench_child.hpp"
#include "tools/bench_compute.hpp"
#include "tools/bench_nodes.hpp"
#include "tools/bench_report.hpp"
#include "tools/finite_range.hpp"

namespace troupe::cli {

namespace {

using namespace bench;
using std::chrono::seconds;

struct pushpull_options {
  std::uint32_t servers = 1;
  std::uint32_t workers = 1;
  std::vector<std::uint64_t> keys = {1, 1000, 100000, 1000000};
  std::string store = "both";
  std::string optimizer = "sgd";
  bool no_key_cache = false;
  double seconds = 6;
  std::uint32_t repeats = 1;
  std::string out;
  // Measured on the 2-core machine (interleaved runs, medians of 4-5): 2
  // scheduler threads instead of CAF's max(cores, 4), and no BASP worker
  // thread, so that the middleman deserialises in place instead of copying
  // each payload for a worker thread and waking it. Against actor_config's
  // defaults: 1.5x the rounds/s at N = 1 (1x1 and 2x2), 1.1-1.2x for dense
  // N = 10^6, the same within noise for hash N = 10^5.
  // The servers' shards run on their middleman's I/O thread, as `troupe
  // serve --network-thread` runs them: a shard-only process whose requests
  // come over the network (session 20, alternating: N = 1 and 1,000 at
  // 1.2-1.4x the rounds/s on the scheduler; the large rows the same or better).
  // So do the workers' rounds: each answer's handler sends the next request
  // on the thread that read the answer (session 21, alternating with
  // `--worker-thread scheduler`: N = 1 and 1,000 at 1.1-1.4x the rounds/s,
  // the large rows the same or better; docs/measurements.md).
  process_tuning tuning{2, 0, "io", "io"};
};

// Options of the internal child commands (one struct serves both).
struct child_cli_options {
  std::string store = "hash";
  std::uint64_t keys = 1;
  std::uint32_t servers = 1;
  std::string optimizer = "sgd";
  bool no_key_cache = false;
  std::uint32_t index = 0;
  std::vector<std::uint16_t> ports;
  double seconds = 6;
  process_tuning tuning;
  run_shape shape() const {
    return {parse_store_kind(store), keys, servers, parse_optimizer_kind(optimizer), !no_key_cache};
  }
};

// The children log to stderr: their stdout carries the protocol lines.
void log_to_stderr() {
  auto logger = spdlog::stderr_color_mt("bench-child");
  logger->set_level(spdlog::get_level());
  spdlog::set_default_logger(std::move(logger));
  spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] [pid %P] %v");
}

std::string level_name() {
  switch (spdlog::get_level()) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    default:
      return "info";
  }
}

// `/proc/self/exe [--log-level L] bench <command> <shape> ...`: this very binary.
std::vector<std::string> child_args(const char* command, const run_shape& shape,
                                    const process_tuning& tuning) {
  std::vector<std::string> args{"/proc/self/exe",
                                "--log-level",
                                level_name(),
                                "bench",
                                command,
                                "--store",
                                to_string(shape.store),
                                "--keys",
                                std::to_string(shape.keys),
                                "--servers",
                                std::to_string(shape.servers),
                                "--optimizer",
                                to_string(shape.optimizer),
                                "--threads",
                                std::to_string(tuning.threads),
                                "--middleman-workers",
                                std::to_string(tuning.middleman_workers),
                                "--shard-thread",
                                tuning.shard_thread,
                                "--worker-thread",
                                tuning.worker_thread};
  if (!shape.key_cache) args.push_back("--no-key-cache");
  return args;
}

using clock_type = std::chrono::steady_clock;

std::chrono::milliseconds until(clock_type::time_point deadline) {
  const auto left = deadline - clock_type::now();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::max(left, left.zero()));
}

// The child processes of one run. Destroying it kills and reaps every child
// still running (workers first), whichever way the run ends.
struct run_children {
  std::vector<child_process> servers;
  std::vector<child_process> workers;  // declared last: destroyed first
  std::vector<std::uint16_t> ports;
};

// Starts the servers and reads their ports; returns why not, or "".
std::string start_servers(run_children& c, const run_shape& shape, const pushpull_options& o) {
  for (std::uint32_t k = 0; k < shape.servers; ++k) {
    auto args = child_args("bench-server", shape, o.tuning);
    args.insert(args.end(), {"--index", std::to_string(k)});
    c.servers.push_back(child_process::start(args));
  }
  const auto deadline = clock_type::now() + seconds(60);
  for (std::uint32_t k = 0; k < shape.servers; ++k) {
    const auto line = c.servers[k].read_line_starting("port=", until(deadline));
    const long port = line ? std::strtol(line->c_str() + 5, nullptr, 10) : 0;
    if (port <= 0 || port > 65535) {
      return "server " + std::to_string(k) + " did not report its port (" +
             describe_status(c.servers[k].stop(seconds(2))) + ")";
    }
    c.ports.push_back(static_cast<std::uint16_t>(port));
  }
  return {};
}

// Starts the workers and waits until each has connected and warmed up.
std::string start_workers(run_children& c, const run_shape& shape, const pushpull_options& o) {
  std::string ports;
  for (auto p : c.ports) ports += (ports.empty() ? "" : ",") + std::to_string(p);
  for (std::uint32_t w = 0; w < o.workers; ++w) {
    auto args = child_args("bench-worker", shape, o.tuning);
    args.insert(args.end(), {"--index", std::to_string(w), "--ports", ports, "--seconds",
                             std::to_string(o.seconds)});
    c.workers.push_back(child_process::start(args));
  }
  // Three warm-up rounds come before `ready`: seconds even at N = 10^6 on 2x2.
  const auto deadline = clock_type::now() + seconds(300);
  for (std::uint32_t w = 0; w < o.workers; ++w) {
    if (!c.workers[w].read_line_starting("ready", until(deadline))) {
      return "worker " + std::to_string(w) + " did not get ready (" +
             describe_status(c.workers[w].stop(seconds(2))) + ")";
    }
  }
  return {};
}

// Releases the workers together (the barrier) and collects their results.
std::string run_workers(run_children& c, const pushpull_options& o, run_record& rec) {
  for (auto& w : c.workers) w.write_line("go");
  const auto deadline = clock_type::now() + seconds(static_cast<long>(o.seconds) + 300);
  for (std::uint32_t w = 0; w < o.workers; ++w) {
    auto line = c.workers[w].read_line_starting("result ", until(deadline));
    auto result = line ? parse_result_line(*line) : std::nullopt;
    if (!result) {
      return "worker " + std::to_string(w) + " reported no result (" +
             describe_status(c.workers[w].stop(seconds(2))) + ")";
    }
    rec.results.push_back(*result);
  }
  for (auto& w : c.workers) w.stop(seconds(10));  // each exits after its result line
  return {};
}

// One run: servers, workers behind the barrier, results, the final check.
run_record run_once(const run_shape& shape, const pushpull_options& o, std::uint32_t repeat) {
  run_record rec;
  rec.shape = shape;
  rec.workers = o.workers;
  rec.repeat = repeat;
  run_children children;
  rec.failure = start_servers(children, shape, o);
  if (rec.failure.empty()) rec.failure = start_workers(children, shape, o);
  if (rec.failure.empty()) rec.failure = run_workers(children, o, rec);
  if (!rec.failure.empty()) return rec;
  // Every worker pushed every key once per round, warm-up included, and each
  // push moved every value by exactly -1 from 0 (see bench_table).
  const auto pushes = rec.timed_rounds() + warmup_rounds * o.workers;
  rec.check = check_values(shape, children.ports, pushes);
  for (auto& s : children.servers) s.close_stdin();  // a server's cue to stop
  for (auto& s : children.servers) s.stop(seconds(10));
  return rec;
}

std::vector<store_kind> stores_of(const std::string& store) {
  if (store == "both") return {store_kind::hash, store_kind::dense};
  return {parse_store_kind(store)};
}

int run_pushpull(const pushpull_options& o) {
  // A worker that died must not take the parent down on the "go" write.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<run_record> runs;
  for (auto store : stores_of(o.store)) {
    for (auto n : o.keys) {
      for (std::uint32_t r = 1; r <= o.repeats; ++r) {
        const run_shape shape{store, n, o.servers, parse_optimizer_kind(o.optimizer),
                              !o.no_key_cache};
        spdlog::info("pushpull: {} store, {}x{}, N = {}, run {} of {}", to_string(store), o.servers,
                     o.workers, n, r, o.repeats);
        runs.push_back(run_once(shape, o, r));
        const auto& rec = runs.back();
        if (!rec.passed()) {
          spdlog::error("pushpull: {} store, N = {}: {}", to_string(store), n,
                        rec.failure.empty() ? rec.check.detail : rec.failure);
        }
      }
    }
  }
  std::cout << "\npush/pull (shared/BENCHMARKS.md protocol 1), " << o.servers << " server(s) x "
            << o.workers << " worker(s), " << o.seconds << " s per run, " << o.optimizer
            << " on the servers, hash store "
            << (o.no_key_cache ? "sending the row ids every time (--no-key-cache)"
                               : "naming the row ids once the servers hold them (key caching)")
            << "\n";
  print_table(std::cout, runs);
  if (!o.out.empty()) {
    write_csv(o.out, runs);
    spdlog::info("pushpull: results in {}", o.out);
  }
  for (const auto& r : runs) {
    if (!r.passed()) return 1;
  }
  return 0;
}

void add_tuning_options(CLI::App* cmd, process_tuning& t) {
  cmd->add_option("--threads", t.threads,
                  "scheduler.max-threads of each server and worker process (0 = CAF's default, "
                  "max(cores, 4))")
      ->capture_default_str();
  cmd->add_option("--middleman-workers", t.middleman_workers,
                  "middleman.workers (BASP deserialisation threads) of each process (-1 = CAF's "
                  "default)")
      ->check(CLI::Range(-1, 64))
      ->capture_default_str();
  cmd->add_option("--shard-thread", t.shard_thread,
                  "where each server's shard runs: io (the middleman's I/O thread) or scheduler")
      ->check(CLI::IsMember({"io", "scheduler"}))
      ->capture_default_str();
  cmd->add_option("--worker-thread", t.worker_thread,
                  "where each worker's rounds run: io (the middleman's I/O thread) or scheduler")
      ->check(CLI::IsMember({"io", "scheduler"}))
      ->capture_default_str();
}

void add_shape_options(CLI::App* cmd, child_cli_options& o) {
  cmd->add_option("--store", o.store)->check(CLI::IsMember({"hash", "dense"}))->required();
  cmd->add_option("--keys", o.keys)->check(CLI::Range(1, 100000000))->required();
  cmd->add_option("--servers", o.servers)->check(CLI::Range(1, 64))->required();
  cmd->add_option("--optimizer", o.optimizer)->check(CLI::IsMember({"sgd", "adam"}));
  cmd->add_option("--index", o.index)->required();
  cmd->add_flag("--no-key-cache", o.no_key_cache);
  add_tuning_options(cmd, o.tuning);
}

}  // namespace

std::function<int()> add_bench_command(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks of Troupe against reference systems");
  bench->require_subcommand(1);

  std::function<int()> compute;
  add_compute_bench(*bench, compute);

  auto pp = std::make_shared<pushpull_options>();
  auto* pushpull = bench->add_subcommand(
      "pushpull",
      "Push/pull transport benchmark (shared/BENCHMARKS.md, protocol 1): S server and W worker "
      "processes on 127.0.0.1, Troupe shard actors and wire messages, compared with ps-lite");
  pushpull->add_option("-s,--servers", pp->servers, "server processes")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  pushpull->add_option("-w,--workers", pp->workers, "worker processes")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  pushpull->add_option("-n,--keys", pp->keys, "key counts N (repeatable or a comma list)")
      ->delimiter(',')
      ->check(CLI::Range(1, 100000000))
      ->capture_default_str();
  pushpull->add_option("--store", pp->store, "hash (sparse rows), dense (ranges) or both")
      ->check(CLI::IsMember({"hash", "dense", "both"}))
      ->capture_default_str();
  pushpull
      ->add_option("--optimizer", pp->optimizer,
                   "the servers' optimizer: sgd (the protocol's) or adam (per-key steps)")
      ->check(CLI::IsMember({"sgd", "adam"}))
      ->capture_default_str();
  pushpull->add_flag("--no-key-cache", pp->no_key_cache,
                     "hash store: send the row ids with every request, as ps-lite does, instead "
                     "of naming them once the servers hold them");
  pushpull->add_option("--seconds", pp->seconds, "timed seconds per run")
      ->check(cli::seconds_within(0.1, 3600.0))
      ->capture_default_str();
  pushpull->add_option("--repeats", pp->repeats, "runs per store and N")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  pushpull->add_option("-o,--out", pp->out, "also write the results to this CSV file");
  add_tuning_options(pushpull, pp->tuning);

  // The processes `pushpull` starts. Listed (so that `ps` output makes sense)
  // but grouped apart: not for direct use.
  const std::string internal = "Internal (started by `bench pushpull`, not for direct use)";
  auto node = std::make_shared<child_cli_options>();
  auto* server = bench->add_subcommand(
      "bench-server", "[internal] a pushpull server: prints port=P, serves until stdin closes");
  server->group(internal);
  add_shape_options(server, *node);
  auto* worker = bench->add_subcommand(
      "bench-worker", "[internal] a pushpull worker: warm-up, `ready`, waits for `go`, rounds");
  worker->group(internal);
  add_shape_options(worker, *node);
  worker->add_option("--ports", node->ports, "server ports, in server order")
      ->delimiter(',')
      ->required();
  worker->add_option("--seconds", node->seconds)->check(cli::seconds_within(0.0, 3600.0));

  return [=]() -> int {
    if (!bench->parsed()) return -1;
    try {
      if (const int rc = compute(); rc >= 0) return rc;
      if (pushpull->parsed()) return run_pushpull(*pp);
      log_to_stderr();
      if (server->parsed()) return run_server(node->shape(), node->index, node->tuning);
      worker_options wo{node->shape(), node->index, node->ports, node->seconds, node->tuning};
      return run_worker(wo);
    } catch (const std::exception& e) {
      spdlog::error("bench: {}", e.what());
      return 2;
    }
  };
}

}  // namespace troupe::cli
