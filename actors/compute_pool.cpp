#include "actors/compute_pool.hpp"

#include <caf/all.hpp>

namespace troupe {

bool compute_pool::acquire(const worker_actor& worker) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (busy_ < slots_) {
    ++busy_;
    return true;
  }
  waiting_.push_back(worker);
  return false;
}

void compute_pool::release() {
  worker_actor next;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (busy_ > 0) --busy_;
    if (waiting_.empty()) return;
    next = std::move(waiting_.front());
    waiting_.pop_front();
  }
  // Outside the lock: sending may run the receiver's enqueue.
  caf::anon_send(next, slot_atom::value);
}

}  // namespace troupe
