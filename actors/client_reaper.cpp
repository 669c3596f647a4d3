#include "actors/client_reaper.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <system_error>

#include "actors/client_impl.hpp"

namespace troupe {

client_reaper& client_reaper::instance() {
  static client_reaper reaper;
  return reaper;
}

client_reaper::~client_reaper() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void client_reaper::retire(std::shared_ptr<client::impl> p) {
  std::lock_guard<std::mutex> lock(mutex_);
  queue_.push_back(std::move(p));
  if (!thread_.joinable()) {
    try {
      thread_ = std::thread([this] { run(); });
    } catch (const std::system_error& e) {
      // No thread to be had: kept for good rather than ended here, in the
      // callback, where it would hang.
      spdlog::error("client: cannot end a client from its callback ({}); its connection stays open",
                    e.what());
      std::make_unique<std::shared_ptr<client::impl>>(std::move(queue_.back()))
          .release();  // NOLINT: leaked on purpose
      queue_.pop_back();
      return;
    }
  }
  wake_.notify_one();
}

void client_reaper::run() {
  for (;;) {
    std::shared_ptr<client::impl> p;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left
      p = std::move(queue_.front());
      queue_.pop_front();
    }
    // The callback that retired it, and a call that ran that callback
    // before returning (a refusal calls back at once), hold it a moment.
    while (p.use_count() > 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    p.reset();
  }
}

}  // namespace troupe
