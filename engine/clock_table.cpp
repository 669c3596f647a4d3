#include "engine/clock_table.hpp"

#include <algorithm>
#include <string>

namespace troupe {

status clock_table::advance(std::uint32_t worker, std::int64_t clock) {
  auto it = clocks_.find(worker);
  if (it == clocks_.end()) {
    return {errc::out_of_range, "clock advance from unknown worker " + std::to_string(worker)};
  }
  if (clock < it->second) {
    return {errc::out_of_range, "worker " + std::to_string(worker) + " moved its clock back from " +
                                    std::to_string(it->second) + " to " + std::to_string(clock)};
  }
  it->second = clock;
  return {};
}

std::int64_t clock_table::min_clock() const {
  std::int64_t m = std::numeric_limits<std::int64_t>::max();
  for (const auto& [w, c] : clocks_) m = std::min(m, c);
  return m;
}

std::int64_t clock_table::max_clock() const {
  std::int64_t m = 0;
  for (const auto& [w, c] : clocks_) m = std::max(m, c);
  return m;
}

std::int64_t clock_table::clock_of(std::uint32_t worker) const {
  auto it = clocks_.find(worker);
  return it == clocks_.end() ? -1 : it->second;
}

}  // namespace troupe
