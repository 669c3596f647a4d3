#pragma once
// Number and text formatting shared by the sweep's report and plots.

#include <algorithm>
#include <cstdio>
#include <string>

namespace troupe::sweep {

/// `decimals` digits after the point; never "-0.0" (a difference that
/// rounds to nothing has no sign).
inline std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string out = buf;
  if (out.size() > 1 && out[0] == '-' && out.find_first_not_of("0.", 1) == std::string::npos) {
    out.erase(0, 1);
  }
  return out;
}

/// Ten significant digits: exact enough to re-analyse, free of the
/// 0.87310000000000004 noise of a shortest-round-trip of computed values.
inline std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

inline std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return s;
}

}  // namespace troupe::sweep
