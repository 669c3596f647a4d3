#include "engine/straggler.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "engine/errors.hpp"

namespace troupe {
namespace {

using dist = straggler_spec::distribution;

TEST(StragglerSpec, ParsesNone) {
  EXPECT_TRUE(parse_straggler_spec("none").none());
  EXPECT_TRUE(parse_straggler_spec("  none ").none());
  EXPECT_EQ(to_string(straggler_spec{}), "none");
}

TEST(StragglerSpec, ParsesEveryKind) {
  const auto fixed = parse_straggler_spec("fixed:worker=2,factor=3");
  ASSERT_EQ(fixed.fixed.size(), 1u);
  EXPECT_EQ(fixed.fixed[0].worker, 2u);
  EXPECT_DOUBLE_EQ(fixed.fixed[0].factor, 3.0);
  EXPECT_TRUE(fixed.random.empty());
  EXPECT_FALSE(fixed.dai_max_delay);

  const auto random = parse_straggler_spec("random:dist=exp,mean_ms=2.5");
  ASSERT_EQ(random.random.size(), 1u);
  EXPECT_EQ(random.random[0].dist, dist::exponential);
  EXPECT_DOUBLE_EQ(random.random[0].mean_ms, 2.5);
  EXPECT_FALSE(random.random[0].worker);  // all workers by default

  const auto one = parse_straggler_spec("random:workers=1,mean_ms=0,dist=uniform");
  ASSERT_EQ(one.random.size(), 1u);
  EXPECT_EQ(one.random[0].dist, dist::uniform);
  EXPECT_EQ(one.random[0].worker, std::optional<std::uint32_t>(1));
  EXPECT_FALSE(parse_straggler_spec("random:dist=exp,mean_ms=1,workers=all").random[0].worker);

  EXPECT_EQ(parse_straggler_spec("dai:max_delay=8").dai_max_delay, std::optional<std::uint32_t>(8));
  EXPECT_EQ(parse_straggler_spec("dai:max_delay=0").dai_max_delay, std::optional<std::uint32_t>(0));
}

TEST(StragglerSpec, ParsesCombinations) {
  const auto s = parse_straggler_spec(
      "fixed:worker=3,factor=2 + "
      "fixed:worker=0,factor=1.5+random:dist=exp,mean_ms=2+dai:max_delay=4");
  ASSERT_EQ(s.fixed.size(), 2u);
  EXPECT_EQ(s.fixed[0].worker, 0u);  // sorted by worker
  EXPECT_EQ(s.fixed[1].worker, 3u);
  EXPECT_EQ(s.random.size(), 1u);
  EXPECT_EQ(s.dai_max_delay, std::optional<std::uint32_t>(4));
}

TEST(StragglerSpec, CanonicalFormRoundTrips) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"none", "none"},
      {"fixed:factor=3,worker=0", "fixed:worker=0,factor=3"},
      {"fixed:worker=1,factor=2.50", "fixed:worker=1,factor=2.5"},
      {"random:mean_ms=2,dist=exp", "random:dist=exp,mean_ms=2,workers=all"},
      {"random:dist=uniform,mean_ms=0.1,workers=4", "random:dist=uniform,mean_ms=0.1,workers=4"},
      {"dai:max_delay=16", "dai:max_delay=16"},
      {"dai:max_delay=2+random:dist=exp,mean_ms=1e-3+fixed:worker=5,factor=1.25+"
       "fixed:worker=1,factor=7",
       "fixed:worker=1,factor=7+fixed:worker=5,factor=1.25+random:dist=exp,mean_ms=0.001,"
       "workers=all+dai:max_delay=2"},
  };
  for (const auto& [input, canonical] : cases) {
    SCOPED_TRACE(input);
    const auto spec = parse_straggler_spec(input);
    EXPECT_EQ(to_string(spec), canonical);
    EXPECT_EQ(parse_straggler_spec(canonical), spec);
    EXPECT_EQ(to_string(parse_straggler_spec(canonical)), canonical);
  }
  // Awkward doubles survive the trip exactly.
  straggler_spec spec;
  spec.fixed.push_back({0, 1.0 + 1.0 / 3.0});
  spec.random.push_back({dist::uniform, 0.1 + 0.2, std::nullopt});
  EXPECT_EQ(parse_straggler_spec(to_string(spec)), spec);
}

