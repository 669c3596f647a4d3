#include "engine/workloads/sgns.hpp"

#include <algorithm>
#include <cmath>

namespace troupe {

negative_sampler::negative_sampler(const std::vector<std::uint64_t>& counts, double power,
                                   std::size_t table_size) {
  double total = 0;
  for (auto c : counts) total += std::pow(static_cast<double>(c), power);
  if (counts.empty() || total <= 0) return;
  table_.resize(table_size);
  std::size_t word = 0;
  double cumulative = std::pow(static_cast<double>(counts[0]), power) / total;
  for (std::size_t i = 0; i < table_size; ++i) {
    table_[i] = static_cast<std::uint32_t>(word);
    if (static_cast<double>(i + 1) / static_cast<double>(table_size) > cumulative &&
        word + 1 < counts.size()) {
      ++word;
      cumulative += std::pow(static_cast<double>(counts[word]), power) / total;
    }
  }
  size_ = static_cast<std::uint32_t>(table_size);
}

std::vector<float> subsample_keep_probabilities(const std::vector<std::uint64_t>& counts,
                                                double threshold) {
  double total = 0;
  for (auto c : counts) total += static_cast<double>(c);
  std::vector<float> keep(counts.size(), 1.0f);
  if (threshold <= 0 || total <= 0) return keep;
  for (std::size_t w = 0; w < counts.size(); ++w) {
    const double f = static_cast<double>(counts[w]) / total;
    if (f <= 0) continue;
    keep[w] = static_cast<float>(std::min(1.0, (std::sqrt(f / threshold) + 1) * threshold / f));
  }
  return keep;
}

void subsample(const std::vector<std::uint32_t>& s, const std::vector<float>& keep, sgns_rng& rng,
               std::vector<std::uint32_t>& out) {
  out.clear();
  for (auto w : s) {
    if (keep[w] >= 1.0f || rng.unit() < keep[w]) out.push_back(w);
  }
}

float dot(const float* a, const float* b, std::size_t dim) {
  float s = 0;
  for (std::size_t k = 0; k < dim; ++k) s += a[k] * b[k];
  return s;
}

namespace {

// log(1 + e^x) without overflow.
float softplus(float x) {
  return std::max(x, 0.0f) + std::log1p(std::exp(-std::fabs(x)));
}

float sigmoid(float x) {
  if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

}  // namespace

float sgns_pair_grad(const float* in, const float* out, float label, std::size_t dim, float* g_in,
                     float* g_out) {
  const float x = dot(in, out, dim);
  const float g = sigmoid(x) - label;  // d loss / d x
  if (g_in != nullptr) {
    for (std::size_t k = 0; k < dim; ++k) g_in[k] += g * out[k];
  }
  if (g_out != nullptr) {
    for (std::size_t k = 0; k < dim; ++k) g_out[k] += g * in[k];
  }
  return label > 0.5f ? softplus(-x) : softplus(x);
}

float cosine(const float* a, const float* b, std::size_t dim) {
  const float na = std::sqrt(dot(a, a, dim));
  const float nb = std::sqrt(dot(b, b, dim));
  return na > 0 && nb > 0 ? dot(a, b, dim) / (na * nb) : 0.0f;
}

std::vector<std::pair<std::uint32_t, float>> nearest_rows(const float* rows, std::size_t n,
                                                          std::size_t dim, const float* query,
                                                          std::size_t k, std::size_t exclude) {
  std::vector<std::pair<std::uint32_t, float>> all;
  all.reserve(n);
  for (std::size_t r = 0; r < n; ++r) {
    if (r != exclude)
      all.emplace_back(static_cast<std::uint32_t>(r), cosine(rows + r * dim, query, dim));
  }
  k = std::min(k, all.size());
  auto better = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  std::partial_sort(all.begin(), all.begin() + static_cast<long>(k), all.end(), better);
  all.resize(k);
  return all;
}

}  // namespace troupe
