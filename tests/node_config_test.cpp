// Deployment: the node configuration file (tools/node_config.hpp), flags
// overriding it, and the paths a node lets remote schedulers use
// (engine/node_paths.hpp): checkpoints only inside its checkpoint_dir.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "actors/job_runner.hpp"
#include "daemon_support.hpp"
#include "engine/errors.hpp"
#include "engine/job_config.hpp"
#include "engine/node_paths.hpp"
#include "tools/node_config.hpp"
#include "tools/table_file.hpp"

namespace troupe {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using namespace test_support;

// The message `parse` throws as troupe_error, or "" when it does not throw.
template <class Parse>
std::string error_of(Parse&& parse) {
  try {
    parse();
  } catch (const troupe_error& e) {
    return e.what();
  }
  return {};
}

std::string config_error(const std::string& text) {
  return error_of([&] { cli::parse_node_config(text, "node.toml"); });
}

TEST(NodeConfig, TheShippedExampleParses) {
  const auto c = cli::load_node_config(TROUPE_SOURCE_DIR "/deploy/node.toml");
  EXPECT_EQ(c.listen, "10.0.0.1:7000");
  EXPECT_EQ(c.name, "n1");
  EXPECT_EQ(c.slots, 4u);
  EXPECT_EQ(c.metrics, "127.0.0.1:9100");
  EXPECT_EQ(c.data_dir, "/var/lib/troupe");
  EXPECT_EQ(c.checkpoint_dir, "/srv/troupe");
  EXPECT_EQ(c.auth_timeout_s, 10);
  EXPECT_EQ(c.peer_timeout_s, 1);  // commented out there: the default
  EXPECT_TRUE(c.shared_memory);
  EXPECT_EQ(c.threads, 0u);  // one per core
  EXPECT_EQ(c.tls.certificate, "/etc/troupe/pki/n1.crt");
  EXPECT_EQ(c.tls.key, "/etc/troupe/pki/n1.key");
  EXPECT_EQ(c.tls.ca, "/etc/troupe/pki/ca.crt");
  EXPECT_TRUE(c.secret_file.empty());
}

TEST(NodeConfig, BadKeysTypesAndValuesAreErrorsNamingTheKey) {
  EXPECT_NE(config_error("listne = \"a:1\"").find("listne: unknown key"), std::string::npos);
  EXPECT_NE(config_error("slots = 0").find("slots: must be an integer in [1, 4096]"),
            std::string::npos);
  EXPECT_NE(config_error("slots = \"4\"").find("slots"), std::string::npos);
  EXPECT_NE(config_error("name = 3").find("name: must be a string"), std::string::npos);
  EXPECT_NE(config_error("listen = \"nohost\"").find("nohost"), std::string::npos);
  EXPECT_NE(config_error("auth_timeout_s = -1").find("auth_timeout_s"), std::string::npos);
  EXPECT_NE(config_error("peer_timeout_s = 0.5")
                .find("peer_timeout_s: must be a number of seconds in [1, 600]"),
            std::string::npos);
  EXPECT_NE(config_error("peer_timeout_s = 601").find("peer_timeout_s"), std::string::npos);
  EXPECT_EQ(cli::parse_node_config("peer_timeout_s = 12.5", "node.toml").peer_timeout_s, 12.5);
  EXPECT_NE(config_error("[tls]\ncert = \"x\"").find("tls.cert: unknown key"), std::string::npos);
  EXPECT_NE(config_error("tls = 1").find("tls: must be a table"), std::string::npos);
  EXPECT_NE(config_error("slots = [").find("node.toml"), std::string::npos);
  EXPECT_NE(config_error("shared_memory = 1").find("shared_memory: must be true or false"),
            std::string::npos);
  EXPECT_FALSE(cli::parse_node_config("shared_memory = false", "node.toml").shared_memory);
  EXPECT_NE(config_error("threads = -1").find("threads: must be an integer in [0, 1024]"),
            std::string::npos);
  EXPECT_NE(config_error("threads = 1.5").find("threads"), std::string::npos);
  EXPECT_EQ(cli::parse_node_config("threads = 1", "node.toml").threads, 1u);
  EXPECT_EQ(config_error("slots = 8\n[tls]\nca = \"ca.crt\"\n"), "");
  // A float where an integer goes is refused as such, however large (toml++
  // would convert one beyond the integer's range with undefined behaviour;
  // found by fuzzing under UBSan).
  EXPECT_NE(config_error("slots = 8e27").find("slots: must be an integer"), std::string::npos);
  EXPECT_NE(config_error("threads = -1e300").find("threads: must be an integer"),
            std::string::npos);
}

std::string table_file_error(const std::string& text) {
  return error_of([&] { cli::parse_table_file(text, "tables.toml"); });
}

TEST(TableFile, NumbersBeyondTheirTypeAreErrorsNamingTheKey) {
  const std::string table = "[[table]]\nname = \"emb\"\n";
  EXPECT_EQ(table_file_error(table + "lr = 0.1\ninit = 1e-3\n"), "");
  EXPECT_NE(table_file_error("shards = 2.4e35\n" + table).find("shards must be a non-negative"),
            std::string::npos);
  EXPECT_NE(table_file_error(table + "width = 1e30\n").find("width must be a non-negative"),
            std::string::npos);
  for (const char* bad : {"1e300", "-1e39", "inf", "nan"}) {
    EXPECT_NE(table_file_error(table + "lr = " + bad + "\n").find("lr must be a finite number"),
              std::string::npos)
        << bad;
  }
  EXPECT_NE(table_file_error(table + "init = 1e300\n").find("init must be a finite number"),
            std::string::npos);
  // Only TOML integers are integers: 2.0 and true were taken as 2 and 1.
  for (const char* bad : {"2.0", "true"}) {
    EXPECT_NE(table_file_error(std::string("shards = ") + bad + "\n" + table)
                  .find("shards must be a non-negative integer"),
              std::string::npos)
        << bad;
  }
  EXPECT_EQ(table_file_error(table + "lr = 3.4028234e38\n"), "");  // the largest float
}

// A key of the other kind of table was read by neither and passed: a
// sparse table given `size` as its bound ran unbounded.
TEST(TableFile, KeysOfTheOtherKindOfTableAreRefused) {
  const std::string sparse = "[[table]]\nname = \"emb\"\nkind = \"sparse\"\n";
  const std::string dense = "[[table]]\nname = \"w\"\nkind = \"dense\"\nsize = 8\n";
  EXPECT_NE(table_file_error(sparse + "size = 100\n")
                .find("'size' is not a key of a sparse table (its rows per shard: max_rows"),
            std::string::npos)
      << table_file_error(sparse + "size = 100\n");
  for (const char* key : {"width = 4", "max_rows = 10", "max_row_id = 10"}) {
    EXPECT_NE(table_file_error(dense + key + "\n").find("is not a key of a dense table"),
              std::string::npos)
        << key;
  }
  EXPECT_EQ(table_file_error(sparse + "width = 4\nmax_rows = 10\nmax_row_id = 99\n"), "");
  EXPECT_EQ(table_file_error(dense), "");
}

TEST(NodePaths, RelativeDataPathsResolveUnderTheDataDir) {
  EXPECT_EQ(resolve_under("/var/lib/troupe", "data/brown"), "/var/lib/troupe/data/brown");
  EXPECT_EQ(resolve_under("/var/lib/troupe", "/usr/share/x"), "/usr/share/x");
  EXPECT_EQ(resolve_under("", "data/brown"), "data/brown");
}

TEST(NodePaths, WithinIsDecidedOnResolvedPaths) {
  const auto root = fs::temp_directory_path() / ("troupe_paths_" + std::to_string(::getpid()));
  fs::create_directories(root / "ckpt" / "job");
  fs::create_directories(root / "other");
  fs::create_directory_symlink(root / "other", root / "ckpt" / "escape");
  const auto r = (root / "ckpt").string();
  EXPECT_TRUE(is_within(r, r));
  EXPECT_TRUE(is_within(r + "/", r + "/job/checkpoints"));  // need not exist yet
  EXPECT_FALSE(is_within(r, r + "/../other"));
  EXPECT_FALSE(is_within(r, r + "/escape/x"));  // a symlink out of the root
  EXPECT_FALSE(is_within(r, (root / "ckpt2").string()));
  fs::remove_all(root);
}

class NodeDeployment : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("troupe_deploy_" + std::to_string(::getpid()));
    fs::create_directories(dir / "shared");
    write_private_file(dir / "secret", "deploy-test-secret-0123456789abcdef\n");
  }
  void TearDown() override {
    node.process.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  void start_from_config(const std::string& toml, const std::vector<std::string>& flags) {
    std::ofstream(dir / "node.toml") << toml;
    std::vector<std::string> args{TROUPE_BINARY, "node", "--config", (dir / "node.toml").string()};
    args.insert(args.end(), flags.begin(), flags.end());
    node = start_daemon(args, dir / "node.log");
    ASSERT_NE(node.port, 0) << node.process->log();
  }

  fs::path dir;
  daemon node;
};

