#pragma once
// A check for a command-line number of seconds in [lo, hi]. CLI::Range lets
// NaN through (every comparison with it is false), and NaN seconds cast to
// an integer count of milliseconds is undefined behaviour.
//
//   cmd->add_option("--peer-timeout", s)->check(troupe::cli::seconds_within(1, 600));

#include <CLI/CLI.hpp>

#include <cmath>
#include <sstream>
#include <string>

namespace troupe::cli {

inline CLI::Validator seconds_within(double lo, double hi) {
  std::ostringstream range;
  range << "[" << lo << ", " << hi << "]";
  return CLI::Validator(
      [lo, hi, range = range.str()](std::string& text) -> std::string {
        double v = 0;
        if (CLI::detail::lexical_cast(text, v) && std::isfinite(v) && v >= lo && v <= hi) return {};
        return "Value " + text + " is not a number of seconds in " + range;
      },
      "SECONDS in " + range.str());
}

}  // namespace troupe::cli
