#include "tools/shutdown_watchdog.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>

namespace troupe::cli {

void shutdown_watchdog::arm(std::string what, std::chrono::milliseconds limit, int code) {
  if (thread_.joinable()) return;
  thread_ = std::thread([this, what = std::move(what), limit, code] {
    std::unique_lock<std::mutex> lock(mutex_);
    if (done_.wait_for(lock, limit, [this] { return finished_; })) return;
    spdlog::warn(
        "{}: the actor system did not finish stopping within {} ms (a detached actor still "
        "referenced inside CAF); exiting now",
        what, limit.count());
    spdlog::default_logger()->flush();
    std::_Exit(code);
  });
}

shutdown_watchdog::~shutdown_watchdog() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
  }
  done_.notify_all();
  thread_.join();
}

}  // namespace troupe::cli
