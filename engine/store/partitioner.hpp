#pragma once
// Which shard owns which keys. Dense tables are cut into contiguous,
// near-equal key ranges (so a push is one range, no keys on the wire);
// sparse rows go to shards by a hash of the row id.
//
//   auto ranges = partition_range(235146, 2);   // [0,117573) [117573,235146)
//   auto k = shard_of_key(ranges, 200000);      // 1
//   auto h = shard_of_row(row_id, 2);

#include <cstdint>
#include <vector>

namespace troupe {

struct key_range {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint64_t size() const { return end - begin; }
  bool contains(std::uint64_t key) const { return key >= begin && key < end; }
  bool operator==(const key_range& o) const { return begin == o.begin && end == o.end; }
};

/// Splits [0, num_keys) into `parts` contiguous ranges whose sizes differ by
/// at most one. Throws std::invalid_argument for parts == 0.
std::vector<key_range> partition_range(std::uint64_t num_keys, std::uint32_t parts);

/// Index of the range holding `key`; ranges.size() when none does.
std::uint32_t shard_of_key(const std::vector<key_range>& ranges, std::uint64_t key);

/// Shard of a sparse row: a mixing hash of the id modulo `parts`.
std::uint32_t shard_of_row(std::uint64_t row, std::uint32_t parts);

}  // namespace troupe
