#include "engine/data/text_lines.hpp"

#include <algorithm>
#include <cstring>

#include "engine/data/gz_file.hpp"
#include "engine/errors.hpp"

namespace troupe {

namespace {

// UTF-16 text (Windows' "Unicode" save) has a NUL byte in every ASCII
// character: read as bytes, its first field's error message ended at the
// first NUL ("field 1 ('"), saying nothing of why.
void refuse_utf16(std::string_view first_line, const std::string& path) {
  const bool bom = first_line.substr(0, 2) == "\xFF\xFE" || first_line.substr(0, 2) == "\xFE\xFF";
  if (bom || first_line.find('\0') != std::string_view::npos) {
    throw troupe_error(errc::io_error,
                       path + ": " +
                           (bom ? std::string("UTF-16 text (its byte order mark)")
                                : std::string("NUL bytes in its first line (UTF-16 text?)")) +
                           ": a data file must be UTF-8 (or ASCII) text; save it as such, e.g. "
                           "iconv -f UTF-16 -t UTF-8");
  }
}

// Drops a line's "\r" (Windows line ends) and, on the first line, the UTF-8
// byte order mark some editors write: left in, it makes the first data row
// look like a header (and it silently goes) or hides a header's first name;
// and refuses UTF-16 text there.
void trim_ends(std::string_view& line, bool first, const std::string& path) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!first) return;
  if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
  refuse_utf16(line, path);
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
  nl_at_ = cr_at_ = unknown;
  if (n == 0) eof_ = true;
  return n > 0;
}

// The index of the chunk's next `c` at or after begin_ (end_: none). Kept
// until passed: searched per line, a file with only one kind of line end
// had the other searched for through the rest of the chunk at every line.
std::size_t text_lines::next_of(char c, std::size_t& at) {
  if (at == unknown || at < begin_) {
    const auto* p = static_cast<const char*>(std::memchr(buf_.data() + begin_, c, end_ - begin_));
    at = p == nullptr ? end_ : static_cast<std::size_t>(p - buf_.data());
  }
  return at;
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
    // The line ends at "\n", at the "\n" of "\r\n", or at a lone "\r" (a
    // file with only those was read as one line: "no data rows").
    const std::size_t nl = next_of('\n', nl_at_), cr = next_of('\r', cr_at_);
    std::size_t stop = nl;
    if (cr < nl) stop = cr + 1 == end_ ? end_ : (buf_[cr + 1] == '\n' ? cr + 1 : cr);
    if (stop == end_) {  // no line end in this chunk yet ("\r" last: undecided)
      if (carry_.size() + (end_ - begin_) > max_line_bytes) {
        throw troupe_error(errc::io_error, path_ + ":" + std::to_string(line_number_ + 1) +
                                               ": a line longer than " +
                                               std::to_string(max_line_bytes >> 20) +
                                               " MiB: not a text data file");
      }
      carry_.append(buf_.data() + begin_, end_ - begin_);
      begin_ = end_;
      continue;
    }
    const char* start = buf_.data() + begin_;
    const std::size_t len = stop - begin_;
    begin_ = stop + 1;
    ++line_number_;
    if (carry_.empty()) {
      line = std::string_view(start, len);
    } else {
      carry_.append(start, len);
      line = carry_;
    }
    trim_ends(line, line_number_ == 1, path_);
    return true;
  }
  ++line_number_;
  line = carry_;
  trim_ends(line, line_number_ == 1, path_);
  return true;
}

std::string where(const text_lines& in) {
  return in.path() + ":" + std::to_string(in.line_number()) + ": ";
}

std::string shown_field(std::string_view field) {
  constexpr std::size_t shown = 40;
  const bool cut = field.size() > shown + 20;
  // Control bytes as \xNN: a NUL ended the message where it stood.
  std::string out;
  for (const char c : cut ? field.substr(0, shown) : field) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  if (cut) out += "... (" + std::to_string(field.size()) + " bytes)";
  return out;
}

std::size_t count_lines(const std::string& path) {
  text_lines in(path);
  std::size_t n = 0;
  for (std::string_view line; in.next(line);) ++n;
  return n;
}

}  // namespace troupe
