#include "engine/data/csv_loader.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <system_error>

#include "engine/data/idx_loader.hpp"
#include "engine/data/text_lines.hpp"
#include "engine/errors.hpp"

namespace troupe {

namespace {

[[noreturn]] void malformed(const text_lines& in, const std::string& why) {
  throw troupe_error(errc::io_error, where(in) + why);
}

bool blank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t");
  s = s.substr(b, e - b + 1);
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    s = s.substr(1, s.size() - 2);
  }
  return s;
}

char delimiter_of(const std::string& option, std::string_view first_line) {
  if (option == "auto") return detect_delimiter(first_line);
  return option == "\t" ? '\t' : option.front();
}

// How many of a header's fields are numbers.
std::size_t numbers_in(const std::vector<std::string_view>& fields) {
  std::size_t numbers = 0;
  for (const auto field : fields) {
    if (!field.empty() && !looks_like_header({field})) ++numbers;
  }
  return numbers;
}

// A guessed header of which most fields are numbers: more likely a row of
// data with a value missing.
bool mostly_numbers(const std::vector<std::string_view>& fields) {
  return numbers_in(fields) * 2 > fields.size();
}

// Whether the fields are the column numbers 0, 1, ..., k-1 (k >= 3, the
// first field perhaps empty): the header pandas writes for a frame of
// unnamed columns, its index column's name empty when it writes one.
// `in_order`: as a file's first line has them; a data set's names are in
// another order when its label column was not the last.
bool column_numbers(const std::vector<std::string_view>& fields, bool in_order) {
  std::vector<bool> seen(fields.size(), false);
  std::size_t empty = 0, k = 0;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const auto field = fields[i];
    if (field.empty()) {
      // Only where pandas writes its index column's name: elsewhere, an
      // empty field is a value missing from a row of data.
      if (i != 0) return false;
      ++empty;
      continue;
    }
    std::size_t n = 0;
    const auto r = std::from_chars(field.data(), field.data() + field.size(), n);
    if (r.ec != std::errc{} || r.ptr != field.data() + field.size() ||
        (field.size() > 1 && field.front() == '0') || n >= seen.size() || seen[n] ||
        (in_order && n != k)) {
      return false;
    }
    seen[n] = true;
    ++k;
  }
  return empty <= 1 && k >= 3 &&
         std::find(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(k), false) ==
             seen.begin() + static_cast<std::ptrdiff_t>(k);
}

// pandas writes a frame's index as a first column whose name in the header
// is empty (df.to_csv() without index=False): row numbers, not a feature.
// Trained on, it scored a noise set sorted by class at 100%. Left out, with
// a note, when its values are distinct whole numbers >= 0.
void leave_out_pandas_index(dataset& d) {
  if (d.feature_names.size() != d.cols || d.cols < 2 || !d.feature_names[0].empty()) return;
  std::vector<float> index(d.rows);
  for (std::size_t r = 0; r < d.rows; ++r) {
    const float v = d.features[r * d.cols];
    if (!(v >= 0 && v < 16777216.0f && v == std::floor(v))) return;
    index[r] = v;
  }
  std::sort(index.begin(), index.end());
  if (std::adjacent_find(index.begin(), index.end()) != index.end()) return;
  std::vector<float> kept;
  kept.reserve(d.rows * (d.cols - 1));
  for (std::size_t r = 0; r < d.rows; ++r) {
    const auto* row = d.features.data() + r * d.cols;
    kept.insert(kept.end(), row + 1, row + d.cols);
  }
  d.features = std::move(kept);
  --d.cols;
  d.feature_names.erase(d.feature_names.begin());
  d.notes.push_back(d.source +
                    ": its first column, unnamed in the header and holding distinct whole "
                    "numbers, is the index pandas writes (df.to_csv() without index=False): left "
                    "out of the features; name the column in the header to train on it");
}

// Why a line split into too few fields, when a double quote opened on it is
// never closed: its fields ran together to the line's end.
std::string quote_hint(std::string_view line) {
  if (std::count(line.begin(), line.end(), '"') % 2 == 0) return {};
  return " (a double quote on it is never closed; a quoted field cannot span lines)";
}

}  // namespace

