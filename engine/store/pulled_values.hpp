#pragma once
// What each worker last pulled from a table slice, for delay compensation
// (DC-ASGD needs w_pulled, the values a gradient was computed on).
//
// Dense slices keep copies of the whole slice, one per table version that
// some worker pulled, shared by every worker that pulled that version and
// freed when no worker refers to it any more. A worker refers to one copy at
// a time, so memory is at most (workers that pulled) x slice, and much less
// when pulls bunch up at the same version (small staleness bounds). Sparse
// slices keep, per worker, the rows of its last pull.
//
//   dense_pulled_values mem;
//   mem.remember(worker, version, values);           // when serving a pull
//   const float* w_pulled = mem.find(worker, push.pulled_version);
//   if (w_pulled) ...                                 // null: not remembered

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

namespace troupe {

class dense_pulled_values {
 public:
  explicit dense_pulled_values(std::size_t max_bytes = default_max_bytes) : max_bytes_(max_bytes) {}

  /// `worker` was served the slice `values` at table version `version`.
  /// Past max_bytes, the workers that refer to the oldest copies lose them
  /// (their next push is applied uncompensated) until the rest fit; the
  /// newest copy always stays.
  void remember(std::uint32_t worker, std::uint64_t version, const std::vector<float>& values);
  /// The whole slice as `worker` pulled it at `version`, or null when its
  /// last pull was at another version (or none was remembered).
  const float* find(std::uint32_t worker, std::uint64_t version) const;
  /// Forgets everything (the slice's values were replaced by a restore).
  void clear();
  /// Distinct copies alive and the bytes they hold.
  std::size_t copies() const;
  std::size_t bytes() const { return bytes_; }
  /// Workers remembered (each to a copy).
  std::size_t workers() const { return by_worker_.size(); }
  /// Worker ids were the peer's to choose (every client connection of the
  /// service API is a new one): copies of versions nobody pushes against
  /// any more must not pile up for good.
  static constexpr std::size_t default_max_bytes = std::size_t{1} << 30;
  /// Nor may the entries of ids that all pulled the newest version: past
  /// this many, others than the one just remembered are forgotten.
  static constexpr std::size_t max_workers = std::size_t{1} << 16;

 private:
  struct copy {
    std::uint64_t version = 0;
    std::vector<float> values;
  };
  // Counts `c` out of bytes_ when it held the last reference.
  void release(std::shared_ptr<const copy> c);
  // Takes the oldest copy but the newest from the workers holding it; false
  // when there is none.
  bool evict_oldest();
  std::shared_ptr<const copy> latest_;  // the copy of the newest version served
  std::unordered_map<std::uint32_t, std::shared_ptr<const copy>> by_worker_;
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;  // of the distinct copies alive
};

class sparse_pulled_values {
 public:
  explicit sparse_pulled_values(std::size_t max_bytes = default_max_bytes)
      : max_bytes_(max_bytes) {}

  /// `worker` was served rows `keys` (`width` floats each, in `values`, row
  /// after row) at table version `version`.
  void remember(std::uint32_t worker, std::uint64_t version, const std::vector<std::uint64_t>& keys,
                const float* values, std::uint32_t width);
  /// The rows as `worker` pulled them, in the order of `keys`, when its last
  /// pull was at `version` and asked for exactly `keys`; null otherwise.
  const float* find(std::uint32_t worker, std::uint64_t version,
                    const std::vector<std::uint64_t>& keys) const;
  /// Drops `worker`'s rows (its push used them).
  void forget(std::uint32_t worker);
  void clear() {
    by_worker_.clear();
    bytes_ = 0;
  }
  std::size_t bytes() const;
  /// More than this and the rows kept longest are dropped until the new ones
  /// fit: clients that pull and leave (each connection a new id) must not
  /// grow a shard for good. A push that finds none is applied
  /// uncompensated, and counted so.
  static constexpr std::size_t default_max_bytes = std::size_t{64} << 20;

 private:
  struct rows {
    std::uint64_t version = 0;
    std::uint64_t since = 0;  // when remembered, in remember() calls
    std::vector<std::uint64_t> keys;
    std::vector<float> values;
  };
  std::unordered_map<std::uint32_t, rows> by_worker_;
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  std::uint64_t calls_ = 0;
};

}  // namespace troupe
