#pragma once
// The rows and row width of an n-dimensional array as a binary file's header
// declares it (idx, npy), checked before anything is sized by it: the
// product of hostile or corrupt dimensions can wrap around to a small
// number that passes every later check, and a row wider than any model
// input would be cut to another width where the model is built.
//
//   const auto shape = checked_shape({8, 28, 28}, path);   // rows 8, cols 784

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace troupe {

struct array_shape {
  std::size_t rows = 0;
  std::size_t cols = 0;  ///< values per row: the product of every dimension but the first
};

/// The widest row a data set may have: a model's input width is an int.
constexpr std::size_t max_row_width = 0x7fffffff;

/// `dims` (the first: rows; none: one value) as rows x cols; throws
/// troupe_error(io_error) naming `path` when rows x cols does not fit in
/// size_t or a row is wider than max_row_width.
array_shape checked_shape(const std::vector<std::uint64_t>& dims, const std::string& path);

}  // namespace troupe
