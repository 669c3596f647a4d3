#include "engine/model/param_views.hpp"

#include <algorithm>
#include <cstring>

namespace troupe {

namespace {

// More runs than this and the GEMMs get too thin to pay: the matrix is then
// assembled in one scratch buffer (one run). 32 shards cut the reference
// model's first layer into about 28 runs of 28 rows, which still pay.
constexpr std::size_t max_runs = 40;

// Runs of whole rows of [offset, offset + rows * cols) that lie in one view.
template <class T, class View>
std::vector<row_run<T>> whole_rows(const std::vector<View>& views, std::uint64_t offset, int rows,
                                   int cols) {
  std::vector<row_run<T>> runs;
  const std::uint64_t end = offset + static_cast<std::uint64_t>(rows) * cols;
  const auto c = static_cast<std::uint64_t>(cols);
  for (const auto& v : views) {
    const std::uint64_t lo = std::max(v.offset, offset), hi = std::min(v.offset + v.n, end);
    if (lo >= hi) continue;
    const std::uint64_t r0 = (lo - offset + c - 1) / c, r1 = (hi - offset) / c;
    if (r1 <= r0) continue;
    runs.push_back(
        {static_cast<int>(r0), static_cast<int>(r1), v.data + (offset + r0 * c - v.offset)});
  }
  return runs;  // sorted by row: the views are sorted and do not overlap
}

// The gaps between `runs` within [0, rows).
template <class T>
std::vector<std::pair<int, int>> gaps(const std::vector<row_run<T>>& runs, int rows) {
  std::vector<std::pair<int, int>> out;
  int next = 0;
  for (const auto& r : runs) {
    if (next < r.begin) out.push_back({next, r.begin});
    next = r.end;
  }
  if (next < rows) out.push_back({next, rows});
  return out;
}

// Calls f(key, n, pointer into the view) for every part of [lo, hi) a view covers.
template <class View, class F>
void overlaps(const std::vector<View>& views, std::uint64_t lo, std::uint64_t hi, F f) {
  for (const auto& v : views) {
    const std::uint64_t a = std::max(v.offset, lo), b = std::min(v.offset + v.n, hi);
    if (a < b) f(a, b - a, v.data + (a - v.offset));
  }
}

}  // namespace

void param_views::add_values(std::uint64_t offset, std::size_t n, const float* data) {
  values_.push_back({offset, n, data});
  std::sort(values_.begin(), values_.end(),
            [](const auto& a, const auto& b) { return a.offset < b.offset; });
}

void param_views::add_grads(std::uint64_t offset, std::size_t n, float* data) {
  grads_.push_back({offset, n, data});
  std::sort(grads_.begin(), grads_.end(),
            [](const auto& a, const auto& b) { return a.offset < b.offset; });
}

template <class View>
bool param_views::covers(const std::vector<View>& views, std::uint64_t offset, std::uint64_t n) {
  std::uint64_t next = offset;
  for (const auto& v : views) {  // sorted
    if (v.offset > next) break;
    next = std::max(next, v.offset + v.n);
    if (next >= offset + n) return true;
  }
  return n == 0;
}

bool param_views::values_cover(std::uint64_t offset, std::uint64_t n) const {
  return covers(values_, offset, n);
}

bool param_views::grads_cover(std::uint64_t offset, std::uint64_t n) const {
  return covers(grads_, offset, n);
}

void param_views::clear() {
  values_.clear();
  grads_.clear();
  scatter_.clear();
  scratch_used_ = 0;
}

void param_views::release() {
  clear();
  scratch_.clear();
  scratch_.shrink_to_fit();
}

float* param_views::scratch(std::size_t floats) {
  if (scratch_used_ == scratch_.size()) scratch_.emplace_back();
  auto& chunk = scratch_[scratch_used_++];
  if (chunk.size() < floats) chunk.resize(floats);
  return chunk.data();
}

std::vector<row_run<const float>> param_views::value_rows(std::uint64_t offset, int rows, int cols,
                                                          const float* own) {
  auto runs = whole_rows<const float>(values_, offset, rows, cols);
  auto holes = gaps(runs, rows);
  const auto c = static_cast<std::uint64_t>(cols);
  if (runs.size() + holes.size() > max_runs) {  // too thin: one assembled matrix
    runs.clear();
    holes = {{0, rows}};
  }
  for (const auto& [a, b] : holes) {
    const std::uint64_t lo = offset + a * c, hi = offset + b * c;
    float* rows_at = scratch(static_cast<std::size_t>(hi - lo));
    if (own != nullptr) std::memcpy(rows_at, own + lo, (hi - lo) * sizeof(float));
    overlaps(values_, lo, hi, [&](std::uint64_t key, std::uint64_t n, const float* from) {
      std::memcpy(rows_at + (key - lo), from, n * sizeof(float));
    });
    runs.push_back({a, b, rows_at});
  }
  std::sort(runs.begin(), runs.end(),
            [](const auto& x, const auto& y) { return x.begin < y.begin; });
  return runs;
}

std::vector<row_run<float>> param_views::grad_rows(std::uint64_t offset, int rows, int cols,
                                                   float* own) {
  auto runs = whole_rows<float>(grads_, offset, rows, cols);
  auto holes = gaps(runs, rows);
  const auto c = static_cast<std::uint64_t>(cols);
  if (runs.size() + holes.size() > max_runs) {
    runs.clear();
    holes = {{0, rows}};
  }
  for (const auto& [a, b] : holes) {
    const std::uint64_t lo = offset + a * c, hi = offset + b * c;
    float* rows_at = scratch(static_cast<std::size_t>(hi - lo));
    if (own != nullptr) scatter_.push_back({rows_at, own + lo, static_cast<std::size_t>(hi - lo)});
    overlaps(grads_, lo, hi, [&](std::uint64_t key, std::uint64_t n, float* to) {
      scatter_.push_back({rows_at + (key - lo), to, static_cast<std::size_t>(n)});
    });
    runs.push_back({a, b, rows_at});
  }
  std::sort(runs.begin(), runs.end(),
            [](const auto& x, const auto& y) { return x.begin < y.begin; });
  return runs;
}

void param_views::scatter() {
  for (const auto& c : scatter_) std::memcpy(c.to, c.from, c.n * sizeof(float));
  scatter_.clear();
}

}  // namespace troupe