std::string numeric_header_warning(const dataset& d) {
  if (d.feature_names.empty()) return {};
  std::vector<std::string_view> fields(d.feature_names.begin(), d.feature_names.end());
  if (!d.label_name.empty()) fields.push_back(d.label_name);
  if (column_numbers(fields, false)) {
    return d.source + ": its first line, the column numbers 0 to " +
           std::to_string(fields.size() - 1 - (std::count(fields.begin(), fields.end(), "") > 0)) +
           " (as pandas writes them), was taken as a header; if it is a row of data, set "
           "data.header = false";
  }
  if (!mostly_numbers(fields)) return {};
  const std::size_t numbers = numbers_in(fields);
  return d.source + ": its first line was taken as a header, but " + std::to_string(numbers) +
         " of its " + std::to_string(fields.size()) +
         " fields are numbers; if it is a row of data (a missing value?), set data.header = false";
}

std::vector<std::string> numeric_header_warnings(const std::vector<const dataset*>& sets) {
  std::vector<std::string> notes;
  std::vector<std::string_view> warned;
  for (const auto* d : sets) {
    if (d == nullptr || std::find(warned.begin(), warned.end(), d->source) != warned.end()) {
      continue;
    }
    if (auto note = numeric_header_warning(*d); !note.empty()) {
      warned.push_back(d->source);
      notes.push_back(std::move(note));
    }
  }
  return notes;
}

bool looks_like_header(const std::vector<std::string_view>& fields) {
  if (column_numbers(fields, true)) return true;
  for (auto field : fields) {
    if (field.empty()) continue;
    if (field.front() == '+') field.remove_prefix(1);
    float f;
    const auto r = std::from_chars(field.data(), field.data() + field.size(), f);
    if (field.empty() || r.ptr != field.data() + field.size()) return true;
  }
  return false;
}

char detect_delimiter(std::string_view line) {
  // Outside double quotes only: "a,b";c is a ';' file.
  std::string unquoted;
  bool quoted = false;
  for (const char c : line) {
    if (c == '"') quoted = !quoted;
    if (!quoted) unquoted.push_back(c);
  }
  for (const char c : {',', ';', '\t'}) {
    if (unquoted.find(c) != std::string::npos) return c;
  }
  return ' ';
}

namespace {

// Where the field that starts at `from` (after blanks) may look for its
// delimiter: past its closing quote when it is in double quotes (RFC 4180:
// it may hold the delimiter; "" in it is a quote). Fields do not span lines.
std::size_t past_quotes(std::string_view line, std::size_t from, char delim) {
  while (from < line.size() && line[from] != delim && (line[from] == ' ' || line[from] == '\t')) {
    ++from;
  }
  if (from >= line.size() || line[from] != '"') return from;
  auto q = from + 1;
  while ((q = line.find('"', q)) != std::string_view::npos && q + 1 < line.size() &&
         line[q + 1] == '"') {
    q += 2;
  }
  return q == std::string_view::npos ? line.size() : q + 1;  // unclosed: the rest of the line
}

}  // namespace

void split_fields(std::string_view line, char delim, std::vector<std::string_view>& out) {
  out.clear();
  constexpr auto npos = std::string_view::npos;
  if (delim == ' ') {
    std::size_t i = 0;
    while (i < line.size()) {
      i = line.find_first_not_of(" \t", i);
      if (i == npos) break;
      auto e = line.find_first_of(" \t", past_quotes(line, i, ' '));
      if (e == npos) e = line.size();
      out.push_back(trim(line.substr(i, e - i)));
      i = e;
    }
    return;
  }
  std::size_t start = 0;
  for (;;) {
    const auto e = line.find(delim, past_quotes(line, start, delim));
    out.push_back(trim(line.substr(start, e == npos ? e : e - start)));
    if (e == npos) break;
    start = e + 1;
  }
}

