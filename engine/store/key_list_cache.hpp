#pragma once
// The row-id lists a shard was sent in full with their name, so that a
// sender may name them instead of sending them again (key caching: KeyList
// in schemas/troupe.capnp). Bounded in bytes; the least recently used list
// goes first. A name is the list's SHA-256, checked on arrival, so no peer
// can make a name stand for other ids.
//
//   troupe::key_list_cache cache;
//   if (auto st = cache.complete(push.key_list, push.keys_omitted, push.keys); !st) return st;
//   // push.keys now holds the ids, however they came

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "engine/errors.hpp"
#include "engine/wire/key_list.hpp"

namespace troupe {

class key_list_cache {
 public:
  static constexpr std::size_t default_max_bytes = std::size_t{64} << 20;
  /// What a list costs beyond its ids (map and list nodes, the vector, the
  /// allocator's headers; ~200 bytes measured): counted, so that many tiny
  /// lists cannot hold far more memory than the bound says.
  static constexpr std::size_t entry_overhead_bytes = 256;

  explicit key_list_cache(std::size_t max_bytes = default_max_bytes) : max_bytes_(max_bytes) {}

  /// A request that named its ids (`name.named`): with `omitted`, fills
  /// `keys` in from the list held under the name, or refuses with
  /// unknown_key_list; otherwise checks that `keys` are what the name says
  /// (malformed_message if not) and remembers them. Unnamed: nothing to do.
  status complete(const key_list_name& name, bool omitted, std::vector<std::uint64_t>& keys);

  std::size_t lists() const { return entries_.size(); }
  /// Bytes held, ids and overhead, never more than the bound.
  std::size_t bytes() const { return bytes_; }

 private:
  using digest = std::array<std::uint8_t, 32>;
  struct digest_hash {
    std::size_t operator()(const digest& d) const;
  };
  struct entry {
    std::vector<std::uint64_t> keys;
    std::list<digest>::iterator lru;
  };

  static std::size_t cost(std::size_t ids);
  void remember(const digest& d, const std::vector<std::uint64_t>& keys);
  void touch(entry& e);

  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  std::unordered_map<digest, entry, digest_hash> entries_;
  std::list<digest> lru_;  // front: most recently used
};

}  // namespace troupe
