#include "engine/private_file.hpp"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "engine/errors.hpp"

namespace troupe {

void check_private_file(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw troupe_error(errc::io_error,
                       "cannot read the " + what + " file " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    throw troupe_error(errc::io_error, "the " + what + " file " + path + " is no regular file");
  }
  if ((st.st_mode & S_IRWXO) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw troupe_error(errc::bad_config, "the " + what + " file " + path +
                                             " is accessible to other users (mode " + mode +
                                             "); run: chmod 600 " + path);
  }
}

std::string read_private_file(const std::string& path, const std::string& what) {
  check_private_file(path, what);
  // The reason is told (a daemon's user lacking permission on a root-owned
  // secret, most often): libstdc++'s failed open leaves errno set.
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw troupe_error(errc::io_error, "cannot read the " + what + " file " + path + ": " +
                                           (errno != 0 ? std::strerror(errno) : "unreadable"));
  }
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) throw troupe_error(errc::io_error, "cannot read the " + what + " file " + path);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text;
}

}  // namespace troupe
