#include "engine/early_stopping.hpp"

#include <cmath>

namespace troupe {

early_stopping::verdict early_stopping::record(double val_loss, std::uint32_t epoch,
                                               std::int64_t clock) {
  verdict v;
  if (std::isfinite(val_loss) && (best_epoch_ == 0 || val_loss < best_loss_)) {
    best_loss_ = val_loss;
    best_epoch_ = epoch == 0 ? 1 : epoch;
    best_clock_ = clock;
    since_best_ = 0;
    v.improved = true;
    return v;
  }
  ++since_best_;
  if (patience_ > 0 && since_best_ >= patience_ && !stopped_) {
    stopped_ = true;
    v.stop = true;
  }
  return v;
}

}  // namespace troupe