bool parse_float(std::string_view text, float& out) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, out);
  if (r.ptr != end) return false;
  if (r.ec == std::errc::result_out_of_range) {
    // Beyond a float either way: too large is refused; too small (a
    // p-value of 1e-50) is ordinary data, read as the float nearest to it,
    // 0 (from_chars refused both alike and leaves `out` unset). Read again
    // as a double, locale-free like from_chars; beyond a double too, a
    // negative exponent tells the tiny from the huge.
    double v = 0;
    const auto rd = std::from_chars(text.data(), end, v);
    if (rd.ec == std::errc()) {
      if (!(std::fabs(v) < 1.0)) return false;
      out = static_cast<float>(v);
      return true;
    }
    if (text.find("e-") == std::string_view::npos && text.find("E-") == std::string_view::npos) {
      return false;
    }
    out = text.front() == '-' ? -0.0f : 0.0f;
    return true;
  }
  return r.ec == std::errc() && std::isfinite(out);
}

bool parse_class(std::string_view text, std::int32_t& out) {
  float f = 0;
  if (!parse_float(text, f)) return false;
  if (f < 0 || f >= 2147483648.0f || std::floor(f) != f) return false;
  out = static_cast<std::int32_t>(f);
  return true;
}

dataset load_csv(const std::string& path, const csv_options& o) {
  const std::size_t lines = count_lines(path);
  text_lines in(path);
  dataset d;
  d.source = path;
  std::vector<std::string_view> fields;
  std::vector<std::string> header;
  std::size_t width = 0;  // fields per data row
  std::size_t label = 0;
  char delim = 0;
  bool first = true;
  for (std::string_view line; in.next(line);) {
    if (blank(line)) continue;
    if (first) {
      delim = delimiter_of(o.delimiter, line);
      split_fields(line, delim, fields);
      const bool is_header = o.header == 1 || (o.header == -1 && looks_like_header(fields));
      first = false;
      if (is_header) {
        header.assign(fields.begin(), fields.end());
        continue;
      }
    } else {
      split_fields(line, delim, fields);
    }
    if (width == 0) {
      width = fields.size();
      if (o.has_label) {
        const bool named_here =
            !o.label_name_if_present.empty() && header.size() == width &&
            std::count(header.begin(), header.end(), o.label_name_if_present) == 1;
        if (o.label_name.empty() && named_here) {
          label = static_cast<std::size_t>(
              std::find(header.begin(), header.end(), o.label_name_if_present) - header.begin());
        } else if (!o.label_name.empty()) {
          if (header.empty()) {
            throw troupe_error(errc::bad_config,
                               path + ": data.label_column names the column '" +
                                   shown_field(o.label_name) +
                                   "', but the file has no header (its first line is a row of "
                                   "numbers" +
                                   (o.header == 0 ? ", as data.header = false says" : "") +
                                   "): give the label's column number instead");
          }
          std::size_t i = 0;
          while (i < header.size() && header[i] != o.label_name) ++i;
          if (i < header.size() && std::find(header.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                                             header.end(), o.label_name) != header.end()) {
            // Which of them is meant cannot be told (the first was taken, and
            // its values were no class numbers).
            throw troupe_error(errc::bad_config,
                               path + ": the header names the column '" +
                                   shown_field(o.label_name) +
                                   "' more than once; data.label_column cannot tell which is the "
                                   "label: rename one, or give the label's column number");
          }
          if (i == header.size()) {
            // A guessed header that is mostly numbers is more likely a row
            // of data with a value missing: say so.
            const std::vector<std::string_view> named(header.begin(), header.end());
            const bool numbers = o.header == -1 && mostly_numbers(named);
            throw troupe_error(errc::bad_config,
                               path + ": no column '" + shown_field(o.label_name) +
                                   "' in the header (data.label_column)" +
                                   (numbers ? "; its first line, taken as a header, is mostly "
                                              "numbers: a row of data with a value missing?"
                                            : ""));
          }
          if (header.size() != width) {
            malformed(in, "the header names " + std::to_string(header.size()) +
                              " columns but the rows have " + std::to_string(width));
          }
          label = i;
        } else {
          const long long n = static_cast<long long>(width);
          const long long i = o.label_index < 0 ? n + o.label_index : o.label_index;
          if (i < 0 || i >= n) {
            throw troupe_error(errc::bad_config, path + ": label column " +
                                                     std::to_string(o.label_index) +
                                                     " but the rows have " + std::to_string(width) +
                                                     " columns (data.label_column)");
          }
          label = static_cast<std::size_t>(i);
        }
        if (width < 2) {
          malformed(in, "a row needs a label and at least one feature" + quote_hint(line));
        }
      }
      d.cols = o.has_label ? width - 1 : width;
      if (header.size() == width) {
        for (std::size_t i = 0; i < width; ++i) {
          if (!(o.has_label && i == label)) d.feature_names.push_back(header[i]);
        }
        if (o.has_label) d.label_name = header[label];
      }
      // `lines` counts blank ones too (a file of blank lines compresses to
      // nothing): beyond a plausible size the vectors grow as rows come.
      const auto reserve_rows = std::min<std::size_t>(lines, (std::size_t{1} << 26) / d.cols);
      d.features.reserve(reserve_rows * d.cols);
      if (o.has_label && o.regression) d.targets.reserve(reserve_rows);
      if (o.has_label && !o.regression) d.labels.reserve(reserve_rows);
    }
    if (fields.size() != width) {
      malformed(in, std::to_string(fields.size()) + " fields, but the first row has " +
                        std::to_string(width) + quote_hint(line));
    }
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (o.has_label && i == label) {
        if (o.regression) {
          float t;
          if (!parse_float(fields[i], t)) {
            malformed(in, "target '" + shown_field(fields[i]) +
                              "' is not a finite number within a float's range (+-3.4e38)");
          }
          d.targets.push_back(t);
        } else {
          std::int32_t c;
          if (!parse_class(fields[i], c)) {
            malformed(in, "label '" + shown_field(fields[i]) +
                              "' is not a class number (an integer >= 0)");
          }
          d.labels.push_back(c);
          d.classes = std::max(d.classes, c + 1);
        }
        continue;
      }
      float v;
      if (!parse_float(fields[i], v)) {
        malformed(in, "field " + std::to_string(i + 1) + " ('" + shown_field(fields[i]) +
                          "') is not a finite number within a float's range (+-3.4e38)");
      }
      d.features.push_back(v);
    }
    ++d.rows;
  }
  if (d.rows == 0) throw troupe_error(errc::io_error, path + ": no data rows");
  leave_out_pandas_index(d);
  return d;
}

