#pragma once
// Shard checkpoints on disk: one file per shard and clock, written
// atomically (temporary file, fsync, rename, fsync of the directory), with a
// format version and CRC-32 checksums so that a torn or damaged file is
// reported precisely and the previous good one is used instead.
//
//   checkpoint_header h{"mnist-mlp", store.id(), clock};
//   if (auto st = write_checkpoint(dir, h, store.snapshot()); !st) log(st.to_string());
//   prune_checkpoints(dir, store.id(), 3);
//   ...
//   latest_checkpoint last;
//   if (find_latest_checkpoint(dir, 0, last) && last.found()) store.restore(last.data.snapshot);
//
// File layout (little-endian; format version 3, which added the senders that
// push in order; version 2 is still read, version 1 lacked the per-key update
// counts of dense tables and is refused):
//
//   offset  size  field
//        0     8  magic "TROUPECK"
//        8     4  format version (u32)
//       12     8  body size in bytes (u64)
//       20     4  CRC-32 of bytes [0, 20): a damaged size field is a checksum
//                 error, not a misleading "truncated"
//       24     B  body: job name, shard id, clock, then the shard snapshot
//   24 + B     4  CRC-32 of bytes [0, 24 + B)
//
// Inside the body a string is a u32 length and its bytes, a list a u64
// element count and its elements; see checkpoint.cpp for the field order.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/errors.hpp"
#include "engine/store/shard_store.hpp"

namespace troupe {

/// The format version this build writes and reads.
constexpr std::uint32_t checkpoint_format_version = 3;

struct checkpoint_header {
  std::string job;             ///< job name, so that a resume can refuse another job's files
  std::uint32_t shard_id = 0;  ///< must equal the snapshot's shard id
  std::int64_t clock = 0;      ///< shard clock the snapshot was taken at (>= 0)
};

struct checkpoint {
  checkpoint_header header;
  shard_snapshot snapshot;
};

/// "shard-<id>-clock-<clock>.ckpt"; the file is first written as "<name>.tmp".
std::string checkpoint_file_name(std::uint32_t shard_id, std::int64_t clock);

/// The exact bytes of a checkpoint file, and back. decode_checkpoint checks
/// magic, version, size and checksums before it parses, and every length
/// against the bytes left before it allocates. Its errors say what and where:
///   malformed_message: "bad magic ...", "truncated at byte N of M",
///                      "checksum mismatch: ...", "<field> at byte N ..."
///   version_mismatch:  "unsupported checkpoint format version X (this build reads 2 to 3)"
std::vector<char> encode_checkpoint(const checkpoint_header& header, const shard_snapshot& snap);
status decode_checkpoint(const char* data, std::size_t size, checkpoint& out);

/// Writes dir/shard-<id>-clock-<clock>.ckpt atomically, creating `dir` if
/// needed. A crash leaves the previous files untouched and either the new
/// one complete or a stray .tmp file, which find_latest_checkpoint skips
/// (with a warning) and prune_checkpoints removes later.
/// io_error when the disk refuses; bad_config for a header that does not
/// match the snapshot or a negative clock.
status write_checkpoint(const std::string& dir, const checkpoint_header& header,
                        const shard_snapshot& snap);

/// Reads and checks one checkpoint file; errors are decode_checkpoint's (or
/// io_error), prefixed with the path.
status read_checkpoint(const std::string& path, checkpoint& out);

struct latest_checkpoint {
  std::string path;  ///< empty when `dir` holds no complete checkpoint of the shard
  checkpoint data;   ///< its contents, already read and checked
  /// One line per newer file that was skipped, e.g. "shard-0-clock-40.ckpt is
  /// corrupt (checksum mismatch: ...); using shard-0-clock-30.ckpt".
  std::vector<std::string> warnings;
  bool found() const { return !path.empty(); }
};

/// Finds and reads the newest checkpoint of `shard_id` in `dir` that reads
/// back correctly (and whose contents match its file name). Skipped files
/// are reported in `out.warnings`, not logged. ok with !out.found() when
/// there is none; io_error only when `dir` cannot be listed.
status find_latest_checkpoint(const std::string& dir, std::uint32_t shard_id,
                              latest_checkpoint& out);

/// fsyncs directory `dir`, so that a rename into it survives a power loss
/// (the entry lives in the directory, not in the file).
status sync_directory(const std::string& dir);

/// Keeps the newest `keep` (>= 1) complete checkpoints of `shard_id`, and
/// its files of the newest `keep` - 1 sets that progress files in `dir` name
/// complete, and deletes its other checkpoint files: older ones, corrupt
/// ones (not those it cannot read now), and stray .tmp files older than the
/// newest complete checkpoint (a newer .tmp may be a write in progress).
/// Paths removed are appended to `removed` if given.
status prune_checkpoints(const std::string& dir, std::uint32_t shard_id, std::size_t keep,
                         std::vector<std::string>* removed = nullptr);

}  // namespace troupe
