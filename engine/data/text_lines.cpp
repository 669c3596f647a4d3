#include "engine/data/text_lines.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "engine/errors.hpp"

namespace troupe {

struct text_lines::gz {
  gzFile f = nullptr;
  ~gz() {
    if (f != nullptr) gzclose(f);
  }
};

text_lines::text_lines(const std::string& path) : file_(std::make_unique<gz>()), path_(path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw troupe_error(errc::missing_dataset, "data file " + path + " not found");
  }
  if (std::filesystem::is_directory(path, ec)) {
    throw troupe_error(errc::io_error, path + " is a directory, not a data file");
  }
  file_->f = gzopen(path.c_str(), "rb");
  if (file_->f == nullptr) throw troupe_error(errc::io_error, "cannot open " + path);
  gzbuffer(file_->f, 1 << 18);
  buf_.resize(1 << 18);
}

text_lines::~text_lines() = default;

bool text_lines::fill() {
  if (eof_) return false;
  const int n = gzread(file_->f, buf_.data(), static_cast<unsigned>(buf_.size()));
  if (n < 0) {
    int code = 0;
    const char* msg = gzerror(file_->f, &code);
    throw troupe_error(errc::io_error,
                       path_ + ": corrupt or unreadable data: " + std::string(msg ? msg : "?"));
  }
  begin_ = 0;
  end_ = static_cast<std::size_t>(n);
  if (n == 0) eof_ = true;
  return n > 0;
}

bool text_lines::next(std::string_view& line) {
  carry_.clear();
  for (;;) {
    if (begin_ == end_ && !fill()) {
      if (carry_.empty()) return false;
      break;  // the last line has no newline
    }
    const char* start = buf_.data() + begin_;
    const auto* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - begin_));
    if (nl == nullptr) {
      if (carry_.size() + (end_ - begin_) > max_line_bytes) {
        throw troupe_error(errc::io_error, path_ + ":" + std::to_string(line_number_ + 1) +
                                               ": a line longer than " +
                                               std::to_string(max_line_bytes >> 20) +
                                               " MiB: not a text data file");
      }
      carry_.append(start, end_ - begin_);
      begin_ = end_;
      continue;
    }
    const std::size_t len = static_cast<std::size_t>(nl - start);
    begin_ += len + 1;
    ++line_number_;
    if (carry_.empty()) {
      line = std::string_view(start, len);
    } else {
      carry_.append(start, len);
      line = carry_;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return true;
  }
  ++line_number_;
  line = carry_;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return true;
}

std::string where(const text_lines& in) {
  return in.path() + ":" + std::to_string(in.line_number()) + ": ";
}

std::size_t count_lines(const std::string& path) {
  text_lines in(path);
  std::size_t n = 0;
  for (std::string_view line; in.next(line);) ++n;
  return n;
}

}  // namespace troupe
