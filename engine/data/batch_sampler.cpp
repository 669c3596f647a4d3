#include "engine/data/batch_sampler.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <stdexcept>

namespace troupe {

batch_sampler::batch_sampler(std::size_t rows, std::uint32_t part, std::uint32_t parts,
                             std::size_t batch, std::uint64_t seed)
    : batch_size_(batch), seed_(seed), part_(part) {
  if (parts == 0 || part >= parts) throw std::invalid_argument("partition index out of range");
  if (batch == 0) throw std::invalid_argument("batch size must be positive");
  std::vector<std::size_t> all(rows);
  std::iota(all.begin(), all.end(), std::size_t{0});
  std::mt19937_64 rng(seed);
  std::shuffle(all.begin(), all.end(), rng);
  const std::size_t begin = rows * part / parts, end = rows * (part + 1) / parts;
  rows_.assign(all.begin() + begin, all.begin() + end);
}

void batch_sampler::adopt(const std::vector<std::size_t>& rows) {
  rows_.insert(rows_.end(), rows.begin(), rows.end());
}

void batch_sampler::start_epoch(std::uint64_t epoch) {
  order_ = rows_;
  std::mt19937_64 rng(seed_ ^ (0x9e3779b97f4a7c15ULL * (epoch + 1)) ^ (std::uint64_t{part_} << 32));
  std::shuffle(order_.begin(), order_.end(), rng);
  cursor_ = 0;
}

std::size_t batch_sampler::next(const dataset& d, std::vector<float>& x,
                                std::vector<std::int32_t>& y) {
  const std::size_t n = std::min(batch_size_, order_.size() - cursor_);
  if (n == 0) return 0;
  x.resize(n * d.cols);
  y.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t r = order_[cursor_ + i];
    std::memcpy(x.data() + i * d.cols, d.row(r), d.cols * sizeof(float));
    y[i] = d.labels[r];
  }
  cursor_ += n;
  prefetch_rows(d, std::min(batch_size_, order_.size() - cursor_));
  return n;
}

// The next batch's rows are scattered over a set far larger than the caches.
// Asking now for the first lines of each lets the memory system fetch them
// (and the hardware prefetcher the rest of each row) while this step's GEMMs
// run, which barely use memory bandwidth; the next gather then copies from
// cache instead of waiting on DRAM row after row. Prefetching every line
// measured no better: the prefetches themselves stalled as long.
void batch_sampler::prefetch_rows(const dataset& d, std::size_t n) const {
  constexpr std::size_t line = 64;
  const std::size_t bytes = d.cols * sizeof(float);
  for (std::size_t i = 0; i < n; ++i) {
    const auto* p = reinterpret_cast<const char*>(d.row(order_[cursor_ + i]));
    for (std::size_t off = 0; off < std::min(bytes, 2 * line); off += line)
      __builtin_prefetch(p + off, 0, 1);
  }
}

const std::vector<std::size_t>& batch_sampler::next_indices() {
  const std::size_t n = std::min(batch_size_, order_.size() - cursor_);
  batch_.assign(order_.begin() + static_cast<long>(cursor_),
                order_.begin() + static_cast<long>(cursor_ + n));
  cursor_ += n;
  return batch_;
}

}  // namespace troupe
