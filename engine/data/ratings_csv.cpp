#include "engine/data/ratings_csv.hpp"

#include <algorithm>
#include <charconv>
#include <vector>

#include "engine/data/csv_loader.hpp"
#include "engine/data/text_lines.hpp"
#include "engine/errors.hpp"

namespace troupe {

namespace {

bool parse_id(std::string_view text, std::uint64_t& out) {
  const auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && r.ec == std::errc() && r.ptr == text.data() + text.size();
}

// The column `name` names: its header position, or an index without header.
std::size_t column(const std::vector<std::string>& header, const std::string& name,
                   std::size_t width, const std::string& key, const std::string& path) {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return i;
  }
  std::uint64_t index = 0;
  if (header.empty() && parse_id(name, index) && index < width) return index;
  throw troupe_error(errc::bad_config, path + ": no column '" + shown_field(name) + "' (data." +
                                           key + ")" +
                                           (header.empty() ? ": the file has no header" : ""));
}

}  // namespace

ratings_dataset load_ratings_csv(const std::string& path, const ratings_csv_options& o) {
  text_lines in(path);
  ratings_dataset d;
  std::vector<std::string_view> fields;
  std::vector<std::string> header;
  std::size_t width = 0, u = 0, i = 0, r = 0;
  char delim = 0;
  auto malformed = [&](const std::string& why) {
    throw troupe_error(errc::io_error, where(in) + why);
  };
  for (std::string_view line; in.next(line);) {
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (delim == 0) {
      delim = o.delimiter == "auto" ? detect_delimiter(line)
                                    : (o.delimiter == "\t" ? '\t' : o.delimiter.front());
      split_fields(line, delim, fields);
      if (o.header == 1 || (o.header == -1 && looks_like_header(fields))) {
        header.assign(fields.begin(), fields.end());
        continue;
      }
    } else {
      split_fields(line, delim, fields);
    }
    if (width == 0) {
      width = fields.size();
      u = column(header, o.user_column, width, "user_column", path);
      i = column(header, o.item_column, width, "item_column", path);
      r = column(header, o.rating_column, width, "rating_column", path);
      if (std::max({u, i, r}) >= width) {
        malformed("the rows have " + std::to_string(width) + " fields, fewer than the header");
      }
    }
    if (fields.size() != width) {
      malformed(std::to_string(fields.size()) + " fields, but the first row has " +
                std::to_string(width));
    }
    std::uint64_t user = 0, item = 0;
    float rating = 0;
    if (!parse_id(fields[u], user)) {
      malformed("user id '" + shown_field(fields[u]) + "' is not an integer >= 0");
    }
    if (!parse_id(fields[i], item)) {
      malformed("item id '" + shown_field(fields[i]) + "' is not an integer >= 0");
    }
    if (!parse_float(fields[r], rating)) {
      malformed("rating '" + shown_field(fields[r]) +
                "' is not a finite number within a float's range (+-3.4e38)");
    }
    d.users.push_back(user);
    d.items.push_back(item);
    d.ratings.push_back(rating);
  }
  if (d.size() == 0) throw troupe_error(errc::io_error, path + ": no ratings");
  return d;
}

}  // namespace troupe
