#include "tools/node_command.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <memory>

#include "actors/actor_config.hpp"
#include "actors/guarded_listener.hpp"
#include "actors/job_lease.hpp"
#include "actors/metrics_exporter.hpp"
#include "actors/node.hpp"
#include "actors/peer_guard.hpp"
#include "actors/tls_config.hpp"
#include "actors/training_host.hpp"
#include "engine/address.hpp"
#include "engine/auth.hpp"
#include "engine/errors.hpp"
#include "engine/job_config.hpp"
#include "engine/wire/shared_memory.hpp"
#include "tools/finite_range.hpp"
#include "tools/node_config.hpp"
#include "tools/shutdown_watchdog.hpp"
#include "tools/tls_options.hpp"

namespace troupe::cli {

namespace {

// The flags; each one given overrides the --config file's value.
struct node_cli_options {
  std::string config_file;
  node_config flags;
};

// SIGTERM, SIGINT and SIGHUP without a handler or global state (SIGHUP: the
// terminal of a daemon started with `&` closed; by default it ended the
// process at once, with no drain and no log line): the constructor
// blocks them in the calling thread before the actor system and the metrics
// server start their threads (which inherit the mask), so they stay pending
// until the main thread takes them with sigtimedwait. `release()` unblocks
// them again once shutdown has begun: a second signal then ends the process
// the hard way, should a clean stop ever hang.
class stop_signals {
 public:
  stop_signals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set_, &previous_);
  }
  ~stop_signals() { release(); }
  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;

  /// The signal taken within `timeout`, or 0.
  int wait(std::chrono::milliseconds timeout) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(timeout);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout - s);
    timespec ts{static_cast<time_t>(s.count()), static_cast<long>(ns.count())};
    const int sig = sigtimedwait(&set_, nullptr, &ts);
    return sig > 0 ? sig : 0;
  }

  void release() {
    if (released_) return;
    released_ = true;
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }

 private:
  sigset_t set_{};
  sigset_t previous_{};
  bool released_ = false;
};

const char* signal_name(int sig) {
  return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "SIGHUP";
}

std::string default_name() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) return "node";
  return host;
}

// Serves until a signal arrives (returns 0) or the node actor ends (returns 1).
// On a signal the node drains: it quits once its hosted actors are gone.
int serve(caf::scoped_actor& self, const node_actor& node, stop_signals& signals,
          const std::string& name, std::chrono::milliseconds drain) {
  self->monitor(node);
  for (;;) {
    bool node_down = false;
    self->receive(
        [&](caf::down_msg& dm) {
          spdlog::error("node {}: the node actor ended: {}", name,
                        dm.reason ? describe(dm.reason) : std::string{"normal exit"});
          node_down = true;
        },
        caf::after(std::chrono::milliseconds(0)) >> [] {});
    if (node_down) return 1;
    if (const int sig = signals.wait(std::chrono::milliseconds(200)); sig != 0) {
      signals.release();
      spdlog::info("node {}: {} received, stopping", name, signal_name(sig));
      self->send_exit(node, caf::exit_reason::user_shutdown);
      self->receive([](caf::down_msg&) {},
                    caf::after(drain + std::chrono::seconds(1)) >>
                        [&] {
                          spdlog::warn("node {}: the node actor did not stop within {} ms", name,
                                       (drain + std::chrono::seconds(1)).count());
                        });
      return 0;
    }
  }
}

