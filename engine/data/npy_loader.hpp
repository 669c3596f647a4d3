#pragma once
// Users' data as NumPy .npy files (format versions 1-3, C order, little
// endian or single bytes: f4, f8, u1, i1, i2, i4, i8). The file is memory
// mapped and converted row by row into the dataset, so only one copy of the
// data is ever held (the mapping is the page cache's, not the loader's).
//
//   dataset d = load_npy_features("X_train.npy");   // shape (N, D) or (N, ...)
//   load_npy_labels("y_train.npy", false, d);       // shape (N,) or (N, 1)

#include <string>

#include "engine/data/dataset.hpp"

namespace troupe {

/// Throws troupe_error: missing_dataset, io_error (not an .npy file, an
/// unsupported dtype, Fortran order, truncated, NaN values) naming the file.
dataset load_npy_features(const std::string& path);

void load_npy_labels(const std::string& path, bool regression, dataset& into);

}  // namespace troupe
