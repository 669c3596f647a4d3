#pragma once
// Reads a text file line by line, plain or gzip-compressed alike (zlib reads
// both), without holding the whole file: the loaders of users' CSV, libsvm
// and ratings files stream through it.
//
//   text_lines in("data/sklearn/digits.csv.gz");      // throws missing_dataset
//   for (std::string_view line; in.next(line);) parse(line, in.line_number());

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace troupe {

class text_lines {
 public:
  /// No data row is this long; a file that has one is not a text data file
  /// (a binary file, /dev/zero, a gzip bomb) and would otherwise grow one
  /// line until memory runs out.
  static constexpr std::size_t max_line_bytes = std::size_t{64} << 20;

  /// Opens `path`; throws troupe_error(missing_dataset) when it does not
  /// exist, io_error when it cannot be read.
  explicit text_lines(const std::string& path);
  ~text_lines();
  text_lines(const text_lines&) = delete;
  text_lines& operator=(const text_lines&) = delete;

  /// The next line without its end ("\n" or "\r\n"); false at the end.
  /// The view is valid until the next call. Throws io_error on corrupt gzip
  /// and on a line longer than max_line_bytes.
  bool next(std::string_view& line);
  /// 1-based number of the line next() returned last.
  std::size_t line_number() const { return line_number_; }
  const std::string& path() const { return path_; }

 private:
  bool fill();
  std::size_t next_of(char c, std::size_t& at);

  struct gz;
  std::unique_ptr<gz> file_;
  std::string path_;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;
  static constexpr std::size_t unknown = static_cast<std::size_t>(-1);
  std::size_t nl_at_ = unknown, cr_at_ = unknown;  // see next_of
  std::string carry_;                              // a line longer than what is left of the buffer
  bool eof_ = false;
  std::size_t line_number_ = 0;
};

/// "path:line: " for error messages.
std::string where(const text_lines& in);

/// A field as an error message shows it: whole when short, else its first
/// 40 bytes and its length (a 30 MB field was echoed in full).
std::string shown_field(std::string_view field);

/// Lines of `path` (a cheap first pass so that loaders reserve exactly).
std::size_t count_lines(const std::string& path);

}  // namespace troupe