TEST(StragglerSpec, RejectsMalformedSpecsWithUsefulMessages) {
  // spec -> words the message must contain
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty spec"},
      {"   ", "empty spec"},
      {"slow:worker=0", "unknown kind 'slow'"},
      {"fixed", "missing ':'"},
      {"fixed:", "no keys"},
      {"fixed:worker=0", "missing key 'factor'"},
      {"fixed:factor=2", "missing key 'worker'"},
      {"fixed:worker=0,factor=2,speed=3", "unknown key 'speed'"},
      {"fixed:worker=0,worker=1,factor=2", "duplicate key 'worker'"},
      {"fixed:worker=0,factor=0.5", "factor 0.5 is below 1"},
      {"fixed:worker=0,factor=-2", "factor -2 is negative"},
      {"fixed:worker=-1,factor=2", "worker -1 is negative"},
      {"fixed:worker=zero,factor=2", "worker 'zero' is not an integer"},
      {"fixed:worker=1.5,factor=2", "worker '1.5' is not an integer"},
      {"fixed:worker=0,factor=fast", "factor 'fast' is not a finite number"},
      {"fixed:worker=0,factor=inf", "factor 'inf' is not a finite number"},
      {"fixed:worker=0,factor=nan", "factor 'nan' is not a finite number"},
      {"fixed:worker=0,factor=2x", "factor '2x' is not a finite number"},
      {"fixed:worker=0,factor=", "key 'factor' has no value"},
      {"fixed:worker=0,factor", "'factor' is not key=value"},
      {"fixed:worker=0,,factor=2", "empty key=value item"},
      {"fixed:worker=0,factor=2+fixed:worker=0,factor=3", "worker 0 already has a fixed part"},
      {"random:mean_ms=2", "missing key 'dist'"},
      {"random:dist=exp", "missing key 'mean_ms'"},
      {"random:dist=normal,mean_ms=2", "dist 'normal' is neither exp nor uniform"},
      {"random:dist=exp,mean_ms=-1", "mean_ms -1 is negative"},
      // A run that then sat silent until killed:
      {"random:dist=exp,mean_ms=1e9", "mean_ms 1e9 is above 60000 (a minute)"},
      {"fixed:worker=0,factor=1e9", "factor 1e9 is above 1000"},
      {"random:dist=exp,mean_ms=2,workers=some", "workers 'some' is not an integer"},
      {"dai:max_delay=-3", "max_delay -3 is negative"},
      {"dai:max_delay=2.5", "max_delay '2.5' is not an integer"},
      {"dai:max_delay=99999999", "not an integer in [0, 10000]"},
      {"dai:delay=2", "unknown key 'delay'"},
      {"dai:max_delay=2+dai:max_delay=3", "dai given twice"},
      {"none+dai:max_delay=2", "'none' stands alone"},
      {"none:x=1", "'none' stands alone"},
      {"fixed:worker=0,factor=2+", "empty part"},
      {"+fixed:worker=0,factor=2", "empty part"},
      {"fixed:worker=0,factor=2++dai:max_delay=1", "empty part"},
  };
  for (const auto& [spec, words] : cases) {
    SCOPED_TRACE("spec: '" + spec + "'");
    try {
      parse_straggler_spec(spec);
      ADD_FAILURE() << "accepted";
    } catch (const troupe_error& e) {
      EXPECT_EQ(e.code(), errc::bad_config);
      const std::string msg = e.what();
      EXPECT_NE(msg.find(words), std::string::npos) << msg;
      EXPECT_NE(msg.find("stragglers '" + spec + "'"), std::string::npos) << msg;
      // Every message teaches the grammar.
      EXPECT_NE(msg.find("fixed:worker=W,factor=F"), std::string::npos) << msg;
      EXPECT_NE(msg.find("dai:max_delay=D"), std::string::npos) << msg;
    }
  }
}

