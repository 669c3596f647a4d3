#pragma once
// The labels of a data set read from a label file of their own (idx, npy):
// its shape checked against the features, then each value checked as a
// class number or, for a regression, a finite target.
//
//   begin_labels(path, rows, cols, regression, into);   // throws io_error
//   for (std::size_t i = 0; i < rows; ++i) add_label(path, i, value(i), regression, into);

#include <cstddef>
#include <string>

#include "engine/data/dataset.hpp"

namespace troupe {

/// Checks that a label file of rows x cols values labels `into` (one value
/// per row, as many rows) and empties its labels and targets, reserving room.
void begin_labels(const std::string& path, std::size_t rows, std::size_t cols, bool regression,
                  dataset& into);

/// Appends value `i` (0-based) of the label file: a class number (an integer
/// >= 0, which also raises into.classes) or a finite regression target.
/// Throws io_error naming the file and the 1-based row.
void add_label(const std::string& path, std::size_t i, double v, bool regression, dataset& into);

}  // namespace troupe
