#include "engine/data/row_split.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

namespace troupe {

std::vector<bool> pick_rows(std::size_t rows, double fraction, std::uint64_t seed) {
  std::vector<std::size_t> order(rows);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  const auto n = std::min(rows, static_cast<std::size_t>(std::llround(fraction * double(rows))));
  std::vector<bool> mask(rows, false);
  for (std::size_t i = 0; i < n; ++i) mask[order[i]] = true;
  return mask;
}

dataset take_out(dataset& d, const std::vector<bool>& take) {
  dataset out;
  out.cols = d.cols;
  out.classes = d.classes;
  out.source = d.source;
  const bool regression = !d.targets.empty();
  std::size_t kept = 0;
  for (std::size_t r = 0; r < d.rows; ++r) {
    const float* row = d.features.data() + r * d.cols;
    if (take[r]) {
      out.features.insert(out.features.end(), row, row + d.cols);
      if (regression) {
        out.targets.push_back(d.targets[r]);
      } else {
        out.labels.push_back(d.labels[r]);
      }
      ++out.rows;
      continue;
    }
    if (kept != r) {
      std::memmove(d.features.data() + kept * d.cols, row, d.cols * sizeof(float));
      if (regression) {
        d.targets[kept] = d.targets[r];
      } else {
        d.labels[kept] = d.labels[r];
      }
    }
    ++kept;
  }
  d.rows = kept;
  d.features.resize(kept * d.cols);
  if (regression) {
    d.targets.resize(kept);
  } else {
    d.labels.resize(kept);
  }
  return out;
}

sparse_dataset take_out(sparse_dataset& d, const std::vector<bool>& take) {
  sparse_dataset out;
  out.features = d.features;
  std::size_t kept = 0;
  std::uint64_t nnz = 0;
  for (std::size_t r = 0; r < d.rows; ++r) {
    const auto begin = d.row_ptr[r], end = d.row_ptr[r + 1];
    if (take[r]) {
      out.cols.insert(out.cols.end(), d.cols.begin() + static_cast<long>(begin),
                      d.cols.begin() + static_cast<long>(end));
      out.values.insert(out.values.end(), d.values.begin() + static_cast<long>(begin),
                        d.values.begin() + static_cast<long>(end));
      out.row_ptr.push_back(out.cols.size());
      out.labels.push_back(d.labels[r]);
      ++out.rows;
      continue;
    }
    // Rows only move towards the front, so reading [begin, end) is safe.
    for (auto k = begin; k < end; ++k) {
      d.cols[nnz + (k - begin)] = d.cols[k];
      d.values[nnz + (k - begin)] = d.values[k];
    }
    nnz += end - begin;
    d.labels[kept] = d.labels[r];
    ++kept;
    d.row_ptr[kept] = nnz;
  }
  d.rows = kept;
  d.row_ptr.resize(kept + 1);
  d.cols.resize(nnz);
  d.values.resize(nnz);
  d.labels.resize(kept);
  return out;
}

ratings_dataset take_out(ratings_dataset& d, const std::vector<bool>& take) {
  ratings_dataset out;
  std::size_t kept = 0;
  for (std::size_t r = 0; r < d.size(); ++r) {
    if (take[r]) {
      out.users.push_back(d.users[r]);
      out.items.push_back(d.items[r]);
      out.ratings.push_back(d.ratings[r]);
      continue;
    }
    d.users[kept] = d.users[r];
    d.items[kept] = d.items[r];
    d.ratings[kept] = d.ratings[r];
    ++kept;
  }
  d.users.resize(kept);
  d.items.resize(kept);
  d.ratings.resize(kept);
  return out;
}

void keep_first(dataset& d, std::size_t limit) {
  if (limit == 0 || limit >= d.rows) return;
  d.rows = limit;
  d.features.resize(limit * d.cols);
  if (!d.labels.empty()) d.labels.resize(limit);
  if (!d.targets.empty()) d.targets.resize(limit);
}

void keep_first(sparse_dataset& d, std::size_t limit) {
  if (limit == 0 || limit >= d.rows) return;
  d.rows = limit;
  d.row_ptr.resize(limit + 1);
  d.cols.resize(d.row_ptr.back());
  d.values.resize(d.row_ptr.back());
  d.labels.resize(limit);
}

void keep_first(ratings_dataset& d, std::size_t limit) {
  if (limit == 0 || limit >= d.size()) return;
  d.users.resize(limit);
  d.items.resize(limit);
  d.ratings.resize(limit);
}

}  // namespace troupe
