#include "engine/shared_dir.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "data_files.hpp"
#include "engine/store/checkpoint.hpp"

namespace troupe {
namespace {

namespace fs = std::filesystem;
using testing_files::temp_dir;

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Sets the umask for a scope (the node unit's UMask=0077).
struct umask_scope {
  explicit umask_scope(mode_t m) : old(::umask(m)) {}
  ~umask_scope() { ::umask(old); }
  mode_t old;
};

// Node daemons (their own user, UMask=0077) write checkpoints that the
// trainer (another user of the group that owns the shared directory) reads
// back for --resume: they were 0600 and the directories the nodes made
// 0700, and a trainer's output directory (0755) took no checkpoints/ of a
// node. Below a set-group-id directory the group gets its access; elsewhere
// nothing changes.
TEST(SharedDir, BelowASetGroupIdDirectoryTheGroupReadsAndWrites) {
  temp_dir dir("shared_dir");
  const auto shared = dir.file("srv");
  fs::create_directories(shared);
  ASSERT_EQ(::chmod(shared.c_str(), 02770), 0);
  const umask_scope strict(077);
  ASSERT_TRUE(make_shared_dir(shared + "/runs/job1/checkpoints"));
  for (const auto* d : {"/runs", "/runs/job1", "/runs/job1/checkpoints"}) {
    EXPECT_EQ(mode_of(shared + d), 02770u) << d;
  }
  // A checkpoint written there is readable by the group.
  shard_snapshot snap;
  snap.shard_id = 0;
  checkpoint_header header;
  header.shard_id = 0;
  header.clock = 5;
  ASSERT_TRUE(write_checkpoint(shared + "/runs/job1/checkpoints", header, snap));
  EXPECT_EQ(mode_of(shared + "/runs/job1/checkpoints/" + checkpoint_file_name(0, 5)), 0640u);
  // The node made the directory itself (no trainer made it first): the same.
  ASSERT_TRUE(write_checkpoint(shared + "/runs/job2/checkpoints", header, snap));
  EXPECT_EQ(mode_of(shared + "/runs/job2/checkpoints"), 02770u);

  // Elsewhere the umask decides, as before.
  const auto plain = dir.file("plain");
  ASSERT_TRUE(make_shared_dir(plain + "/a/b"));
  EXPECT_EQ(mode_of(plain + "/a/b"), 0700u);
  ASSERT_TRUE(write_checkpoint(plain + "/a/b", header, snap));
  EXPECT_EQ(mode_of(plain + "/a/b/" + checkpoint_file_name(0, 5)), 0600u);
  // An existing directory keeps its mode.
  ASSERT_EQ(::chmod((shared + "/runs").c_str(), 02750), 0);
  ASSERT_TRUE(make_shared_dir(shared + "/runs/job1"));
  EXPECT_EQ(mode_of(shared + "/runs"), 02750u);
}

}  // namespace
}  // namespace troupe
