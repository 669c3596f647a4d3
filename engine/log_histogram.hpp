#pragma once
// A histogram of non-negative integers (observed staleness, in applied
// pushes) whose quantiles stay meaningful at any scale: values below 64 have
// a bucket each, larger ones share a bucket with values of the same power of
// two and the same top three mantissa bits (at most 12.5% relative error).
// Buckets are a plain vector so that workers can ship them to the scheduler,
// which merges them.
//
//   log_histogram h;
//   h.add(3); h.add(400);
//   h.quantile(0.99);          // 400 -> reported as 384, its bucket's lower end
//   other.merge(h.buckets());

#include <cstddef>
#include <cstdint>
#include <vector>

namespace troupe {

class log_histogram {
 public:
  /// Values below this have a bucket of their own.
  static constexpr std::uint64_t exact_below = 64;

  static std::size_t bucket_of(std::uint64_t value);
  /// The smallest value that falls into `bucket`.
  static std::uint64_t lower_bound(std::size_t bucket);

  void add(std::uint64_t value, std::uint64_t count = 1);
  /// Adds another histogram's buckets (as returned by buckets()).
  void merge(const std::vector<std::uint64_t>& buckets);
  void clear() { buckets_.clear(); }

  std::uint64_t total() const;
  /// The lower end of the bucket holding the q-quantile (exact below 64);
  /// 0 when empty.
  double quantile(double q) const;

  /// Trailing empty buckets are not stored.
  const std::vector<std::uint64_t>& buckets() const { return buckets_; }

 private:
  std::vector<std::uint64_t> buckets_;
};

}  // namespace troupe
