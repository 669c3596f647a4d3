#pragma once
// Users' data in the idx format of (Fashion-)MNIST, plain or .gz: any
// element type (ubyte, sbyte, short, int, float, double) and any number of
// dimensions; the first is the rows, the others are flattened into features.
// Values are read as they are: normalisation is the job's choice
// ([data] normalize), not the loader's. Streams the file.
//
//   dataset d = load_idx_features("train-images-idx3-ubyte.gz");  // 60000 x 784
//   load_idx_labels("train-labels-idx1-ubyte.gz", false, d);        // classes 10

#include <string>

#include "engine/data/dataset.hpp"

namespace troupe {

/// True when the file starts like an idx file (two zero bytes, a known type).
bool looks_like_idx(const std::string& path);

/// Throws troupe_error: missing_dataset, io_error (bad magic, truncated,
/// trailing bytes, NaN values) naming the file.
dataset load_idx_features(const std::string& path);

/// One label (or target) per row of `into`, from a 1-D idx file (or rows x 1).
void load_idx_labels(const std::string& path, bool regression, dataset& into);

}  // namespace troupe
