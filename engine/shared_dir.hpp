#pragma once
// Directories that node daemons, running as a user of their own, write into
// and the trainer reads back (checkpoints/, best/ of a job's output on a
// shared file system). The deployment shares them through a group: the
// common directory (/srv/troupe) belongs to it with the set-group-id bit
// (mode 2770), so what is created below belongs to that group too. But the
// daemons run under UMask=0077 and the trainer under its own umask: a
// trainer's output directory was 0755 (the nodes could not create
// checkpoints/ in it) and a node's checkpoint files 0600 (the trainer's
// --resume could not read them). Below such a directory, these make the
// group's access explicit; elsewhere they change nothing.
//
//   if (auto st = make_shared_dir(out + "/checkpoints"); !st) log(st);
//   ... write a file, then share_file(fd, dir);

#include <string>

#include "engine/errors.hpp"

namespace troupe {

/// Creates `dir` and its missing parents. When the deepest existing one has
/// the set-group-id bit, each one created gets rwx for the group (and the
/// bit, as Linux gives it): 2770.
status make_shared_dir(const std::string& dir);

/// Gives the group read access to open file `fd` when `dir`, where it lies,
/// has the set-group-id bit (0640); nothing otherwise. Best effort: a
/// failure leaves the file as the umask made it.
void share_file(int fd, const std::string& dir);

}  // namespace troupe
