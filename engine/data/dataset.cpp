#include "engine/data/dataset.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "engine/data/gz_file.hpp"
#include "engine/errors.hpp"

namespace troupe {

namespace {

// gzread also reads files that are not compressed, so both forms work.
std::vector<unsigned char> read_gz(const std::string& path) {
  auto f = open_gz(path);
  std::vector<unsigned char> out;
  std::array<unsigned char, 1 << 16> buf;
  while (const auto n = read_gz_some(f.get(), buf.data(), buf.size(), path)) {
    out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  }
  return out;
}

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

}  // namespace

dataset load_idx(const std::string& images_path, const std::string& labels_path) {
  const auto images = read_gz(images_path);
  const auto labels = read_gz(labels_path);
  if (images.size() < 16 || be32(images.data()) != 0x00000803) {
    throw troupe_error(errc::io_error, images_path + " is not an idx3 ubyte image file");
  }
  if (labels.size() < 8 || be32(labels.data()) != 0x00000801) {
    throw troupe_error(errc::io_error, labels_path + " is not an idx1 ubyte label file");
  }
  const std::size_t n = be32(images.data() + 4);
  const std::size_t cols = std::size_t{be32(images.data() + 8)} * be32(images.data() + 12);
  if (images.size() != 16 + n * cols) {
    throw troupe_error(errc::io_error, images_path + " is truncated or has trailing bytes");
  }
  if (be32(labels.data() + 4) != n || labels.size() != 8 + n) {
    throw troupe_error(errc::io_error, labels_path + " does not hold one label per image");
  }
  dataset d;
  d.rows = n;
  d.cols = cols;
  d.features.resize(n * cols);
  const float scale = 1.0f / 255.0f;
  for (std::size_t i = 0; i < n * cols; ++i) d.features[i] = images[16 + i] * scale;
  d.labels.resize(n);
  int max_label = 0;
  for (std::size_t i = 0; i < n; ++i) {
    d.labels[i] = labels[8 + i];
    max_label = std::max(max_label, static_cast<int>(d.labels[i]));
  }
  d.classes = max_label + 1;
  return d;
}

dataset load_fashion_mnist(const std::string& dir, const std::string& split) {
  std::string prefix;
  if (split == "train") {
    prefix = "train";
  } else if (split == "test" || split == "t10k") {
    prefix = "t10k";
  } else {
    throw troupe_error(errc::bad_config,
                       "unknown Fashion-MNIST split '" + split + "' (expected train or test)");
  }
  const std::string images = dir + "/" + prefix + "-images-idx3-ubyte.gz";
  const std::string labels = dir + "/" + prefix + "-labels-idx1-ubyte.gz";
  for (const auto& path : {images, labels}) {
    if (!std::filesystem::exists(path)) {
      throw troupe_error(
          errc::missing_dataset,
          "Fashion-MNIST file " + path +
              " not found: install it with 'apt-get install dataset-fashion-mnist' "
              "(or run scripts/setup.sh), or point [data] dir (--data-dir) at its location");
    }
  }
  auto d = load_idx(images, labels);
  d.classes = 10;
  return d;
}

dataset take_rows(dataset d, std::size_t limit) {
  // Taken by value: the whole set (the usual case) is moved through, not
  // copied (188 MB for Fashion-MNIST's training images).
  if (limit == 0 || limit >= d.rows) return d;
  d.rows = limit;
  d.features.resize(limit * d.cols);
  d.features.shrink_to_fit();
  if (d.labels.size() > limit) d.labels.resize(limit);
  d.labels.shrink_to_fit();
  if (d.targets.size() > limit) d.targets.resize(limit);
  d.targets.shrink_to_fit();
  return d;
}

std::string unused_classes_warning(const std::vector<const dataset*>& sets) {
  // An outlier: the largest label far above the next one. Gaps alone are
  // no sign (a few rows of many classes leave some out). Over every set a
  // file was split into: the outlier's row may have gone to the test rows.
  std::int32_t top = -1;
  const dataset* where = nullptr;
  for (const auto* d : sets) {
    if (d == nullptr || d->classes <= 0 || d->labels.empty()) continue;
    const auto m = *std::max_element(d->labels.begin(), d->labels.end());
    if (m > top) {
      top = m;
      where = d;
    }
  }
  if (where == nullptr) return {};
  std::int32_t next = -1;
  std::size_t top_rows = 0;
  for (const auto* d : sets) {
    if (d == nullptr || d->classes <= 0) continue;
    for (const auto c : d->labels) {
      if (c == top) ++top_rows;
      if (c != top) next = std::max(next, c);
    }
  }
  const std::int64_t unused = std::int64_t{top} - (next + 1);
  if (unused < 3 || std::int64_t{top} <= 2 * (std::int64_t{next} + 1)) return {};
  return where->source + ": the largest label, " + std::to_string(top) + " (on " +
         std::to_string(top_rows) + (top_rows == 1 ? " row" : " rows") +
         "), is far above the next one, " + std::to_string(next) + ": the model gets " +
         std::to_string(top + 1) + " outputs, " + std::to_string(unused) +
         " of them for classes no row has (a mistyped label?)";
}

std::string unused_classes_warning(const dataset& d) {
  return unused_classes_warning({&d});
}

std::vector<std::string> untrained_classes_warnings(const dataset& train,
                                                    const std::vector<scored_set>& scored) {
  std::vector<std::string> notes;
  if (train.classes <= 0) return notes;
  std::set<std::int32_t> trained(train.labels.begin(), train.labels.end());
  for (const auto& [d, role] : scored) {
    if (d == nullptr || d->classes <= 0) continue;
    std::map<std::int32_t, std::size_t> missing;  // class -> rows
    for (const auto c : d->labels) {
      if (!trained.count(c)) ++missing[c];
    }
    if (missing.empty()) continue;
    std::string which;
    std::size_t rows = 0, shown = 0;
    for (const auto& [c, n] : missing) {
      rows += n;
      if (shown++ < 5) which += (which.empty() ? "" : ", ") + std::to_string(c);
    }
    if (missing.size() > 5) which += " and " + std::to_string(missing.size() - 5) + " more";
    notes.push_back(
        std::string("the ") + role + " rows (of " + d->source + "): " + std::to_string(rows) +
        " of " + std::to_string(d->rows) + " are of " +
        (missing.size() == 1 ? "class " : "classes ") + which +
        ", which no training row has (a cut of the training data, --train-limit or "
        "validation_fraction, left them out?): the model can never score those rows right");
  }
  return notes;
}

}  // namespace troupe