int run_node(const node_config& o, stop_signals& signals) {
  const auto [listen_host, listen_port] = parse_address(o.listen, true);
  const auto name = o.name.empty() ? default_name() : o.name;
  if (o.secret_file.empty() && !o.tls.enabled()) {
    throw troupe_error(errc::bad_config,
                       "a node needs TLS files (--tls-cert, --tls-key, --tls-ca) or a cluster "
                       "secret (--secret), or both");
  }
  if (!o.tls.enabled() && !is_loopback_host(listen_host)) {
    spdlog::warn(
        "node {}: listening on {} with the secret alone: it authenticates peers but encrypts "
        "nothing, and a program that forges CAF's frames can pose as an admitted node; across "
        "machines use TLS (--tls-cert, --tls-key, --tls-ca)",
        name, o.listen);
  }
  if (o.metrics != "0" && !o.metrics.empty() && o.metrics == o.listen && listen_port != 0) {
    // Else the second bind failed with "is the port in use by another process".
    throw troupe_error(errc::bad_config, "--metrics and --listen name the same address (" +
                                             o.listen + "): give the metrics a port of their own");
  }
  // A directory that is not there refused every job's data or checkpoint
  // later, one job at a time; said once at the start.
  for (const auto& [flag, dir] :
       {std::pair{"--data-dir", o.data_dir}, std::pair{"--checkpoint-dir", o.checkpoint_dir}}) {
    std::error_code ec;
    if (!dir.empty() && !std::filesystem::is_directory(dir, ec)) {
      spdlog::warn("node {}: {} {} is no directory (yet): jobs that need it will fail", name, flag,
                   dir);
    }
  }
  // With only TLS, the certificate is the credential: the handshake is skipped.
  const auto secret = o.secret_file.empty() ? make_nonce() : load_secret(o.secret_file);
  auto metrics = std::make_shared<metrics_exporter>(o.metrics);
  shutdown_watchdog watchdog;  // outlives the actor system, whose end it bounds
  actor_config cfg(o.threads, peer_timeout_of(o.peer_timeout_s));
  if (o.tls.enabled()) {
    const auto who = enable_tls(cfg, o.tls, tls_role::serves);
    spdlog::info("node {}: TLS as {} (certificate valid until {})", name, who.subject,
                 who.not_after);
  }
  caf::actor_system sys{cfg};
  node_options opts;
  opts.name = name;
  opts.secret = secret;
  opts.slots = o.slots;
  opts.lease_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(o.lease_timeout_s * 1e3));
  opts.drain_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(o.drain_timeout_s * 1e3));
  const auto drain = opts.drain_timeout;
  opts.guard = std::make_shared<peer_guard>(sys.node());
  if (o.secret_file.empty()) opts.guard->trust_every_peer();
  opts.metrics = metrics;
  opts.training = make_training_host(name, o.data_dir);  // a daemon hosts workers too
  opts.data_dir = o.data_dir;
  opts.checkpoint_dir = o.checkpoint_dir;
  if (o.shared_memory) {
    auto shm = std::make_shared<shared_memory>();
    if (const auto& st = shm->available(); !st) {
      spdlog::warn("node {}: {}; messages to daemons on this host use the socket", name,
                   st.message());
    } else {
      opts.shm = std::move(shm);
    }
  }
  listen_options lopts;
  lopts.guard.auth_deadline =
      std::chrono::milliseconds(static_cast<std::int64_t>(o.auth_timeout_s * 1000));
  lopts.guard.name = "node " + name;
  lopts.guard.peers = opts.guard;
  lopts.guard.metrics = metrics;
  lopts.tls = o.tls.enabled();
  auto refused = std::make_shared<std::atomic<std::uint64_t>>(0);
  lopts.guard.refused_total = refused;
  opts.connections_refused = refused;
  opts.credentials = !lopts.tls ? "secret" : o.secret_file.empty() ? "TLS" : "TLS and secret";
  auto node = spawn_node(sys, std::move(opts));
  caf::scoped_actor self{sys};
  // An exception from here on would unwind into ~actor_system, which waits
  // without a limit for the node actor (and the jobs it hosts) to end: end
  // them first, and bound that wait for what main reports.
  try {
    auto listener =
        guarded_listener::publish(sys, node, listen_host, listen_port, std::move(lopts));
    const auto port = listener->port();
    const auto address = listen_host + ":" + std::to_string(port);
    self->send(node, listening_atom::value, address);
    std::cout << "listening on " << address << std::endl;
    if (metrics->port() != 0) {
      std::cout << "metrics on " << parse_address(o.metrics, true).first << ":" << metrics->port()
                << std::endl;
    }
    // The peer timeout must be the same on every process of a cluster (a
    // peer heartbeating less often than another's timeout is dropped by it):
    // logged, so that a mismatch can be found.
    spdlog::info("node {}: node id {}, {} slots, {} actor threads, peer timeout {} s", name,
                 caf::to_string(sys.node()), o.slots,
                 caf::get_or(sys.config(), "scheduler.max-threads", std::size_t{0}),
                 o.peer_timeout_s);
    const int code = serve(self, node, signals, name, drain);
    listener.reset();  // unpublished; connections refused before authentication logged above
    spdlog::info("node {}: stopped", name);
    watchdog.arm("node " + name, std::chrono::seconds(2), code);
    return code;
  } catch (const troupe_error& e) {  // the port is taken, say
    spdlog::error("node {}: {}", name, e.what());
    self->send_exit(node, caf::exit_reason::user_shutdown);
    return 2;
  } catch (...) {
    self->send_exit(node, caf::exit_reason::user_shutdown);
    watchdog.arm("node " + name + " (stopping after an error)", drain + std::chrono::seconds(2), 2);
    throw;
  }
}

// The --config file's settings with every flag given on top.
node_config merge(const CLI::App& cmd, const node_cli_options& o) {
  if (o.config_file.empty()) return o.flags;
  auto c = load_node_config(o.config_file);
  const auto& f = o.flags;
  auto given = [&](const char* flag) { return cmd.count(flag) > 0; };
  if (given("--listen")) c.listen = f.listen;
  if (given("--secret")) c.secret_file = f.secret_file;
  if (given("--slots")) c.slots = f.slots;
  if (given("--threads")) c.threads = f.threads;
  if (given("--metrics")) c.metrics = f.metrics;
  if (given("--name")) c.name = f.name;
  if (given("--data-dir")) c.data_dir = f.data_dir;
  if (given("--checkpoint-dir")) c.checkpoint_dir = f.checkpoint_dir;
  if (given("--auth-timeout")) c.auth_timeout_s = f.auth_timeout_s;
  if (given("--lease-timeout")) c.lease_timeout_s = f.lease_timeout_s;
  if (given("--drain-timeout")) c.drain_timeout_s = f.drain_timeout_s;
  if (given("--peer-timeout")) c.peer_timeout_s = f.peer_timeout_s;
  if (given("--no-shared-memory")) c.shared_memory = f.shared_memory;
  if (given("--tls-cert")) c.tls.certificate = f.tls.certificate;
  if (given("--tls-key")) c.tls.key = f.tls.key;
  if (given("--tls-ca")) c.tls.ca = f.tls.ca;
  if (given("--tls-passphrase")) c.tls.passphrase_file = f.tls.passphrase_file;
  return c;
}

}  // namespace