void load_label_file(const std::string& path, bool regression, dataset& into) {
  if (looks_like_idx(path)) return load_idx_labels(path, regression, into);
  text_lines in(path);
  std::vector<std::string_view> fields;
  std::vector<std::int32_t> labels;
  std::vector<float> targets;
  bool first = true;
  for (std::string_view line; in.next(line);) {
    if (blank(line)) continue;
    split_fields(line, detect_delimiter(line), fields);
    if (fields.size() != 1) {
      malformed(in, std::to_string(fields.size()) + " fields; a label file has one value a line");
    }
    if (regression) {
      float t;
      if (parse_float(fields[0], t)) {
        targets.push_back(t);
      } else if (!first || !looks_like_header(fields)) {
        malformed(in, "target '" + shown_field(fields[0]) +
                          "' is not a finite number within a float's range (+-3.4e38)");
      }
    } else {
      std::int32_t c;
      if (parse_class(fields[0], c)) {
        labels.push_back(c);
      } else if (!first || !looks_like_header(fields)) {
        malformed(in,
                  "label '" + shown_field(fields[0]) + "' is not a class number (an integer >= 0)");
      }
    }
    first = false;  // a first line of text that is no number is a header
  }
  const std::size_t n = regression ? targets.size() : labels.size();
  if (n != into.rows) {
    throw troupe_error(errc::io_error, path + ": " + std::to_string(n) + " labels for " +
                                           std::to_string(into.rows) + " rows of " + into.source);
  }
  if (regression) {
    into.targets = std::move(targets);
    into.classes = 0;
  } else {
    into.labels = std::move(labels);
    into.classes = 0;
    for (auto c : into.labels) into.classes = std::max(into.classes, c + 1);
  }
}

}  // namespace troupe
