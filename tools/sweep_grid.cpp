#include "tools/sweep_grid.hpp"

#include <cctype>
#include <set>
#include <stdexcept>

#include "engine/errors.hpp"

namespace troupe::sweep {

std::vector<grid_point> grid_points(const std::vector<grid_axis>& axes) {
  std::set<std::string> keys;
  for (const auto& a : axes) {
    if (!keys.insert(a.key).second) {
      throw troupe_error(errc::bad_config, "the sweep varies " + a.key + " twice");
    }
    if (a.values.empty()) throw troupe_error(errc::bad_config, a.key + ": no values to sweep");
    std::set<std::string> seen;
    for (const auto& v : a.values) {
      if (!seen.insert(v).second) {
        throw troupe_error(errc::bad_config, a.key + " lists " + v + " twice");
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

void apply_point(job_config& job, const grid_point& point) {
  for (const auto& [key, value] : point) {
    if (key == "train.workers") {
      std::size_t used = 0;
      unsigned long n = 0;
      try {
        n = std::stoul(value, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != value.size() || n == 0 || n > 4096) {
        throw troupe_error(errc::bad_config,
                           "train.workers: '" + value + "' is not a worker count in [1, 4096]");
      }
      job.workers = static_cast<std::uint32_t>(n);
    } else if (key == "update.rule") {
      try {
        job.update.all.kind = parse_update_rule_kind(value);
      } catch (const std::invalid_argument& e) {
        throw troupe_error(errc::bad_config, std::string("update.rule: ") + e.what());
      }
    } else {
      throw troupe_error(errc::bad_config, "the sweep cannot vary " + key +
                                               " (it varies train.workers and update.rule)");
    }
  }
}

std::string point_dir_name(const grid_point& point) {
  std::string out;
  for (const auto& [key, value] : point) {
    const auto dot = key.rfind('.');
    out += (out.empty() ? "" : "_") + (dot == std::string::npos ? key : key.substr(dot + 1)) + "-";
    for (char c : value) {
      out += std::isalnum(static_cast<unsigned char>(c)) || c == '.' ? c : '-';
    }
  }
  return out;
}

}  // namespace troupe::sweep
