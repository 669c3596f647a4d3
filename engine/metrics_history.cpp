#include "engine/metrics_history.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "engine/errors.hpp"

namespace troupe {

namespace {

bool to_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && errno != ERANGE;
}

bool to_int(const std::string& s, std::int64_t& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtoll(s.c_str(), &end, 10);
  return end == s.c_str() + s.size() && errno != ERANGE;
}

}  // namespace

bool parse_metrics_row(const std::string& line, metrics_row& row) {
  std::vector<std::string> f;
  std::stringstream ss(line);
  for (std::string field; std::getline(ss, field, ',');) f.push_back(field);
  if (f.size() != 12) return false;
  std::int64_t epoch = 0;
  double* numbers[] = {&row.loss,      &row.accuracy, &row.samples_per_s, &row.wait_s,
                       &row.compute_s, &row.pull_s,   &row.push_s};
  if (!to_double(f[0], row.time_s) || !to_int(f[1], epoch) || epoch < 0 ||
      epoch > std::numeric_limits<std::uint32_t>::max() || !to_int(f[2], row.worker) ||
      !to_int(f[3], row.clock) || f[4].empty()) {
    return false;
  }
  for (std::size_t i = 0; i < 7; ++i) {
    if (!to_double(f[5 + i], *numbers[i])) return false;
  }
  row.epoch = static_cast<std::uint32_t>(epoch);
  row.kind = f[4];
  return true;
}

metrics_history keep_metrics_before_epoch(const std::string& metrics_csv, std::uint32_t epoch) {
  namespace fs = std::filesystem;
  metrics_history h;
  std::ifstream in(metrics_csv);
  if (!in) return h;
  std::string header, line;
  std::getline(in, header);
  std::vector<std::string> kept, set_aside;
  while (std::getline(in, line)) {
    metrics_row row;
    if (!parse_metrics_row(line, row)) {
      if (!line.empty()) kept.push_back(line);
      continue;
    }
    h.last_clock = std::max(h.last_clock, row.clock);
    if (row.epoch >= epoch) {
      set_aside.push_back(line);
      continue;
    }
    kept.push_back(line);
    if (std::isfinite(row.time_s)) h.time_offset_s = std::max(h.time_offset_s, row.time_s);
    if (row.kind == "test" || row.kind == "validation") h.evaluations.push_back(row);
  }
  // A killed run's torn last line: the resumed run's first row would be
  // appended to it (one garbled line) unless the file ends a line first.
  in.clear();
  in.seekg(0, std::ios::end);
  bool ends_line = true;
  if (in.tellg() > 0) {
    in.seekg(-1, std::ios::end);
    ends_line = in.get() == '\n';
  }
  in.close();
  h.rows_kept = kept.size();
  h.rows_set_aside = set_aside.size();
  if (set_aside.empty()) {
    if (!ends_line) std::ofstream(metrics_csv, std::ios::app) << '\n';
    return h;
  }

  const auto tmp = metrics_csv + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << (header.empty() ? std::string(metrics_log::header()) : header) << '\n';
    for (const auto& l : kept) out << l << '\n';
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw troupe_error(errc::io_error, "cannot write " + tmp + " (" + std::strerror(errno) + ")");
    }
  }
  std::error_code ec;
  const auto aside_path =
      (fs::path(metrics_csv).parent_path() / "metrics-interrupted.csv").string();
  {
    const bool fresh = !fs::exists(aside_path, ec) || fs::file_size(aside_path, ec) == 0;
    std::ofstream aside(aside_path, std::ios::app);
    if (fresh) aside << metrics_log::header() << '\n';
    for (const auto& l : set_aside) aside << l << '\n';
    aside.flush();
    if (!aside) {
      fs::remove(tmp, ec);
      throw troupe_error(errc::io_error, "cannot write " + aside_path + " (" +
                                             std::strerror(errno) +
                                             "): metrics.csv keeps the interrupted run's rows");
    }
  }
  fs::rename(tmp, metrics_csv, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw troupe_error(errc::io_error, "cannot replace " + metrics_csv + ": " + ec.message());
  }
  return h;
}

}  // namespace troupe
