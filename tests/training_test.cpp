// End to end: 2 workers and 2 shards train the reference MLP on a few
// thousand real Fashion-MNIST images, synchronously and fully async.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <algorithm>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "actors/job_runner.hpp"
#include "engine/errors.hpp"
#include "engine/memory_estimate.hpp"
#include "engine/store/checkpoint.hpp"
#include "engine/store/progress_files.hpp"
#include "run_refusal.hpp"

namespace troupe {
namespace {

job_config small_job(std::int64_t staleness, const std::string& name) {
  auto job = default_job_config();
  job.train_limit = 12000;
  job.test_limit = 2000;
  job.epochs = 4;
  job.staleness = staleness;
  job.backend = kernels::backend_kind::cpu;
  job.log_every = 50;
  job.output_dir = (std::filesystem::temp_directory_path() / ("troupe_" + name)).string();
  return job;
}

// The best test accuracy of the job's epochs, from its metrics.csv.
double best_test_accuracy(const job_config& job) {
  std::ifstream in(job.output_dir + "/metrics.csv");
  double best = 0;
  for (std::string line; std::getline(in, line);) {
    // time_s,epoch,worker,clock,kind,loss,accuracy,...
    std::vector<std::string> f;
    std::stringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) f.push_back(cell);
    if (f.size() > 6 && f[4] == "test") best = std::max(best, std::stod(f[6]));
  }
  return best;
}

void require_dataset() {
  ASSERT_TRUE(std::filesystem::exists(default_data_dir("fashion-mnist")))
      << "Fashion-MNIST is missing: run scripts/setup.sh (apt-get install dataset-fashion-mnist)";
}

TEST(Training, SynchronousSgdLearns) {
  require_dataset();
  const auto job = small_job(0, "s0");
  const auto s = run_job(job);
  EXPECT_GT(s.test_accuracy, 0.70) << summary_line(s);  // chance is 0.10
  EXPECT_EQ(s.epochs, 4u);
  // 6000 rows per worker, batch 64: 94 steps per epoch and worker.
  EXPECT_EQ(s.steps, 2u * 4u * 94u);
  EXPECT_EQ(s.pushes_applied, 2u * s.steps);  // each step pushes to both shards
  EXPECT_EQ(s.pushes_acked, s.pushes_applied);
  // Lock-step: a gradient can only miss the other worker's push of the same
  // clock, the (2s + 1)(W - 1) bound for s = 0.
  EXPECT_LE(s.max_staleness, 1u);
  EXPECT_EQ(s.pushes_rejected, 0u);
  // The run's files exist and the metrics have test rows for every epoch.
  std::ifstream metrics(job.output_dir + "/metrics.csv");
  std::string line;
  int test_rows = 0;
  while (std::getline(metrics, line)) test_rows += line.find(",test,") != std::string::npos;
  EXPECT_EQ(test_rows, 4);
  EXPECT_TRUE(std::filesystem::exists(job.output_dir + "/summary.txt"));
  EXPECT_TRUE(std::filesystem::exists(job.output_dir + "/job.toml"));
}

// One worker at s = 0 trains the same model whether the spare thread
// gathers its next batch while a step computes (actors/batch_stager.hpp) or
// the step gathers its own: the same batches in the same order, the same
// steps, the same final model.
TEST(Training, StagedBatchesTrainTheSameModel) {
  require_dataset();
  auto staged = small_job(0, "staged");
  staged.workers = 1;
  staged.shards = 1;
  staged.threads = 2;  // a thread to spare, whatever the machine
  staged.epochs = 2;
  staged.train_limit = 3000;
  staged.test_limit = 1000;
  auto plain = staged;
  plain.stage_batches = false;
  plain.output_dir += "_plain";
  // Whether a stager ran is said at debug level; captured here.
  auto captured = [](const job_config& job, std::string& log) {
    std::ostringstream out;
    auto previous = spdlog::default_logger();
    auto capture = std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    capture->set_level(spdlog::level::debug);
    spdlog::set_default_logger(capture);
    try {
      auto s = run_job(job);
      spdlog::set_default_logger(previous);
      log = out.str();
      return s;
    } catch (...) {
      spdlog::set_default_logger(previous);
      throw;
    }
  };
  std::string staged_log, plain_log;
  const auto a = captured(staged, staged_log);
  const auto b = captured(plain, plain_log);
  const std::string said = "worker 0: its next batch is gathered while a step computes";
  EXPECT_NE(staged_log.find(said), std::string::npos) << staged_log;
  EXPECT_EQ(plain_log.find(said), std::string::npos) << plain_log;
  EXPECT_EQ(a.steps, 2u * 47u);  // 3000 rows, batch 64
  EXPECT_EQ(a.steps, b.steps);
  EXPECT_GT(a.test_accuracy, 0.5) << summary_line(a);
  EXPECT_EQ(a.test_accuracy, b.test_accuracy) << summary_line(a) << "\n" << summary_line(b);
  EXPECT_EQ(a.test_loss, b.test_loss) << summary_line(a) << "\n" << summary_line(b);
}

TEST(Training, AsynchronousSgdLearns) {
  require_dataset();
  const auto s = run_job(small_job(staleness_unbounded, "sinf"));
  EXPECT_GT(s.test_accuracy, 0.70) << summary_line(s);
  EXPECT_EQ(s.steps, 2u * 4u * 94u);
  // How long it waited is a timing, compared with a bounded run in
  // FixedStragglerMakesOthersWaitAtZeroStaleness, never with a constant.
}

TEST(Training, MoreWorkersThanShardsAndBoundedStaleness) {
  require_dataset();
  auto job = small_job(1, "w3s1");
  job.workers = 3;
  job.shards = 1;
  // Three workers' gradients, up to 7 clocks old, on one shard: at the
  // reference rate (0.05) the last layer sometimes oscillates late in the run
  // on a loaded machine (a loss rising over ~5 steps with ordinary gradient
  // norms, seen in CI: 59.9% after 72% an epoch earlier). Asynchronous SGD's
  // stable rate shrinks with the delay, so this job uses a smaller one. At
  // 0.03 the last epoch still fell to 53% once beside the cluster tests
  // (67-76% on a quiet machine), so the check is that some epoch reached
  // 5.5x chance: learning, not a tuned final accuracy.
  job.optimizer.learning_rate = 0.03f;
  const auto s = run_job(job);
  EXPECT_GT(best_test_accuracy(job), 0.55) << summary_line(s);
  EXPECT_GT(s.test_accuracy, 0.3) << summary_line(s);
  // While worker w computes step c, every other worker can have pushes of its
  // steps c - s .. c + s applied, (2s + 1)(W - 1) = 6, and w's own push of
  // step c - 1: the pull of step c was prefetched before that push left.
  EXPECT_LE(s.max_staleness, 7u);
  EXPECT_GT(s.max_staleness, 0u);
}

TEST(Training, MissingDatasetNamesThePackage) {
  auto job = small_job(0, "missing");
  job.data_dir = "/nonexistent/fashion";
  try {
    run_job(job);
    FAIL() << "no error";
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::missing_dataset);
    EXPECT_NE(std::string(e.what()).find("dataset-fashion-mnist"), std::string::npos);
  }
}

}  // namespace
}  // namespace troupe

