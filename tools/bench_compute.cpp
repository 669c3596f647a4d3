// `troupe bench compute`: the compute-only ceiling of the reference job.
// Each thread trains its own copy of the MLP on its own partition of
// Fashion-MNIST with a local SGD update (forward, backward, w -= lr * g):
// no shards, no messages, no clocks. What a parameter server adds on top is
// overhead; the step-speed targets are stated against this loop.
#include "tools/bench_compute.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "engine/data/batch_sampler.hpp"
#include "engine/data/dataset.hpp"
#include "engine/model/model.hpp"
#include "kernels/backend.hpp"
#include "tools/finite_range.hpp"

namespace troupe::cli {

namespace {

using clock_type = std::chrono::steady_clock;

// One thread's training loop; returns the samples it trained in `seconds`.
std::uint64_t train_loop(const dataset& train, const mlp_spec& spec, int batch, double seconds,
                         std::uint32_t part, std::uint32_t parts) {
  auto be = kernels::make_backend(kernels::backend_kind::cpu, 1);
  mlp net(spec, *be, batch);
  // The table's initialisation, so the loop trains a real model.
  std::vector<float> init(net.size(), 0.01f);
  be->upload(init.data(), init.size(), net.params());
  batch_sampler sampler(train.rows, part, parts, static_cast<std::size_t>(batch), 42);
  std::vector<float> x;
  std::vector<std::int32_t> y;
  std::uint64_t samples = 0, epoch = 0;
  sampler.start_epoch(epoch);
  const auto end = clock_type::now() + std::chrono::duration<double>(seconds);
  while (clock_type::now() < end) {
    auto rows = sampler.next(train, x, y);
    if (rows == 0) {
      sampler.start_epoch(++epoch);
      rows = sampler.next(train, x, y);
    }
    net.train_step(x.data(), y.data(), static_cast<int>(rows));
    be->axpy(net.size(), -0.05f, net.grads(), net.params());
    samples += rows;
  }
  return samples;
}

int run_compute(const compute_options& o) {
  const auto train = load_fashion_mnist(o.data_dir, "train");
  const mlp_spec spec{o.layers};
  std::printf("threads,samples_per_s,per_thread\n");
  for (const int threads : o.threads) {
    std::vector<std::uint64_t> samples(static_cast<std::size_t>(threads), 0);
    std::vector<std::thread> pool;
    const auto t0 = clock_type::now();
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        samples[static_cast<std::size_t>(t)] =
            train_loop(train, spec, o.batch, o.seconds, static_cast<std::uint32_t>(t),
                       static_cast<std::uint32_t>(threads));
      });
    }
    for (auto& th : pool) th.join();
    const double wall = std::chrono::duration<double>(clock_type::now() - t0).count();
    std::uint64_t total = 0;
    for (auto s : samples) total += s;
    std::printf("%d,%.0f,%.0f\n", threads, total / wall, total / wall / threads);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

void add_compute_bench(CLI::App& bench, std::function<int()>& run) {
  auto o = std::make_shared<compute_options>();
  auto* cmd = bench.add_subcommand(
      "compute",
      "Compute-only ceiling: N threads each train the reference MLP locally (forward, backward, "
      "SGD), no parameter server");
  cmd->add_option("-t,--threads", o->threads, "thread counts to run (comma list)")
      ->delimiter(',')
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--seconds", o->seconds, "seconds per thread count")
      ->check(cli::seconds_within(0.1, 3600.0))
      ->capture_default_str();
  cmd->add_option("--batch", o->batch, "batch size")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  cmd->add_option("--layers", o->layers, "layer sizes")->delimiter(',')->capture_default_str();
  cmd->add_option("--data-dir", o->data_dir, "Fashion-MNIST idx files")->capture_default_str();
  run = [=]() -> int { return cmd->parsed() ? run_compute(*o) : -1; };
}

}  // namespace troupe::cli