TEST(StragglerSpec, ChecksWorkerIdsAgainstTheJob) {
  EXPECT_NO_THROW(check_straggler_workers(parse_straggler_spec("fixed:worker=1,factor=2"), 2));
  EXPECT_NO_THROW(check_straggler_workers(parse_straggler_spec("random:dist=exp,mean_ms=1"), 1));
  try {
    check_straggler_workers(parse_straggler_spec("random:dist=exp,mean_ms=1,workers=4"), 4);
    ADD_FAILURE() << "accepted worker 4 of 4";
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::bad_config);
    EXPECT_NE(std::string(e.what()).find("worker 4 does not exist"), std::string::npos);
  }
}

TEST(StragglerModel, FixedFactorScalesComputeTime) {
  const auto spec = parse_straggler_spec("fixed:worker=1,factor=3");
  straggler_model slow(spec, 1, 7);
  straggler_model other(spec, 0, 7);
  EXPECT_TRUE(slow.active());
  EXPECT_FALSE(other.active());
  EXPECT_DOUBLE_EQ(slow.factor(), 3.0);
  // A step of 10 ms then takes 30 ms: 20 ms extra.
  EXPECT_DOUBLE_EQ(slow.extra_delay_s(0.010), 0.020);
  EXPECT_DOUBLE_EQ(slow.extra_delay_s(0.0), 0.0);
  EXPECT_DOUBLE_EQ(slow.extra_delay_s(-1.0), 0.0);  // clock hiccups never shorten a step
  EXPECT_DOUBLE_EQ(other.extra_delay_s(0.010), 0.0);
  EXPECT_EQ(other.gradient_delay(), 0u);

  straggler_model unity(parse_straggler_spec("fixed:worker=0,factor=1"), 0, 7);
  EXPECT_DOUBLE_EQ(unity.extra_delay_s(0.5), 0.0);
  straggler_model none(parse_straggler_spec("none"), 0, 7);
  EXPECT_FALSE(none.active());
  EXPECT_DOUBLE_EQ(none.extra_delay_s(0.5), 0.0);
}

struct moments {
  double mean = 0, sd = 0, min = 1e300, max = -1e300;
};

moments draw(straggler_model& m, int n, double compute_s = 0) {
  double sum = 0, sq = 0;
  moments out;
  for (int i = 0; i < n; ++i) {
    const double d = m.extra_delay_s(compute_s);
    sum += d;
    sq += d * d;
    out.min = std::min(out.min, d);
    out.max = std::max(out.max, d);
  }
  out.mean = sum / n;
  out.sd = std::sqrt(sq / n - out.mean * out.mean);
  return out;
}

TEST(StragglerModel, RandomDelaysHaveTheRequestedMean) {
  constexpr int n = 200000;
  straggler_model exp_model(parse_straggler_spec("random:dist=exp,mean_ms=2"), 0, 1);
  const auto e = draw(exp_model, n);
  EXPECT_NEAR(e.mean, 0.002, 0.002 * 0.02);
  EXPECT_NEAR(e.sd, 0.002, 0.002 * 0.03);  // exponential: sd == mean
  EXPECT_GE(e.min, 0.0);

  straggler_model uni_model(parse_straggler_spec("random:dist=uniform,mean_ms=5"), 3, 1);
  const auto u = draw(uni_model, n);
  EXPECT_NEAR(u.mean, 0.005, 0.005 * 0.02);
  EXPECT_NEAR(u.sd, 0.010 / std::sqrt(12.0), 0.0001);  // uniform on [0, 10 ms]
  EXPECT_GE(u.min, 0.0);
  EXPECT_LT(u.max, 0.010);

  // Parts add up: 2x compute (1 ms) + exp 2 ms + uniform 1 ms on worker 1 only.
  const auto spec = parse_straggler_spec(
      "fixed:worker=1,factor=2+random:dist=exp,mean_ms=2+random:dist=uniform,mean_ms=1,workers=1");
  straggler_model w1(spec, 1, 9);
  straggler_model w0(spec, 0, 9);
  EXPECT_NEAR(draw(w1, n, 0.001).mean, 0.001 + 0.002 + 0.001, 0.004 * 0.02);
  EXPECT_NEAR(draw(w0, n, 0.001).mean, 0.002, 0.002 * 0.02);

  straggler_model zero(parse_straggler_spec("random:dist=exp,mean_ms=0"), 0, 1);
  EXPECT_DOUBLE_EQ(draw(zero, 1000).max, 0.0);
}

