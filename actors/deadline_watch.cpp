#include "actors/deadline_watch.hpp"

#include <spdlog/spdlog.h>

#include <vector>

namespace troupe {

void deadline_watch::add(clock::time_point at, std::weak_ptr<expirable> what) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopped_) return;
  // Calls usually complete long before their deadline: drop them here, so
  // the queue holds about the calls still open.
  while (!due_.empty() && due_.front().what.expired()) due_.pop_front();
  const bool first = due_.empty();
  due_.push_back({at, std::move(what)});
  if (!thread_.joinable()) {
    thread_ = std::thread([this] { run(); });
  } else if (first) {
    changed_.notify_one();  // the thread sleeps without a deadline
  }
}

void deadline_watch::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
    due_.clear();
  }
  changed_.notify_one();
  if (thread_.joinable()) thread_.join();
}

std::size_t deadline_watch::waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return due_.size();
}

void deadline_watch::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  std::vector<std::shared_ptr<expirable>> ending;
  while (!stopped_) {
    while (!due_.empty() && due_.front().what.expired()) due_.pop_front();
    if (due_.empty()) {
      changed_.wait(lock);
      continue;
    }
    const auto now = clock::now();
    if (due_.front().at > now) {
      // A new front (after a stop or a drop) wakes this through notify; a
      // later one never needs to.
      changed_.wait_until(lock, due_.front().at);
      continue;
    }
    while (!due_.empty() && due_.front().at <= now) {
      if (auto live = due_.front().what.lock()) ending.push_back(std::move(live));
      due_.pop_front();
    }
    // Outside the lock: expire() runs the caller's callback, which may make
    // another call (and add a deadline).
    lock.unlock();
    for (auto& c : ending) {
      try {
        c->expire();
      } catch (const std::exception& e) {  // the call catches its callback's; this is a bug
        spdlog::error("client: ending a call at its deadline failed: {}", e.what());
      }
    }
    ending.clear();  // a call's last reference may go here, outside the lock
    lock.lock();
  }
}

}  // namespace troupe
