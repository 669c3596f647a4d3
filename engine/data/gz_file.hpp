#pragma once
// zlib file reading for the data loaders (gzip and plain files alike), with
// the one check zlib leaves to its caller: a gzip stream cut short reads as
// an ordinary end of file (gzread returns 0, gzerror says Z_BUF_ERROR), and
// would otherwise load as a shorter data set without a word.
//
//   gz_ptr f = open_gz(path);                        // throws missing_dataset
//   while (std::size_t n = read_gz_some(f.get(), buf, size, path)) use(buf, n);

#include <zlib.h>

#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>

namespace troupe {

struct gz_closer {
  void operator()(gzFile f) const { gzclose(f); }
};
using gz_ptr = std::unique_ptr<std::remove_pointer_t<gzFile>, gz_closer>;

/// Throws troupe_error: missing_dataset when `path` does not exist,
/// io_error when it is no regular file (a directory; a pipe, FIFO, socket or
/// device, which loaders that read a file twice, to count and then to load,
/// would find empty the second time or wait on for good).
void require_data_file(const std::string& path);

/// Opens `path` for reading; throws as require_data_file does, and io_error
/// when it cannot be opened.
gz_ptr open_gz(const std::string& path);

/// Reads up to `n` bytes (fewer only at the end); 0 at the end. Throws
/// io_error naming `path` for corrupt data and for a gzip stream that ends
/// before its end (a truncated download or copy).
std::size_t read_gz_some(gzFile f, void* out, std::size_t n, const std::string& path);

}  // namespace troupe
