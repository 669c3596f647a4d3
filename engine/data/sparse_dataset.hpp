#pragma once
// Labelled sparse data in compressed sparse row (CSR) form: the input of the
// sparse logistic-regression workload, where a row has a few hundred
// non-zeros out of ~10^5 features and a dense copy would not fit.
//
//   sparse_dataset d;
//   d.features = 4;
//   d.push_row({0, 3}, {1.f, 1.f}, /*label=*/1);
//   for (auto k = d.row_begin(0); k < d.row_end(0); ++k) dot += w[d.cols[k]] * d.values[k];

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/errors.hpp"

namespace troupe {

/// A read-only view of one row: `size` (column, value) pairs, columns
/// strictly increasing.
struct sparse_row {
  const std::uint32_t* cols = nullptr;
  const float* values = nullptr;
  std::size_t size = 0;
};

/// Row i holds the entries [row_ptr[i], row_ptr[i + 1]) of cols/values.
/// Invariants (see validate): row_ptr has rows + 1 entries, starts at 0, never
/// decreases and ends at cols.size() == values.size(); each row's columns are
/// strictly increasing and < features; one label per row.
struct sparse_dataset {
  std::size_t rows = 0;
  std::uint64_t features = 0;  ///< number of columns (the model's input width)
  // Starts as {0} so that even an empty set satisfies the invariants.
  std::vector<std::uint64_t> row_ptr = {0};
  std::vector<std::uint32_t> cols;
  std::vector<float> values;
  std::vector<std::int32_t> labels;

  std::uint64_t nnz() const { return cols.size(); }
  std::uint64_t row_begin(std::size_t i) const { return row_ptr[i]; }
  std::uint64_t row_end(std::size_t i) const { return row_ptr[i + 1]; }
  std::size_t row_nnz(std::size_t i) const { return row_ptr[i + 1] - row_ptr[i]; }
  sparse_row row(std::size_t i) const {
    return {cols.data() + row_ptr[i], values.data() + row_ptr[i], row_nnz(i)};
  }
  /// Mean non-zeros per row (0 for an empty set).
  double mean_row_nnz() const { return rows == 0 ? 0.0 : double(nnz()) / double(rows); }

  /// Appends a row; `cols` must be strictly increasing and < features (checked
  /// only by validate, since loaders build rows that hold by construction).
  void push_row(const std::vector<std::uint32_t>& row_cols, const std::vector<float>& row_values,
                std::int32_t label);
  /// Appends a binary row: value 1 at each of `row_cols`.
  void push_binary_row(const std::vector<std::uint32_t>& row_cols, std::int32_t label);
  /// Pre-allocates for `n_rows` rows with `n_nnz` non-zeros in total.
  void reserve(std::size_t n_rows, std::uint64_t n_nnz);
};

/// Checks every invariant listed on sparse_dataset; returns wrong_size or
/// out_of_range with the first offending row, or ok. Linear in nnz: call it at
/// boundaries (after loading, after receiving), not per batch.
status validate(const sparse_dataset& d);

/// The rows `indices` of `d`, in that order (a batch, a shard, a split).
/// Throws troupe_error(out_of_range) for an index >= d.rows.
sparse_dataset select_rows(const sparse_dataset& d, const std::vector<std::size_t>& indices);

}  // namespace troupe
