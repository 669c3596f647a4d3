#pragma once
// A value of a data file (npy or idx of doubles) as the float that training
// uses. A double beyond a float's range (1e300) became inf in the cast, and
// the job then failed on a "non-finite gradient" blamed on the learning
// rate; such a value is now the file's error, as it is in a csv file.
//
//   const auto f = as_float(v);
//   if (!f) throw troupe_error(errc::io_error, path + ": row 3 holds ...");

#include <cmath>
#include <limits>
#include <optional>

namespace troupe {

/// `v` as a float; nothing when it is not finite or beyond +-3.4e38.
inline std::optional<float> as_float(double v) {
  if (!(std::fabs(v) <= static_cast<double>(std::numeric_limits<float>::max()))) return {};
  return static_cast<float>(v);
}

}  // namespace troupe
