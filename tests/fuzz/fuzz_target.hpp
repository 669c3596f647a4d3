#pragma once
// What every fuzz target under tests/fuzz defines. One source per decoder of
// untrusted bytes; the same target builds two ways:
//   * with g++ and driver.cpp (CI, ctest "Fuzz.*"): replays the generated
//     seeds, their truncations and the committed corpus/<target>/ inputs,
//     then runs random mutations of them for a few seconds;
//   * with clang's libFuzzer (scripts/fuzz.sh): coverage-guided, for longer.
// A crash the fuzzers find is saved as a file; commit it under
// corpus/<target>/ and it becomes a regression input replayed in CI.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

/// Runs the decoder on one input; must not crash, leak or read out of bounds.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace troupe::fuzz {

/// Valid inputs to start mutating from (encoded by the code under test).
std::vector<std::string> seeds();

}  // namespace troupe::fuzz
