#include "engine/store/pulled_values.hpp"

#include <algorithm>
#include <set>
#include <utility>

namespace troupe {

void dense_pulled_values::remember(std::uint32_t worker, std::uint64_t version,
                                   const std::vector<float>& values) {
  if (!latest_ || latest_->version != version || latest_->values.size() != values.size()) {
    auto fresh = std::make_shared<copy>();
    fresh->version = version;
    fresh->values = values;
    bytes_ += values.size() * sizeof(float);
    release(std::exchange(latest_, std::move(fresh)));
  }
  auto& slot = by_worker_[worker];
  release(std::exchange(slot, latest_));
  while (bytes_ > max_bytes_ && evict_oldest()) {
  }
  while (by_worker_.size() > max_workers) {
    if (evict_oldest()) continue;
    // All at the newest version: any other id goes (its push is then
    // applied uncompensated, as after an eviction).
    auto other = by_worker_.begin();
    if (other->first == worker) ++other;
    by_worker_.erase(other);
  }
}

void dense_pulled_values::release(std::shared_ptr<const copy> c) {
  // The last reference: `c` itself.
  if (c && c.use_count() == 1) bytes_ -= c->values.size() * sizeof(float);
}

bool dense_pulled_values::evict_oldest() {
  std::shared_ptr<const copy> oldest;
  for (const auto& [worker, c] : by_worker_) {
    if (c != latest_ && (!oldest || c->version < oldest->version)) oldest = c;
  }
  if (!oldest) return false;
  for (auto it = by_worker_.begin(); it != by_worker_.end();) {
    it = it->second == oldest ? by_worker_.erase(it) : std::next(it);
  }
  release(std::move(oldest));
  return true;
}

const float* dense_pulled_values::find(std::uint32_t worker, std::uint64_t version) const {
  const auto it = by_worker_.find(worker);
  if (it == by_worker_.end() || it->second->version != version) return nullptr;
  return it->second->values.data();
}

void dense_pulled_values::clear() {
  latest_.reset();
  by_worker_.clear();
  bytes_ = 0;
}

std::size_t dense_pulled_values::copies() const {
  std::set<const copy*> distinct;
  for (const auto& [worker, c] : by_worker_) distinct.insert(c.get());
  if (latest_) distinct.insert(latest_.get());
  return distinct.size();
}

void sparse_pulled_values::remember(std::uint32_t worker, std::uint64_t version,
                                    const std::vector<std::uint64_t>& keys, const float* values,
                                    std::uint32_t width) {
  forget(worker);
  const std::size_t size = keys.size() * (sizeof(std::uint64_t) + width * sizeof(float));
  while (bytes_ + size > max_bytes_ && !by_worker_.empty()) {
    const auto oldest = std::min_element(
        by_worker_.begin(), by_worker_.end(),
        [](const auto& a, const auto& b) { return a.second.since < b.second.since; });
    forget(oldest->first);
  }
  auto& r = by_worker_[worker];
  r.version = version;
  r.since = ++calls_;
  r.keys = keys;
  r.values.assign(values, values + keys.size() * width);
  bytes_ += size;
}

void sparse_pulled_values::forget(std::uint32_t worker) {
  if (auto it = by_worker_.find(worker); it != by_worker_.end()) {
    bytes_ -=
        it->second.keys.size() * sizeof(std::uint64_t) + it->second.values.size() * sizeof(float);
    by_worker_.erase(it);
  }
}

const float* sparse_pulled_values::find(std::uint32_t worker, std::uint64_t version,
                                        const std::vector<std::uint64_t>& keys) const {
  const auto it = by_worker_.find(worker);
  if (it == by_worker_.end() || it->second.version != version || it->second.keys != keys) {
    return nullptr;
  }
  return it->second.values.data();
}

std::size_t sparse_pulled_values::bytes() const {
  return bytes_;
}

}  // namespace troupe
