// What the benchmark processes agree on, and the server process.
#include "tools/bench_nodes.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

#include "actors/actor_config.hpp"
#include "actors/shard.hpp"

namespace troupe::bench {

const char* to_string(store_kind store) {
  return store == store_kind::hash ? "hash" : "dense";
}

store_kind parse_store_kind(const std::string& text) {
  if (text == "hash") return store_kind::hash;
  if (text == "dense") return store_kind::dense;
  throw std::invalid_argument("unknown store '" + text + "' (expected hash or dense)");
}

table_spec bench_table(const run_shape& shape) {
  table_spec t;
  t.id = bench_table_id;
  t.name = "bench";
  t.kind = shape.store == store_kind::hash ? table_kind::sparse : table_kind::dense;
  if (shape.store == store_kind::dense) {
    t.size = shape.keys;
    t.init = {{shape.keys, 0.0f}};  // bound 0: every value starts at 0
  }
  t.width = 1;
  t.row_init_bound = 0;  // sparse rows start at 0 too
  // w -= 0.01 * g with g = 100: 0.01f * 100.0f rounds to exactly 1.0f, and
  // w - 1.0f is exact for integers up to 2^24, so after K pushes every value
  // is exactly -K (K stays far below 2^24 in any run of this benchmark).
  t.optimizer.kind = shape.optimizer;  // Adam (--optimizer adam) moves ~0.01 a push
  t.optimizer.learning_rate = 0.01f;
  t.optimizer.weight_decay = 0.0f;
  return t;
}

std::vector<server_slice> slice_keys(const run_shape& shape) {
  std::vector<server_slice> out(shape.servers);
  if (shape.store == store_kind::dense) {
    const auto ranges = partition_range(shape.keys, shape.servers);
    for (std::uint32_t k = 0; k < shape.servers; ++k) out[k].range = ranges[k];
    return out;
  }
  // Spread evenly over the key space so that every server owns some.
  const std::uint64_t step = std::numeric_limits<std::uint64_t>::max() / shape.keys;
  for (auto& s : out) s.keys.reserve(shape.keys / shape.servers + 16);
  for (std::uint64_t i = 0; i < shape.keys; ++i) {
    const std::uint64_t key = i * step;
    out[shard_of_row(key, shape.servers)].keys.push_back(key);
  }
  return out;
}

std::string format_result_line(const worker_result& r) {
  std::ostringstream out;
  out.precision(6);
  out << "result rounds=" << r.rounds << " seconds=" << r.seconds << " median_ms=" << r.median_ms
      << " p99_ms=" << r.p99_ms << " mean_ms=" << r.mean_ms << " push_ms=" << r.push_ms
      << " pull_ms=" << r.pull_ms;
  return out.str();
}

std::optional<worker_result> parse_result_line(const std::string& line) {
  std::istringstream in(line);
  std::string word;
  if (!(in >> word) || word != "result") return std::nullopt;
  worker_result r;
  std::map<std::string, std::string> fields;
  while (in >> word) {
    const auto eq = word.find('=');
    if (eq == std::string::npos) return std::nullopt;
    fields[word.substr(0, eq)] = word.substr(eq + 1);
  }
  auto number = [&](const char* name, double& out) {
    auto it = fields.find(name);
    if (it == fields.end()) return false;
    char* end = nullptr;
    out = std::strtod(it->second.c_str(), &end);
    return end != it->second.c_str() && *end == '\0';
  };
  double rounds = 0;
  if (!number("rounds", rounds) || !number("seconds", r.seconds) ||
      !number("median_ms", r.median_ms) || !number("p99_ms", r.p99_ms)) {
    return std::nullopt;
  }
  r.rounds = static_cast<std::uint64_t>(rounds);
  number("mean_ms", r.mean_ms);  // informative only
  number("push_ms", r.push_ms);
  number("pull_ms", r.pull_ms);
  return r;
}

void apply_tuning(actor_config& cfg, const process_tuning& tuning) {
  if (tuning.threads > 0) cfg.set("scheduler.max-threads", tuning.threads);
  // 0 workers: the middleman deserialises in its own thread, without first
  // copying the payload for a worker and waking it.
  if (tuning.middleman_workers >= 0) {
    cfg.set("middleman.workers", static_cast<std::size_t>(tuning.middleman_workers));
  }
}

namespace {

// SIGTERM/SIGINT are blocked before the actor system starts its threads (they
// inherit the mask) and taken with sigtimedwait by the main thread: no handler,
// no global flag (the same scheme as `troupe node`).
class blocked_stop_signals {
 public:
  blocked_stop_signals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, &previous_);
  }
  ~blocked_stop_signals() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
  blocked_stop_signals(const blocked_stop_signals&) = delete;
  blocked_stop_signals& operator=(const blocked_stop_signals&) = delete;

  bool pending() {
    timespec zero{0, 0};
    return sigtimedwait(&set_, nullptr, &zero) > 0;
  }

 private:
  sigset_t set_{};
  sigset_t previous_{};
};

// Returns once stdin reaches end-of-file (the parent closed it or died) or a
// stop signal arrives. Lines written to stdin are ignored.
void wait_for_stop(blocked_stop_signals& signals) {
  char sink[256];
  for (;;) {
    if (signals.pending()) return;
    pollfd p{STDIN_FILENO, POLLIN, 0};
    const int ready = ::poll(&p, 1, 200);
    if (ready < 0 && errno != EINTR) return;
    if (ready > 0 && ::read(STDIN_FILENO, sink, sizeof(sink)) <= 0) return;
  }
}

}  // namespace

int run_server(const run_shape& shape, std::uint32_t index, const process_tuning& tuning) {
  if (index >= shape.servers) {
    spdlog::error("bench-server: index {} out of {} servers", index, shape.servers);
    return 2;
  }
  blocked_stop_signals signals;
  actor_config cfg;
  apply_tuning(cfg, tuning);
  caf::actor_system sys{cfg};
  shard_table table;
  table.spec = bench_table(shape);
  table.shards = shape.servers;
  if (shape.store == store_kind::dense)
    table.range = partition_range(shape.keys, shape.servers)[index];
  auto shard =
      spawn_shard(sys, index, {table}, {},
                  tuning.shard_thread == "io" ? shard_thread::io : shard_thread::scheduler);
  auto port = sys.middleman().publish(shard, 0, "127.0.0.1", true);
  if (!port) {
    spdlog::error("bench-server {}: cannot publish the shard: {}", index, describe(port.error()));
    caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
    return 2;
  }
  std::cout << "port=" << *port << std::endl;
  wait_for_stop(signals);
  sys.middleman().unpublish(shard, *port);
  caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
  return 0;
}

}  // namespace troupe::bench
