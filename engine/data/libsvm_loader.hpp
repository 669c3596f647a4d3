#pragma once
// Sparse data in the libsvm / svmlight text format (plain or .gz):
//   <label> <index>:<value> <index>:<value> ...   [# comment]
// Indices are kept as they are (1-based files simply never use column 0);
// rows may list them in any order, each at most once. Labels are class
// numbers; -1 is read as class 0, so {-1, +1} files are binary {0, 1}.
//
//   sparse_dataset d = load_libsvm("data/a9a.txt");
//   // d.features = largest index + 1

#include <string>

#include "engine/data/sparse_dataset.hpp"

namespace troupe {

/// Throws troupe_error(io_error) naming file and line for malformed pairs,
/// repeated indices, values that are not finite, labels that are no class.
sparse_dataset load_libsvm(const std::string& path);

}  // namespace troupe
