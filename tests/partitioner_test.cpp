// Key partitioning: every key belongs to exactly one shard.
#include <gtest/gtest.h>

#include <map>

#include "engine/store/partitioner.hpp"

namespace troupe {
namespace {

TEST(Partitioner, RangesCoverEveryKeyExactlyOnce) {
  for (std::uint64_t n : {0ull, 1ull, 7ull, 235146ull, 1000003ull}) {
    for (std::uint32_t parts : {1u, 2u, 3u, 8u, 13u}) {
      const auto ranges = partition_range(n, parts);
      ASSERT_EQ(ranges.size(), parts);
      EXPECT_EQ(ranges.front().begin, 0u);
      EXPECT_EQ(ranges.back().end, n);
      std::uint64_t smallest = n, largest = 0;
      for (std::size_t i = 0; i < ranges.size(); ++i) {
        if (i > 0) {
          EXPECT_EQ(ranges[i].begin, ranges[i - 1].end) << "gap or overlap";
        }
        smallest = std::min(smallest, ranges[i].size());
        largest = std::max(largest, ranges[i].size());
      }
      EXPECT_LE(largest - smallest, 1u) << "n=" << n << " parts=" << parts;
    }
  }
}

TEST(Partitioner, ShardOfKeyAgreesWithRanges) {
  const auto ranges = partition_range(1001, 4);
  std::vector<int> owners(1001, 0);
  for (std::uint64_t k = 0; k < 1001; ++k) {
    const auto s = shard_of_key(ranges, k);
    ASSERT_LT(s, ranges.size());
    EXPECT_TRUE(ranges[s].contains(k));
    ++owners[k];
  }
  for (int c : owners) EXPECT_EQ(c, 1);
  EXPECT_EQ(shard_of_key(ranges, 1001), 4u);
}

TEST(Partitioner, HashedRowsSpreadEvenly) {
  std::map<std::uint32_t, int> counts;
  for (std::uint64_t row = 0; row < 100000; ++row) ++counts[shard_of_row(row * 7919, 4)];
  ASSERT_EQ(counts.size(), 4u);
  for (const auto& [shard, c] : counts) EXPECT_NEAR(c, 25000, 1000) << "shard " << shard;
  EXPECT_EQ(shard_of_row(12345, 4), shard_of_row(12345, 4));
}

TEST(Partitioner, ZeroPartsIsAnError) {
  EXPECT_THROW(partition_range(10, 0), std::invalid_argument);
  EXPECT_THROW(shard_of_row(1, 0), std::invalid_argument);
}

}  // namespace
}  // namespace troupe
