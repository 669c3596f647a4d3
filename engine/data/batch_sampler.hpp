#pragma once
// A worker's share of the training set and its mini-batches: the worker
// owns a contiguous partition of a seeded global permutation, reshuffles it
// every epoch, and gathers each batch into a contiguous buffer.
//
//   batch_sampler s(train.rows, /*part=*/0, /*parts=*/2, /*batch=*/64, /*seed=*/42);
//   s.start_epoch(0);
//   while (auto n = s.next(train, x, y)) train_on(x, y, n);

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "engine/data/dataset.hpp"

namespace troupe {

class batch_sampler {
 public:
  batch_sampler(std::size_t rows, std::uint32_t part, std::uint32_t parts, std::size_t batch,
                std::uint64_t seed);

  /// Indices of the rows this sampler owns.
  const std::vector<std::size_t>& rows() const { return rows_; }
  /// Adds rows (e.g. taken over from a lost worker); they join the next epoch.
  void adopt(const std::vector<std::size_t>& rows);
  std::size_t batches_per_epoch() const { return (rows_.size() + batch_size_ - 1) / batch_size_; }

  /// Shuffles the partition for `epoch` (deterministic in seed, part, epoch).
  void start_epoch(std::uint64_t epoch);
  /// Copies the next batch into x (rows x cols) and y; returns its size, 0 at
  /// the end of the epoch.
  std::size_t next(const dataset& d, std::vector<float>& x, std::vector<std::int32_t>& y);
  /// The row indices of the next batch (for data sets that gather their own
  /// batches); empty at the end of the epoch.
  const std::vector<std::size_t>& next_indices();

 private:
  void prefetch_rows(const dataset& d, std::size_t n) const;

  std::vector<std::size_t> rows_;
  std::vector<std::size_t> order_;
  std::vector<std::size_t> batch_;  // the last next_indices()
  std::size_t batch_size_;
  std::size_t cursor_ = 0;
  std::uint64_t seed_;
  std::uint32_t part_;
};

}  // namespace troupe
