#include "tools/sweep_stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace troupe::sweep {

interval summarize(std::vector<double> values) {
  interval s;
  s.n = values.size();
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  const auto mid = values.size() / 2;
  s.median = values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
  s.min = values.front();
  s.max = values.back();
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(s.n);
  if (s.n < 2) return s;
  double squares = 0;
  for (double v : values) squares += (v - s.mean) * (v - s.mean);
  s.stddev = std::sqrt(squares / static_cast<double>(s.n - 1));
  s.half_width =
      t_quantile_975(static_cast<double>(s.n - 1)) * s.stddev / std::sqrt(static_cast<double>(s.n));
  return s;
}

double t_quantile_975(double df) {
  // Student's t, 0.975 quantile, df = 1..30 (any statistics table).
  static const double table[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                 2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                 2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                 2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
  if (!(df >= 1)) return std::numeric_limits<double>::infinity();
  if (df < 31) return table[static_cast<int>(df) - 1];
  if (df < 40) return 2.042;
  if (df < 60) return 2.021;
  if (df < 120) return 2.000;
  if (df < 1000) return 1.980;
  return 1.960;
}

comparison compare(const std::vector<double>& a, const std::vector<double>& b) {
  comparison c;
  if (a.size() < 2 || b.size() < 2) return c;
  const auto sa = summarize(a), sb = summarize(b);
  c.overlap = sa.low() <= sb.high() && sb.low() <= sa.high();
  const double va = sa.stddev * sa.stddev / static_cast<double>(sa.n);
  const double vb = sb.stddev * sb.stddev / static_cast<double>(sb.n);
  const double diff = sa.mean - sb.mean;
  if (va + vb == 0) {
    // No spread at all: any difference is certain, none is none.
    c.t = diff == 0 ? 0 : std::copysign(std::numeric_limits<double>::infinity(), diff);
    c.df = static_cast<double>(sa.n + sb.n - 2);
    c.significant = diff != 0;
    return c;
  }
  c.t = diff / std::sqrt(va + vb);
  c.df = (va + vb) * (va + vb) /
         (va * va / static_cast<double>(sa.n - 1) + vb * vb / static_cast<double>(sb.n - 1));
  c.significant = std::fabs(c.t) > t_quantile_975(std::floor(c.df));
  return c;
}

}  // namespace troupe::sweep
