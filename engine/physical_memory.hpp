#pragma once
// How much memory this machine (or the container it runs in) has: what a
// job's estimate and a shard's dense ranges are checked against before
// anything is allocated, since under overcommit an allocation larger than
// the machine succeeds and the OOM killer ends the process later.
//
//   if (const auto ram = physical_memory_bytes(); ram > 0 && need > ram) refuse();

#include <cstdint>

namespace troupe {

/// Physical memory of this machine, or the cgroup's limit when lower; 0 if
/// unknown (then nothing is refused).
std::uint64_t physical_memory_bytes();

}  // namespace troupe
