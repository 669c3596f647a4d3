#include "actors/job_runner.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "actors/actor_config.hpp"
#include "actors/node.hpp"
#include "actors/scheduler.hpp"
#include "engine/auth.hpp"
#include "engine/workload_factory.hpp"

namespace troupe {

std::string summary_line(const job_summary& s) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(4);
  out << "test_accuracy=" << s.test_accuracy;
  out.precision(0);
  out << " samples_per_s=" << s.samples_per_s;
  out.precision(1);
  out << " wall_s=" << s.wall_s << " epochs=" << s.epochs << " time_to_target_s=";
  if (s.time_to_target_s >= 0) {
    out << s.time_to_target_s;
  } else {
    out << "never";
  }
  out.precision(4);
  out << " wait_fraction=" << s.wait_fraction << " mean_staleness=" << s.mean_staleness;
  out.precision(0);
  out << " p50_staleness=" << s.staleness_p50 << " p99_staleness=" << s.staleness_p99
      << " max_staleness=" << s.max_staleness << " target_clock=" << s.target_clock
      << " steps=" << s.steps << " pushes_rejected=" << s.pushes_rejected
      << " workers_replaced=" << s.workers_replaced;
  return out.str();
}

namespace {

// Connects to and authenticates with every node of the job's [cluster], then
// tells each node which other nodes belong to the job (they exchange
// parameters directly). Throws troupe_error naming the node that failed.
std::vector<node_actor> connect_nodes(caf::actor_system& sys, caf::scoped_actor& self,
                                      const job_config& job) {
  std::vector<node_actor> nodes;
  if (job.nodes.empty()) return nodes;
  const auto secret = load_secret(job.secret_file);
  const auto timeout = std::chrono::seconds(10);
  for (const auto& address : job.nodes) {
    const auto [host, port] = parse_address(address);
    auto node = sys.middleman().remote_actor<node_actor>(host, port);
    if (!node) {
      throw troupe_error(errc::peer_lost,
                         "cannot reach node " + address + ": " + describe(node.error()));
    }
    if (auto err = authenticate(self, *node, secret, timeout)) {
      throw troupe_error(errc::bad_config,
                         "node " + address + " refused this client: " + describe(err));
    }
    spdlog::info("authenticated with node {} ({})", address, caf::to_string(node->node()));
    nodes.push_back(*node);
  }
  std::vector<caf::node_id> members{sys.node()};
  for (const auto& n : nodes) members.push_back(n.node());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    caf::error err;
    self->request(nodes[i], timeout, admit_atom::value, members)
        .receive([](std::uint64_t) {}, [&](caf::error& e) { err = std::move(e); });
    if (err) {
      throw troupe_error(errc::peer_lost, "node " + job.nodes[i] +
                                              " did not admit the job's nodes: " + describe(err));
    }
  }
  return nodes;
}

}  // namespace

job_summary run_job(const job_config& job) {
  validate(job);
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(job.output_dir, ec);
  if (ec)
    throw troupe_error(errc::io_error, "cannot create " + job.output_dir + ": " + ec.message());
  {
    std::ofstream out(job.output_dir + "/job.toml");
    out << to_toml(job);
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto data = load_workload_data(job);
  spdlog::info("loaded {} train and {} test rows of {} in {:.2f} s", data->train_rows(),
               data->test_rows(), job.data_set,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

  actor_config cfg;
  caf::actor_system sys{cfg};
  job_summary summary;
  caf::error failure;
  {
    caf::scoped_actor self{sys};
    // The nodes admit this process for as long as `self` lives: keep it for the job.
    auto nodes = connect_nodes(sys, self, job);
    auto scheduler = spawn_scheduler(sys, job, std::move(data), std::move(nodes));
    // The scheduler is local and a job may legitimately run for hours.
    self->request(scheduler, caf::infinite, run_atom::value)
        .receive([&](const job_summary& s) { summary = s; },
                 [&](caf::error& err) { failure = std::move(err); });
  }
  if (failure) throw troupe_error(errc::stopped, describe(failure));
  std::ofstream(job.output_dir + "/summary.txt") << summary_line(summary) << "\n";
  return summary;
}

}  // namespace troupe
