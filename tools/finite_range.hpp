#pragma once
// Checks for a command-line number in [lo, hi] that refuse NaN: CLI::Range
// lets it through (every comparison with it is false), and NaN seconds cast
// to an integer count of milliseconds is undefined behaviour (a lease
// timeout of "nan" became INT64_MIN ms and released every job at once).
//
//   cmd->add_option("--peer-timeout", s)->check(troupe::cli::seconds_within(1, 600));
//   cmd->add_option("--target-gap", g)->check(troupe::cli::finite_within(0, 0.9));
//   cmd->add_option("--lr", lr)->check(troupe::cli::positive_finite());

#include <CLI/CLI.hpp>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>

namespace troupe::cli {

/// A finite number in [lo, hi]; `what` names it in the error ("a number").
inline CLI::Validator finite_within(double lo, double hi, const std::string& what = "a number") {
  std::ostringstream range;
  range << "[" << lo << ", " << hi << "]";
  return CLI::Validator(
      [lo, hi, what, range = range.str()](std::string& text) -> std::string {
        double v = 0;
        if (CLI::detail::lexical_cast(text, v) && std::isfinite(v) && v >= lo && v <= hi) return {};
        return "Value " + text + " is not " + what + " in " + range;
      },
      "in " + range.str());
}

/// A finite number > 0 (CLI::PositiveNumber's message for "0" was "Value 0
/// not in range 0.000000 to 179769313486...", 309 digits), at most `most`:
/// a float option's 1e40 passed as a double and then read as infinity.
inline CLI::Validator positive_finite(const std::string& what = "a positive finite number",
                                      double most = std::numeric_limits<float>::max()) {
  return CLI::Validator(
      [what, most](std::string& text) -> std::string {
        double v = 0;
        if (CLI::detail::lexical_cast(text, v) && std::isfinite(v) && v > 0) {
          if (v <= most) return {};
          std::ostringstream limit;
          limit << most;
          return "Value " + text + " is beyond what the option holds (at most " + limit.str() + ")";
        }
        return "Value " + text + " is not " + what;
      },
      "> 0");
}

/// A finite number of seconds in [lo, hi].
inline CLI::Validator seconds_within(double lo, double hi) {
  auto v = finite_within(lo, hi, "a number of seconds");
  std::ostringstream range;
  range << "SECONDS in [" << lo << ", " << hi << "]";
  v.description(range.str());
  return v;
}

}  // namespace troupe::cli
