#include "actors/log_throttle.hpp"

#include <spdlog/spdlog.h>

#include <utility>

namespace troupe {

log_throttle::log_throttle(std::string subject, std::uint32_t per_second)
    : subject_(std::move(subject)), per_second_(per_second) {}

void log_throttle::flush(clock::time_point now) {
  if (suppressed_ == 0 || now - window_ < std::chrono::seconds(1)) return;
  spdlog::warn("{}: {} more alike warnings not logged", subject_, suppressed_);
  suppressed_ = 0;
}

bool log_throttle::admit(clock::time_point now) {
  if (now - window_ >= std::chrono::seconds(1)) {
    if (suppressed_ > 0) {
      spdlog::warn("{}: {} more alike warnings not logged", subject_, suppressed_);
    }
    window_ = now;
    logged_in_window_ = 0;
    suppressed_ = 0;
  }
  if (logged_in_window_ < per_second_) {
    ++logged_in_window_;
    return true;
  }
  ++suppressed_;
  ++suppressed_total_;
  return false;
}

}  // namespace troupe
