#include "engine/data/normalize.hpp"

#include <cmath>
#include <string>

#include "engine/errors.hpp"

namespace troupe {

void normalize_features(const std::string& how, double scale, dataset& train,
                        const std::vector<dataset*>& others) {
  if (how == "none") return;
  std::vector<float> offset(train.cols, 0.f), factor(train.cols, 1.f);
  if (how == "scale") {
    for (auto& f : factor) f = static_cast<float>(1.0 / scale);
  } else if (how == "standardize") {
    // Two passes in double: exact enough for millions of rows.
    std::vector<double> mean(train.cols, 0.0), var(train.cols, 0.0);
    for (std::size_t r = 0; r < train.rows; ++r) {
      const float* x = train.row(r);
      for (std::size_t c = 0; c < train.cols; ++c) mean[c] += x[c];
    }
    for (auto& m : mean) m /= static_cast<double>(std::max<std::size_t>(1, train.rows));
    for (std::size_t r = 0; r < train.rows; ++r) {
      const float* x = train.row(r);
      for (std::size_t c = 0; c < train.cols; ++c) var[c] += (x[c] - mean[c]) * (x[c] - mean[c]);
    }
    for (std::size_t c = 0; c < train.cols; ++c) {
      const double sd =
          std::sqrt(var[c] / static_cast<double>(std::max<std::size_t>(1, train.rows)));
      offset[c] = static_cast<float>(mean[c]);
      factor[c] = sd > 1e-12 ? static_cast<float>(1.0 / sd) : 1.f;
    }
  } else {
    throw troupe_error(errc::bad_config, "data.normalize: unknown normalisation '" + how + "'");
  }
  // Finite values can leave float's range here (values near 3e38 less a
  // mean, a tiny scale): said here, naming the file, not later as a
  // diverging model.
  auto apply = [&](dataset& d) {
    for (std::size_t r = 0; r < d.rows; ++r) {
      float* x = d.features.data() + r * d.cols;
      for (std::size_t c = 0; c < d.cols; ++c) {
        x[c] = (x[c] - offset[c]) * factor[c];
        if (!std::isfinite(x[c])) {
          throw troupe_error(
              errc::bad_config,
              d.source + ": feature " + std::to_string(c + 1) + " of row " + std::to_string(r + 1) +
                  " leaves float's range under data.normalize = \"" + how + "\" (data.scale " +
                  std::to_string(scale) + "): rescale the data or choose another normalisation");
        }
      }
    }
  };
  apply(train);
  for (auto* d : others) {
    if (d != nullptr) apply(*d);
  }
}

void normalize_features(const std::string& how, double scale, sparse_dataset& train,
                        const std::vector<sparse_dataset*>& others) {
  if (how == "none") return;
  if (how != "scale") {
    throw troupe_error(errc::bad_config, "data.normalize: sparse rows take none or scale");
  }
  const auto factor = static_cast<float>(1.0 / scale);
  const auto apply = [&](std::vector<float>& values) {
    for (auto& v : values) {
      v *= factor;
      if (!std::isfinite(v)) {
        throw troupe_error(errc::bad_config, "a feature leaves float's range under data.scale " +
                                                 std::to_string(scale) +
                                                 ": rescale the data or choose another scale");
      }
    }
  };
  apply(train.values);
  for (auto* d : others) {
    if (d != nullptr) apply(d->values);
  }
}

}  // namespace troupe
