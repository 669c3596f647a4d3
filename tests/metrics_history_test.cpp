// A resumed run's metrics.csv: the rows of the epochs it trains again are
// set aside (appended to metrics-interrupted.csv, never dropped), the others
// kept in order, and the kept evaluations and the time axis handed back.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "data_files.hpp"
#include "engine/errors.hpp"
#include "engine/metrics_history.hpp"

namespace troupe {
namespace {

using testing_files::temp_dir;

std::string read(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

const std::string header = std::string(metrics_log::header()) + "\n";

TEST(MetricsHistory, KeepsTheEpochsBeforeTheResumedOneAndSetsTheOthersAside) {
  temp_dir dir("metrics_history");
  const std::string kept =
      "0.5,0,0,10,train,0.9,0.6,1000,0,0.4,0.05,0.01\n"
      "1.0,0,-1,20,test,0.8,0.7,900,0,0,0,0\n"
      "1.0,0,-1,20,validation,0.85,0.65,900,0,0,0,0\n"
      "2.0,1,-1,40,test,0.6,0.8,900,0,0,0,0\n";
  const std::string later =
      "2.5,2,1,45,train,0.5,0.8,1000,0,0.4,0.05,0.01\n"
      "3.0,2,-1,60,test,0.5,0.85,900,0,0,0,0\n";
  // A killed run's last line may be torn: it is kept as it is, not parsed.
  const auto csv = dir.write("metrics.csv", header + kept + later + "3.1,2,0,6");
  const auto h = keep_metrics_before_epoch(csv, 2);
  EXPECT_DOUBLE_EQ(h.time_offset_s, 2.0);
  EXPECT_EQ(h.rows_kept, 5u);
  EXPECT_EQ(h.rows_set_aside, 2u);
  EXPECT_EQ(h.last_clock, 60);  // a set-aside row's: how far the interrupted run got
  ASSERT_EQ(h.evaluations.size(), 3u);
  EXPECT_EQ(h.evaluations[0].kind, "test");
  EXPECT_EQ(h.evaluations[1].kind, "validation");
  EXPECT_DOUBLE_EQ(h.evaluations[1].loss, 0.85);
  EXPECT_EQ(h.evaluations[2].epoch, 1u);
  EXPECT_EQ(h.evaluations[2].clock, 40);
  EXPECT_EQ(read(csv), header + kept + "3.1,2,0,6\n");
  EXPECT_EQ(read(dir.file("metrics-interrupted.csv")), header + later);

  // A second resume appends to what the first set aside.
  const auto h2 = keep_metrics_before_epoch(csv, 1);
  EXPECT_EQ(h2.rows_set_aside, 1u);
  EXPECT_DOUBLE_EQ(h2.time_offset_s, 1.0);
  EXPECT_EQ(read(dir.file("metrics-interrupted.csv")),
            header + later + "2.0,1,-1,40,test,0.6,0.8,900,0,0,0,0\n");
}

TEST(MetricsHistory, AMissingFileIsAnEmptyHistoryAndNothingToSetAsideChangesNothing) {
  temp_dir dir("metrics_history_none");
  const auto h = keep_metrics_before_epoch(dir.file("metrics.csv"), 3);
  EXPECT_TRUE(h.evaluations.empty());
  EXPECT_DOUBLE_EQ(h.time_offset_s, 0);
  EXPECT_FALSE(std::filesystem::exists(dir.file("metrics.csv")));

  const auto csv = dir.write("metrics.csv", header + "1.5,0,-1,20,test,0.8,0.7,900,0,0,0,0\n");
  const auto h2 = keep_metrics_before_epoch(csv, 1);
  EXPECT_EQ(h2.rows_set_aside, 0u);
  EXPECT_FALSE(std::filesystem::exists(dir.file("metrics-interrupted.csv")));
  EXPECT_DOUBLE_EQ(h2.time_offset_s, 1.5);
  EXPECT_EQ(read(csv), header + "1.5,0,-1,20,test,0.8,0.7,900,0,0,0,0\n");
  // A torn last line is ended, so the resumed run's first row stands alone.
  const auto torn = dir.write("torn.csv", header + "1.5,0,-1,20,test,0.8,0.7,900,0,0,0,0\n2.0,0,1");
  keep_metrics_before_epoch(torn, 1);
  EXPECT_EQ(read(torn), header + "1.5,0,-1,20,test,0.8,0.7,900,0,0,0,0\n2.0,0,1\n");
}

TEST(MetricsHistory, ParsesOnlyWholeRows) {
  metrics_row row;
  EXPECT_TRUE(parse_metrics_row("1.25,3,-1,77,test,0.4,0.87,1e+05,0,0,0,0", row));
  EXPECT_EQ(row.epoch, 3u);
  EXPECT_EQ(row.worker, -1);
  EXPECT_DOUBLE_EQ(row.samples_per_s, 1e5);
  EXPECT_FALSE(parse_metrics_row(metrics_log::header(), row));
  EXPECT_FALSE(parse_metrics_row("1.25,-3,-1,77,test,0.4,0.87,1,0,0,0,0", row));
  EXPECT_FALSE(parse_metrics_row("1.25,3,-1,77,test,0.4,0.87,1,0,0,0", row));
  EXPECT_FALSE(parse_metrics_row("1.25,3,-1,77,test,0.4,x,1,0,0,0,0", row));
}

}  // namespace
}  // namespace troupe
