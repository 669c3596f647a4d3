#pragma once
// The scheduler's record of a complete checkpoint set: once every shard has
// written its checkpoint of clock c, `progress-clock-<c>.txt` in the same
// directory holds the clock and the epoch a resumed job starts from. Kept
// like the shards' files: the newest few, older ones removed.
//
//   if (auto st = write_progress_file(dir, clock, epoch); st) prune_progress_files(dir, 3);
//   for (auto clock : list_progress_clocks(dir)) ...   // newest first

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/errors.hpp"

namespace troupe {

/// "progress-clock-<clock>.txt"
std::string progress_file_name(std::int64_t clock);

/// Writes `clock=<c>`, `epoch=<e>` and, when given, `model=<model>` (what
/// the checkpoints are of, which a resume compares: a model of other layers
/// with as many parameters restored them without a word) and `data=<data>`
/// (what they were trained on) through a temporary file and a rename, so a
/// reader never sees half of it; io_error naming the file otherwise.
status write_progress_file(const std::string& dir, std::int64_t clock, std::int64_t epoch,
                           const std::string& model = {}, const std::string& data = {});

/// Clocks of the progress files in `dir`, newest first (nothing for a
/// missing directory; other names are ignored).
std::vector<std::int64_t> list_progress_clocks(const std::string& dir);

/// Keeps the newest `keep` (>= 1) progress files, removes the others and
/// their stray temporaries; the first error names the file it could not remove.
status prune_progress_files(const std::string& dir, std::size_t keep);

}  // namespace troupe
