#include "engine/wire/request_split.hpp"

#include <algorithm>
#include <unordered_map>

namespace troupe {

row_split split_rows(const std::uint64_t* ids, std::size_t n, std::uint32_t shards) {
  row_split out;
  std::vector<std::int64_t> batch_of(shards, -1);  // shard -> index in out.batches
  std::unordered_map<std::uint64_t, std::size_t> first;
  first.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto [it, fresh] = first.emplace(ids[i], i);
    if (!fresh) {
      out.duplicates.emplace_back(i, it->second);
      continue;
    }
    const auto shard = shard_of_row(ids[i], shards);
    if (batch_of[shard] < 0) {
      batch_of[shard] = static_cast<std::int64_t>(out.batches.size());
      out.batches.push_back({shard, {}, {}});
    }
    auto& batch = out.batches[static_cast<std::size_t>(batch_of[shard])];
    batch.keys.push_back(ids[i]);
    batch.positions.push_back(i);
  }
  return out;
}

std::vector<range_part> split_range(const std::vector<key_range>& ranges, std::uint64_t offset,
                                    std::uint64_t count) {
  std::vector<range_part> out;
  const std::uint64_t end = offset + count;
  for (std::uint32_t k = 0; k < ranges.size(); ++k) {
    const auto begin = std::max(offset, ranges[k].begin);
    const auto stop = std::min(end, ranges[k].end);
    if (begin < stop) out.push_back({k, begin, stop - begin});
  }
  return out;
}

}  // namespace troupe
