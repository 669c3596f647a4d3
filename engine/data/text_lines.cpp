#include "engine/data/text_lines.hpp"

#include <algorithm>
#include <cstring>

#include "engine/data/gz_file.hpp"
#include "engine/errors.hpp"

namespace troupe {

namespace {

// Drops a line's "\r" (Windows line ends) and, on the first line, the UTF-8
// byte order mark some editors write: left in, it makes the first data row
// look like a header (and it silently goes) or hides a header's first name.
void trim_ends(std::string_view& line, bool first) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (first && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
}

}  // namespace

struct text_lines::gz {
  gz_ptr f;
};

text_lines::text_lines(const std::string& path) : file_(std::make_unique<gz>()), path_(path) {
  file_->f = open_gz(path);
  buf_.resize(1 << 18);
}

text_lines::~text_lines() = default;

bool text_lines::fill() {
  if (eof_) return false;
  const auto n = read_gz_some(file_->f.get(), buf_.data(), buf_.size(), path_);
  begin_ = 0;
  end_ = n;
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
    // The last chunk ended in "\r": the line ends there, with "\r\n" or
    // with a lone "\r" (a classic Mac OS line end).
    if (!carry_.empty() && carry_.back() == '\r') {
      if (buf_[begin_] == '\n') ++begin_;
      break;
    }
    const char* start = buf_.data() + begin_;
    const std::size_t left = end_ - begin_;
    const auto* nl = static_cast<const char*>(std::memchr(start, '\n', left));
    const std::size_t to_nl = nl == nullptr ? left : static_cast<std::size_t>(nl - start);
    // A "\r" before the newline that is not part of "\r\n" ends a line too:
    // a file with only such line ends was read as one line ("no data rows").
    const auto* cr = static_cast<const char*>(std::memchr(start, '\r', to_nl));
    if (cr != nullptr && cr + 1 < start + to_nl)
      nl = cr;  // a lone "\r"
    else if (cr != nullptr && nl == nullptr)
      cr = nullptr;  // "\r" last: undecided yet
    if (nl == nullptr) {
      if (carry_.size() + left > max_line_bytes) {
        throw troupe_error(errc::io_error, path_ + ":" + std::to_string(line_number_ + 1) +
                                               ": a line longer than " +
                                               std::to_string(max_line_bytes >> 20) +
                                               " MiB: not a text data file");
      }
      carry_.append(start, left);
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
    trim_ends(line, line_number_ == 1);
    return true;
  }
  ++line_number_;
  line = carry_;
  trim_ends(line, line_number_ == 1);
  return true;
}

std::string where(const text_lines& in) {
  return in.path() + ":" + std::to_string(in.line_number()) + ": ";
}

std::string shown_field(std::string_view field) {
  constexpr std::size_t shown = 40;
  if (field.size() <= shown + 20) return std::string(field);
  return std::string(field.substr(0, shown)) + "... (" + std::to_string(field.size()) + " bytes)";
}

std::size_t count_lines(const std::string& path) {
  text_lines in(path);
  std::size_t n = 0;
  for (std::string_view line; in.next(line);) ++n;
  return n;
}

}  // namespace troupe
