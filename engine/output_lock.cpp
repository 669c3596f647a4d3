#include "engine/output_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/errors.hpp"

namespace troupe {

output_lock output_lock::acquire(const std::string& dir) {
  const auto path = dir + "/.lock";
  unique_fd fd{::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644)};
  if (!fd) {
    // Its first file: the run's others would fail alike.
    throw troupe_error(errc::io_error, "cannot write into the output directory " + dir + " (" +
                                           std::strerror(errno) +
                                           "): choose another with -o/--out");
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == ENOLCK || errno == EOPNOTSUPP || errno == ENOSYS) return {std::move(fd), false};
    if (errno != EWOULDBLOCK) {
      throw troupe_error(errc::io_error, "cannot lock " + path + ": " + std::strerror(errno));
    }
    char holder[32] = {};
    const auto n = ::pread(fd.get(), holder, sizeof(holder) - 1, 0);
    std::string pid = n > 0 ? std::string(holder, static_cast<std::size_t>(n)) : std::string{};
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    throw troupe_error(errc::bad_config,
                       "another run is using " + dir +
                           (pid.empty() ? std::string{} : " (process " + pid + ")") +
                           ": wait for it to end, or choose another directory (-o/--out)");
  }
  // Who holds it, for the message above (the lock itself is what counts).
  const auto pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) == 0) {
    [[maybe_unused]] const auto written = ::pwrite(fd.get(), pid.data(), pid.size(), 0);
  }
  return {std::move(fd), true};
}

}  // namespace troupe
