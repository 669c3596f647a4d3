#include "actors/deadline_watch.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

namespace troupe {

void deadline_watch::add(clock::time_point at, std::weak_ptr<expirable> what) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto& due = state_->due;
  if (state_->stopped) return;
  // Calls usually complete long before their deadline: drop them here, so
  // the queue holds about the calls still open.
  while (!due.empty() && due.front().what.expired()) due.pop_front();
  // Behind one that stays open, the rest are swept out once the queue has
  // doubled: O(1) a call on average, and no more than twice the open ones.
  if (due.size() >= std::max<std::size_t>(1024, 2 * state_->swept_at)) {
    due.erase(
        std::remove_if(due.begin(), due.end(), [](const entry& e) { return e.what.expired(); }),
        due.end());
    state_->swept_at = due.size();
  }
  const bool first = due.empty();
  due.push_back({at, std::move(what)});
  if (!thread_.joinable()) {
    thread_ = std::thread([st = state_] { run(st); });
  } else if (first) {
    state_->changed.notify_one();  // the thread sleeps without a deadline
  }
}

void deadline_watch::stop() {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->stopped = true;
    state_->due.clear();
  }
  state_->changed.notify_one();
  if (!thread_.joinable()) return;
  if (thread_.get_id() == std::this_thread::get_id()) {
    // From a callback on the thread itself: it ends once the callback
    // returns, holding its own reference to the state.
    thread_.detach();
  } else {
    thread_.join();
  }
}

std::size_t deadline_watch::waiting() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->due.size();
}

void deadline_watch::run(const std::shared_ptr<state>& st) {
  std::unique_lock<std::mutex> lock(st->mutex);
  auto& due = st->due;
  std::vector<std::shared_ptr<expirable>> ending;
  while (!st->stopped) {
    while (!due.empty() && due.front().what.expired()) due.pop_front();
    if (due.empty()) {
      st->changed.wait(lock);
      continue;
    }
    const auto now = clock::now();
    if (const auto next = due.front().at; next > now) {
      // A copy: add() may drop the front while this waits. A new front
      // (after an empty queue) wakes this through notify; a later one never
      // needs to.
      st->changed.wait_until(lock, next);
      continue;
    }
    while (!due.empty() && due.front().at <= now) {
      if (auto live = due.front().what.lock()) ending.push_back(std::move(live));
      due.pop_front();
    }
    // Outside the lock: expire() runs the caller's callback, which may make
    // another call (and add a deadline), or stop this watch.
    lock.unlock();
    for (auto& c : ending) {
      if (st->stopped) break;  // stop() may have come from a callback
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
