#include "engine/data/baseline.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

namespace troupe {

namespace {

baseline majority(const std::vector<std::int32_t>& train, const std::vector<std::int32_t>& test) {
  std::map<std::int32_t, std::size_t> counts;
  for (auto c : train) ++counts[c];
  baseline b;
  if (counts.empty() || test.empty()) return b;
  const auto top = std::max_element(counts.begin(), counts.end(), [](auto& a, auto& b) {
                     return a.second < b.second;
                   })->first;
  b.accuracy = static_cast<double>(std::count(test.begin(), test.end(), top)) /
               static_cast<double>(test.size());
  return b;
}

baseline mean_predictor(const std::vector<float>& train, const std::vector<float>& test) {
  baseline b;
  b.regression = true;
  if (train.empty() || test.empty()) return b;
  const double mean =
      std::accumulate(train.begin(), train.end(), 0.0) / static_cast<double>(train.size());
  double sq = 0, abs_err = 0;
  for (auto t : test) {
    sq += (t - mean) * (t - mean);
    abs_err += std::fabs(t - mean);
  }
  b.rmse = std::sqrt(sq / static_cast<double>(test.size()));
  b.mae = abs_err / static_cast<double>(test.size());
  return b;
}

}  // namespace

baseline baseline_of(const dataset& train, const dataset& test) {
  if (!train.targets.empty()) return mean_predictor(train.targets, test.targets);
  return majority(train.labels, test.labels);
}

baseline baseline_of(const sparse_dataset& train, const sparse_dataset& test) {
  return majority(train.labels, test.labels);
}

baseline baseline_of(const ratings_dataset& train, const ratings_dataset& test) {
  return mean_predictor(train.ratings, test.ratings);
}

}  // namespace troupe