namespace troupe {
namespace {

TEST(Training, SparseLogisticRegressionOnSpamAssassin) {
  const std::string dir = TROUPE_SOURCE_DIR "/data/spam-assassin";
  if (!std::filesystem::exists(dir)) {
    GTEST_SKIP() << dir << " is missing: run scripts/fetch-data.sh spam";
  }
  auto job = load_job_config(TROUPE_SOURCE_DIR "/examples/spam_logreg.toml");
  job.data_dir = dir;
  job.epochs = 1;
  job.eval_every = 0;
  job.output_dir = (std::filesystem::temp_directory_path() / "troupe_spam").string();
  const auto s = run_job(job);
  EXPECT_GT(s.test_accuracy, 0.95) << summary_line(s);
  EXPECT_LT(s.test_loss, 0.2) << summary_line(s);
  EXPECT_EQ(s.pushes_rejected, 0u);
}

TEST(Training, FixedStragglerMakesOthersWaitAtZeroStaleness) {
  require_dataset();
  auto job = small_job(0, "straggler");
  job.epochs = 1;
  job.stragglers = "fixed:worker=0,factor=4";
  const auto slow = run_job(job);
  job.staleness = staleness_unbounded;
  job.output_dir += "_inf";
  const auto async = run_job(job);
  // Lock-step with a 4x slower peer: the fast worker spends much of its time
  // waiting; without a bound it only waits for the clock's round trip. Both
  // runs share this machine's load, so their ratio is what is asserted (a
  // loaded 2-core machine measured async at 0.11 and lock-step at ~0.6).
  EXPECT_GT(slow.wait_fraction, 2 * async.wait_fraction)
      << "lock-step: " << summary_line(slow) << "\nasync: " << summary_line(async);
  EXPECT_GT(async.max_staleness, slow.max_staleness);
}

// The Dai et al. protocol holds gradients back for a few steps and delivers
// whatever is still held as the epoch ends. Every push is acknowledged and
// counted exactly once, those flushed at the end too (they complete no step
// of their own, and the last of them once went unreported).
TEST(Training, DaiDelayedPushesAreAllCountedAsAcknowledged) {
  require_dataset();
  auto job = small_job(2, "dai_acks");
  job.epochs = 2;
  job.stragglers = "dai:max_delay=3";
  const auto s = run_job(job);
  EXPECT_EQ(s.pushes_rejected, 0u) << summary_line(s);
  EXPECT_EQ(s.pushes_applied, s.pushes_acked) << summary_line(s);
  EXPECT_EQ(s.pushes_acked, 2u * s.steps) << summary_line(s);
}

// The SSP bound end to end: with a 4x slower worker, the fastest never
// completes more than s + 1 steps beyond the slowest (it may start step
// min + s, and completes it), whereas without a bound it runs far ahead.
TEST(Training, FastestWorkerNeverLeadsTheSlowestByMoreThanTheBound) {
  require_dataset();
  auto job = small_job(0, "lead");
  job.epochs = 1;
  job.stragglers = "fixed:worker=0,factor=4";
  for (const std::int64_t s : {0, 1, 3}) {
    job.staleness = s;
    job.output_dir = small_job(s, "lead_" + std::to_string(s)).output_dir;
    const auto r = run_job(job);
    EXPECT_LE(r.max_clock_spread, s + 1) << "s = " << s << ": " << summary_line(r);
    EXPECT_EQ(r.pushes_applied, r.pushes_acked) << summary_line(r);
  }
  job.staleness = staleness_unbounded;
  job.output_dir = small_job(0, "lead_inf").output_dir;
  const auto r = run_job(job);
  EXPECT_GT(r.max_clock_spread, 5) << summary_line(r);
}

// More workers than the compute pool has slots: they take turns holding a
// step's buffers, every step is applied exactly once, and since only the
// slot holders' steps overlap, gradients are far less stale than when all
// 24 workers pull and push at once.
TEST(Training, ManyWorkersTakeTurnsInTheComputePool) {
  require_dataset();
  auto job = small_job(2, "pool");
  job.workers = 24;
  job.compute_slots = 3;
  job.epochs = 2;
  const auto pooled = run_job(job);
  EXPECT_EQ(pooled.pushes_applied, pooled.pushes_acked) << summary_line(pooled);
  EXPECT_EQ(pooled.pushes_acked, 2u * pooled.steps) << summary_line(pooled);
  EXPECT_EQ(pooled.steps, 24u * 2u * 8u) << summary_line(pooled);  // 500 rows: 8 batches of 64
  EXPECT_LE(pooled.max_clock_spread, 3) << summary_line(pooled);
  EXPECT_GT(pooled.test_accuracy, 0.6) << summary_line(pooled);
  job.compute_slots = 24;  // no turns: every worker holds its buffers
  job.output_dir += "_all";
  const auto all = run_job(job);
  EXPECT_EQ(all.steps, pooled.steps);
  EXPECT_LT(pooled.mean_staleness, all.mean_staleness) << summary_line(pooled) << "\n"
                                                       << summary_line(all);
}

TEST(Training, BadStragglerSpecIsAConfigError) {
  auto job = small_job(0, "bad_straggler");
  job.stragglers = "fixed:worker=7,factor=2";  // only 2 workers
  try {
    run_job(job);
    FAIL() << "no error";
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::bad_config);
    EXPECT_NE(std::string(e.what()).find("train.stragglers"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace troupe

namespace troupe {
namespace {

TEST(Training, MatrixFactorisationOnMovieLens) {
  const std::string dir = TROUPE_SOURCE_DIR "/data/movielens";
  if (!std::filesystem::exists(dir + "/ratings.csv")) {
    GTEST_SKIP() << dir << " is missing: run scripts/fetch-data.sh movielens";
  }
  auto job = load_job_config(TROUPE_SOURCE_DIR "/examples/movielens_mf.toml");
  job.data_dir = dir;
  job.output_dir = (std::filesystem::temp_directory_path() / "troupe_mf").string();
  const auto s = run_job(job);
  // The test loss of matrix factorisation is the RMSE; predicting the mean gives ~1.05.
  EXPECT_LT(s.test_loss, 0.90) << summary_line(s);
  EXPECT_GT(s.time_to_target_s, 0.0) << "RMSE 0.875 was never reached: " << summary_line(s);
}

}  // namespace
}  // namespace troupe

namespace troupe {
namespace {

// Resuming `job` is refused: it has finished.
void expect_nothing_to_resume(const job_config& job) {
  const auto why = test_support::refusal_of(job);
  EXPECT_NE(why.find("nothing to resume"), std::string::npos) << why;
}

TEST(Training, ResumesFromTheLastCompleteCheckpointSkippingABrokenOne) {
  require_dataset();
  auto job = small_job(2, "resume");
  job.checkpoint_every = 100;
  std::filesystem::remove_all(job.output_dir);
  const auto first = run_job(job);
  const auto dir = job.output_dir + "/checkpoints";
  // 94 steps per epoch and worker, 4 epochs: checkpoints at clocks 100 ..
  // 300, and the last one at 376, which a run killed before its end lacks.
  ASSERT_TRUE(std::filesystem::exists(dir + "/shard-1-clock-300.ckpt"));
  ASSERT_TRUE(std::filesystem::exists(dir + "/progress-clock-300.txt"));
  for (const auto* name :
       {"/shard-0-clock-376.ckpt", "/shard-1-clock-376.ckpt", "/progress-clock-376.txt"}) {
    ASSERT_TRUE(std::filesystem::remove(dir + name)) << name;
  }
  // A disk that lost the end of shard 1's newest checkpoint leaves it
  // truncated; a shard killed while writing a later one leaves only its
  // temporary file (the rename never happened).
  std::filesystem::resize_file(dir + "/shard-1-clock-300.ckpt", 100);
  std::ofstream(dir + "/shard-0-clock-400.ckpt.tmp") << "half a checkpoint";
  job.resume_from = dir;
  const auto resumed = run_job(job);
  EXPECT_EQ(resumed.resumed_from_clock, 200) << summary_line(resumed);
  EXPECT_EQ(resumed.epochs, 4u);
  // A model trained on, not one restored wrong (chance is 0.10). 4 epochs
  // of 12,000 rows end at 0.72-0.77 unloaded; a loaded CI machine's
  // interleaving ended at 0.6915 once, against the 0.70 this said.
  EXPECT_GT(resumed.test_accuracy, 0.60) << summary_line(resumed);
  // Clock 200 is in the third epoch: the resumed run redoes epochs 3 and 4.
  EXPECT_EQ(resumed.steps, 2u * 2u * 94u) << summary_line(resumed);
  // Every step of the resumed run was applied on both shards: none of its
  // pushes was mistaken for a retry of the interrupted run's. The summary
  // counts this run's pushes: the ~800 the checkpoint's table versions hold
  // are not among them (it read 308 applied to 48 acknowledged).
  EXPECT_EQ(resumed.pushes_acked, 2u * resumed.steps) << summary_line(resumed);
  EXPECT_EQ(resumed.pushes_applied, resumed.pushes_acked) << summary_line(resumed);
  EXPECT_GT(first.test_accuracy, 0.70);
}

// A checkpoint taken at an epoch's last step records that epoch as done
// (it recorded the one before: a resume replayed a whole epoch, and a
// finished job's last set looked unfinished, so resuming it trained on and
// overwrote the run). The job's last checkpoint is written before it ends.
TEST(Training, CheckpointsAtEpochEndsRecordTheEpochDoneAndAFinishedJobIsNotResumed) {
  require_dataset();
  auto job = small_job(2, "resume_epochs");
  job.epochs = 2;
  job.checkpoint_every = 94;  // 94 steps per epoch and worker
  std::filesystem::remove_all(job.output_dir);
  run_job(job);
  const auto dir = job.output_dir + "/checkpoints";
  const auto progress = [&](std::int64_t clock) {
    std::ifstream in(dir + "/" + progress_file_name(clock));
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_NE(progress(94).find("epoch=1"), std::string::npos) << progress(94);
  EXPECT_NE(progress(188).find("epoch=2"), std::string::npos) << progress(188);
  auto again = job;
  again.resume_from = dir;
  const auto finished = test_support::refusal_of(again);
  EXPECT_NE(finished.find("has trained 2 epochs (its checkpoint of clock 188), and this run asks "
                          "for 2: nothing to resume (give more epochs, --epochs 3 or more"),
            std::string::npos)
      << finished;
  again.epochs = 1;  // fewer than it trained: said as such ("epoch 2 of 1")
  EXPECT_NE(test_support::refusal_of(again).find("has trained 2 epochs (its checkpoint of clock "
                                                 "188), and this run asks for 1"),
            std::string::npos);
  EXPECT_NE(progress(188).find("model=mlp layers=784,256,128,10 activation=relu loss=softmax\n"),
            std::string::npos)
      << progress(188);
  EXPECT_NE(progress(188).find("data=train=12000 test=2000 validation=0 crc="), std::string::npos)
      << progress(188);
  // Another model with as many parameters (235,146) fits every table, and
  // was trained on from them as garbage: refused, naming both.
  for (const auto& other : {std::vector<int>{784, 238, 194, 10}, std::vector<int>{}}) {
    auto changed = again;
    changed.epochs = 3;
    if (other.empty()) {
      changed.model.activation = activation_kind::tanh;
    } else {
      changed.model.sizes = other;
    }
    const auto why = test_support::refusal_of(changed);
    EXPECT_NE(
        why.find("its checkpoints are of the model 'mlp layers=784,256,128,10 activation=relu"),
        std::string::npos)
        << why;
  }
  auto fewer = again;  // its sets are past this job's end: finished too
  fewer.epochs = 1;
  expect_nothing_to_resume(fewer);
  auto longer = again;
  longer.epochs = 3;
  const auto s = run_job(longer);
  EXPECT_EQ(s.resumed_from_clock, 188) << summary_line(s);
  EXPECT_EQ(s.steps, 2u * 94u) << summary_line(s);  // the third epoch only
}

// A job whose last clock is not a multiple of checkpoint_every writes its
// last set at that clock: before, its newest set lay inside the last epoch,
// and resuming the finished job trained that epoch again (and appended it
// to metrics.csv) instead of saying there was nothing to resume.
TEST(Training, AFinishedJobWritesItsLastCheckpointAtItsLastClock) {
  require_dataset();
  auto job = small_job(2, "resume_final");
  job.epochs = 2;
  job.checkpoint_every = 50;  // 94 steps per epoch and worker: 50, 100, 150, then 188
  std::filesystem::remove_all(job.output_dir);
  run_job(job);
  const auto dir = job.output_dir + "/checkpoints";
  ASSERT_TRUE(std::filesystem::exists(dir + "/shard-0-clock-188.ckpt"));
  ASSERT_TRUE(std::filesystem::exists(dir + "/shard-1-clock-188.ckpt"));
  std::ifstream in(dir + "/" + progress_file_name(188));
  const std::string progress(std::istreambuf_iterator<char>(in), {});
  EXPECT_NE(progress.find("epoch=2"), std::string::npos) << progress;
  auto again = job;
  again.resume_from = dir;
  expect_nothing_to_resume(again);
  auto longer = again;
  longer.epochs = 3;
  const auto s = run_job(longer);
  EXPECT_EQ(s.resumed_from_clock, 188) << summary_line(s);
  EXPECT_EQ(s.steps, 2u * 94u) << summary_line(s);  // the third epoch only
}

// A resume sets the interrupted run's newer sets aside: one of them could
// otherwise be completed by the new run's shards in part and picked by a
// later resume as a set of both runs.
TEST(Training, AResumeSetsNewerSetsAside) {
  require_dataset();
  auto job = small_job(2, "resume_aside");
  job.epochs = 1;
  job.checkpoint_every = 25;  // clocks 25, 50, 75 and the last, 94: the newest three kept
  std::filesystem::remove_all(job.output_dir);
  run_job(job);
  const auto dir = job.output_dir + "/checkpoints";
  std::filesystem::resize_file(dir + "/shard-0-clock-75.ckpt", 100);  // 75 and 94 broken
  std::filesystem::resize_file(dir + "/shard-0-clock-94.ckpt", 100);
  auto resumed = job;
  resumed.resume_from = dir;
  const auto s = run_job(resumed);
  EXPECT_EQ(s.resumed_from_clock, 50) << summary_line(s);
  // The old progress files of 75 and 94 were renamed first; the new run
  // redid the epoch from clock 50 and wrote 75, 100, 125 and its last, 144
  // (the newest three kept).
  EXPECT_TRUE(std::filesystem::exists(dir + "/" + progress_file_name(75) + ".superseded"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/" + progress_file_name(94) + ".superseded"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/" + progress_file_name(94)));
  EXPECT_TRUE(std::filesystem::exists(dir + "/" + progress_file_name(144)));
  checkpoint ck;
  ASSERT_TRUE(read_checkpoint(dir + "/shard-0-clock-144.ckpt", ck).ok());
}

// Issue 12, problem 7: the scheduler's progress files are pruned like the
// shards' checkpoints, so a long job does not fill its directory.
TEST(Training, OnlyTheNewestThreeCheckpointSetsAreKept) {
  require_dataset();
  auto job = small_job(2, "prune");
  job.epochs = 1;
  job.checkpoint_every = 20;  // clocks 20, 40, 60, 80 and the last, 94
  std::filesystem::remove_all(job.output_dir);
  run_job(job);
  std::vector<std::string> progress, shard0;
  for (const auto& e : std::filesystem::directory_iterator(job.output_dir + "/checkpoints")) {
    const auto name = e.path().filename().string();
    if (name.rfind("progress-clock-", 0) == 0) progress.push_back(name);
    if (name.rfind("shard-0-clock-", 0) == 0) shard0.push_back(name);
  }
  std::sort(progress.begin(), progress.end());
  EXPECT_EQ(progress, (std::vector<std::string>{"progress-clock-60.txt", "progress-clock-80.txt",
                                                "progress-clock-94.txt"}));
  EXPECT_EQ(shard0.size(), 3u);
}

// Issue 12, problem 7: an output directory that takes no files is a clear
// error before anything runs (was "unhandled exception ... cannot write
// metrics file" from inside the scheduler).
TEST(Training, AnOutputDirectoryThatTakesNoFilesIsAClearError) {
  require_dataset();
  auto job = small_job(2, "read_only");
  // root ignores permission bits: then use a directory of sysfs, where nobody creates files.
  const auto dir = std::filesystem::temp_directory_path() / "troupe_read_only";
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(
      dir, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  job.output_dir = ::geteuid() == 0 ? "/sys/kernel" : dir.string();
  try {
    run_job(job);
    FAIL() << "no error";
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::io_error);
    EXPECT_NE(
        std::string(e.what()).find("cannot write into the output directory " + job.output_dir),
        std::string::npos)
        << e.what();
  }
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
}

// Issue 12, problem 6: a job estimated to need more than its share of memory
// is refused before it loads or allocates anything.
TEST(Training, AJobThatDoesNotFitInMemoryIsRefusedBeforeItStarts) {
  auto job = small_job(2, "too_big");
  job.batch = 1 << 20;  // ~16 GB per worker
  job.train_limit = 2000;
  // At most 4 GB of this machine, whatever its size.
  job.memory_share =
      std::min(0.8, 4.0 * (1ull << 30) / static_cast<double>(physical_memory_bytes()));
  try {
    run_job(job);
    FAIL() << "no error";
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::bad_config);
    EXPECT_NE(std::string(e.what()).find("batch 1048576"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("limits.memory_share"), std::string::npos) << e.what();
  }
}

// Checkpoints of another model, optimizer or shard count are refused before
// anything runs (before, a narrower model trained on from the wrong table,
// and an optimizer given on the resume was silently replaced by the
// checkpoint's), and the refused resume leaves job.toml as it was; a
// resume with another learning rate uses it. A fresh run into the same
// directory sets the earlier run aside whole (previous/) instead of mixing
// its checkpoints in and overwriting the rest, and it resumes from there.
TEST(Training, ResumeRefusesCheckpointsOfAnotherLayoutAndKeepsTheJobFile) {
  require_dataset();
  auto job = small_job(2, "resume_layout");
  job.epochs = 1;
  job.checkpoint_every = 40;
  std::filesystem::remove_all(job.output_dir);
  run_job(job);
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const auto job_file = read(job.output_dir + "/job.toml");
  auto resumed = job;
  resumed.epochs = 2;
  resumed.resume_from = job.output_dir + "/checkpoints";
  auto refused = [&](const job_config& j, const std::string& part) {
    const auto why = test_support::refusal_of(j);
    EXPECT_NE(why.find(part), std::string::npos) << "no error for " << part << ": " << why;
  };
  auto narrow = resumed;
  narrow.model.sizes = {784, 64, 10};
  refused(narrow, "this job's is 'mlp layers=784,64,10 activation=relu loss=softmax'");
  auto other = resumed;
  other.optimizer.kind = optimizer_kind::adam;
  refused(other, "trained with sgd, this job uses adam");
  auto fewer = resumed;
  fewer.shards = 1;
  refused(fewer, "this shard owns [0, 235146)");
  EXPECT_EQ(read(job.output_dir + "/job.toml"), job_file);
  auto slower = resumed;
  slower.optimizer.learning_rate /= 2;
  EXPECT_GT(run_job(slower).resumed_from_clock, 0);
  EXPECT_NE(read(job.output_dir + "/job.toml"), job_file);  // the new rate, written

  const auto resumed_metrics = read(job.output_dir + "/metrics.csv");
  run_job(job);  // afresh: the resumed run goes aside whole
  const auto previous = list_progress_clocks(job.output_dir + "/previous/checkpoints");
  const auto now = list_progress_clocks(job.output_dir + "/checkpoints");
  ASSERT_FALSE(previous.empty());
  ASSERT_FALSE(now.empty());
  EXPECT_GT(previous.front(), now.front());  // the resumed run's, not mixed in
  // With its own job file and metrics (they were overwritten), so that it
  // can be resumed where it now lies.
  EXPECT_NE(read(job.output_dir + "/previous/job.toml"), job_file);
  EXPECT_EQ(read(job.output_dir + "/previous/metrics.csv"), resumed_metrics);
  EXPECT_EQ(read(job.output_dir + "/job.toml"), job_file);
  auto again = slower;
  again.output_dir = job.output_dir + "/previous";
  again.resume_from = again.output_dir + "/checkpoints";
  again.epochs = 3;
  EXPECT_EQ(run_job(again).resumed_from_clock, previous.front());
}

TEST(Training, ResumeWithoutCheckpointsIsAClearError) {
  require_dataset();
  auto job = small_job(2, "resume_none");
  std::filesystem::remove_all(job.output_dir);
  std::filesystem::create_directories(job.output_dir + "/checkpoints");
  job.resume_from = job.output_dir + "/checkpoints";
  try {
    run_job(job);
    FAIL() << "no error";
  } catch (const troupe_error& e) {
    EXPECT_EQ(e.code(), errc::io_error);
    EXPECT_NE(std::string(e.what()).find("no complete checkpoint"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace troupe
