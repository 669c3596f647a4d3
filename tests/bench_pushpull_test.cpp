// `troupe bench pushpull` end to end, through the binary: real server and
// worker processes on 127.0.0.1, a short run per store, the final value check.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#ifndef TROUPE_BINARY
#error "TROUPE_BINARY must name the troupe executable"
#endif

namespace {

struct command_result {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `args` under coreutils' timeout, so a hung run fails the test instead
// of stalling the suite (SIGTERM at the limit, SIGKILL 10 s later).
command_result run(const std::string& args, int limit_s) {
  const std::string cmd = "timeout -k 10 " + std::to_string(limit_s) + " " + TROUPE_BINARY +
                          " --log-level warn " + args + " 2>&1";
  command_result out;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> chunk{};
  while (std::fgets(chunk.data(), chunk.size(), pipe) != nullptr) out.output += chunk.data();
  const int status = ::pclose(pipe);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::stringstream in(line);
  std::string field;
  while (std::getline(in, field, sep)) out.push_back(field);
  return out;
}

// The CSV rows as maps from column name to value.
std::vector<std::vector<std::pair<std::string, std::string>>> read_csv(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::vector<std::pair<std::string, std::string>>> rows;
  if (!std::getline(in, line)) return rows;
  const auto header = split(line, ',');
  while (std::getline(in, line)) {
    const auto fields = split(line, ',');
    std::vector<std::pair<std::string, std::string>> row;
    for (std::size_t i = 0; i < header.size(); ++i) {
      row.emplace_back(header[i], i < fields.size() ? fields[i] : "");
    }
    rows.push_back(row);
  }
  return rows;
}

std::string field(const std::vector<std::pair<std::string, std::string>>& row,
                  const std::string& name) {
  for (const auto& [k, v] : row) {
    if (k == name) return v;
  }
  return "";
}

void expect_passing_runs(int servers, int workers, const std::string& optimizer = "sgd",
                         const std::string& more = "") {
  const std::string csv = ::testing::TempDir() + "pushpull_" + std::to_string(servers) + "x" +
                          std::to_string(workers) + optimizer + (more.empty() ? "" : "_plain") +
                          ".csv";
  std::remove(csv.c_str());
  const auto result =
      run("bench pushpull --servers " + std::to_string(servers) + " --workers " +
              std::to_string(workers) + " --keys 1000 --seconds 1 --store both --optimizer " +
              optimizer + " --out " + csv + " " + more,
          180);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  // Hash-store workers name their row ids once the servers hold them, unless told not to.
  const bool no_key_cache = more.find("--no-key-cache") != std::string::npos;
  EXPECT_NE(result.output.find(no_key_cache ? "every time (--no-key-cache)" : "(key caching)"),
            std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("PASS"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("FAIL"), std::string::npos) << result.output;
  const auto rows = read_csv(csv);
  ASSERT_EQ(rows.size(), 2u) << result.output;  // hash, then dense
  EXPECT_EQ(field(rows[0], "store"), "hash");
  EXPECT_EQ(field(rows[1], "store"), "dense");
  for (const auto& row : rows) {
    EXPECT_EQ(field(row, "check"), "PASS") << field(row, "failure");
    EXPECT_EQ(field(row, "servers"), std::to_string(servers));
    EXPECT_EQ(field(row, "workers"), std::to_string(workers));
    EXPECT_EQ(field(row, "keys"), "1000");
    EXPECT_GT(std::stoull(field(row, "timed_rounds")), 0u);
    EXPECT_GT(std::stod(field(row, "rounds_per_s_worker")), 0.0);
  }
}

TEST(BenchPushPull, OneServerOneWorkerPassesTheCheck) {
  expect_passing_runs(1, 1);
}

TEST(BenchPushPull, TwoServersTwoWorkersPassTheCheck) {
  expect_passing_runs(2, 2);
}

// Adam's values are not round numbers: the check replays the same optimizer.
// Here the workers' rounds run on their scheduler threads (the default runs
// them on the middleman's I/O thread).
TEST(BenchPushPull, AdamServersPassTheCheck) {
  expect_passing_runs(2, 2, "adam", "--worker-thread scheduler");
}

// Without key caching every request carries its row ids, as ps-lite's do;
// here with the servers' shards on their scheduler threads (the default
// runs them on the I/O thread).
TEST(BenchPushPull, SendingTheIdsEveryTimePassesTheCheckToo) {
  expect_passing_runs(2, 2, "sgd", "--no-key-cache --shard-thread scheduler");
}

TEST(BenchPushPull, RejectsBadOptions) {
  const auto result = run("bench pushpull --store nosuch", 30);
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_NE(run("bench pushpull --optimizer momentum", 30).exit_code, 0);
  EXPECT_NE(run("bench pushpull --shard-thread nosuch", 30).exit_code, 0);
  EXPECT_NE(run("bench pushpull --worker-thread nosuch", 30).exit_code, 0);
}

}  // namespace