std::function<int()> add_node_command(CLI::App& app) {
  auto opts = std::make_shared<node_cli_options>();
  auto* cmd = app.add_subcommand(
      "node",
      "Run the node daemon of this machine: it hosts parameter shards and workers for "
      "authenticated peers (schedulers, clients) holding a certificate of the cluster CA (TLS) "
      "and/or the cluster secret, refuses hostile input before authentication, serves "
      "Prometheus metrics, and stops cleanly on SIGTERM, SIGINT or SIGHUP. Prints 'listening on "
      "HOST:PORT' once it accepts peers.");
  auto& f = opts->flags;
  cmd->add_option("--config", opts->config_file,
                  "node configuration file (TOML, see deploy/node.toml); flags override it")
      ->check(CLI::ExistingFile);
  cmd->add_option("--listen", f.listen,
                  "HOST:PORT to accept peers on; port 0 takes a free port (default "
                  "127.0.0.1:7000, loopback only)");
  cmd->add_option("--secret", f.secret_file,
                  "file holding the cluster secret (at least 16 bytes, mode 0600), e.g. made "
                  "with 'openssl rand -hex 32'; peers must prove it")
      ->check(CLI::ExistingFile);
  add_tls_options(*cmd, f.tls);
  cmd->add_option("--slots", f.slots,
                  "actors this node may host at once: shards (and their backups), workers and "
                  "pipeline stages")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--threads", f.threads,
                  "threads that run hosted actors (default 0: one per core); daemons sharing a "
                  "machine do best with its cores split between them")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--metrics", f.metrics,
                  "HOST:PORT to serve Prometheus metrics on (/metrics); 0 = off (default)");
  cmd->add_option("--name", f.name, "name shown by 'troupe status' (default: host name)");
  cmd->add_option("--data-dir", f.data_dir,
                  "directory that relative data paths of jobs resolve under (default: the "
                  "working directory)");
  cmd->add_option("--checkpoint-dir", f.checkpoint_dir,
                  "hosted shards write checkpoints only inside this directory (default: "
                  "anywhere the job says)");
  cmd->add_option("--auth-timeout", f.auth_timeout_s,
                  "seconds a connecting peer has to authenticate (default 10)")
      ->check(seconds_within(0.1, 3600.0));
  cmd->add_option("--lease-timeout", f.lease_timeout_s,
                  "seconds a job's actors stay after its scheduler stopped renewing their lease "
                  "(it renews every second; a scheduler seen to end releases them at once)")
      ->check(seconds_within(static_cast<double>(min_lease_timeout.count()) / 1e3, 86400.0));
  cmd->add_option("--drain-timeout", f.drain_timeout_s,
                  "on SIGTERM/SIGINT, seconds to wait for hosted actors to end before stopping")
      ->check(seconds_within(0.0, 60.0));
  cmd->add_option("--peer-timeout", f.peer_timeout_s,
                  "seconds a silent peer stays connected before it counts as lost (heartbeats "
                  "every tenth of it; default 1; the same on every node and job). A new "
                  "connection's handshake must beat the next heartbeat: for links with round "
                  "trips over ~25 ms give about 40 times the round trip (60 under TLS)")
      ->check(seconds_within(min_peer_timeout_s, max_peer_timeout_s));
  cmd->add_flag("!--no-shared-memory", f.shared_memory,
                "send pulls and pushes to other daemons on this host through the socket, not "
                "shared memory");
  return [cmd, opts]() -> int {
    if (!cmd->parsed()) return -1;
    stop_signals signals;  // first, before any thread exists
#ifdef __GLIBC__
    // A daemon runs job after job; an idle one hands what its jobs freed back
    // to the OS (malloc_trim at its lease check). glibc's trim releases whole
    // free pages in every arena but the free top of the main heap only: with a
    // second arena, an idle daemon kept 30-55 MB of a finished job's memory
    // in 1 run of 4 (`scripts/soak.sh` saw it as growth); with one heap it
    // is back at ~4 MB every time, and three daemons train as fast.
    mallopt(M_ARENA_MAX, 1);
#endif
    try {
      return run_node(merge(*cmd, *opts), signals);
    } catch (const troupe_error& e) {
      spdlog::error("{}: {}", to_string(e.code()), e.what());
      return 2;
    }
  };
}

}  // namespace troupe::cli
