#pragma once
// `troupe bench compute`: the compute-only ceiling (see bench_compute.cpp).
//
//   troupe bench compute --threads 1,2 --seconds 5

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace troupe::cli {

struct compute_options {
  std::vector<int> threads{1, 2};
  double seconds = 5;
  int batch = 64;
  std::vector<int> layers{784, 256, 128, 10};
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
};

/// Adds `compute` under `bench`; `run` becomes its runner (-1 when not given).
void add_compute_bench(CLI::App& bench, std::function<int()>& run);

}  // namespace troupe::cli
