#include "engine/earlier_run.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "data_files.hpp"
#include "engine/errors.hpp"
#include "engine/output_lock.hpp"

namespace troupe {
namespace {

namespace fs = std::filesystem;
using testing_files::temp_dir;

std::string read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A run's own files go into previous/ together (so that it can be resumed
// there); anything else of the user's in the directory stays, and a second
// earlier run replaces the first in previous/.
TEST(EarlierRun, ARunsOwnFilesGoAsideTogether) {
  temp_dir dir("earlier_run");
  const auto out = dir.file("out");
  fs::create_directories(out + "/checkpoints");
  fs::create_directories(out + "/best");
  std::ofstream(out + "/job.toml") << "first";
  std::ofstream(out + "/metrics.csv") << "rows";
  std::ofstream(out + "/checkpoints/shard-0-clock-5.ckpt") << "ckpt";
  std::ofstream(out + "/best/shard-0.ckpt") << "best";
  std::ofstream(out + "/notes.txt") << "mine";
  const auto moved = set_aside_earlier_run(out);
  EXPECT_EQ(moved.to, out + "/previous");
  EXPECT_EQ(moved.what,
            (std::vector<std::string>{"job.toml", "metrics.csv", "best", "checkpoints"}));
  EXPECT_TRUE(moved.left.empty());
  EXPECT_TRUE(moved.resumable);
  EXPECT_EQ(read(out + "/previous/job.toml"), "first");
  EXPECT_EQ(read(out + "/previous/checkpoints/shard-0-clock-5.ckpt"), "ckpt");
  EXPECT_EQ(read(out + "/previous/best/shard-0.ckpt"), "best");
  EXPECT_FALSE(fs::exists(out + "/job.toml"));
  EXPECT_FALSE(fs::exists(out + "/checkpoints"));
  EXPECT_EQ(read(out + "/notes.txt"), "mine");

  // Nothing of a run left: nothing moves, previous/ stays as it is.
  EXPECT_TRUE(set_aside_earlier_run(out).what.empty());
  EXPECT_EQ(read(out + "/previous/job.toml"), "first");

  // What a run that failed before it trained leaves (its job.toml, a
  // metrics.csv of no rows) is no earlier run: it did replace the run in
  // previous/, so that retrying a failing job lost the run set aside.
  std::ofstream(out + "/job.toml") << "failed";
  std::ofstream(out + "/metrics.csv") << "time_s,epoch\n";
  EXPECT_TRUE(set_aside_earlier_run(out).what.empty());
  EXPECT_EQ(read(out + "/previous/job.toml"), "first");
  // Nor does one that trained without a checkpoint or a summary replace a
  // run that kept checkpoints.
  std::ofstream(out + "/metrics.csv") << "time_s,epoch\n0.5,0\n";
  const auto slight = set_aside_earlier_run(out);
  EXPECT_TRUE(slight.what.empty());
  ASSERT_EQ(slight.left.size(), 2u);
  EXPECT_NE(slight.left[1].find("metrics.csv is of a run that kept no checkpoint and no summary"),
            std::string::npos)
      << slight.left[1];
  EXPECT_EQ(read(out + "/previous/checkpoints/shard-0-clock-5.ckpt"), "ckpt");

  std::ofstream(out + "/job.toml") << "second";
  std::ofstream(out + "/summary.txt") << "done";
  const auto again = set_aside_earlier_run(out);
  EXPECT_EQ(again.what, (std::vector<std::string>{"job.toml", "metrics.csv", "summary.txt"}));
  EXPECT_EQ(read(out + "/previous/job.toml"), "second");
  EXPECT_FALSE(again.resumable);
  EXPECT_FALSE(fs::exists(out + "/previous/checkpoints"));  // one generation kept
}

// A live run in previous/ (a resume of it, as the warning suggests) is not
// deleted under it: refused, naming it.
TEST(EarlierRun, ARunLiveInPreviousIsNotDeleted) {
  temp_dir dir("earlier_run_live");
  const auto out = dir.file("out");
  fs::create_directories(out + "/previous");
  std::ofstream(out + "/previous/job.toml") << "live";
  std::ofstream(out + "/summary.txt") << "done";
  const auto live = output_lock::acquire(out + "/previous");
  try {
    set_aside_earlier_run(out);
    FAIL() << "previous/ was replaced under a live run";
  } catch (const troupe_error& e) {
    EXPECT_NE(std::string(e.what()).find("another run is using " + out + "/previous"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(read(out + "/previous/job.toml"), "live");
  EXPECT_EQ(read(out + "/summary.txt"), "done");
}

// An empty checkpoints directory is no earlier run; a checkpoints link
// (where node daemons keep them) is not ours to move, and says so.
TEST(EarlierRun, EmptyDirectoriesAndLinksStay) {
  temp_dir dir("earlier_run_links");
  const auto out = dir.file("out");
  fs::create_directories(out + "/checkpoints");
  EXPECT_TRUE(set_aside_earlier_run(out).what.empty());
  EXPECT_FALSE(fs::exists(out + "/previous"));
  fs::remove(out + "/checkpoints");
  fs::create_directories(dir.file("elsewhere"));
  std::ofstream(dir.file("elsewhere/shard-0-clock-5.ckpt")) << "ckpt";
  fs::create_directory_symlink(dir.file("elsewhere"), out + "/checkpoints");
  std::ofstream(out + "/metrics.csv") << "time_s,epoch\n0.5,0\n";
  const auto moved = set_aside_earlier_run(out);
  EXPECT_EQ(moved.what, (std::vector<std::string>{"metrics.csv"}));
  ASSERT_EQ(moved.left.size(), 1u);
  EXPECT_NE(moved.left[0].find("checkpoints is a link"), std::string::npos) << moved.left[0];
  EXPECT_FALSE(moved.resumable);  // its checkpoints are not in previous/
  EXPECT_TRUE(fs::is_symlink(out + "/checkpoints"));
  EXPECT_EQ(read(dir.file("elsewhere/shard-0-clock-5.ckpt")), "ckpt");
}

// A user's own file under a run's name was moved into previous/ (and lost
// with the next run) or overwritten: a job file with comments run with
// `-o .` beside it, notes in a summary.txt. Such a run is refused before
// anything moves; a run's own files, and its job file run again, are not.
TEST(EarlierRun, FilesNoRunWroteAreNotReplaced) {
  temp_dir dir("earlier_run_foreign");
  const auto out = dir.file("out");
  fs::create_directories(out);
  const auto job = out + "/job.toml";
  std::ofstream(job) << "# my job\n[job]\nepochs = 1\n";
  auto refusal = [&](const std::string& job_file) {
    try {
      refuse_files_of_no_run(out, job_file);
    } catch (const troupe_error& e) {
      EXPECT_EQ(e.code(), errc::bad_config);
      return std::string(e.what());
    }
    return std::string();
  };
  auto why = refusal(job);
  EXPECT_NE(why.find(job + " is no Troupe run's job.toml (it is the job file given)"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("give another output directory (-o DIR)"), std::string::npos) << why;
  EXPECT_NE(refusal("").find("is no Troupe run's job.toml"), std::string::npos);
  EXPECT_EQ(read(job), "# my job\n[job]\nepochs = 1\n");  // untouched

  // A run's job.toml begins with its header line.
  std::ofstream(job) << run_job_header << "\n[job]\nepochs = 1\n";
  EXPECT_EQ(refusal(job), "");
  std::ofstream(out + "/summary.txt") << "my notes\n";
  EXPECT_NE(refusal(job).find("summary.txt is no Troupe run's summary.txt"), std::string::npos);
  std::ofstream(out + "/summary.txt") << "test_accuracy=0.8 samples_per_s=1000 wall_s=1.0\n";
  EXPECT_EQ(refusal(job), "");
  std::ofstream(out + "/metrics.csv") << "a,b\n1,2\n";
  EXPECT_NE(refusal(job).find("metrics.csv is no Troupe run's"), std::string::npos);
  // An empty one (a run interrupted before its header) holds nothing to lose.
  std::ofstream(out + "/metrics.csv", std::ios::trunc).close();
  EXPECT_EQ(refusal(job), "");
  // A build before the header wrote job.toml without it, and without
  // comments (every key at its value), also alone where a run failed early.
  std::ofstream(out + "/metrics.csv") << "time_s,epoch,worker\n0.5,0,0\n";
  std::ofstream(job) << "[job]\nepochs = 1\n";
  EXPECT_EQ(refusal(job), "");
  fs::remove(out + "/metrics.csv");
  fs::remove(out + "/summary.txt");
  EXPECT_EQ(refusal(job), "");
  // A link under a run's name is judged by what it points at: the run
  // wrote through it (the user's commented job file overwritten).
  fs::remove(job);
  const auto mine = dir.file("myjob.toml");
  std::ofstream(mine) << "# mine\n[job]\n";
  fs::create_symlink(mine, job);
  EXPECT_NE(refusal(mine).find("is no Troupe run's job.toml (it is the job file given)"),
            std::string::npos);
  fs::remove(job);

  // previous/ is replaced by the next run set aside: a job file there that
  // no run wrote would go with it.
  fs::create_directories(out + "/previous");
  const auto kept = out + "/previous/mine.toml";
  std::ofstream(kept) << "[job]\n";
  EXPECT_NE(refusal(kept).find("lies in " + out + "/previous"), std::string::npos);
  // Also beside the earlier run's metrics there: it goes with previous/.
  std::ofstream(out + "/previous/metrics.csv") << "time_s,epoch,worker\n0.5,0,0\n";
  EXPECT_NE(refusal(kept).find("lies in " + out + "/previous"), std::string::npos);
  std::ofstream(out + "/previous/job.toml") << run_job_header << "\n[job]\n";
  EXPECT_EQ(refusal(out + "/previous/job.toml"), "");
  EXPECT_EQ(refusal(dir.file("elsewhere.toml")), "");
}

}  // namespace
}  // namespace troupe
