// Clients of the benchmark's remote shards: the worker process (rounds of
// push + pull, timed) and the parent's final check of every value.
#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <numeric>
#include <utility>

#include "actors/actor_config.hpp"
#include "actors/protocol.hpp"
#include "tools/bench_nodes.hpp"
#include "tools/bench_round_client.hpp"

namespace troupe::bench {

namespace {

// middleman().remote_actor() waits without a timeout for the handshake; a
// peer that accepts but never answers (stopped, overloaded) would hang us.
caf::expected<shard_actor> connect_shard(caf::actor_system& sys, caf::scoped_actor& self,
                                         std::uint16_t port) {
  caf::expected<shard_actor> out{caf::make_error(caf::sec::request_timeout)};
  self->request(sys.middleman().actor_handle(), request_timeout, caf::connect_atom::value,
                std::string("127.0.0.1"), port)
      .receive(
          [&](caf::node_id&, caf::strong_actor_ptr& ptr, std::set<std::string>& ifs) {
            if (!ptr) {
              out = caf::make_error(caf::sec::no_actor_published_at_port);
            } else if (!sys.assignable<shard_actor>(ifs)) {
              out = caf::make_error(caf::sec::unexpected_actor_messaging_interface);
            } else {
              out = caf::actor_cast<shard_actor>(std::move(ptr));
            }
          },
          [&](caf::error& err) { out = std::move(err); });
  return out;
}

caf::expected<std::vector<shard_link>> connect_all(caf::actor_system& sys, caf::scoped_actor& self,
                                                   const run_shape& shape,
                                                   const std::vector<std::uint16_t>& ports) {
  if (ports.size() != shape.servers) {
    return make_troupe_error(errc::bad_config, std::to_string(ports.size()) + " ports for " +
                                                   std::to_string(shape.servers) + " servers");
  }
  std::vector<shard_link> links;
  auto slices = slice_keys(shape);
  for (std::uint32_t k = 0; k < shape.servers; ++k) {
    const std::size_t count = slices[k].size(shape.store);
    if (count == 0) continue;  // e.g. N = 1: only one server owns a key
    auto shard = connect_shard(sys, self, ports[k]);
    if (!shard) return std::move(shard.error());
    links.push_back({std::move(*shard), std::move(slices[k]), count});
  }
  return links;
}

// Keeps the first error of the final check's requests.
void first_error(caf::error& kept, caf::error next) {
  if (!kept && next) kept = std::move(next);
}

// Asks the client for `start` or `run`; returns its error, or none.
template <class... Ts>
caf::error ask(caf::scoped_actor& self, const round_client_actor& client, Ts... xs) {
  caf::error out;
  self->request(client, caf::infinite, xs...)
      .receive([](bool) {}, [&](caf::error& err) { out = std::move(err); });
  return out;
}

// Nearest-rank percentile of sorted samples.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * sorted.size()));
  return sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1];
}

worker_result summarise(std::vector<double> latencies, double seconds, double push_ms,
                        double pull_ms) {
  worker_result r;
  r.rounds = latencies.size();
  r.seconds = seconds;
  if (latencies.empty()) return r;
  std::sort(latencies.begin(), latencies.end());
  r.median_ms = percentile(latencies, 50);
  r.p99_ms = percentile(latencies, 99);
  r.mean_ms = std::accumulate(latencies.begin(), latencies.end(), 0.0) / r.rounds;
  r.push_ms = push_ms / r.rounds;
  r.pull_ms = pull_ms / r.rounds;
  return r;
}

}  // namespace

int run_worker(const worker_options& o) {
  actor_config cfg;
  apply_tuning(cfg, o.tuning);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto links = connect_all(sys, self, o.shape, o.ports);
  if (!links) {
    spdlog::error("bench-worker {}: cannot reach the servers: {}", o.index,
                  describe(links.error()));
    return 3;
  }
  auto totals = std::make_shared<round_totals>();
  const auto thread = o.tuning.worker_thread == "io" ? round_thread::io : round_thread::scheduler;
  auto client = spawn_round_client(sys, thread, o.shape, o.index, std::move(*links), totals);
  // Whichever way this ends, the client goes too (the system waits for it).
  auto stop_client = [&] { caf::anon_send_exit(client, caf::exit_reason::user_shutdown); };
  if (auto err = ask(self, client, start_atom::value)) {
    spdlog::error("bench-worker {}: warm-up round failed: {}", o.index, describe(err));
    stop_client();
    return 4;
  }
  std::cout << "ready" << std::endl;
  std::string line;
  if (!std::getline(std::cin, line) || line != "go") {  // the parent gave up
    stop_client();
    return 5;
  }
  if (auto err = ask(self, client, run_atom::value, o.seconds)) {
    spdlog::error("bench-worker {}: round {} failed: {}", o.index, totals->latencies.size(),
                  describe(err));
    stop_client();
    return 4;
  }
  stop_client();
  std::cout << format_result_line(summarise(std::move(totals->latencies), totals->seconds,
                                            totals->push_ms, totals->pull_ms))
            << std::endl;
  return 0;
}

