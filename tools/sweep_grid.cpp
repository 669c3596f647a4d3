#include "tools/sweep_grid.hpp"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <map>
#include <set>
#include <system_error>

#include "engine/errors.hpp"
#include "engine/job_overrides.hpp"

namespace troupe::sweep {

std::vector<std::string> split_values(const std::string& list, const std::string& flag) {
  std::vector<std::string> out;
  std::string value;
  int depth = 0;
  bool quoted = false;
  for (std::size_t i = 0; i <= list.size(); ++i) {
    const char c = i < list.size() ? list[i] : ',';
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == '[' || c == '{')) ++depth;
    if (!quoted && (c == ']' || c == '}')) --depth;
    if (c == ',' && depth <= 0 && !quoted) {
      if (value.empty()) throw troupe_error(errc::bad_config, flag + ": an empty value");
      out.push_back(value);
      value.clear();
    } else {
      value += c;
    }
  }
  return out;
}

grid_axis parse_grid_axis(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw troupe_error(errc::bad_config, "--grid '" + text + "': expected KEY=v1,v2,...");
  }
  grid_axis axis;
  axis.key = parse_job_override(text).key;  // the same key rules as --set
  if (axis.key == "train.staleness") {
    throw troupe_error(errc::bad_config,
                       "--grid " + axis.key + ": sweep staleness bounds with --staleness");
  }
  // Keys the sweep sets itself, or reads from the base job for every run.
  if (axis.key == "job.seed") {
    throw troupe_error(errc::bad_config,
                       "--grid job.seed: each run's seed is --seed plus its repeat; use --repeats");
  }
  if (axis.key.rfind("data.", 0) == 0 || axis.key == "job.train_limit") {
    throw troupe_error(errc::bad_config,
                       "--grid " + axis.key +
                           ": every run of a sweep trains on the same rows (its evaluation "
                           "schedule and epochs to target are counted from them); sweep data "
                           "sets as separate sweeps");
  }
  axis.values = split_values(text.substr(eq + 1), "--grid '" + text + "'");
  return axis;
}

namespace {

// What makes two grid values the same: a number's value, else the text.
// Integers a double cannot hold exactly (beyond 2^53) compare as integers.
std::string same_value_key(const std::string& v) {
  long long i = 0;
  if (const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), i);
      ec == std::errc() && end == v.data() + v.size() && (i > (1LL << 53) || i < -(1LL << 53))) {
    return "integer:" + std::to_string(i);
  }
  double d = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc() || end != v.data() + v.size()) return "text:" + v;
  char text[40];
  std::snprintf(text, sizeof text, "number:%.17g", d);
  return text;
}

}  // namespace

std::vector<grid_point> grid_points(const std::vector<grid_axis>& axes) {
  std::set<std::string> keys;
  for (const auto& a : axes) {
    if (!keys.insert(a.key).second) {
      throw troupe_error(errc::bad_config, "the sweep varies " + a.key + " twice");
    }
    if (a.values.empty()) throw troupe_error(errc::bad_config, a.key + ": no values to sweep");
    // Numbers by value: 0.1 and 0.10 (or 2 and 2.0) would be the same run twice.
    std::map<std::string, std::string> seen;
    for (const auto& v : a.values) {
      auto [at, fresh] = seen.emplace(same_value_key(v), v);
      if (!fresh) {
        throw troupe_error(errc::bad_config, a.key + " lists " +
                                                 (at->second == v ? v : at->second + " and " + v) +
                                                 ", the same value, twice");
      }
    }
  }
  std::vector<grid_point> points{grid_point{}};
  for (const auto& a : axes) {
    std::vector<grid_point> next;
    for (const auto& p : points) {
      for (const auto& v : a.values) {
        auto q = p;
        q.emplace_back(a.key, v);
        next.push_back(std::move(q));
      }
    }
    points = std::move(next);
  }
  return points;
}

job_config apply_point(const job_config& job, const grid_point& point) {
  std::vector<job_override> overrides;
  for (const auto& [key, value] : point) overrides.push_back({key, value});
  return apply_job_overrides(job, overrides, true, "--grid");
}

std::string point_dir_name(const grid_point& point) {
  std::string out;
  for (const auto& [key, value] : point) {
    const auto dot = key.rfind('.');
    out += (out.empty() ? "" : "_") + (dot == std::string::npos ? key : key.substr(dot + 1)) + "-";
    bool changed = false;
    for (char c : value) {
      const bool kept = std::isalnum(static_cast<unsigned char>(c)) || c == '.';
      out += kept ? c : '-';
      changed = changed || !kept;
    }
    // Values that differ only where characters were replaced ("1e-3" and
    // "1e+3") must not share a directory: the one run would overwrite the other's.
    if (changed) {
      char tag[12];
      std::snprintf(tag, sizeof tag, "~%08x",
                    static_cast<unsigned>(std::hash<std::string>{}(value)&0xffffffffu));
      out += tag;
    }
  }
  return out;
}

}  // namespace troupe::sweep
