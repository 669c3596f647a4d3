#include "tools/sweep_report.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <cmath>

#include "engine/clock_table.hpp"
#include "engine/job_config.hpp"
#include "tools/sweep_earlier.hpp"
#include "tools/sweep_grid.hpp"
#include "tools/sweep_plots.hpp"
#include "tools/sweep_schedule.hpp"
#include "tools/sweep_stats.hpp"

namespace troupe::sweep {
namespace {

namespace fs = std::filesystem;
constexpr std::int64_t inf = staleness_unbounded;

run_record run(std::int64_t staleness, std::uint64_t seed, double ttt, double wait = 0.1) {
  run_record r;
  r.staleness = staleness;
  r.seed = seed;
  r.stragglers = "fixed:worker=0,factor=3";
  r.wall_s = 100 + static_cast<double>(seed);
  r.time_to_target_s = ttt;
  r.clocks_to_target = ttt < 0 ? 0 : static_cast<std::uint64_t>(ttt * 10);
  r.epochs_per_clock = 0.01;
  r.final_metric = 0.88;
  r.best_metric = 0.89;
  r.samples_per_s = 20000;
  r.wait_fraction = wait;
  r.staleness_mean = 1.5;
  r.staleness_p50 = 1;
  r.staleness_p99 = 4;
  r.staleness_max = 6;
  for (int e = 0; e < 3; ++e)
    r.curve.push_back({10.0 * (e + 1), 100 * (e + 1), static_cast<std::uint32_t>(e), 0.8 + 0.03 * e,
                       0.5 - 0.05 * e});
  return r;
}

run_record failed(std::int64_t staleness, std::uint64_t seed) {
  run_record r;
  r.staleness = staleness;
  r.seed = seed;
  r.error = "stopped: worker 1: push timed out, \"shard 0\"";
  return r;
}

// Staleness 0: 40/42/44 s; 4: 30/31/35 s (best); 16: fastest but one seed
// never reached the target; inf: one failed run. Added out of order.
std::vector<run_record> synthetic_runs() {
  return {run(inf, 42, 20),     failed(inf, 43),      run(inf, 44, 21),    run(4, 42, 31, 0.05),
          run(4, 43, 30, 0.04), run(4, 44, 35, 0.06), run(0, 43, 42, 0.3), run(0, 42, 40, 0.2),
          run(0, 44, 44, 0.4),  run(16, 42, 10),      run(16, 43, -1),     run(16, 44, 12)};
}

sweep_info info() {
  sweep_info i;
  i.job_name = "fashion_mlp";
  i.target = 0.87;
  i.stragglers = "fixed:worker=0,factor=3";
  i.target_origin = "from the job file";
  i.repeats = 3;
  i.workers = 2;
  i.epochs = 3;
  return i;
}

// Splits one CSV line, honouring quoted fields with "" escapes.
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      out.back() += '"';
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(SweepStats, MeanAndStudentInterval) {
  const auto s = summarize({44, 40, 42});
  EXPECT_EQ(s.n, 3u);
  EXPECT_DOUBLE_EQ(s.mean, 42);
  EXPECT_DOUBLE_EQ(s.median, 42);
  EXPECT_DOUBLE_EQ(s.stddev, 2);
  EXPECT_NEAR(s.half_width, 4.303 * 2 / std::sqrt(3.0), 1e-9);  // t_0.975,2 = 4.303
  EXPECT_DOUBLE_EQ(s.min, 40);
  EXPECT_DOUBLE_EQ(s.max, 44);
  EXPECT_DOUBLE_EQ(summarize({4, 1, 3, 2}).median, 2.5);
  const auto one = summarize({7});
  EXPECT_DOUBLE_EQ(one.mean, 7);
  EXPECT_DOUBLE_EQ(one.half_width, 0);  // no interval from one value
  EXPECT_EQ(summarize({}).n, 0u);
  EXPECT_DOUBLE_EQ(t_quantile_975(1), 12.706);
  EXPECT_DOUBLE_EQ(t_quantile_975(4), 2.776);
  EXPECT_DOUBLE_EQ(t_quantile_975(30), 2.042);
  EXPECT_DOUBLE_EQ(t_quantile_975(45), 2.021);  // the next smaller tabulated df: wider
  EXPECT_DOUBLE_EQ(t_quantile_975(1e6), 1.96);
}

TEST(SweepStats, WelchTestAgainstAHandComputedCase) {
  // Means 42 and 32, variances 4 and 7, n = 3 each:
  // t = 10 / sqrt(4/3 + 7/3) = 5.222, df = (11/3)^2 / ((4/3)^2/2 + (7/3)^2/2) = 3.72.
  const auto c = compare({40, 42, 44}, {30, 31, 35});
  EXPECT_NEAR(c.t, 10 / std::sqrt(11.0 / 3), 1e-9);
  EXPECT_NEAR(c.df, (121.0 / 9) / ((16.0 / 9) / 2 + (49.0 / 9) / 2), 1e-9);
  EXPECT_TRUE(c.significant);  // 5.22 > t_0.975,3 = 3.182
  EXPECT_TRUE(c.overlap);      // [37.0, 47.0] and [25.4, 38.6]: the intervals still overlap
  const auto same = compare({1, 2, 3}, {1.5, 2, 2.5});
  EXPECT_FALSE(same.significant);
  EXPECT_TRUE(same.overlap);
  const auto apart = compare({10, 10.1, 9.9}, {1, 1.1, 0.9});
  EXPECT_FALSE(apart.overlap);
  EXPECT_TRUE(apart.significant);
  EXPECT_FALSE(compare({1}, {2, 3}).significant);    // too few values to say
  EXPECT_TRUE(compare({2, 2}, {3, 3}).significant);  // no spread, different means
  EXPECT_FALSE(compare({2, 2}, {2, 2}).significant);
}

TEST(SweepReport, GroupsByStalenessWithInfLast) {
  const auto groups = aggregate(synthetic_runs());
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_EQ(groups[0].staleness, 0);
  EXPECT_EQ(groups[1].staleness, 4);
  EXPECT_EQ(groups[2].staleness, 16);
  EXPECT_EQ(groups[3].staleness, inf);
  EXPECT_EQ(staleness_label(groups[3].staleness), "inf");

  EXPECT_EQ(groups[0].runs, 3u);
  EXPECT_EQ(groups[0].reached, 3u);
  EXPECT_DOUBLE_EQ(groups[0].time_to_target_s.mean, 42);
  EXPECT_DOUBLE_EQ(groups[0].time_to_target_s.min, 40);
  EXPECT_DOUBLE_EQ(groups[0].time_to_target_s.max, 44);
  EXPECT_DOUBLE_EQ(groups[0].wait_fraction.median, 0.3);
  EXPECT_DOUBLE_EQ(groups[0].clocks_to_target.median, 420);
  EXPECT_DOUBLE_EQ(groups[0].epochs_to_target.mean, 4.2);  // 420 clocks x 0.01 epochs

  // Time to target over the two seeds that reached it; the rest over all three.
  EXPECT_EQ(groups[2].reached, 2u);
  EXPECT_FALSE(groups[2].all_reached());
  EXPECT_EQ(groups[2].time_to_target_s.n, 2u);
  EXPECT_DOUBLE_EQ(groups[2].time_to_target_s.mean, 11);
  EXPECT_EQ(groups[2].samples_per_s.n, 3u);

  // A failed run counts neither as reached nor in the other columns.
  EXPECT_EQ(groups[3].failed, 1u);
  EXPECT_EQ(groups[3].reached, 2u);
  EXPECT_EQ(groups[3].wait_fraction.n, 2u);
}

TEST(SweepReport, GroupsByGridPointInTheSweepsOrder) {
  auto runs = std::vector<run_record>{run(inf, 1, 5), run(0, 1, 8), run(0, 1, 9), run(inf, 1, 3)};
  runs[0].point = runs[1].point = {{"train.workers", "32"}};
  runs[2].point = runs[3].point = {{"train.workers", "8"}};
  const auto groups = aggregate(runs);
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_EQ(point_label(groups[0].point), "train.workers=32");  // first seen first
  EXPECT_EQ(groups[0].staleness, 0);
  EXPECT_EQ(groups[1].staleness, inf);
  EXPECT_EQ(point_label(groups[2].point), "train.workers=8");
  EXPECT_EQ(best_staleness(groups, runs[0].point), std::optional<std::int64_t>(inf));
  EXPECT_EQ(best_staleness(groups, runs[2].point), std::optional<std::int64_t>(inf));
  EXPECT_FALSE(best_staleness(groups, {{"train.workers", "2"}}));
}

TEST(SweepReport, BestStalenessNeedsEveryRunToReachTheTarget) {
  const auto groups = aggregate(synthetic_runs());
  // 16 and inf are faster on average but not reliable: 4 wins.
  EXPECT_EQ(best_staleness(groups), std::optional<std::int64_t>(4));

  // Ties go to the smaller bound.
  EXPECT_EQ(best_staleness(aggregate({run(8, 1, 30), run(2, 1, 30)})),
            std::optional<std::int64_t>(2));
  EXPECT_EQ(best_staleness(aggregate({run(inf, 1, 5), run(2, 1, 30)})),
            std::optional<std::int64_t>(inf));
  EXPECT_FALSE(best_staleness(aggregate({run(0, 1, -1), failed(1, 1)})));
  EXPECT_FALSE(best_staleness({}));
}

TEST(SweepReport, RunsCsvHasOneWellFormedRowPerRun) {
  std::ostringstream out;
  write_runs_csv(out, synthetic_runs());
  const auto rows = lines(out.str());
  ASSERT_EQ(rows.size(), 13u);
  EXPECT_EQ(rows[0],
            "staleness,seed,stragglers,wall_s,time_to_target_s,clocks_to_target,epochs_to_target,"
            "final_metric,best_metric,samples_per_s,wait_fraction,staleness_mean,staleness_p50,"
            "staleness_p99,staleness_max,error");
  for (const auto& row : rows) {
    SCOPED_TRACE(row);
    EXPECT_EQ(csv_fields(row).size(), 16u);
  }
  // Sorted by staleness then seed, inf last.
  const auto first = csv_fields(rows[1]);
  EXPECT_EQ(first[0], "0");
  EXPECT_EQ(first[1], "42");
  EXPECT_EQ(first[2], "fixed:worker=0,factor=3");  // quoted in the file, intact when read
  EXPECT_TRUE(contains(rows[1], "\"fixed:worker=0,factor=3\""));
  EXPECT_EQ(first[4], "40");
  EXPECT_EQ(first[5], "400");
  EXPECT_EQ(first[6], "4");
  EXPECT_EQ(first[8], "0.89");
  EXPECT_EQ(first[10], "0.2");
  EXPECT_EQ(first[15], "");

  const auto never = csv_fields(rows[8]);  // staleness 16, seed 43
  EXPECT_EQ(never[0], "16");
  EXPECT_EQ(never[1], "43");
  EXPECT_EQ(never[4], "");  // never reached: empty, not -1
  EXPECT_EQ(never[5], "");
  EXPECT_EQ(never[6], "");
  EXPECT_EQ(never[7], "0.88");

  const auto fail = csv_fields(rows[11]);  // inf, seed 43
  EXPECT_EQ(fail[0], "inf");
  EXPECT_EQ(fail[3], "");
  EXPECT_EQ(fail[15], "stopped: worker 1: push timed out, \"shard 0\"");
  EXPECT_EQ(csv_fields(rows[12])[0], "inf");

  // Grid coordinates come first, one column per key.
  auto gridded = synthetic_runs();
  for (auto& r : gridded) r.point = {{"train.workers", "8"}, {"update.rule", "dcasgd"}};
  std::ostringstream g;
  write_runs_csv(g, gridded);
  const auto grows = lines(g.str());
  EXPECT_EQ(grows[0].substr(0, 36), "train.workers,update.rule,staleness,");
  EXPECT_EQ(grows[1].substr(0, 13), "8,dcasgd,0,42");
  EXPECT_EQ(csv_fields(grows[1]).size(), 18u);
}

TEST(SweepReport, CurvesCsvHasEveryTestPoint) {
  std::ostringstream out;
  write_curves_csv(out, synthetic_runs());
  const auto rows = lines(out.str());
  EXPECT_EQ(rows[0], "staleness,seed,time_s,clock,epochs,epoch,accuracy,loss");
  ASSERT_EQ(rows.size(), 1u + 11 * 3);  // the failed run has no curve
  EXPECT_EQ(rows[1], "0,42,10,100,1,0,0.8,0.5");
  EXPECT_EQ(csv_fields(rows.back())[0], "inf");
}

TEST(SweepReport, ReadsTestRowsOfAMetricsCsv) {
  std::istringstream csv(
      "time_s,epoch,worker,clock,kind,loss,accuracy,samples_per_s,wait_s\n"
      "1.5,0,0,100,train,0.61,0.78,21000,0.02\n"
      "3.25,0,-1,210,test,0.45,0.841,0,0\n"
      "4,1,1,300,train,0.4,0.85,20000,0.01\n"
      "6.5,1,-1,420,test,0.40,0.862,0,0\n"
      "7,2,-1,5");  // killed mid-write
  const auto curve = read_test_curve(csv, "metrics.csv");
  ASSERT_EQ(curve.size(), 2u);
  EXPECT_DOUBLE_EQ(curve[0].time_s, 3.25);
  EXPECT_EQ(curve[0].clock, 210);
  EXPECT_EQ(curve[0].epoch, 0u);
  EXPECT_DOUBLE_EQ(curve[0].accuracy, 0.841);
  EXPECT_DOUBLE_EQ(curve[0].loss, 0.45);
  EXPECT_EQ(curve[1].clock, 420);

  std::istringstream bad("time_s,epoch,worker\n1,0,0\n");
  EXPECT_THROW(read_test_curve(bad, "x.csv"), troupe_error);
  std::istringstream empty("");
  EXPECT_TRUE(read_test_curve(empty, "x.csv").empty());
  EXPECT_DOUBLE_EQ(best_of(curve, "accuracy"), 0.862);
  EXPECT_DOUBLE_EQ(best_of(curve, "loss"), 0.40);
  EXPECT_DOUBLE_EQ(best_of({}, "loss"), 0);

  // The same clock scored twice (a job's last evaluation after its last
  // epoch's) is one point, the later: the mean curves weighed it twice.
  std::istringstream again(
      "time_s,epoch,worker,clock,kind,loss,accuracy,samples_per_s,wait_s\n"
      "3.25,0,-1,210,test,0.45,0.841,0,0\n"
      "6.5,1,-1,420,test,0.40,0.862,0,0\n"
      "6.9,1,-1,420,test,0.39,0.863,0,0\n");
  const auto deduped = read_test_curve(again, "metrics.csv");
  ASSERT_EQ(deduped.size(), 2u);
  EXPECT_DOUBLE_EQ(deduped[1].time_s, 6.9);
  EXPECT_DOUBLE_EQ(deduped[1].accuracy, 0.863);
  EXPECT_TRUE(load_test_curve("/nonexistent/metrics.csv").empty());
}

TEST(SweepReport, SummaryGivesIntervalsTheBestBoundAndSignificance) {
  const auto md = summary_markdown(info(), synthetic_runs());
  EXPECT_TRUE(contains(md, "# Sweep: fashion_mlp"));
  EXPECT_TRUE(contains(md, "test accuracy >= 0.87 (from the job file)"));
  EXPECT_TRUE(contains(md, "seeds 42, 43, 44"));
  EXPECT_TRUE(contains(md, "| staleness | ok | reached target | time to target (s) |"));
  // mean ± t_0.975,2 x s / sqrt(3): 42 ± 4.97 s, 4.2 ± 0.50 epochs.
  EXPECT_TRUE(contains(
      md, "| 0 | 3/3 | 3/3 | 42.0 ± 5.0 | 4.20 ± 0.50 | 420 | 0.8800 ± 0.0000 | 0.8900 ± 0.0000 |"))
      << md;
  EXPECT_TRUE(contains(md, "| 16 | 3/3 | 2/3 | 11.0 ± 12.7 |"));
  EXPECT_TRUE(contains(md, "| inf | 2/3 | 2/3 |"));
  EXPECT_TRUE(contains(md,
                       "**4**, 32.0 ± 6.6 s to the target; against staleness 0 (42.0 ± 5.0 "
                       "s): -10.0 (CIs overlap; **significant**, t = -5.2, df = 3.7)"))
      << md;
  EXPECT_TRUE(contains(md, "16 (1/3 never reached it)"));
  EXPECT_TRUE(contains(md, "inf (1/3 failed)"));
  EXPECT_TRUE(contains(md, "## Differences"));
  EXPECT_TRUE(contains(md, "| staleness=4 | staleness=0 | -10.0 (CIs overlap; **significant**"));
  EXPECT_TRUE(contains(md, "## Failed runs"));
  EXPECT_TRUE(contains(md, "- staleness inf, seed 43: stopped: worker 1"));
  // Table rows in staleness order, inf last.
  EXPECT_LT(md.find("| 0 |"), md.find("| 4 |"));
  EXPECT_LT(md.find("| 4 |"), md.find("| 16 |"));
  EXPECT_LT(md.find("| 16 |"), md.find("| inf |"));

  const auto none = summary_markdown(info(), {run(0, 1, -1), run(2, 1, -1)});
  EXPECT_TRUE(contains(none, "no staleness bound reached the target in every run"));
  EXPECT_TRUE(contains(none, "| 0 | 1/1 | 0/1 | n/a |"));
  EXPECT_FALSE(contains(none, "## Failed runs"));

  auto loss = info();
  loss.target_metric = "loss";
  loss.target = 0.35;
  EXPECT_TRUE(contains(summary_markdown(loss, synthetic_runs()), "test loss <= 0.35"));
  // A built-in regression's loss is its test RMSE, and the report says so.
  loss.metric_name = "RMSE";
  const auto rmse = summary_markdown(loss, synthetic_runs());
  EXPECT_TRUE(contains(rmse, "test RMSE <= 0.35")) << rmse;
  EXPECT_TRUE(contains(rmse, "| final RMSE | best RMSE |")) << rmse;
  EXPECT_FALSE(contains(rmse, "loss")) << rmse;
}

// Runs of a few milliseconds (a tiny job, a plugin's) keep two significant
// digits of their times: they read "0.0 ± 0.0", and a difference "-0.0".
TEST(SweepReport, ShortTimesKeepTheirDigits) {
  const auto md = summary_markdown(
      info(), {run(0, 42, 0.0042), run(0, 43, 0.0040), run(4, 42, 0.0041), run(4, 43, 0.0041)});
  EXPECT_TRUE(contains(md, "| 0 | 2/2 | 2/2 | 0.0041 ± ")) << md;
  EXPECT_FALSE(contains(md, "0.0 ± 0.0")) << md;
  EXPECT_FALSE(contains(md, "-0.0")) << md;
}

TEST(SweepReport, SummaryComparesGridPointsSettingBySetting) {
  std::vector<run_record> runs;
  for (const char* rule : {"plain", "dcasgd"}) {
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
      auto r = run(0, seed, std::string(rule) == "plain" ? 50.0 + seed : 20.0 + seed);
      r.point = {{"update.rule", rule}};
      runs.push_back(r);
    }
  }
  auto i = info();
  i.grid_keys = {"update.rule"};
  const auto md = summary_markdown(i, runs);
  EXPECT_TRUE(contains(md, "| update.rule | staleness | ok |")) << md;
  EXPECT_TRUE(contains(md, "| dcasgd | 0 | 3/3 | 3/3 | 22.0 ± 2.5 |")) << md;
  EXPECT_TRUE(contains(md,
                       "| update.rule=dcasgd staleness=0 | update.rule=plain | -30.0 (CIs "
                       "apart; **significant**"))
      << md;
}

TEST(SweepGrid, CartesianProductFirstAxisSlowest) {
  const auto points = grid_points(
      {{"train.workers", {"8", "32"}}, {"update.rule", {"plain", "dcasgd", "staleness"}}});
  ASSERT_EQ(points.size(), 6u);
  EXPECT_EQ(point_label(points[0]), "train.workers=8 update.rule=plain");
  EXPECT_EQ(point_label(points[2]), "train.workers=8 update.rule=staleness");
  EXPECT_EQ(point_label(points[3]), "train.workers=32 update.rule=plain");
  EXPECT_EQ(point_dir_name(points[4]), "workers-32_rule-dcasgd");
  // Values that differ only in characters a directory name replaces get
  // directories of their own (both were learning_rate-1e-3).
  const auto rates = grid_points({{"train.learning_rate", {"1e-3", "1e+3"}}});
  EXPECT_NE(point_dir_name(rates[0]), point_dir_name(rates[1]));
  // Keys a sweep sets itself, or takes from the base job for every run.
  EXPECT_THROW(parse_grid_axis("job.seed=1,2"), troupe_error);
  EXPECT_THROW(parse_grid_axis("data.train_limit=200,1000"), troupe_error);
  EXPECT_EQ(grid_points({}).size(), 1u);  // no axes: one empty point
  EXPECT_THROW(grid_points({{"train.workers", {"8", "8"}}}), troupe_error);
  // The same number written twice is the same run twice; strings stay text.
  EXPECT_THROW(grid_points({{"train.learning_rate", {"0.1", "0.10"}}}), troupe_error);
  EXPECT_THROW(grid_points({{"train.workers", {"2", "2.0"}}}), troupe_error);
  EXPECT_THROW(grid_points({{"train.learning_rate", {"1e-3", "0.001"}}}), troupe_error);
  EXPECT_EQ(grid_points({{"model.kind", {"\"mlp\"", "\"mlp \""}}}).size(), 2u);
  // Two integers one double would hold alike are two values.
  EXPECT_EQ(grid_points({{"model.params.x", {"9007199254740992", "9007199254740993"}}}).size(), 2u);
  EXPECT_THROW(grid_points({{"train.workers", {}}}), troupe_error);
  EXPECT_THROW(grid_points({{"train.workers", {"1"}}, {"train.workers", {"2"}}}), troupe_error);
}

TEST(SweepGrid, ParsesAxesWithValuesThatHoldCommas) {
  const auto a = parse_grid_axis("train.workers=8,32,128");
  EXPECT_EQ(a.key, "train.workers");
  EXPECT_EQ(a.values, (std::vector<std::string>{"8", "32", "128"}));
  const auto layers = parse_grid_axis("model.layers=[784, 64, 10],[784,256,128,10]");
  EXPECT_EQ(layers.values, (std::vector<std::string>{"[784, 64, 10]", "[784,256,128,10]"}));
  EXPECT_EQ(parse_grid_axis("job.name=\"a,b\",c").values.size(), 2u);
  for (const char* bad : {"train.workers", "=8", "workers=8", "train.workers=8,,32",
                          "train.workers=", "train.staleness=0,inf"}) {
    EXPECT_THROW(parse_grid_axis(bad), troupe_error) << bad;
  }
}

TEST(SweepGrid, ApplyPointSetsAnyJobKeyOrNamesTheBadOne) {
  const auto base = default_job_config();
  const auto job = apply_point(
      base, {{"train.workers", "128"}, {"update.rule", "dcasgd"}, {"train.learning_rate", "0.01"}});
  EXPECT_EQ(job.workers, 128u);
  EXPECT_EQ(job.update.all.kind, update_rule_kind::dcasgd);
  EXPECT_FLOAT_EQ(job.optimizer.learning_rate, 0.01f);
  EXPECT_EQ(base.workers, 2u);  // the base is left alone
  for (const auto& bad : std::vector<grid_point>{{{"train.workers", "0"}},
                                                 {{"train.workers", "8x"}},
                                                 {{"update.rule", "fast"}},
                                                 {{"train.nonsense", "1"}}}) {
    try {
      apply_point(base, bad);
      ADD_FAILURE() << point_label(bad) << " was accepted";
    } catch (const troupe_error& e) {
      EXPECT_TRUE(contains(e.what(), bad[0].first.substr(bad[0].first.find('.') + 1))) << e.what();
      EXPECT_TRUE(contains(e.what(), "--grid: ")) << e.what();  // not "--set"
    }
  }
}

TEST(SweepSchedule, ReferenceTargetCadenceAndEpochs) {
  auto base = default_job_config();
  base.workers = 64;
  base.staleness = staleness_unbounded;
  base.stragglers = "fixed:worker=3,factor=2";
  const auto ref = reference_job(base);
  EXPECT_EQ(ref.workers, 1u);
  EXPECT_EQ(ref.staleness, 0);
  EXPECT_EQ(ref.stragglers, "none");
  EXPECT_EQ(ref.batch, base.batch);

  const std::vector<curve_point> curve = {
      {1, 10, 0, 0.80, 0.50}, {2, 20, 0, 0.90, 0.30}, {3, 30, 1, 0.88, 0.35}};
  const auto acc = target_from_reference(curve, "accuracy", 0.02);
  EXPECT_DOUBLE_EQ(acc.value, 0.90 * 0.98);
  EXPECT_TRUE(contains(acc.origin, "best test accuracy 0.9000"));
  const auto loss = target_from_reference(curve, "loss", 0.1);
  EXPECT_DOUBLE_EQ(loss.value, 0.30 * 1.1);
  EXPECT_TRUE(contains(loss.origin, "best test loss 0.3000"));
  EXPECT_TRUE(
      contains(target_from_reference(curve, "loss", 0.1, "RMSE").origin, "best test RMSE 0.3000"));
  EXPECT_THROW(target_from_reference({}, "loss", 0.1), troupe_error);

  // 60000 rows over 64 workers: 938 rows, 15 batches of 64 = the clocks of an epoch.
  EXPECT_EQ(eval_every_for(base, 60000, 4), 4u);    // 15 / 4, rounded
  EXPECT_EQ(eval_every_for(base, 60000, 100), 1u);  // at least every clock
  base.eval_every = 7;
  EXPECT_EQ(eval_every_for(base, 60000, 0), 7u);  // 0: the job's own

  // early_stopping counts evaluations: at the job file's epoch ends 8 is 8
  // epochs; at a sweep's 4 evaluations between ends and 1 at each end
  // (15 clocks an epoch, every 4) it is 8 x 4 = 32 evaluations, about the
  // same training. It cut a sweep's runs short (stopped in epoch 19 where
  // troupe train ran all 40).
  auto stopping = base;
  stopping.early_stopping = 8;
  stopping.eval_every = 4;
  EXPECT_EQ(patience_for(stopping, 0, 60000), 32u);
  EXPECT_EQ(patience_for(stopping, 4, 60000), 8u);    // the file's own cadence
  EXPECT_EQ(patience_for(stopping, 15, 60000), 16u);  // from every 15 clocks (2 an epoch)
  EXPECT_EQ(patience_for(stopping, 0, 0), 8u);        // epochs unknown
  stopping.early_stopping = 0;
  EXPECT_EQ(patience_for(stopping, 0, 60000), 0u);
  EXPECT_DOUBLE_EQ(epochs_per_clock(base, 60000), 1.0 / 15);
  EXPECT_DOUBLE_EQ(epochs_per_clock(ref, 60000), 1.0 / 938);
  EXPECT_DOUBLE_EQ(epochs_per_clock(base, 0), 0);
}

TEST(SweepReport, GnuplotScriptWritesEveryPlotInBothFormats) {
  const auto plots = make_plots(info(), synthetic_runs());
  EXPECT_TRUE(contains(plots.script, "set terminal pngcairo"));
  EXPECT_TRUE(contains(plots.script, "set terminal svg"));
  ASSERT_EQ(plot_outputs().size(), 10u);
  for (const auto& file : plot_outputs()) {
    EXPECT_TRUE(contains(plots.script, "set output '" + file + "'")) << file;
  }
  // Staleness on x, in order, inf the last category; axes say their units.
  EXPECT_TRUE(contains(plots.script, R"(set xtics ('0' 0, '4' 1, '16' 2, 'inf' 3))"));
  EXPECT_TRUE(contains(plots.script, "set xlabel 'staleness bound (clocks)'"));
  EXPECT_TRUE(contains(plots.script, "set ylabel 'wall time to target (s)'"));
  EXPECT_TRUE(
      contains(plots.script, "set ylabel 'epochs to target (passes over the training set)'"));
  EXPECT_TRUE(contains(plots.script, "with yerrorlines"));
  EXPECT_TRUE(contains(plots.script, "with filledcurves"));

  // One series; a row per bound: x, epochs mean lo hi, time mean lo hi, wait..., all reached.
  const auto dat = lines(plots.groups_dat);
  ASSERT_EQ(dat.size(), 6u);
  EXPECT_EQ(dat[0], "# series all runs");
  const auto row0 = dat[2];
  EXPECT_EQ(row0.substr(0, 6), "0 4.2 ");
  EXPECT_EQ(row0.substr(row0.size() - 17), " 1 0.89 0.89 0.89");  // all reached; best 0.89
  EXPECT_TRUE(contains(dat[4], " 0 0.89 "));                      // 16: not every repeat reached it

  // Mean curves over the three seeds of staleness 0: x in epochs (clock 100 = 1 epoch).
  EXPECT_TRUE(contains(plots.means_dat, "# staleness=0 (3 runs)\n# x mean lo hi\n1 0.8 0.8 0.8\n"));
  // First seed per configuration; the failed inf seed is skipped, not plotted.
  EXPECT_TRUE(contains(plots.curves_dat, "# staleness=0 (seed 42)\n"));
  EXPECT_TRUE(contains(plots.curves_dat, "# staleness=inf (seed 42)\n"));

  auto loss = info();
  loss.target_metric = "loss";
  EXPECT_TRUE(contains(make_plots(loss, synthetic_runs()).script, "using 1:3 with linespoints"));

  // A grid key on x: its values as categories, one series per other coordinate.
  auto gridded = synthetic_runs();
  for (std::size_t k = 0; k < gridded.size(); ++k) {
    gridded[k].point = {{"train.workers", k % 2 ? "32" : "8"}};
  }
  auto i = info();
  i.grid_keys = {"train.workers"};
  i.x_key = "train.workers";
  const auto g = make_plots(i, gridded);
  EXPECT_TRUE(contains(g.script, "set xlabel 'workers'"));
  EXPECT_TRUE(contains(g.script, R"(set xtics ('8' 0, '32' 1))"));  // the order first seen
  // A value with quotes (how a comma gets into one) stays one literal label.
  auto quoted = gridded;
  for (auto& r : quoted) r.point = {{"train.stragglers", R"("fixed:worker=0,factor=2")"}};
  i.grid_keys = {"train.stragglers"};
  i.x_key = "train.stragglers";
  EXPECT_TRUE(
      contains(make_plots(i, quoted).script, R"(set xtics ('"fixed:worker=0,factor=2"' 0))"));
  EXPECT_TRUE(contains(g.groups_dat, "# series staleness=inf"));

  // No data at all still gives a script that plots placeholders, not errors.
  const auto empty = make_plots(info(), {failed(0, 1)});
  EXPECT_TRUE(contains(empty.script, "no run reached the target"));
  EXPECT_TRUE(contains(empty.script, "no test evaluations recorded"));
}

class SweepReportFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("troupe_sweep_report_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static bool have_gnuplot() { return std::system("command -v gnuplot > /dev/null 2>&1") == 0; }

  std::string read(const std::string& name) const {
    std::ifstream in(dir_ + "/" + name, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  std::string dir_;
};

TEST_F(SweepReportFiles, WritesEveryFileButTheImages) {
  write_report(dir_, info(), synthetic_runs());
  for (const char* name : {"runs.csv", "curves.csv", "summary.md", "plots.gp", "plot_groups.dat",
                           "plot_means.dat", "plot_curves.dat"}) {
    EXPECT_FALSE(read(name).empty()) << name;
  }
  EXPECT_EQ(read("summary.md"), summary_markdown(info(), synthetic_runs()));
}

TEST_F(SweepReportFiles, MissingGnuplotIsAStatusNotAFailure) {
  write_report(dir_, info(), synthetic_runs());
  const auto st = render_plots(dir_, "troupe-no-such-gnuplot");
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(contains(st.message(), "gnuplot-nox"));
  EXPECT_FALSE(fs::exists(dir_ + "/to_target.png"));
}

TEST_F(SweepReportFiles, GnuplotDrawsNonEmptyPngAndSvg) {
  if (!have_gnuplot()) GTEST_SKIP() << "gnuplot not installed (Debian: gnuplot-nox)";
  write_report(dir_, info(), synthetic_runs());
  const auto st = render_plots(dir_);
  ASSERT_TRUE(st.ok()) << st.to_string() << "\n" << read("gnuplot.log");
  for (const auto& name : plot_outputs()) {
    const auto bytes = read(name);
    ASSERT_FALSE(bytes.empty()) << name;
    if (name.size() > 4 && name.substr(name.size() - 4) == ".png") {
      EXPECT_EQ(bytes.substr(1, 3), "PNG") << name;
    } else {
      EXPECT_TRUE(contains(bytes, "<svg")) << name;
      EXPECT_TRUE(contains(bytes, "</svg>")) << name;  // closed: `unset output` flushed it
    }
  }
}

// A sweep into a directory with an earlier one: the earlier sweep's files
// and run directories move to previous/; what the sweep did not make stays
// (a re-run removed all of runs/, a user's own runs too, and overwrote a
// summary.md it had not written), and so does the sweep's own job file.
TEST_F(SweepReportFiles, AnEarlierSweepMovesToPreviousAndNothingElseDoes) {
  write_report(dir_, info(), synthetic_runs());
  // report_files() names what write_report wrote, no more and no less.
  std::set<std::string> written, named(report_files().begin(), report_files().end());
  for (const auto& e : fs::directory_iterator(dir_)) written.insert(e.path().filename().string());
  EXPECT_EQ(written, named);
  auto touch = [&](const std::string& rel, const std::string& text) {
    fs::create_directories(fs::path(dir_ + "/" + rel).parent_path());
    std::ofstream(dir_ + "/" + rel) << text;
  };
  touch("runs/s0_r0/metrics.csv", "old run");
  touch("runs/rule-dcasgd_sinf_r1/metrics.csv", "old grid run");
  touch("runs/reference/metrics.csv", "old reference");
  touch("runs/my_own_run/metrics.csv", "not the sweep's");
  touch("notes.txt", "mine");
  touch("job.toml", "the job file");
  touch("previous/summary.md", "two sweeps ago");
  const auto moved = set_aside_earlier(dir_, dir_ + "/job.toml");
  EXPECT_GE(moved, 9u);  // runs.csv, curves.csv, summary.md, plots.gp, 3 .dat, 3 run dirs
  for (const char* gone : {"runs.csv", "curves.csv", "summary.md", "plots.gp", "runs/s0_r0",
                           "runs/rule-dcasgd_sinf_r1", "runs/reference"}) {
    EXPECT_FALSE(fs::exists(dir_ + "/" + gone)) << gone;
    EXPECT_TRUE(fs::exists(dir_ + "/previous/" + std::string(gone))) << gone;
  }
  EXPECT_EQ(read("previous/runs/s0_r0/metrics.csv"), "old run");
  EXPECT_NE(read("previous/summary.md"), "two sweeps ago");  // one generation
  EXPECT_EQ(read("runs/my_own_run/metrics.csv"), "not the sweep's");
  EXPECT_EQ(read("notes.txt"), "mine");
  EXPECT_EQ(read("job.toml"), "the job file");
  EXPECT_FALSE(fs::exists(dir_ + "/previous.new"));
  EXPECT_EQ(set_aside_earlier(dir_, dir_ + "/job.toml"), 0u);  // nothing of a sweep left
  EXPECT_TRUE(is_sweep_run_name("s12_r3"));
  EXPECT_TRUE(is_sweep_run_name("lr-0.1_batch-32_sinf_r0"));
  EXPECT_FALSE(is_sweep_run_name("mlp_cls_train_n"));
  EXPECT_FALSE(is_sweep_run_name("s0_r"));
}

// A user's own summary.md (or runs.csv, or job.toml) in the sweep's
// directory went into previous/ and, with the next sweep, was deleted: now
// the sweep is refused, naming it, and nothing moves. So is a job file that
// lies in previous/ (replaced by the sweep set aside) and is no sweep's.
TEST_F(SweepReportFiles, FilesNoSweepWroteStopTheSweep) {
  write_report(dir_, info(), synthetic_runs());
  std::ofstream(dir_ + "/summary.md") << "# My project\nnotes\n";
  auto refusal = [&](const std::string& keep) {
    try {
      set_aside_earlier(dir_, keep);
    } catch (const troupe_error& e) {
      EXPECT_EQ(e.code(), errc::bad_config);
      return std::string(e.what());
    }
    return std::string();
  };
  auto why = refusal("");
  EXPECT_TRUE(contains(why, dir_ + "/summary.md is no sweep's summary.md")) << why;
  EXPECT_TRUE(contains(why, "give another output directory (-o DIR)")) << why;
  EXPECT_EQ(read("summary.md"), "# My project\nnotes\n");
  EXPECT_TRUE(fs::exists(dir_ + "/runs.csv"));  // nothing moved
  EXPECT_FALSE(fs::exists(dir_ + "/previous"));
  write_report(dir_, info(), synthetic_runs());
  std::ofstream(dir_ + "/job.toml") << "# my job\n[job]\n";
  EXPECT_EQ(refusal(dir_ + "/job.toml"), "");  // the sweep's own job file stays where it is
  EXPECT_EQ(read("job.toml"), "# my job\n[job]\n");
  EXPECT_TRUE(fs::exists(dir_ + "/previous/runs.csv"));
  // That job file, left unwritten beside the sweep's runs.csv, is still the
  // user's: the next sweep (of another job file) is refused, not moving it
  // into previous/ for the one after to delete.
  write_report(dir_, info(), synthetic_runs());
  why = refusal(dir_ + "/other.toml");
  EXPECT_TRUE(contains(why, dir_ + "/job.toml is no sweep's job.toml")) << why;
  EXPECT_EQ(read("job.toml"), "# my job\n[job]\n");
  std::ofstream(dir_ + "/job.toml") << sweep_job_header << "\n[job]\n";
  std::ofstream(dir_ + "/previous/mine.toml") << "# mine\n[job]\n";
  why = refusal(dir_ + "/previous/mine.toml");
  EXPECT_TRUE(contains(why, "the job file " + dir_ + "/previous/mine.toml lies in")) << why;
  std::ofstream(dir_ + "/previous/job.toml") << sweep_job_header << "\n[job]\n";
  EXPECT_EQ(refusal(dir_ + "/previous/job.toml"), "");  // an earlier sweep's own
  // A summary of the builds before Dec 4 ("# Staleness sweep: ") is a sweep's.
  write_report(dir_, info(), synthetic_runs());
  std::ofstream(dir_ + "/summary.md") << "# Staleness sweep: fashion_mlp\n";
  EXPECT_EQ(refusal(""), "");
}

TEST_F(SweepReportFiles, GnuplotCopesWithASweepWithoutResults) {
  if (!have_gnuplot()) GTEST_SKIP() << "gnuplot not installed (Debian: gnuplot-nox)";
  write_report(dir_, info(), {failed(0, 1), run(inf, 1, -1)});
  const auto st = render_plots(dir_);
  EXPECT_TRUE(st.ok()) << st.to_string() << "\n" << read("gnuplot.log");
}

}  // namespace
}  // namespace troupe::sweep
