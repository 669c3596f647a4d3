#include "engine/store/key_list_cache.hpp"

#include <cstring>
#include <string>

namespace troupe {

std::size_t key_list_cache::digest_hash::operator()(const digest& d) const {
  std::size_t h;  // a SHA-256 is uniform already: any 8 of its bytes will do
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

status key_list_cache::complete(const key_list_name& name, bool omitted,
                                std::vector<std::uint64_t>& keys) {
  if (!name.named) return {};
  auto it = entries_.find(name.digest);
  if (omitted) {
    if (it == entries_.end()) {
      return {errc::unknown_key_list, "row ids " + describe(name) + " are not held here (" +
                                          std::to_string(lists()) +
                                          " lists held): send them in full"};
    }
    if (it->second.keys.size() != name.count) {
      return {errc::wrong_size, "the name " + describe(name) + " stands for " +
                                    std::to_string(it->second.keys.size()) + " ids"};
    }
    keys = it->second.keys;
    touch(it->second);
    return {};
  }
  // Came in full: the ids must be the ones named. A held list was checked
  // when it came, so comparing with it is enough (and cheaper than hashing).
  const bool same = it != entries_.end() ? it->second.keys == keys
                                         : name_key_list(keys.data(), keys.size()) == name;
  if (!same) {
    return {errc::malformed_message, std::to_string(keys.size()) + " row ids sent under the name " +
                                         describe(name) + ", which names other ids"};
  }
  if (it != entries_.end()) {
    touch(it->second);
  } else {
    remember(name.digest, keys);
  }
  return {};
}

void key_list_cache::touch(entry& e) {
  lru_.splice(lru_.begin(), lru_, e.lru);
}

std::size_t key_list_cache::cost(std::size_t ids) {
  return ids * sizeof(std::uint64_t) + entry_overhead_bytes;
}

void key_list_cache::remember(const digest& d, const std::vector<std::uint64_t>& keys) {
  const std::size_t size = cost(keys.size());
  if (size > max_bytes_) return;  // sent in full each time; it is refused by name
  while (bytes_ + size > max_bytes_ && !lru_.empty()) {
    auto old = entries_.find(lru_.back());
    bytes_ -= cost(old->second.keys.size());
    entries_.erase(old);
    lru_.pop_back();
  }
  lru_.push_front(d);
  entries_.emplace(d, entry{keys, lru_.begin()});
  bytes_ += size;
}

}  // namespace troupe
