#include "engine/data/libsvm_loader.hpp"

#include <algorithm>
#include <charconv>
#include <numeric>
#include <vector>

#include "engine/data/csv_loader.hpp"
#include "engine/data/text_lines.hpp"

namespace troupe {

sparse_dataset load_libsvm(const std::string& path) {
  text_lines in(path);
  sparse_dataset d;
  std::vector<std::string_view> tokens;
  std::vector<std::uint32_t> cols;
  std::vector<float> values;
  std::vector<std::size_t> order;
  auto malformed = [&](const std::string& why) {
    throw troupe_error(errc::io_error, where(in) + why);
  };
  for (std::string_view line; in.next(line);) {
    if (const auto hash = line.find('#'); hash != std::string_view::npos)
      line = line.substr(0, hash);
    split_fields(line, ' ', tokens);
    if (tokens.empty()) continue;
    std::int32_t label = 0;
    if (tokens[0] == "-1" || tokens[0] == "-1.0") {
      label = 0;
    } else if (!parse_class(tokens[0], label)) {
      malformed("label '" + shown_field(tokens[0]) +
                "' is not a class number (an integer >= 0, or -1 for class 0)");
    }
    cols.clear();
    values.clear();
    for (std::size_t i = 1; i < tokens.size(); ++i) {
      const auto t = tokens[i];
      if (t.rfind("qid:", 0) == 0) continue;  // ranking groups: not a feature
      const auto colon = t.find(':');
      std::uint64_t col = 0;
      const auto r =
          std::from_chars(t.data(), t.data() + (colon == std::string_view::npos ? 0 : colon), col);
      float v = 0;
      if (colon != std::string_view::npos && r.ptr == t.data() + colon &&
          (r.ec == std::errc::result_out_of_range ||
           (r.ec == std::errc() && col > 0xfffffffeULL))) {
        malformed("feature index in '" + shown_field(t) +
                  "' is beyond the largest one (4294967294)");
      }
      if (colon == std::string_view::npos || r.ec != std::errc() || r.ptr != t.data() + colon) {
        malformed("'" + shown_field(t) + "' is not an index:value pair");
      }
      if (!parse_float(t.substr(colon + 1), v)) {
        malformed("value of '" + shown_field(t) +
                  "' is not a finite number within a float's range (+-3.4e38)");
      }
      cols.push_back(static_cast<std::uint32_t>(col));
      values.push_back(v);
    }
    if (!std::is_sorted(cols.begin(), cols.end())) {
      order.resize(cols.size());
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::sort(order.begin(), order.end(), [&](auto a, auto b) { return cols[a] < cols[b]; });
      std::vector<std::uint32_t> c2(cols.size());
      std::vector<float> v2(cols.size());
      for (std::size_t i = 0; i < order.size(); ++i) {
        c2[i] = cols[order[i]];
        v2[i] = values[order[i]];
      }
      cols.swap(c2);
      values.swap(v2);
    }
    if (std::adjacent_find(cols.begin(), cols.end()) != cols.end()) {
      malformed("an index appears twice in the row");
    }
    if (!cols.empty()) d.features = std::max<std::uint64_t>(d.features, cols.back() + 1ULL);
    d.push_row(cols, values, label);
  }
  if (d.rows == 0) throw troupe_error(errc::io_error, path + ": no data rows");
  return d;
}

}  // namespace troupe
