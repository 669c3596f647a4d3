#pragma once
// Files that hold credentials (the cluster secret, a TLS private key or its
// passphrase) must not be readable by every user of the machine: a
// world-readable secret is refused, not silently used. Group access is
// allowed so that an operator can keep keys as root:troupe 0640.
//
//   troupe::check_private_file("/etc/troupe/cluster.key", "cluster secret");
//   // throws bad_config: "the cluster secret /etc/troupe/cluster.key is
//   //   readable by other users (mode 0644); run: chmod 600 /etc/troupe/cluster.key"

#include <string>

namespace troupe {

/// Throws troupe_error(io_error) if `path` does not exist or is no regular
/// file, and troupe_error(bad_config) if users other than its owner and group
/// may read, write or execute it. `what` names the file in the message.
void check_private_file(const std::string& path, const std::string& what);

/// The whole content of a private file (checked as above); trailing
/// whitespace removed. Throws io_error if it cannot be read.
std::string read_private_file(const std::string& path, const std::string& what);

}  // namespace troupe
