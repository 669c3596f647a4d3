#include "engine/wire/request_split.hpp"

#include <gtest/gtest.h>

#include <set>

namespace troupe {
namespace {

TEST(RequestSplit, RowsGoToTheirShardOnceAndKeepPositions) {
  const std::vector<std::uint64_t> ids{5, 17, 5, 99, 1000003, 17, 42};
  const auto split = split_rows(ids.data(), ids.size(), 3);
  std::size_t keys = 0;
  std::set<std::uint32_t> shards;
  for (const auto& b : split.batches) {
    EXPECT_TRUE(shards.insert(b.shard).second) << "one batch per shard";
    ASSERT_EQ(b.keys.size(), b.positions.size());
    for (std::size_t j = 0; j < b.keys.size(); ++j) {
      EXPECT_EQ(shard_of_row(b.keys[j], 3), b.shard);
      EXPECT_EQ(ids[b.positions[j]], b.keys[j]);
    }
    keys += b.keys.size();
  }
  EXPECT_EQ(keys, 5u);  // 5 distinct ids
  ASSERT_EQ(split.duplicates.size(), 2u);
  EXPECT_EQ(split.duplicates[0], (std::pair<std::size_t, std::size_t>{2, 0}));
  EXPECT_EQ(split.duplicates[1], (std::pair<std::size_t, std::size_t>{5, 1}));
}

TEST(RequestSplit, EmptyInputHasNoBatches) {
  const auto split = split_rows(nullptr, 0, 4);
  EXPECT_TRUE(split.batches.empty());
  EXPECT_TRUE(split.duplicates.empty());
}

TEST(RequestSplit, RangesAreCutAlongThePartition) {
  const auto ranges = partition_range(10, 3);    // [0,4) [4,7) [7,10)
  const auto parts = split_range(ranges, 2, 6);  // [2,8)
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].shard, 0u);
  EXPECT_EQ(parts[0].begin, 2u);
  EXPECT_EQ(parts[0].count, 2u);
  EXPECT_EQ(parts[1].begin, 4u);
  EXPECT_EQ(parts[1].count, 3u);
  EXPECT_EQ(parts[2].begin, 7u);
  EXPECT_EQ(parts[2].count, 1u);
  EXPECT_EQ(split_range(ranges, 5, 1).size(), 1u);
  EXPECT_TRUE(split_range(ranges, 3, 0).empty());
}

}  // namespace
}  // namespace troupe
