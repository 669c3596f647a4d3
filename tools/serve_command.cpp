#include "tools/serve_command.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>

#include "engine/address.hpp"
#include "engine/auth.hpp"
#include "engine/errors.hpp"
#include "engine/job_config.hpp"
#include "tools/finite_range.hpp"
#include "tools/table_file.hpp"
#include "tools/tls_options.hpp"
#include "troupe/engine.hpp"

namespace troupe::cli {

namespace {

struct serve_options {
  std::string tables_file;
  std::string listen = "127.0.0.1:7100";
  std::string secret_file;
  tls_files tls;
  std::uint32_t shards = 0;
  bool network_thread = false;
  double peer_timeout_s = 1;
};

int serve(const serve_options& o) {
  auto opts = load_table_file(o.tables_file);
  if (o.shards > 0) opts.shards = o.shards;
  opts.listen = o.listen;
  opts.shards_on_network_thread = o.network_thread;
  opts.peer_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o.peer_timeout_s * 1000));
  if (o.secret_file.empty() && !o.tls.enabled()) {
    throw troupe_error(errc::bad_config,
                       "give the shared secret (--secret) or TLS files "
                       "(--tls-cert, --tls-key, --tls-ca), or both");
  }
  if (!o.secret_file.empty()) opts.secret = load_secret(o.secret_file);
  if (!o.tls.enabled() && !is_loopback_host(parse_address(o.listen, true).first)) {
    spdlog::warn(
        "serve: listening on {} with the secret alone: it authenticates clients but encrypts "
        "nothing, and a program that forges CAF's frames can pose as one; across machines use "
        "TLS (--tls-cert, --tls-key, --tls-ca)",
        o.listen);
  }
  opts.tls = {o.tls.certificate, o.tls.key, o.tls.ca, o.tls.passphrase_file};
  // Blocked before the engine starts its threads (they inherit the mask), so
  // the signals stay pending until sigwait takes them below.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGHUP);  // the terminal closed: stop cleanly, not at once
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  auto eng = engine::start(std::move(opts));
  if (!eng) {
    spdlog::error("serve: {}", eng.error().to_string());
    return 2;
  }
  std::cout << "listening on " << eng->address() << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  spdlog::info("serve: {} received, stopping", sig == SIGTERM  ? "SIGTERM"
                                               : sig == SIGINT ? "SIGINT"
                                                               : "SIGHUP");
  eng->stop();
  return 0;
}

}  // namespace

std::function<int()> add_serve_command(CLI::App& app) {
  auto o = std::make_shared<serve_options>();
  auto* cmd = app.add_subcommand(
      "serve",
      "Serve parameter tables to remote clients (troupe::client::connect) that hold the secret "
      "or a certificate of the cluster CA: "
      "lookups, pushes and dense pulls, until SIGTERM, SIGINT or SIGHUP. Prints 'listening on "
      "HOST:PORT'.");
  cmd->add_option("tables", o->tables_file, "tables file (see tools/table_file.hpp, README)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--listen", o->listen,
                  "HOST:PORT; port 0 takes a free port (default 127.0.0.1:7100)");
  cmd->add_option("--secret", o->secret_file,
                  "file holding the shared secret (at least 16 bytes, mode 0600)")
      ->check(CLI::ExistingFile);
  add_tls_options(*cmd, o->tls);
  cmd->add_option("--shards", o->shards, "shard actors (overrides the file's 'shards')")
      ->check(CLI::Range(1, 4096));
  cmd->add_flag("--network-thread", o->network_thread,
                "run the shards on the network thread: lower latency for small calls, but a "
                "large call holds up every other client");
  cmd->add_option("--peer-timeout", o->peer_timeout_s,
                  "seconds a silent client stays connected before it counts as lost (heartbeats "
                  "every tenth of it; default 1; clients need the same, client_options::"
                  "peer_timeout). For links with round trips over ~25 ms give about 40 times the "
                  "round trip (60 under TLS)")
      ->check(seconds_within(min_peer_timeout_s, max_peer_timeout_s));
  return [cmd, o]() -> int {
    if (!cmd->parsed()) return -1;
    try {
      return serve(*o);
    } catch (const troupe_error& e) {
      spdlog::error("{}: {}", to_string(e.code()), e.what());
      return 2;
    }
  };
}

}  // namespace troupe::cli
