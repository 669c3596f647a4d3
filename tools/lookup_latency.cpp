// `troupe-lookup-latency`: lookup latency of the public client, in-process
// and remote (a second engine in this process reached over loopback TCP
// through client::connect, so every byte crosses the middleman as it would
// between machines), and remote again with the served shards on the
// network thread (engine_options::shards_on_network_thread). Prints p50/p99
// per batch size; rows of width 64.
//
//   build/tools/troupe-lookup-latency [iterations=2000]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "troupe/client.hpp"
#include "troupe/engine.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::uint32_t width = 64;
constexpr std::uint64_t rows_in_table = 100000;

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

int measure(const char* label, troupe::client& c, int iterations) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<std::uint64_t> id(0, rows_in_table - 1);
  for (std::size_t batch : {1, 100, 1000}) {
    const int n = batch == 1000 ? std::max(iterations / 4, 50) : iterations;
    std::vector<double> us;
    for (int i = 0; i < n + 20; ++i) {  // the first 20 warm up
      std::vector<std::uint64_t> ids(batch);
      for (auto& x : ids) x = id(rng);
      const auto t0 = clock_type::now();
      auto r = c.lookup("emb", std::move(ids)).get();
      const auto dt = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
      if (!r) {
        std::fprintf(stderr, "%s: %s\n", label, r.error().to_string().c_str());
        return 1;
      }
      if (i >= 20) us.push_back(dt);
    }
    std::printf("%-10s rows=%-5zu n=%-5d p50_us=%.0f p99_us=%.0f\n", label, batch, n,
                percentile(us, 0.5), percentile(us, 0.99));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::max(10, std::atoi(argv[1])) : 2000;
  troupe::engine_options opts;
  opts.tables = {troupe::table::sparse("emb", width).init(0.01f).sgd(0.1f)};
  opts.shards = 2;
  auto local = troupe::engine::start(opts).value();
  auto lc = local.client().value();
  if (measure("in-process", lc, iterations) != 0) return 1;
  opts.listen = "127.0.0.1:0";
  opts.secret = "latency-probe-secret-0123456789";
  auto served = troupe::engine::start(opts).value();
  auto rc = troupe::client::connect(served.address(), opts.secret);
  if (!rc) {
    std::fprintf(stderr, "connect: %s\n", rc.error().to_string().c_str());
    return 1;
  }
  if (measure("remote", *rc, iterations) != 0) return 1;
  // The same with the served shards on the engine's network thread.
  opts.shards_on_network_thread = true;
  auto on_io = troupe::engine::start(opts).value();
  auto ic = troupe::client::connect(on_io.address(), opts.secret);
  if (!ic) {
    std::fprintf(stderr, "connect: %s\n", ic.error().to_string().c_str());
    return 1;
  }
  return measure("remote-io", *ic, iterations);
}
