#include "engine/store/table.hpp"

#include <algorithm>

namespace troupe {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Uniform in [-bound, bound] from 24 random bits.
float uniform_from_hash(std::uint64_t h, float bound) {
  const float u = static_cast<float>(h >> 40) * (1.0f / 16777216.0f);
  return bound * (2.0f * u - 1.0f);
}

}  // namespace

std::size_t sparse_row_bytes(const table_spec& table) {
  const std::size_t slots = make_optimizer(table.optimizer)->state_slots();
  return table.width * (1 + slots) * sizeof(float) + sizeof(std::uint64_t) + 32;
}

float initial_value(const table_spec& table, std::uint64_t key) {
  auto it = std::upper_bound(table.init.begin(), table.init.end(), key,
                             [](std::uint64_t k, const init_segment& s) { return k < s.end; });
  if (it == table.init.end()) return 0.0f;
  return uniform_from_hash(splitmix64(table.seed * 0x2545f4914f6cdd1dULL ^ splitmix64(key)),
                           it->bound);
}

float initial_row_value(const table_spec& table, std::uint64_t row, std::uint32_t col) {
  const std::uint64_t h = splitmix64(splitmix64(table.seed ^ splitmix64(row)) + col);
  return uniform_from_hash(h, table.row_init_bound);
}

}  // namespace troupe
