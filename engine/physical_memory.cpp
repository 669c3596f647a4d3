#include "engine/physical_memory.hpp"

#include <unistd.h>

#include <fstream>

namespace troupe {

namespace {

// Reads the first integer of a file, or 0.
std::uint64_t read_number(const char* path) {
  std::ifstream in(path);
  unsigned long long v = 0;
  if (!(in >> v)) return 0;
  return v;
}

}  // namespace

std::uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  std::uint64_t ram = pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * page : 0;
  // A container's limit (cgroup v2, then v1); "max" or a huge value means none.
  for (const char* path :
       {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    const auto limit = read_number(path);
    if (limit > 0 && (ram == 0 || limit < ram)) ram = limit;
  }
  return ram;
}

}  // namespace troupe
