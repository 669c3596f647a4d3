#include "engine/data/label_values.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>

#include "engine/data/float_value.hpp"
#include "engine/errors.hpp"

namespace troupe {

void begin_labels(const std::string& path, std::size_t rows, std::size_t cols, bool regression,
                  dataset& into) {
  if (cols != 1) {
    throw troupe_error(errc::io_error,
                       path + ": a label file has one value per row, not " + std::to_string(cols));
  }
  if (rows != into.rows) {
    throw troupe_error(errc::io_error, path + ": " + std::to_string(rows) + " labels for " +
                                           std::to_string(into.rows) + " rows of " + into.source);
  }
  into.labels.clear();
  into.targets.clear();
  into.classes = 0;
  if (regression) {
    into.targets.reserve(rows);
  } else {
    into.labels.reserve(rows);
  }
}

void add_label(const std::string& path, std::size_t i, double v, bool regression, dataset& into) {
  if (regression) {
    const auto f = as_float(v);
    if (!f) {
      std::ostringstream value;
      value.precision(15);  // as written: 1e+300, not 1.0000000000000001e+300
      value << v;
      throw troupe_error(errc::io_error, path + ": row " + std::to_string(i + 1) + " has target " +
                                             value.str() +
                                             ", which is not a finite number within a float's "
                                             "range (+-3.4e38)");
    }
    into.targets.push_back(*f);
    return;
  }
  // Below 2^31 - 1: the class count, one more, must be an int too.
  if (!(v >= 0) || v >= 2147483647.0 || std::floor(v) != v) {
    // The value, not its position: "label 1 is not a class number" read as
    // if 1 were the bad value.
    std::ostringstream value;
    value.precision(17);
    value << v;
    throw troupe_error(errc::io_error, path + ": row " + std::to_string(i + 1) + " has label " +
                                           value.str() +
                                           ", which is not a class number (an integer >= 0)");
  }
  into.labels.push_back(static_cast<std::int32_t>(v));
  into.classes = std::max(into.classes, static_cast<int>(v) + 1);
}

}  // namespace troupe
