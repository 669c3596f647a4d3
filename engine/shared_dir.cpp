#include "engine/shared_dir.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <system_error>
#include <vector>

namespace troupe {

namespace {

namespace fs = std::filesystem;

bool group_shared(const fs::path& dir) {
  struct stat st {};
  return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & S_ISGID) != 0;
}

}  // namespace

status make_shared_dir(const std::string& dir) {
  // As given, not lexically normalised: "link/../out" is out beside the
  // link's target, where the caller then writes.
  const fs::path target(dir);
  // The directories to create, and the one they go into.
  std::vector<fs::path> missing;
  auto existing = target;
  std::error_code ec;
  while (!existing.empty() && !fs::exists(existing, ec)) {
    missing.push_back(existing);
    if (existing == existing.parent_path()) break;
    existing = existing.parent_path();
  }
  if (existing.empty()) existing = ".";
  fs::create_directories(target, ec);
  if (ec) return {errc::io_error, "cannot create directory " + dir + ": " + ec.message()};
  if (!group_shared(existing)) return {};
  for (const auto& d : missing) {
    // Others' access stays as the umask left it (none under the unit's).
    struct stat st {};
    if (::stat(d.c_str(), &st) != 0) continue;
    ::chmod(d.c_str(), (st.st_mode & 07) | S_ISGID | S_IRWXU | S_IRWXG);
  }
  return {};
}

void share_file(int fd, const std::string& dir) {
  if (!group_shared(fs::path(dir))) return;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return;
  ::fchmod(fd, (st.st_mode & 0777) | S_IRUSR | S_IWUSR | S_IRGRP);
}

}  // namespace troupe
