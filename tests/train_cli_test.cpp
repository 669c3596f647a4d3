// `troupe train` as an operator runs it (issue 12, problem 7): a job file
// that names its shard and worker nodes by index takes its node addresses
// from --nodes.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "engine/job_config.hpp"
#include "tests/child_process.hpp"
#include "tests/daemon_support.hpp"

#ifndef TROUPE_BINARY
#error "TROUPE_BINARY must name the troupe executable"
#endif
#ifndef FAKE_CUDA_DRIVER
#error "FAKE_CUDA_DRIVER must name the fake libcuda.so.1"
#endif

namespace troupe {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using test_support::child_process;

TEST(TrainCli, NodesFromTheCommandLineFillAJobFileWithShardNodesButNoNodes) {
  const auto dir = fs::temp_directory_path() / ("troupe_train_cli_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  test_support::write_private_file(dir / "secret", "train-cli-test-secret-0123456789\n");
  std::ofstream(dir / "job.toml") << "[job]\nepochs = 1\n\n[data]\ntrain_limit = 1000\n"
                                  << "test_limit = 100\n\n[cluster]\nsecret_file = \""
                                  << (dir / "secret").string()
                                  << "\"\nshard_nodes = [0]\nworker_nodes = [1]\n";
  // Nothing listens on port 1: the job gets as far as connecting.
  // --set goes through the job's TOML and back: the indices must survive it.
  child_process train(
      {TROUPE_BINARY, "train", (dir / "job.toml").string(), "--nodes", "127.0.0.1:1,127.0.0.1:1",
       "--set", "train.backend=cpu", "-o", (dir / "out").string()},
      dir / "train.log");
  const auto code = train.wait_exit(seconds(120));
  ASSERT_TRUE(code.has_value()) << train.log();
  EXPECT_EQ(*code, 4) << "unreachable: trying again later may work\n" << train.log();
  EXPECT_EQ(train.log().find("node index"), std::string::npos) << train.log();
  EXPECT_NE(train.log().find("cannot reach node 127.0.0.1:1"), std::string::npos) << train.log();
  // Without --nodes the same file is still refused, naming the key.
  child_process alone({TROUPE_BINARY, "train", (dir / "job.toml").string()}, dir / "alone.log");
  ASSERT_EQ(alone.wait_exit(seconds(60)), 2) << alone.log();
  EXPECT_NE(alone.log().find("cluster.shard_nodes: node index 0 but only 0 nodes"),
            std::string::npos)
      << alone.log();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// Exit codes a script can act on: 3 for a node that refuses the secret
// (it was 2, as for a bad job file), 1 for a job that failed while it ran
// (a diverging model; it was 2 too).
TEST(TrainCli, ExitCodesTellCredentialsAndRunTimeFailuresApart) {
  const auto dir = fs::temp_directory_path() / ("troupe_train_codes_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  test_support::write_private_file(dir / "secret", "train-cli-test-secret-0123456789\n");
  test_support::write_private_file(dir / "other", "not-the-node-secret-9876543210xyz\n");
  auto node = test_support::start_daemon(
      {TROUPE_BINARY, "node", "--listen", "127.0.0.1:0", "--secret", (dir / "secret").string()},
      dir / "node.log");
  ASSERT_NE(node.port, 0) << node.process->log();
  child_process refused({TROUPE_BINARY, "train", "--nodes", node.address(), "--secret",
                         (dir / "other").string(), "--epochs", "1", "-o", (dir / "a").string()},
                        dir / "refused.log");
  EXPECT_EQ(refused.wait_exit(seconds(120)), std::optional<int>(3)) << refused.log();
  EXPECT_NE(refused.log().find("auth_failed"), std::string::npos) << refused.log();
  // One daemon named twice (here the same address; localhost beside
  // 127.0.0.1 is caught the same way, by its node id): it was two nodes,
  // and the backups "elsewhere" shared their primaries' process.
  child_process doubled(
      {TROUPE_BINARY, "train", "--nodes", node.address() + "," + node.address(), "--secret",
       (dir / "secret").string(), "--epochs", "1", "-o", (dir / "c").string()},
      dir / "doubled.log");
  EXPECT_EQ(doubled.wait_exit(seconds(120)), std::optional<int>(2)) << doubled.log();
  EXPECT_NE(
      doubled.log().find(node.address() + " and " + node.address() + " are the same node daemon"),
      std::string::npos)
      << doubled.log();
  // The largest rate, lock-step: it diverges however the steps interleave
  // (at 1000 an asynchronous run once finished).
  child_process diverged({TROUPE_BINARY, "train", "--epochs", "1", "--set", "data.train_limit=2000",
                          "--set", "data.test_limit=100", "--set", "train.learning_rate=1e6",
                          "--staleness", "0", "-o", (dir / "b").string()},
                         dir / "diverged.log");
  EXPECT_EQ(diverged.wait_exit(seconds(120)), std::optional<int>(1)) << diverged.log();
  EXPECT_NE(diverged.log().find("non_finite"), std::string::npos) << diverged.log();
  node.process.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// A flag whose value the job file cannot hold is refused before anything
// runs: the run's own job.toml could not be read back by --resume.
TEST(TrainCli, FlagsTheJobFileCannotHoldAreRefused) {
  const auto dir = fs::temp_directory_path() / ("troupe_train_flags_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const char* flag : {"--eval-every=200000000"}) {
    child_process train(
        {TROUPE_BINARY, "train", flag, "--epochs", "1", "-o", (dir / "out").string()},
        dir / "train.log");
    const auto code = train.wait_exit(seconds(60));
    ASSERT_TRUE(code.has_value()) << train.log();
    EXPECT_EQ(*code, 2) << flag << "\n" << train.log();
    EXPECT_NE(train.log().find("beyond what the job file allows"), std::string::npos)
        << train.log();
    EXPECT_FALSE(fs::exists(dir / "out" / "metrics.csv")) << flag;
  }
  // A seed beyond a job file's integers, said as such (-1 was read as
  // 2^64 - 1 and refused in TOML parser terms; 2^64 - 1 as 2^63 - 1, and ran).
  for (const char* seed : {"-1", "18446744073709551615", "1e3"}) {
    child_process train(
        {TROUPE_BINARY, "train", "--seed", seed, "--epochs", "1", "-o", (dir / "out").string()},
        dir / "seed.log");
    ASSERT_EQ(train.wait_exit(seconds(60)), 2) << train.log();
    EXPECT_NE(train.log().find("a seed is a whole number from 0 to 9223372036854775807"),
              std::string::npos)
        << train.log();
    EXPECT_FALSE(fs::exists(dir / "out" / "metrics.csv")) << seed;
  }
  // So is --data-dir on a job of its own files: it did nothing, silently.
  std::ofstream(dir / "rows.csv") << "1,2,0\n3,4,1\n";
  std::ofstream(dir / "own.toml") << "[data]\nformat = \"csv\"\ntrain = \""
                                  << (dir / "rows.csv").string() << "\"\n[model]\nhidden = [4]\n";
  child_process own({TROUPE_BINARY, "train", (dir / "own.toml").string(), "--data-dir", "/tmp",
                     "-o", (dir / "out").string()},
                    dir / "own.log");
  ASSERT_EQ(own.wait_exit(seconds(60)), 2) << own.log();
  EXPECT_NE(own.log().find("--data-dir is the directory of a built-in data set"), std::string::npos)
      << own.log();
  EXPECT_FALSE(fs::exists(dir / "out" / "metrics.csv"));
  // A pipeline's knob on a job of one stage would do nothing: refused too.
  child_process micro({TROUPE_BINARY, "train", "--micro-batches", "8", "--epochs", "1", "-o",
                       (dir / "out").string()},
                      dir / "micro.log");
  ASSERT_EQ(micro.wait_exit(seconds(60)), 2) << micro.log();
  EXPECT_NE(micro.log().find("--micro-batches cuts each batch for a pipeline"), std::string::npos)
      << micro.log();
  EXPECT_FALSE(fs::exists(dir / "out" / "metrics.csv"));
  // Seconds out of range, and NaN, which CLI11's own range check lets through.
  for (const char* cmd : {"train", "node", "serve"}) {
    for (const char* value : {"nan", "0.5", "601"}) {
      child_process p({TROUPE_BINARY, cmd, "--peer-timeout", value}, dir / "peer.log");
      const auto code = p.wait_exit(seconds(60));
      ASSERT_TRUE(code.has_value()) << p.log();
      EXPECT_NE(*code, 0) << cmd << " --peer-timeout " << value << "\n" << p.log();
      EXPECT_NE(p.log().find("not a number of seconds in [1, 600]"), std::string::npos)
          << cmd << " --peer-timeout " << value << "\n"
          << p.log();
    }
  }
  // The other seconds flags, and a fraction: NaN is refused by name rather
  // than cast to INT64_MIN milliseconds (a node whose lease timeout was
  // "nan" released every job's actors within ~20 ms).
  const std::vector<std::vector<std::string>> nan_flags = {
      {"node", "--auth-timeout"},        {"node", "--lease-timeout"},
      {"node", "--drain-timeout"},       {"status", "--timeout"},
      {"bench", "compute", "--seconds"}, {"bench", "pushpull", "--seconds"},
      {"sweep", "--target-gap"}};
  for (const auto& flag : nan_flags) {
    std::vector<std::string> args{TROUPE_BINARY};
    args.insert(args.end(), flag.begin(), flag.end());
    args.push_back("nan");
    child_process p(args, dir / "nan.log");
    const auto code = p.wait_exit(seconds(60));
    ASSERT_TRUE(code.has_value()) << p.log();
    EXPECT_NE(*code, 0) << flag.back() << "\n" << p.log();
    EXPECT_NE(p.log().find("Value nan is not a number"), std::string::npos) << flag.back() << "\n"
                                                                            << p.log();
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// A bad flag value exits 2 like a bad job file (CLI11's own code was 105),
// with a message that says what was wanted ("Value 0 not in range 0.000000
// to 1797693134862...", 309 digits, for --lr 0).
TEST(TrainCli, ABadFlagValueExitsTwoSayingWhatWasWanted) {
  const auto dir = fs::temp_directory_path() / ("troupe_bad_flag_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const char* value : {"0", "-1", "inf", "abc"}) {
    child_process p({TROUPE_BINARY, "train", "--lr", value}, dir / "lr.log");
    ASSERT_EQ(p.wait_exit(seconds(60)), 2) << p.log();
    EXPECT_NE(
        p.log().find(std::string("Value ") + value + " is not a positive finite learning rate"),
        std::string::npos)
        << p.log();
    EXPECT_LT(p.log().size(), 300u) << p.log();
  }
  // Beyond a float: it passed the check as a double and was refused later as
  // "must be positive and finite".
  child_process huge({TROUPE_BINARY, "train", "--lr", "1e40"}, dir / "huge.log");
  ASSERT_EQ(huge.wait_exit(seconds(60)), 2) << huge.log();
  EXPECT_NE(huge.log().find("Value 1e40 is beyond what the option holds (at most 3.40282e+38)"),
            std::string::npos)
      << huge.log();
  child_process unknown({TROUPE_BINARY, "train", "--no-such-flag"}, dir / "unknown.log");
  EXPECT_EQ(unknown.wait_exit(seconds(60)), 2) << unknown.log();
  child_process help({TROUPE_BINARY, "train", "--help"}, dir / "help.log");
  EXPECT_EQ(help.wait_exit(seconds(60)), 0) << help.log();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// A job file given with --resume replaces the interrupted run's settings:
// the resume says which ones change (it did without a word, and a file
// without checkpoints or stragglers took over a run that had both).
TEST(TrainCli, AResumeWithAJobFileNamesTheSettingsItReplaces) {
  const auto dir =
      fs::temp_directory_path() / ("troupe_train_resume_file_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  child_process first(
      {TROUPE_BINARY, "train", "--epochs", "1", "--train-limit", "640", "--test-limit", "100",
       "--checkpoint-every", "5", "--peer-timeout", "2", "-o", (dir / "run").string()},
      dir / "first.log");
  ASSERT_EQ(first.wait_exit(seconds(120)), 0) << first.log();
  std::ofstream(dir / "other.toml") << "[job]\nepochs = 2\n[data]\ntrain_limit = 640\n"
                                    << "test_limit = 100\n";
  child_process resumed(
      {TROUPE_BINARY, "train", (dir / "other.toml").string(), "--resume", (dir / "run").string()},
      dir / "resumed.log");
  ASSERT_EQ(resumed.wait_exit(seconds(120)), 0) << resumed.log();
  const auto log = resumed.log();
  EXPECT_NE(log.find("its settings (and the flags) replace the interrupted run's"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("job.epochs 1 -> 2"), std::string::npos) << log;
  EXPECT_NE(log.find("job.checkpoint_every 5 -> 0"), std::string::npos) << log;
  // A setting the file leaves out (to_toml writes no [cluster] without one).
  EXPECT_NE(log.find("cluster.peer_timeout_s 2 -> (unset)"), std::string::npos) << log;
  EXPECT_EQ(log.find("cluster.nodes"), std::string::npos) << log;  // both empty
  // Resumed from its own job.toml, nothing is said.
  child_process again({TROUPE_BINARY, "train", "--resume", (dir / "run").string(), "--epochs", "3"},
                      dir / "again.log");
  ASSERT_EQ(again.wait_exit(seconds(120)), 0) << again.log();
  EXPECT_EQ(again.log().find("replace the interrupted run's"), std::string::npos) << again.log();
  fs::remove_all(dir);
}

// A resume keeps the run's name, which its checkpoints carry: a name taken
// from the data file's made every set "belong to job 'mlp_a'" once the
// data came from another file, and nothing was resumed.
TEST(TrainCli, AResumeOnAnotherDataFileKeepsTheRunsName) {
  const auto dir =
      fs::temp_directory_path() / ("troupe_train_resume_name_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    std::ofstream a(dir / "a.csv"), b(dir / "b.csv");
    for (int i = 0; i < 200; ++i) {
      const auto row =
          std::to_string(i % 7) + "," + std::to_string(i % 5) + "," + std::to_string(i % 2) + "\n";
      a << row;
      b << row;
    }
  }
  std::ofstream(dir / "job.toml") << "[job]\nepochs = 1\ncheckpoint_every = 5\noutput_dir = \""
                                  << (dir / "run").string() << "\"\n[data]\nformat = \"csv\"\n"
                                  << "train = \"" << (dir / "a.csv").string() << "\"\n"
                                  << "[model]\nhidden = [8]\n";
  child_process first({TROUPE_BINARY, "train", (dir / "job.toml").string()}, dir / "first.log");
  ASSERT_EQ(first.wait_exit(seconds(120)), 0) << first.log();
  child_process resumed({TROUPE_BINARY, "train", "--resume", (dir / "run").string(), "--set",
                         "data.train=\"" + (dir / "b.csv").string() + "\"", "--epochs", "2"},
                        dir / "resumed.log");
  ASSERT_EQ(resumed.wait_exit(seconds(120)), 0) << resumed.log();
  EXPECT_NE(resumed.log().find("resuming job 'mlp_a'"), std::string::npos) << resumed.log();
  fs::remove_all(dir);
}

// The tool's own options come before or after the command: `troupe train
// --log-level warn` took "warn" for the job file ("File does not exist").
TEST(TrainCli, LogLevelIsTakenAfterTheCommandToo) {
  const auto dir = fs::temp_directory_path() / ("troupe_train_log_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  child_process train({TROUPE_BINARY, "train", "--log-level", "warn", "--epochs", "1",
                       "--train-limit", "640", "--test-limit", "100", "-o", (dir / "out").string()},
                      dir / "train.log");
  ASSERT_EQ(train.wait_exit(seconds(120)), 0) << train.log();
  EXPECT_NE(train.log().find("test_accuracy="), std::string::npos) << train.log();
  EXPECT_EQ(train.log().find("[info]"), std::string::npos) << train.log();  // warn and above
  fs::remove_all(dir);
}

// On a machine whose driver reports a GPU, `--backend auto` (the reference
// job's default) that cannot use it says why before training on the CPU;
// `--backend cpu` never looks.
TEST(TrainCli, AutoBackendSaysWhyAGpuItCannotUseIsLeftIdle) {
  if (!fs::exists(default_data_dir("fashion-mnist"))) {
    GTEST_FAIL() << "Fashion-MNIST is missing: run scripts/setup.sh";
  }
  const auto dir = fs::temp_directory_path() / ("troupe_train_auto_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // The fake driver first, before whatever the environment already names.
  std::string driver_dir = fs::path(FAKE_CUDA_DRIVER).parent_path().string();
  if (const char* path = std::getenv("LD_LIBRARY_PATH"); path != nullptr && *path != '\0') {
    driver_dir += std::string(":") + path;
  }
  const std::string module = (dir / "no_such_libtroupe_cuda.so").string();
  auto run = [&](const std::string& backend, const std::string& name) {
    child_process train(
        {"/usr/bin/env", "LD_LIBRARY_PATH=" + driver_dir, "TROUPE_CUDA_MODULE=" + module,
         TROUPE_BINARY, "train", "--backend", backend, "--epochs", "1", "--train-limit", "512",
         "--test-limit", "128", "-o", (dir / name).string()},
        dir / (name + ".log"));
    const auto code = train.wait_exit(seconds(120));
    EXPECT_EQ(code, std::optional<int>(0)) << train.log();
    return train.log();
  };
  const std::string warning = "this machine has a GPU, but the CUDA backend cannot use it";
  const auto with_auto = run("auto", "auto");
  EXPECT_NE(with_auto.find(warning), std::string::npos) << with_auto;
  EXPECT_NE(with_auto.find(module + " could not be loaded"), std::string::npos) << with_auto;
  EXPECT_NE(with_auto.find("test_accuracy="), std::string::npos) << with_auto;
  const auto with_cpu = run("cpu", "cpu");
  EXPECT_EQ(with_cpu.find(warning), std::string::npos) << with_cpu;
  EXPECT_NE(with_cpu.find("test_accuracy="), std::string::npos) << with_cpu;
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace troupe
