#pragma once
// Key caching (KeyList in schemas/troupe.capnp; Li et al., OSDI 2014, 3.5):
// a sender that sends the same sparse row ids again and again names them by
// their SHA-256 once the shard holds them.
//
//   const auto name = troupe::name_key_list(keys.data(), keys.size());  // once
//   auto first = troupe::encode_sparse_pull(table, worker, keys.data(), keys.size(), false, &name);
//   auto later = troupe::encode_sparse_pull(table, worker, nullptr, 0, false, &name);

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace troupe {

/// A list of row ids by name. A pull reply that left its ids out carries
/// only the count (`named` false).
struct key_list_name {
  std::array<std::uint8_t, 32> digest{};  ///< SHA-256 of the ids as little-endian uint64s
  std::uint64_t count = 0;                ///< number of ids
  bool named = false;                     ///< `digest` is set

  bool operator==(const key_list_name& o) const {
    return named == o.named && count == o.count && digest == o.digest;
  }
};

/// The name of `n` row ids: their SHA-256 (about 0.5 ms per million ids here).
key_list_name name_key_list(const std::uint64_t* keys, std::size_t n);

/// "3f9a2c01 (100000 ids)": the digest's first bytes, for messages.
std::string describe(const key_list_name& name);

}  // namespace troupe
