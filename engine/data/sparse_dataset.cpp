#include "engine/data/sparse_dataset.hpp"

#include <string>

namespace troupe {

void sparse_dataset::push_row(const std::vector<std::uint32_t>& row_cols,
                              const std::vector<float>& row_values, std::int32_t label) {
  if (row_cols.size() != row_values.size()) {
    throw troupe_error(errc::wrong_size, "sparse row with " + std::to_string(row_cols.size()) +
                                             " columns but " + std::to_string(row_values.size()) +
                                             " values");
  }
  cols.insert(cols.end(), row_cols.begin(), row_cols.end());
  values.insert(values.end(), row_values.begin(), row_values.end());
  row_ptr.push_back(cols.size());
  labels.push_back(label);
  ++rows;
}

void sparse_dataset::push_binary_row(const std::vector<std::uint32_t>& row_cols,
                                     std::int32_t label) {
  cols.insert(cols.end(), row_cols.begin(), row_cols.end());
  values.resize(cols.size(), 1.0f);
  row_ptr.push_back(cols.size());
  labels.push_back(label);
  ++rows;
}

void sparse_dataset::reserve(std::size_t n_rows, std::uint64_t n_nnz) {
  row_ptr.reserve(n_rows + 1);
  labels.reserve(n_rows);
  cols.reserve(n_nnz);
  values.reserve(n_nnz);
}

status validate(const sparse_dataset& d) {
  if (d.row_ptr.size() != d.rows + 1 || d.labels.size() != d.rows) {
    return {errc::wrong_size, std::to_string(d.rows) + " rows but " +
                                  std::to_string(d.row_ptr.size()) + " row offsets and " +
                                  std::to_string(d.labels.size()) + " labels"};
  }
  if (d.row_ptr.front() != 0 || d.row_ptr.back() != d.cols.size() ||
      d.cols.size() != d.values.size()) {
    return {errc::wrong_size, "row offsets span [" + std::to_string(d.row_ptr.front()) + ", " +
                                  std::to_string(d.row_ptr.back()) + ") but there are " +
                                  std::to_string(d.cols.size()) + " columns and " +
                                  std::to_string(d.values.size()) + " values"};
  }
  for (std::size_t i = 0; i < d.rows; ++i) {
    const auto begin = d.row_ptr[i];
    const auto end = d.row_ptr[i + 1];
    if (end < begin) {
      return {errc::wrong_size, "row offsets decrease at row " + std::to_string(i)};
    }
    for (auto k = begin; k < end; ++k) {
      if (d.cols[k] >= d.features) {
        return {errc::out_of_range, "row " + std::to_string(i) + " has column " +
                                        std::to_string(d.cols[k]) +
                                        " >= " + std::to_string(d.features) + " features"};
      }
      if (k > begin && d.cols[k] <= d.cols[k - 1]) {
        return {errc::wrong_size, "row " + std::to_string(i) +
                                      " columns are not strictly increasing at column " +
                                      std::to_string(d.cols[k])};
      }
    }
  }
  return {};
}

sparse_dataset select_rows(const sparse_dataset& d, const std::vector<std::size_t>& indices) {
  std::uint64_t total = 0;
  for (auto i : indices) {
    if (i >= d.rows) {
      throw troupe_error(errc::out_of_range, "row " + std::to_string(i) + " of a sparse set of " +
                                                 std::to_string(d.rows) + " rows");
    }
    total += d.row_nnz(i);
  }
  sparse_dataset out;
  out.features = d.features;
  out.reserve(indices.size(), total);
  for (auto i : indices) {
    out.cols.insert(out.cols.end(), d.cols.begin() + d.row_begin(i), d.cols.begin() + d.row_end(i));
    out.values.insert(out.values.end(), d.values.begin() + d.row_begin(i),
                      d.values.begin() + d.row_end(i));
    out.row_ptr.push_back(out.cols.size());
    out.labels.push_back(d.labels[i]);
  }
  out.rows = indices.size();
  return out;
}

}  // namespace troupe
