#include "tools/status_command.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <algorithm>
#include <iostream>
#include <memory>
#include <sstream>

#include "actors/actor_config.hpp"
#include "actors/node.hpp"
#include "actors/remote_connect.hpp"
#include "actors/tls_config.hpp"
#include "engine/auth.hpp"
#include "engine/errors.hpp"
#include "engine/job_config.hpp"
#include "tools/finite_range.hpp"
#include "tools/node_command.hpp"
#include "tools/tls_options.hpp"

namespace troupe::cli {

namespace {

constexpr int exit_refused = 3;
constexpr int exit_unreachable = 4;

struct status_options {
  std::string address;
  std::string secret_file;
  tls_files tls;
  double timeout_s = 5;
};

std::uint64_t rate(double count, double seconds) {
  return seconds > 0 ? static_cast<std::uint64_t>(count / seconds) : 0;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

std::string format_status(const node_status& s) {
  std::ostringstream out;
  out << "node      " << s.name << " (" << s.address << ")\n"
      << "node id   " << s.node_id << "\n"
      << "uptime    " << static_cast<std::uint64_t>(s.uptime_s) << " s\n"
      << "access    " << (s.credentials.empty() ? "secret" : s.credentials) << "\n"
      << "models    "
      << (s.models.empty() ? std::string{"none (hosts tables only)"} : join(s.models)) << "\n"
      << "timeout   peer timeout " << s.peer_timeout_ms
      << " ms (every process of a job needs the same)\n"
      << "slots     " << s.slots_used << " of " << s.slots_total << " used"
      << (s.slots_reserved > 0
              ? ", " + std::to_string(s.slots_reserved) + " set aside for jobs being placed"
              : std::string{})
      << "\n"
      << "peers     " << s.peers << " authenticated now; " << s.auth_ok << " logins, "
      << s.auth_failed << " refused"
      << (s.credentials == "TLS" ? " (TLS only: certificates are the credentials, no logins)" : "")
      << "\n"
      << "guard     " << s.connections_refused
      << " connections refused (garbage, silence, a failed TLS handshake; the node's log says "
         "why)\n"
      << "requests  " << s.requests_rejected << " rejected\n"
      << "traffic   " << static_cast<std::uint64_t>(s.pushes) << " pushes, "
      << static_cast<std::uint64_t>(s.pulls) << " pulls (" << rate(s.pushes, s.uptime_s) << "/"
      << rate(s.pulls, s.uptime_s) << " per s since start), "
      << static_cast<std::uint64_t>(s.bytes_in / 1e6) << " MB in, "
      << static_cast<std::uint64_t>(s.bytes_out / 1e6) << " MB out, "
      << static_cast<std::uint64_t>(s.staleness_waits) << " staleness waits\n"
      << "actors    " << s.actors_spawned << " spawned, " << s.actors_down << " ended, "
      << s.actors.size() << " hosted\n"
      << "jobs      " << s.jobs << " live; " << s.jobs_released << " released (" << s.leases_expired
      << " for an expired lease)\n";
  for (const auto& a : s.actors) {
    out << "  " << a.kind << " " << a.id << "  job " << a.job << ", "
        << static_cast<std::uint64_t>(a.age_s) << " s" << (a.ending ? ", ending" : "") << "\n";
  }
  return out.str();
}

int run_status(const status_options& o) {
  const auto [host, port] = parse_address(o.address);
  if (o.secret_file.empty() && !o.tls.enabled()) {
    throw troupe_error(errc::bad_config,
                       "give the cluster secret (--secret) or TLS files "
                       "(--tls-cert, --tls-key, --tls-ca), as the node has");
  }
  const auto secret = o.secret_file.empty() ? std::string{} : load_secret(o.secret_file);
  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout_s * 1000));
  actor_config cfg;
  configure_cluster_timeouts(cfg);  // the node drops peers that stay silent
  // Our side detects no failures (its requests have their own deadline):
  // no connection timeout at all. CAF 0.17 dates a new outgoing connection
  // from the clock's epoch, so any timeout shorter than the machine's uptime
  // dropped a node whose handshake took longer than a heartbeat (100 ms).
  cfg.set("middleman.connection-timeout", caf::timespan{std::chrono::hours(24 * 365 * 100)});
  if (o.tls.enabled()) enable_tls(cfg, o.tls);
  caf::actor_system sys{cfg};
  auto node = connect_remote<node_actor>(sys, host, port, timeout);
  if (!node) {
    spdlog::error("cannot reach a node at {}: {}{}", o.address, describe(node.error()),
                  connect_failure_hint(node.error(), o.tls));
    return exit_unreachable;
  }
  caf::scoped_actor self{sys};
  if (secret.empty()) {
    // TLS only: the certificate was the credential.
  } else if (auto err = authenticate(self, *node, secret, timeout)) {
    if (err.category() == troupe_error_category()) {
      const bool tls_only = describe(err).find(no_secret_here) != std::string::npos;
      spdlog::error("node {} refused us: {}{}", o.address, describe(err),
                    tls_only ? "" : " (is " + o.secret_file + " the cluster's secret?)");
      return exit_refused;
    }
    spdlog::error("no answer from node {}: {}", o.address, describe(err));
    return exit_unreachable;
  }
  int code = 0;
  self->request(*node, timeout, status_atom::value)
      .receive([&](const node_status& s) { std::cout << format_status(s) << std::flush; },
               [&](caf::error& err) {
                 spdlog::error("node {} did not report its status: {}", o.address, describe(err));
                 code = err.category() == troupe_error_category() ? exit_refused : exit_unreachable;
               });
  return code;
}

}  // namespace

std::function<int()> add_status_command(CLI::App& app) {
  auto opts = std::make_shared<status_options>();
  auto* cmd = app.add_subcommand(
      "status",
      "Show the state of a node daemon: slots, hosted actors, peers and counters. Exit code 3 "
      "when the node refuses the secret, 4 when it cannot be reached (also: a TLS handshake "
      "refused).");
  cmd->add_option("address", opts->address, "HOST:PORT of the node")->required();
  cmd->add_option("--secret", opts->secret_file, "file holding the cluster secret")
      ->check(CLI::ExistingFile);
  add_tls_options(*cmd, opts->tls);
  cmd->add_option("--timeout", opts->timeout_s, "seconds to wait for each answer")
      ->check(cli::seconds_within(0.1, 600.0));
  return [cmd, opts]() -> int {
    if (!cmd->parsed()) return -1;
    try {
      return run_status(*opts);
    } catch (const troupe_error& e) {
      spdlog::error("{}: {}", to_string(e.code()), e.what());
      return 2;
    }
  };
}

}  // namespace troupe::cli
