#include "engine/model/param_views.hpp"

#include <algorithm>
#include <cstring>

namespace troupe {

namespace {

// More runs than this and the GEMMs get too thin to pay: the matrix is then
// assembled in the model's buffer (the copying path, one run).
constexpr std::size_t max_runs = 4;

template <class View>
std::vector<View> sorted(std::vector<View> v) {
  std::sort(v.begin(), v.end(), [](const View& a, const View& b) { return a.offset < b.offset; });
  return v;
}

// Walks the views over the matrix [offset, offset + rows * cols): calls
// whole(r0, r1, view) for rows lying whole in one view and part(key, n,
// view) for the pieces of other rows a view covers.
template <class View, class Whole, class Part>
void walk(const std::vector<View>& views, std::uint64_t offset, int rows, int cols, Whole whole,
          Part part) {
  const std::uint64_t end = offset + static_cast<std::uint64_t>(rows) * cols;
  const auto c = static_cast<std::uint64_t>(cols);
  for (const auto& v : views) {
    const std::uint64_t lo = std::max(v.offset, offset), hi = std::min(v.offset + v.n, end);
    if (lo >= hi) continue;
    const std::uint64_t r0 = (lo - offset + c - 1) / c, r1 = (hi - offset) / c;
    if (r1 <= r0) {  // no whole row: all of it is a part
      part(lo, hi - lo, v);
      continue;
    }
    const std::uint64_t first = offset + r0 * c, last = offset + r1 * c;
    if (lo < first) part(lo, first - lo, v);
    whole(static_cast<int>(r0), static_cast<int>(r1), v);
    if (last < hi) part(last, hi - last, v);
  }
}

// Fills the gaps between `runs` (sorted) with runs in `own`.
template <class T>
std::vector<row_run<T>> with_own_rows(std::vector<row_run<T>> runs, int rows, int cols,
                                      std::uint64_t offset, float* own) {
  std::vector<row_run<T>> out;
  int next = 0;
  auto own_run = [&](int a, int b) {
    if (a < b) out.push_back({a, b, own + offset + static_cast<std::uint64_t>(a) * cols});
  };
  for (const auto& r : runs) {
    own_run(next, r.begin);
    out.push_back(r);
    next = r.end;
  }
  own_run(next, rows);
  return out;
}

}  // namespace

void param_views::add_values(std::uint64_t offset, std::size_t n, const float* data) {
  values_.push_back({offset, n, data});
}

void param_views::add_grads(std::uint64_t offset, std::size_t n, float* data) {
  grads_.push_back({offset, n, data});
}

void param_views::clear() {
  values_.clear();
  grads_.clear();
  scatter_.clear();
}

std::vector<row_run<const float>> param_views::value_rows(std::uint64_t offset, int rows, int cols,
                                                          float* own) const {
  std::vector<row_run<const float>> runs;
  const auto views = sorted(values_);
  walk(
      views, offset, rows, cols,
      [&](int r0, int r1, const view<const float>& v) {
        runs.push_back(
            {r0, r1, v.data + (offset + static_cast<std::uint64_t>(r0) * cols - v.offset)});
      },
      [&](std::uint64_t key, std::uint64_t n, const view<const float>& v) {
        std::memcpy(own + key, v.data + (key - v.offset), n * sizeof(float));
      });
  auto out = with_own_rows(std::move(runs), rows, cols, offset, own);
  if (out.size() <= max_runs) return out;
  for (const auto& r : out) {  // too thin: assemble the whole matrix in `own`
    const auto key = offset + static_cast<std::uint64_t>(r.begin) * cols;
    if (r.data != own + key) {
      std::memcpy(own + key, r.data,
                  static_cast<std::size_t>(r.end - r.begin) * cols * sizeof(float));
    }
  }
  return {{0, rows, own + offset}};
}

std::vector<row_run<float>> param_views::grad_rows(std::uint64_t offset, int rows, int cols,
                                                   float* own) {
  std::vector<row_run<float>> runs;
  std::vector<pending_copy> parts;
  const auto views = sorted(grads_);
  walk(
      views, offset, rows, cols,
      [&](int r0, int r1, const view<float>& v) {
        runs.push_back(
            {r0, r1, v.data + (offset + static_cast<std::uint64_t>(r0) * cols - v.offset)});
      },
      [&](std::uint64_t key, std::uint64_t n, const view<float>& v) {
        parts.push_back({own + key, v.data + (key - v.offset), n});
      });
  auto out = with_own_rows(std::move(runs), rows, cols, offset, own);
  if (out.size() > max_runs) {  // too thin: compute in `own`, copy every view's part
    for (const auto& r : out) {
      const auto key = offset + static_cast<std::uint64_t>(r.begin) * cols;
      if (r.data != own + key) {
        parts.push_back({own + key, r.data, static_cast<std::size_t>(r.end - r.begin) * cols});
      }
    }
    out = {{0, rows, own + offset}};
  }
  scatter_.insert(scatter_.end(), parts.begin(), parts.end());
  return out;
}

void param_views::scatter() {
  for (const auto& c : scatter_) std::memcpy(c.to, c.from, c.n * sizeof(float));
  scatter_.clear();
}

}  // namespace troupe
