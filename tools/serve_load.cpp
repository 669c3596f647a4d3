// `troupe-serve-load`: how a served engine behaves under more load than it
// can take. Callers share one client (client_options: window, max_queued,
// timeout) and look up rows of a sparse table:
//   1. capacity: the rate served when offered far more (open loop at four
//      times what the callers reach back to back), or that rate if higher;
//   2. unloaded: open loop at a tenth of the capacity;
//   3. overloaded: open loop at `--overload` (default 2) times the capacity;
//   4. with --unbounded, the same overload through a second client whose
//      queue and deadline are practically unlimited (what a client without
//      backpressure does), as the peer to compare with in the same run.
// Open loop: each lookup has a scheduled send time and its latency counts
// from it, so time a caller spends behind schedule is counted as waiting.
// Prints p50/p99 of the served lookups of each phase, what failed and how
// (overloaded, timeout), and how long a refused call took to be refused.
//
//   build/tools/troupe serve tables.toml --listen 127.0.0.1:7100 --secret key &
//   build/tools/troupe-serve-load --connect 127.0.0.1:7100 --secret-file key
//   build/tools/troupe-serve-load            # an engine in this process, over loopback TCP
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "troupe/client.hpp"
#include "troupe/engine.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

struct settings {
  std::string connect;  // empty: an engine in this process
  std::string secret = "serve-load-secret-0123456789abcdef";
  std::string table = "emb";
  std::size_t rows = 1;
  std::uint64_t id_range = 100000;
  int callers = 64;
  double seconds = 5;
  double overload = 2;
  bool unbounded = false;
  troupe::client_options client;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

// What one phase saw.
struct tally {
  std::mutex mutex;
  std::vector<double> served_ms;   // from the scheduled send time
  std::vector<double> refused_ms;  // overloaded: from the call to its answer
  std::map<std::string, std::uint64_t> errors;
  double wall_s = 0;  // from the first scheduled call to the last answer
  void served(double ms) {
    std::lock_guard<std::mutex> lock(mutex);
    served_ms.push_back(ms);
  }
  void failed(const troupe::api_error& e, double ms) {
    std::lock_guard<std::mutex> lock(mutex);
    ++errors[troupe::to_string(e.code)];
    if (e.code == troupe::api_errc::overloaded) refused_ms.push_back(ms);
  }
};

double ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::vector<std::uint64_t> random_ids(std::mt19937_64& rng, const settings& s) {
  std::uniform_int_distribution<std::uint64_t> id(0, s.id_range - 1);
  std::vector<std::uint64_t> ids(s.rows);
  for (auto& x : ids) x = id(rng);
  return ids;
}

// Closed loop: lookups served per second with every caller always waiting on one.
double capacity(troupe::client& c, const settings& s) {
  std::atomic<std::uint64_t> served{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < s.callers; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(1000 + t);
      while (!stop) {
        if (c.lookup(s.table, random_ids(rng, s)).get()) ++served;
      }
    });
  }
  const auto t0 = clock_type::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(s.seconds));
  stop = true;
  for (auto& th : threads) th.join();
  return static_cast<double>(served) /
         std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Open loop at `rate` lookups/s spread over the callers.
void open_loop(troupe::client& c, const settings& s, double rate, tally& out) {
  const auto began = clock_type::now();
  const auto interval = std::chrono::duration_cast<clock_type::duration>(
      std::chrono::duration<double>(static_cast<double>(s.callers) / rate));
  const auto start = clock_type::now() + std::chrono::milliseconds(20);
  const auto end = start + std::chrono::duration_cast<clock_type::duration>(
                               std::chrono::duration<double>(s.seconds));
  std::vector<std::thread> threads;
  for (int t = 0; t < s.callers; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(2000 + t);
      // Callers start spread over one interval, not all at once.
      auto next = start + interval * t / s.callers;
      while (next < end) {
        std::this_thread::sleep_until(next);
        const auto scheduled = next;
        const auto called = clock_type::now();
        c.lookup(s.table, random_ids(rng, s),
                 [&out, scheduled, called](troupe::result<troupe::rows> r) {
                   const auto now = clock_type::now();
                   if (r) {
                     out.served(ms_between(scheduled, now));
                   } else {
                     out.failed(r.error(), ms_between(called, now));
                   }
                 });
        next += interval;
      }
    });
  }
  for (auto& th : threads) th.join();
  c.wait();
  out.wall_s = std::chrono::duration<double>(clock_type::now() - began).count();
}

void report(const char* phase, double rate, const settings& s, tally& t) {
  std::uint64_t failed = 0;
  std::string errors;
  for (const auto& [code, n] : t.errors) {
    failed += n;
    errors += " " + code + "=" + std::to_string(n);
  }
  std::printf(
      "%-10s offered=%.0f/s served=%.0f/s p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f failed=%llu%s",
      phase, rate, static_cast<double>(t.served_ms.size()) / std::max(s.seconds, t.wall_s),
      percentile(t.served_ms, 0.5), percentile(t.served_ms, 0.99), percentile(t.served_ms, 0.999),
      static_cast<unsigned long long>(failed), errors.c_str());
  if (!t.refused_ms.empty()) {
    std::printf(" refused_p99_ms=%.3f refused_max_ms=%.3f", percentile(t.refused_ms, 0.99),
                percentile(t.refused_ms, 1.0));
  }
  std::printf("\n");
}