namespace {

// Reads back one server's values and compares them with `expected`.
void check_link(caf::scoped_actor& self, const run_shape& shape, const shard_link& l,
                float expected, check_result& out, caf::error& failure) {
  constexpr std::uint32_t checker_id = 0xffffffffu;  // no worker has this id
  self->request(l.shard, request_timeout, pull_atom::value, encode_pull(shape, checker_id, l))
      .receive(
          [&](bytes& reply) {
            pull_reply_view view;
            if (auto st = decode_pull_reply(reply, view); !st) {
              return first_error(failure, to_caf_error(st));
            }
            if (view.count != l.count ||
                (shape.store == store_kind::hash && view.keys != l.slice.keys)) {
              return first_error(
                  failure, make_troupe_error(errc::wrong_size, "reply does not match the keys"));
            }
            for (std::size_t i = 0; i < view.count; ++i) {
              if (view.values[i] == expected) continue;
              if (out.wrong++ > 0) continue;
              const auto key =
                  shape.store == store_kind::hash ? l.slice.keys[i] : l.slice.range.begin + i;
              out.detail = "key " + std::to_string(key) + " holds " +
                           std::to_string(view.values[i]) + ", expected " +
                           std::to_string(expected);
            }
            out.checked += view.count;
          },
          [&](caf::error& err) { first_error(failure, std::move(err)); });
}

// The exact integer side of the check: each server that owns keys applied
// one push per round of every worker, none rejected, none taken as duplicate.
void check_counters(caf::scoped_actor& self, const shard_link& l, std::uint64_t pushes,
                    check_result& out, caf::error& failure) {
  self->request(l.shard, request_timeout, stats_atom::value)
      .receive(
          [&](shard_stats& st) {
            if (st.pushes_applied == pushes && st.pushes_rejected == 0 &&
                st.pushes_duplicate == 0) {
              return;
            }
            ++out.wrong;
            out.detail = "shard " + std::to_string(st.shard) + " applied " +
                         std::to_string(st.pushes_applied) + " pushes (" +
                         std::to_string(st.pushes_rejected) + " rejected, " +
                         std::to_string(st.pushes_duplicate) + " duplicates), expected " +
                         std::to_string(pushes);
          },
          [&](caf::error& err) { first_error(failure, std::move(err)); });
}

}  // namespace

float expected_value(std::uint64_t pushes) {
  // Each push subtracts exactly 1.0f from 0 (see bench_table); float32 counts
  // exactly up to 2^24, past which w - 1 rounds back to w (ties to even).
  constexpr std::uint64_t exact = 1u << 24;
  return -static_cast<float>(std::min(pushes, exact));
}

float expected_value(const run_shape& shape, std::uint64_t pushes) {
  if (shape.optimizer == optimizer_kind::sgd) return expected_value(pushes);
  const auto opt = make_optimizer(bench_table(shape).optimizer);
  std::vector<float> state(opt->state_slots(), 0.0f);
  float w = 0.0f;
  for (std::uint64_t t = 1; t <= pushes; ++t) {
    opt->apply(&w, &push_gradient, 1, state.empty() ? nullptr : state.data(), 1, t, 1.0f);
  }
  return w;
}

check_result check_values(const run_shape& shape, const std::vector<std::uint16_t>& ports,
                          std::uint64_t pushes) {
  check_result out;
  actor_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto links = connect_all(sys, self, shape, ports);
  if (!links) {
    out.detail = "cannot reach the servers: " + describe(links.error());
    return out;
  }
  caf::error failure;
  const float expected = expected_value(shape, pushes);
  for (auto& l : *links) check_link(self, shape, l, expected, out, failure);
  if (out.wrong > 0) {
    out.detail +=
        " (" + std::to_string(out.wrong) + " of " + std::to_string(out.checked) + " keys differ)";
  }
  for (auto& l : *links) check_counters(self, l, pushes, out, failure);
  if (failure) out.detail = "final pull failed: " + describe(failure);
  out.pass = !failure && out.wrong == 0 && out.checked == shape.keys;
  if (out.pass) out.detail.clear();
  return out;
}

}  // namespace troupe::bench