TEST_F(NodeDeployment, FlagsOverrideTheConfigFile) {
  start_from_config(
      "listen = \"127.0.0.1:1\"\nname = \"from-file\"\nslots = 3\nthreads = 3\n"
      "secret_file = \"" +
          (dir / "secret").string() + "\"\n",
      {"--listen", "127.0.0.1:0", "--name", "from-flag", "--threads", "1"});
  child_process status(
      {TROUPE_BINARY, "status", node.address(), "--secret", (dir / "secret").string()},
      dir / "status.log");
  ASSERT_EQ(status.wait_exit(seconds(30)), 0) << status.log();
  EXPECT_NE(status.log().find("node      from-flag"), std::string::npos) << status.log();
  EXPECT_NE(status.log().find("0 of 3 used"), std::string::npos) << status.log();
  EXPECT_NE(node.process->log().find("3 slots, 1 actor threads"), std::string::npos)
      << node.process->log();
}

TEST_F(NodeDeployment, ShardsWriteCheckpointsOnlyInsideTheCheckpointDir) {
  if (!fs::exists(default_data_dir("fashion-mnist"))) GTEST_SKIP() << "no Fashion-MNIST";
  start_from_config("listen = \"127.0.0.1:0\"\nname = \"n0\"\nsecret_file = \"" +
                        (dir / "secret").string() + "\"\ncheckpoint_dir = \"" +
                        (dir / "shared").string() + "\"\n",
                    {});
  auto job = default_job_config();
  job.train_limit = 4000;
  job.test_limit = 500;
  job.epochs = 2;
  job.workers = 1;
  job.shards = 1;
  job.checkpoint_every = 20;
  job.backend = kernels::backend_kind::cpu;
  job.nodes = {node.address()};
  job.secret_file = (dir / "secret").string();
  job.output_dir = (dir / "shared" / "inside").string();
  run_job(job);
  EXPECT_FALSE(fs::is_empty(dir / "shared" / "inside" / "checkpoints"));

  job.output_dir = (dir / "outside").string();
  const auto s = run_job(job);  // checkpoints refused: training goes on
  EXPECT_GT(s.steps, 0u);
  EXPECT_FALSE(fs::exists(dir / "outside" / "checkpoints" / "shard-0-clock-20.ckpt"));
  EXPECT_NE(node.process->log().find("outside this node's checkpoint_dir"), std::string::npos)
      << node.process->log();
}

}  // namespace
}  // namespace troupe
