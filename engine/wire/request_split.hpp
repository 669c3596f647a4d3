#pragma once
// How a client call on many rows or a long range becomes one request per
// shard, and how the replies go back into the caller's order. Sparse ids
// are hashed to shards (shard_of_row); an id asked for twice travels once.
// Dense ranges are cut along the table's partition.
//
//   auto split = troupe::split_rows(ids.data(), ids.size(), 4);
//   for (auto& b : split.batches) send(b.shard, b.keys);      // no duplicates
//   // reply row j of batch b goes to position b.positions[j];
//   for (auto [dup, first] : split.duplicates) copy(first, dup);

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "engine/store/partitioner.hpp"

namespace troupe {

/// The distinct rows one shard is asked for.
struct row_batch {
  std::uint32_t shard = 0;
  std::vector<std::uint64_t> keys;     ///< distinct, in order of first appearance
  std::vector<std::size_t> positions;  ///< caller's position of each key's first appearance
};

struct row_split {
  std::vector<row_batch> batches;  ///< only shards that own a requested row
  /// (position, position of the same id's first appearance) for repeated ids.
  std::vector<std::pair<std::size_t, std::size_t>> duplicates;
};

/// Groups `n` ids by the shard owning them among `shards`.
row_split split_rows(const std::uint64_t* ids, std::size_t n, std::uint32_t shards);

/// One shard's part of a dense range.
struct range_part {
  std::uint32_t shard = 0;
  std::uint64_t begin = 0;  ///< first key
  std::uint64_t count = 0;
};

/// The non-empty parts of [offset, offset + count) over a table's `ranges`
/// (partition_range); the caller checks that the range lies in the table.
std::vector<range_part> split_range(const std::vector<key_range>& ranges, std::uint64_t offset,
                                    std::uint64_t count);

}  // namespace troupe
