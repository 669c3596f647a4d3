#include "engine/log_histogram.hpp"

namespace troupe {

namespace {

constexpr int sub_bits = 3;        // mantissa bits kept above the leading one
constexpr int first_exponent = 6;  // 2^6 = exact_below

int floor_log2(std::uint64_t v) {
  return 63 - __builtin_clzll(v);
}

}  // namespace

std::size_t log_histogram::bucket_of(std::uint64_t value) {
  if (value < exact_below) return static_cast<std::size_t>(value);
  const int e = floor_log2(value);
  const auto sub = (value >> (e - sub_bits)) & ((1u << sub_bits) - 1);
  return exact_below + static_cast<std::size_t>(e - first_exponent) * (1u << sub_bits) + sub;
}

std::uint64_t log_histogram::lower_bound(std::size_t bucket) {
  if (bucket < exact_below) return bucket;
  const std::size_t i = bucket - exact_below;
  const int e = first_exponent + static_cast<int>(i >> sub_bits);
  const std::uint64_t sub = i & ((1u << sub_bits) - 1);
  return (std::uint64_t{1} << e) | (sub << (e - sub_bits));
}

void log_histogram::add(std::uint64_t value, std::uint64_t count) {
  const auto b = bucket_of(value);
  if (buckets_.size() <= b) buckets_.resize(b + 1, 0);
  buckets_[b] += count;
}

void log_histogram::merge(const std::vector<std::uint64_t>& buckets) {
  if (buckets_.size() < buckets.size()) buckets_.resize(buckets.size(), 0);
  for (std::size_t i = 0; i < buckets.size(); ++i) buckets_[i] += buckets[i];
}

std::uint64_t log_histogram::total() const {
  std::uint64_t n = 0;
  for (auto c : buckets_) n += c;
  return n;
}

double log_histogram::quantile(double q) const {
  const auto n = total();
  if (n == 0) return 0;
  const double want = q * static_cast<double>(n);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (buckets_[i] > 0 && static_cast<double>(seen) >= want) {
      return static_cast<double>(lower_bound(i));
    }
  }
  return static_cast<double>(lower_bound(buckets_.size() - 1));
}

}  // namespace troupe
