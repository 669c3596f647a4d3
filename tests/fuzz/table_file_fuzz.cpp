// Fuzz target: the tables file of `troupe serve` (tools/table_file.hpp).
// Anything but a clean engine_options or a troupe_error is a bug.
#include "engine/errors.hpp"
#include "fuzz_target.hpp"
#include "tools/table_file.hpp"

namespace troupe::fuzz {

std::vector<std::string> seeds() {
  return {
      "shards = 4\n[[table]]\nname = \"emb\"\nkind = \"sparse\"\nwidth = 64\n"
      "optimizer = \"adagrad\"\nlr = 0.1\ninit = 0.01\nmax_rows = 1000\nmax_row_id = 1048576\n",
      "[[table]]\nname = \"w\"\nkind = \"dense\"\nsize = 1000\noptimizer = \"adam\"\nseed = 7\n"
      "[[table]]\nname = \"b\"\nkind = \"dense\"\nsize = 10\n",
      "shards = 4294967298\n[[table]]\nname = \"x\"\nwidth = 4\n",
  };
}

}  // namespace troupe::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    troupe::cli::parse_table_file(std::string_view(reinterpret_cast<const char*>(data), size),
                                  "fuzz.toml");
  } catch (const troupe::troupe_error&) {
    // a clear error is the expected answer to bad input
  }
  return 0;
}
