#include "engine/wire/key_list.hpp"

#include <openssl/evp.h>

#include <cstdio>
#include <stdexcept>

namespace troupe {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the digest covers the ids' little-endian bytes as they lie in memory");

key_list_name name_key_list(const std::uint64_t* keys, std::size_t n) {
  key_list_name name;
  unsigned int size = 0;
  // An empty list has a name too (the digest of no bytes); keys may then be null.
  const void* data = n == 0 ? static_cast<const void*>("") : static_cast<const void*>(keys);
  if (EVP_Digest(data, n * sizeof(std::uint64_t), name.digest.data(), &size, EVP_sha256(),
                 nullptr) != 1 ||
      size != name.digest.size()) {
    throw std::runtime_error("SHA-256 of a key list failed (libcrypto)");
  }
  name.count = n;
  name.named = true;
  return name;
}

std::string describe(const key_list_name& name) {
  char head[9] = {};
  std::snprintf(head, sizeof head, "%02x%02x%02x%02x", name.digest[0], name.digest[1],
                name.digest[2], name.digest[3]);
  return std::string(name.named ? head : "unnamed") + " (" + std::to_string(name.count) + " ids)";
}

}  // namespace troupe