TEST(StragglerModel, RandomDelaysAreDeterministicPerSeedAndWorker) {
  const auto spec = parse_straggler_spec("random:dist=exp,mean_ms=2");
  straggler_model a(spec, 0, 42), b(spec, 0, 42), c(spec, 1, 42), d(spec, 0, 43);
  int same_c = 0, same_d = 0;
  for (int i = 0; i < 100; ++i) {
    const double x = a.extra_delay_s(0);
    EXPECT_EQ(x, b.extra_delay_s(0));
    same_c += x == c.extra_delay_s(0);
    same_d += x == d.extra_delay_s(0);
  }
  EXPECT_EQ(same_c, 0);
  EXPECT_EQ(same_d, 0);
}

TEST(StragglerModel, DaiDelaysAreUniformOnZeroToMax) {
  constexpr std::uint32_t max_delay = 10;
  constexpr int n = 220000;
  straggler_model m(parse_straggler_spec("dai:max_delay=10"), 2, 5);
  EXPECT_EQ(m.max_gradient_delay(), max_delay);
  EXPECT_TRUE(m.active());
  std::map<std::uint32_t, int> counts;
  for (int i = 0; i < n; ++i) ++counts[m.gradient_delay()];
  ASSERT_EQ(counts.size(), max_delay + 1);  // every value in [0, 10], nothing else
  EXPECT_EQ(counts.begin()->first, 0u);
  EXPECT_EQ(counts.rbegin()->first, max_delay);
  const double expected = static_cast<double>(n) / (max_delay + 1);
  for (const auto& [delay, count] : counts) {
    EXPECT_NEAR(count, expected, expected * 0.03) << "delay " << delay;
  }
  // The gradient delay does not disturb the sleeps (separate streams).
  EXPECT_DOUBLE_EQ(m.extra_delay_s(0.01), 0.0);
}

TEST(StragglerModel, DaiDelaysAreDeterministicPerSeed) {
  const auto spec = parse_straggler_spec("dai:max_delay=8");
  straggler_model a(spec, 0, 42), b(spec, 0, 42), other_seed(spec, 0, 43),
      other_worker(spec, 1, 42);
  std::vector<std::uint32_t> sa, sb, so, sw;
  for (int i = 0; i < 64; ++i) {
    sa.push_back(a.gradient_delay());
    sb.push_back(b.gradient_delay());
    so.push_back(other_seed.gradient_delay());
    sw.push_back(other_worker.gradient_delay());
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, so);
  EXPECT_NE(sa, sw);

  // Adding a random part leaves the gradient delays of the same seed unchanged.
  straggler_model mixed(parse_straggler_spec("dai:max_delay=8+random:dist=exp,mean_ms=1"), 0, 42);
  std::vector<std::uint32_t> sm;
  for (int i = 0; i < 64; ++i) {
    mixed.extra_delay_s(0);
    sm.push_back(mixed.gradient_delay());
  }
  EXPECT_EQ(sa, sm);

  straggler_model zero(parse_straggler_spec("dai:max_delay=0"), 0, 42);
  EXPECT_EQ(zero.max_gradient_delay(), 0u);
  EXPECT_EQ(zero.gradient_delay(), 0u);
  EXPECT_FALSE(zero.active());
}

}  // namespace
}  // namespace troupe
