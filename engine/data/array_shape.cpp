#include "engine/data/array_shape.hpp"

#include "engine/errors.hpp"

namespace troupe {

namespace {

std::string describe(const std::vector<std::uint64_t>& dims) {
  std::string out;
  for (const auto d : dims) out += (out.empty() ? "" : " x ") + std::to_string(d);
  return out;
}

}  // namespace

array_shape checked_shape(const std::vector<std::uint64_t>& dims, const std::string& path) {
  array_shape s;
  s.rows = dims.empty() ? 1 : dims[0];
  s.cols = 1;
  std::size_t total = s.rows;
  for (std::size_t i = 1; i < dims.size(); ++i) {
    if (__builtin_mul_overflow(s.cols, dims[i], &s.cols) ||
        __builtin_mul_overflow(total, dims[i], &total)) {
      throw troupe_error(errc::io_error, path + ": its header declares " + describe(dims) +
                                             " values, more than can be addressed");
    }
  }
  if (s.cols > max_row_width) {
    throw troupe_error(errc::io_error, path + ": its header declares rows of " +
                                           std::to_string(s.cols) + " values (" + describe(dims) +
                                           "), wider than a model input can be");
  }
  return s;
}

}  // namespace troupe
