#pragma once
// The statistics of a sweep's repeats: a mean with its 95% confidence
// interval (Student's t, n - 1 degrees of freedom), and whether two groups of
// runs differ (Welch's t-test at the 5% level, and whether their intervals
// overlap). Pure arithmetic, no files.
//
//   auto a = sweep::summarize({40, 42, 44}), b = sweep::summarize({30, 31, 35});
//   // a.mean = 42, a.half_width = 4.97 (t_0.975,2 = 4.303 x s / sqrt(3))
//   auto c = sweep::compare({40, 42, 44}, {30, 31, 35});
//   if (c.significant) ...

#include <cstddef>
#include <vector>

namespace troupe::sweep {

/// n values: mean, 95% confidence half-width (0 when n < 2), median, range.
struct interval {
  std::size_t n = 0;
  double mean = 0;
  double half_width = 0;  ///< the interval is mean +- half_width
  double stddev = 0;      ///< sample standard deviation (n - 1)
  double median = 0;
  double min = 0;
  double max = 0;

  double low() const { return mean - half_width; }
  double high() const { return mean + half_width; }
};
interval summarize(std::vector<double> values);

/// The 0.975 quantile of Student's t with `df` degrees of freedom (two-sided
/// 95%): tabulated for df 1..30, then the value of the next smaller tabulated
/// df (40, 60, 120), so it errs on the wide side; 1.96 from df = 1000 on.
double t_quantile_975(double df);

/// Two groups of runs compared.
struct comparison {
  bool overlap = true;       ///< whether the two 95% intervals overlap
  double t = 0;              ///< Welch's t statistic (a's mean minus b's)
  double df = 0;             ///< Welch-Satterthwaite degrees of freedom
  bool significant = false;  ///< |t| above t_0.975(df): the means differ at the 5% level
};
/// Needs at least two values in each group (else: not significant, overlapping).
comparison compare(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace troupe::sweep
