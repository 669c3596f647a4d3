#pragma once
// Where a node daemon reads and writes on behalf of remote schedulers
// (`troupe node --config`, tools/node_config.hpp): relative data paths of a
// job resolve under the node's data_dir, and shards write checkpoints only
// inside its checkpoint_dir, so an authenticated scheduler still cannot make
// a node write (or prune) files elsewhere.
//
//   resolve_under("/var/lib/troupe", "data/brown")       -> "/var/lib/troupe/data/brown"
//   resolve_under("/var/lib/troupe", "/usr/share/x")     -> "/usr/share/x"
//   is_within("/srv/ckpt", "/srv/ckpt/job1/checkpoints") -> true
//   is_within("/srv/ckpt", "/srv/ckpt/../etc")           -> false

#include <string>

namespace troupe {

/// `path` if it is absolute or `root` is empty, else root/path.
std::string resolve_under(const std::string& root, const std::string& path);

/// Whether `path`, with "." and ".." and existing symlinks resolved, is `root`
/// or lies below it (both made absolute against the working directory).
bool is_within(const std::string& root, const std::string& path);

}  // namespace troupe
