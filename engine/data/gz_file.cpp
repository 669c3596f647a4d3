#include "engine/data/gz_file.hpp"

#include <algorithm>
#include <filesystem>

#include "engine/errors.hpp"

namespace troupe {

void require_data_file(const std::string& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);  // follows links
  if (!std::filesystem::exists(st)) {
    throw troupe_error(errc::missing_dataset, "data file " + path + " not found");
  }
  if (std::filesystem::is_directory(st)) {
    throw troupe_error(errc::io_error, path + " is a directory, not a data file");
  }
  if (!std::filesystem::is_regular_file(st)) {
    throw troupe_error(errc::io_error,
                       path +
                           " is no regular file (a pipe, FIFO, socket or device): data files "
                           "are read more than once; write it to a file first");
  }
}

gz_ptr open_gz(const std::string& path) {
  require_data_file(path);
  gz_ptr f(gzopen(path.c_str(), "rb"));
  if (!f) throw troupe_error(errc::io_error, "cannot open " + path);
  gzbuffer(f.get(), 1 << 18);
  return f;
}

std::size_t read_gz_some(gzFile f, void* out, std::size_t n, const std::string& path) {
  auto* bytes = static_cast<unsigned char*>(out);
  std::size_t got = 0;
  while (got < n) {
    const int r =
        gzread(f, bytes + got, static_cast<unsigned>(std::min<std::size_t>(n - got, 1 << 30)));
    int code = Z_OK;
    const char* msg = gzerror(f, &code);
    if (r < 0) {
      throw troupe_error(errc::io_error,
                         path + ": corrupt or unreadable data: " + std::string(msg ? msg : "?"));
    }
    if (r == 0) {
      // zlib reports a stream cut short only here, as an error code beside
      // an ordinary-looking end.
      if (code == Z_BUF_ERROR) {
        throw troupe_error(errc::io_error, path +
                                               ": truncated: the compressed data ends before "
                                               "its end (an interrupted download or copy?)");
      }
      break;
    }
    got += static_cast<std::size_t>(r);
  }
  return got;
}

}  // namespace troupe