bool parse(int argc, char** argv, settings& s) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--connect") {
      s.connect = value();
    } else if (a == "--secret-file") {
      std::ifstream in(value());
      std::stringstream ss;
      ss << in.rdbuf();
      s.secret = ss.str();
      while (!s.secret.empty() && (s.secret.back() == '\n' || s.secret.back() == '\r')) {
        s.secret.pop_back();
      }
    } else if (a == "--table") {
      s.table = value();
    } else if (a == "--rows") {
      s.rows = std::max(1, std::atoi(value().c_str()));
    } else if (a == "--callers") {
      s.callers = std::max(1, std::atoi(value().c_str()));
    } else if (a == "--seconds") {
      s.seconds = std::max(0.5, std::atof(value().c_str()));
    } else if (a == "--overload") {
      s.overload = std::max(1.0, std::atof(value().c_str()));
    } else if (a == "--window") {
      s.client.window = std::max(1, std::atoi(value().c_str()));
    } else if (a == "--max-queued") {
      s.client.max_queued = std::max(1, std::atoi(value().c_str()));
    } else if (a == "--unbounded") {
      s.unbounded = true;
    } else if (a == "--timeout-ms") {
      s.client.timeout = std::chrono::milliseconds(std::max(1, std::atoi(value().c_str())));
    } else {
      std::fprintf(stderr,
                   "usage: %s [--connect HOST:PORT --secret-file FILE] [--table emb] [--rows 1] "
                   "[--callers 64] [--seconds 5] [--overload 2] [--window N] [--max-queued N] "
                   "[--timeout-ms N] [--unbounded]\n",
                   argv[0]);
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  if (!parse(argc, argv, s)) return 2;
  std::vector<troupe::engine> local;  // the engine this process serves, without --connect
  if (s.connect.empty()) {
    troupe::engine_options opts;
    opts.tables = {troupe::table::sparse(s.table, 64).init(0.01f).sgd(0.1f)};
    opts.shards = 2;
    opts.listen = "127.0.0.1:0";
    opts.secret = s.secret;
    auto eng = troupe::engine::start(opts);
    if (!eng) {
      std::fprintf(stderr, "engine: %s\n", eng.error().to_string().c_str());
      return 1;
    }
    s.connect = eng->address();
    local.push_back(std::move(eng).value());
  }
  auto c = troupe::client::connect(s.connect, s.secret, s.client);
  if (!c) {
    std::fprintf(stderr, "connect %s: %s\n", s.connect.c_str(), c.error().to_string().c_str());
    return 1;
  }
  std::printf(
      "serve-load: %s, %d callers, %zu rows per lookup, window %zu, max_queued %zu, "
      "timeout %lld ms, %.1f s per phase\n",
      s.connect.c_str(), s.callers, s.rows, s.client.window, s.client.max_queued,
      static_cast<long long>(s.client.timeout.count()), s.seconds);
  settings warm = s;
  warm.seconds = 1;
  capacity(*c, warm);  // connections, first rows, caches
  const double closed = capacity(*c, s);
  tally saturated;
  open_loop(*c, s, 4 * closed, saturated);
  const double open = static_cast<double>(saturated.served_ms.size()) / saturated.wall_s;
  const double cap = std::max(closed, open);
  std::printf("capacity   %.0f lookups/s (closed loop %.0f/s; served at %.0f/s offered: %.0f/s)\n",
              cap, closed, 4 * closed, open);
  tally idle;
  open_loop(*c, s, cap / 10, idle);
  report("unloaded", cap / 10, s, idle);
  tally busy;
  open_loop(*c, s, cap * s.overload, busy);
  report("overload", cap * s.overload, s, busy);
  const double p99_idle = percentile(idle.served_ms, 0.99);
  const double p99_busy = percentile(busy.served_ms, 0.99);
  std::printf("p99_ratio=%.2f (overloaded p99 / unloaded p99)\n",
              p99_idle > 0 ? p99_busy / p99_idle : 0.0);
  if (s.unbounded) {
    auto opts = s.client;
    opts.max_queued = std::size_t{1} << 30;
    opts.timeout = std::chrono::minutes(10);
    auto u = troupe::client::connect(s.connect, s.secret, opts);
    if (!u) {
      std::fprintf(stderr, "connect: %s\n", u.error().to_string().c_str());
      return 1;
    }
    tally free_for_all;
    open_loop(*u, s, cap * s.overload, free_for_all);
    report("unbounded", cap * s.overload, s, free_for_all);
    std::printf("p99_ratio_unbounded=%.2f\n",
                p99_idle > 0 ? percentile(free_for_all.served_ms, 0.99) / p99_idle : 0.0);
  }
  return 0;
}
