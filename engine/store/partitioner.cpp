#include "engine/store/partitioner.hpp"

#include <algorithm>
#include <stdexcept>

namespace troupe {

std::vector<key_range> partition_range(std::uint64_t num_keys, std::uint32_t parts) {
  if (parts == 0) throw std::invalid_argument("cannot partition into 0 parts");
  std::vector<key_range> out;
  out.reserve(parts);
  const std::uint64_t base = num_keys / parts, extra = num_keys % parts;
  std::uint64_t begin = 0;
  for (std::uint32_t i = 0; i < parts; ++i) {
    const std::uint64_t len = base + (i < extra ? 1 : 0);
    out.push_back({begin, begin + len});
    begin += len;
  }
  return out;
}

std::uint32_t shard_of_key(const std::vector<key_range>& ranges, std::uint64_t key) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), key,
                             [](std::uint64_t k, const key_range& r) { return k < r.end; });
  if (it == ranges.end() || !it->contains(key)) return static_cast<std::uint32_t>(ranges.size());
  return static_cast<std::uint32_t>(it - ranges.begin());
}

std::uint32_t shard_of_row(std::uint64_t row, std::uint32_t parts) {
  if (parts == 0) throw std::invalid_argument("cannot place a row on 0 shards");
  std::uint64_t x = row + 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return static_cast<std::uint32_t>(x % parts);
}

}  // namespace troupe
