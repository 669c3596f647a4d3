// Shard checkpoints: a snapshot brings a store back exactly (values,
// optimizer state, versions, idempotent retries), files round-trip, every
// truncation and bit flip is reported as such, and the newest good file is
// found past corrupt and unfinished ones.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>

#include "engine/store/checkpoint.hpp"
#include "engine/store/progress_files.hpp"

namespace troupe {
namespace {

namespace fs = std::filesystem;

class Checkpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dense.id = 1;
    dense.name = "model";
    dense.size = 100;
    dense.init = {{60, 0.5f}, {100, 0.1f}};
    dense.seed = 7;
    dense.optimizer = {optimizer_kind::adam, 0.01f};
    sparse.id = 5;
    sparse.name = "emb";
    sparse.kind = table_kind::sparse;
    sparse.width = 3;
    sparse.row_init_bound = 0.1f;
    sparse.optimizer = {optimizer_kind::adam, 0.05f};  // per-row steps matter
    for (std::uint64_t k = 0; owned.size() < 6 || foreign == 0; ++k) {
      if (shard_of_row(k, 2) == 0) {
        owned.push_back(k);
      } else if (foreign == 0) {
        foreign = k;
      }
    }
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir = fs::temp_directory_path() /
          ("troupe-checkpoint-" + std::string(test->name()) + "-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    add_tables(store);
    train(store);
  }
  void TearDown() override { fs::remove_all(dir); }

  void add_tables(shard_store& s) {
    s.add_dense(dense, {40, 60});
    s.add_sparse(sparse, 2);
  }

  static push_ack apply(shard_store& s, const bytes& msg) {
    push_view v;
    EXPECT_TRUE(decode_push(msg, v).ok());
    push_ack ack;
    EXPECT_TRUE(s.apply_push(v, ack).ok());
    return ack;
  }
  static bytes dense_push(std::uint32_t worker, std::uint64_t seq, std::uint64_t offset,
                          std::size_t n) {
    auto w = push_writer::dense({1, worker, 0, seq, 0}, offset, n);
    for (std::size_t i = 0; i < n; ++i) w.values()[i] = 0.1f * seq - 0.03f * i;
    return std::move(w).finish();
  }
  static bytes rows_push(std::uint32_t worker, std::uint64_t seq,
                         const std::vector<std::uint64_t>& keys) {
    auto w = push_writer::sparse({5, worker, 0, seq, 0}, keys.data(), keys.size(), 3);
    for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = 0.2f * seq + 0.01f * i;
    return std::move(w).finish();
  }

  // Two workers push to both tables; owned[5] is only pulled (a row with no
  // updates yet), so slot order differs from key order.
  void train(shard_store& s) {
    apply(s, dense_push(0, 1, 40, 20));
    apply(s, dense_push(1, 1, 45, 10));
    apply(s, dense_push(0, 2, 50, 10));
    apply(s, rows_push(1, 2, {owned[3], owned[0]}));
    pull_rows(s, {owned[5]});
    apply(s, rows_push(0, 3, {owned[0], owned[1], owned[2]}));
    apply(s, rows_push(1, 3, {owned[4], owned[0]}));
  }

  static std::vector<float> pull_dense(shard_store& s) {
    pull_request_view req;
    EXPECT_TRUE(decode_pull_request(encode_dense_pull(1, 0, 40, 20), req).ok());
    return reply_values(s, req);
  }
  static std::vector<float> pull_rows(shard_store& s, const std::vector<std::uint64_t>& keys) {
    pull_request_view req;
    EXPECT_TRUE(decode_pull_request(encode_sparse_pull(5, 0, keys.data(), keys.size()), req).ok());
    return reply_values(s, req);
  }
  static std::vector<float> reply_values(shard_store& s, const pull_request_view& req) {
    bytes reply;
    EXPECT_TRUE(s.read_pull(req, reply).ok());
    pull_reply_view v;
    EXPECT_TRUE(decode_pull_reply(reply, v).ok());
    return std::vector<float>(v.values, v.values + v.count);
  }

  std::string path_of(std::int64_t clock, std::uint32_t shard = 0) const {
    return (dir / checkpoint_file_name(shard, clock)).string();
  }
  static std::vector<char> slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  static void spit(const std::string& path, const std::vector<char>& data) {
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(data.data(), data.size());
  }
  std::vector<std::string> names() const { return names_in(dir); }
  static std::vector<std::string> names_in(const fs::path& where) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(where)) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  void write_at(std::int64_t clock) {
    ASSERT_TRUE(write_checkpoint(dir.string(), {"job", 0, clock}, store.snapshot()).ok());
  }

  table_spec dense, sparse;
  std::vector<std::uint64_t> owned;
  std::uint64_t foreign = 0;  // a row of shard 1
  shard_store store{0};
  fs::path dir;
};

TEST_F(Checkpoint, RestoredStoreAnswersAndLearnsExactlyLikeTheOriginal) {
  const auto snap = store.snapshot();
  ASSERT_EQ(snap.dense.size(), 1u);
  ASSERT_EQ(snap.sparse.size(), 1u);
  EXPECT_EQ(snap.sparse[0].keys.size(), 6u);
  EXPECT_EQ(snap.last_seq, (std::vector<std::pair<std::uint32_t, std::uint64_t>>{{0, 3}, {1, 3}}));

  shard_store copy(0);
  ASSERT_TRUE(copy.restore(snap).ok());
  EXPECT_EQ(pull_dense(copy), pull_dense(store));
  EXPECT_EQ(pull_rows(copy, owned), pull_rows(store, owned));
  EXPECT_EQ(copy.version(1), 3u);
  EXPECT_EQ(copy.version(5), 3u);
  EXPECT_EQ(copy.total_version(), store.total_version());
  EXPECT_EQ(copy.dense_range(1), (key_range{40, 60}));

  // A push retried across the restore is acknowledged, not applied again.
  const auto before = pull_dense(copy);
  auto ack = apply(copy, dense_push(0, 2, 50, 10));
  EXPECT_TRUE(ack.duplicate);
  EXPECT_EQ(ack.shard_version, 3u);
  EXPECT_EQ(pull_dense(copy), before);
  EXPECT_TRUE(apply(copy, rows_push(1, 3, {owned[4], owned[0]})).duplicate);
  EXPECT_EQ(copy.version(5), 3u);

  // Adam moments, versions and per-row steps came back too: the next
  // pushes move both stores bit for bit alike.
  for (shard_store* s : {&store, &copy}) {
    EXPECT_FALSE(apply(*s, dense_push(1, 4, 40, 20)).duplicate);
    EXPECT_FALSE(apply(*s, rows_push(0, 4, {owned[0], owned[5], owned[1]})).duplicate);
  }
  EXPECT_EQ(pull_dense(copy), pull_dense(store));
  EXPECT_EQ(pull_rows(copy, owned), pull_rows(store, owned));
}

TEST_F(Checkpoint, RestoreRejectsInconsistentSnapshotsAndChangesNothing) {
  const auto good = store.snapshot();
  shard_store other(1);
  auto st = other.restore(good);
  EXPECT_EQ(st.code(), errc::out_of_range);
  EXPECT_NE(st.message().find("snapshot of shard 0 cannot restore shard 1"), std::string::npos);

  struct bad_case {
    const char* what;
    errc code;
    std::function<void(shard_snapshot&)> spoil;
  };
  const bad_case cases[] = {
      {"dense values", errc::wrong_size, [](shard_snapshot& s) { s.dense[0].values.pop_back(); }},
      {"dense state", errc::wrong_size, [](shard_snapshot& s) { s.dense[0].state.push_back(0); }},
      {"dense steps", errc::wrong_size, [](shard_snapshot& s) { s.dense[0].steps.pop_back(); }},
      // Another layout than the store's tables: another model or shard count.
      {"range", errc::bad_config,
       [](shard_snapshot& s) {
         s.dense[0].range = {90, 110};
       }},
      {"size", errc::bad_config, [](shard_snapshot& s) { s.dense[0].spec.size += 1; }},
      {"width", errc::bad_config, [](shard_snapshot& s) { s.sparse[0].spec.width += 1; }},
      {"sparse shard count", errc::bad_config, [](shard_snapshot& s) { s.sparse[0].shards += 1; }},
      {"missing table", errc::bad_config, [](shard_snapshot& s) { s.sparse.clear(); }},
      {"sparse values", errc::wrong_size, [](shard_snapshot& s) { s.sparse[0].values.pop_back(); }},
      {"sparse state", errc::wrong_size, [](shard_snapshot& s) { s.sparse[0].state.clear(); }},
      {"steps", errc::wrong_size, [](shard_snapshot& s) { s.sparse[0].steps.pop_back(); }},
      {"foreign row", errc::out_of_range,
       [&](shard_snapshot& s) { s.sparse[0].keys[1] = foreign; }},
      {"row twice", errc::bad_config,
       [](shard_snapshot& s) { s.sparse[0].keys[1] = s.sparse[0].keys[0]; }},
      {"table twice", errc::bad_config,
       [](shard_snapshot& s) { s.sparse[0].spec.id = s.dense[0].spec.id; }},
      {"optimizer", errc::bad_config,
       [](shard_snapshot& s) { s.dense[0].spec.optimizer.kind = optimizer_kind::momentum; }},
  };
  const auto values = pull_dense(store);
  const auto rows = pull_rows(store, owned);
  for (const auto& c : cases) {
    auto bad = good;
    c.spoil(bad);
    EXPECT_EQ(store.restore(bad).code(), c.code) << c.what;
    EXPECT_EQ(pull_dense(store), values) << c.what;
    EXPECT_EQ(pull_rows(store, owned), rows) << c.what;
    EXPECT_EQ(store.version(1), 3u) << c.what;
  }
}

// A resumed job's settings hold: a table keeps its own learning rate and
// row bound, whatever the snapshot's specs say (before, the snapshot's
// replaced them: `--lr` on a resume was ignored, and a bound table took any
// row id after a restore, as checkpoints do not carry the bound).
TEST_F(Checkpoint, ARestoredTableKeepsItsOwnSettings) {
  auto snap = store.snapshot();
  snap.dense[0].spec.optimizer.learning_rate = 0.5f;
  snap.sparse[0].spec.optimizer.learning_rate = 0.5f;
  shard_store job(0);
  auto bounded = sparse;
  bounded.max_row_id = 1000;
  job.add_dense(dense, {40, 60});
  job.add_sparse(bounded, 2);
  ASSERT_TRUE(job.restore(snap).ok());
  const auto after = job.snapshot();
  EXPECT_FLOAT_EQ(after.dense[0].spec.optimizer.learning_rate, 0.01f);
  EXPECT_FLOAT_EQ(after.sparse[0].spec.optimizer.learning_rate, 0.05f);
  EXPECT_EQ(after.sparse[0].spec.max_row_id, 1000u);
  EXPECT_EQ(after.dense[0].values, snap.dense[0].values);  // the values are the snapshot's
}

TEST_F(Checkpoint, WritesAtomicallyAndReadsBackExactly) {
  const checkpoint_header header{"mnist-mlp", 0, 30};
  const auto nested = dir / "a" / "b";  // created on the way
  ASSERT_TRUE(write_checkpoint(nested.string() + "/", header, store.snapshot()).ok());
  EXPECT_EQ(names_in(nested), std::vector<std::string>{"shard-0-clock-30.ckpt"});
  const auto path = (nested / "shard-0-clock-30.ckpt").string();

  checkpoint back;
  ASSERT_TRUE(read_checkpoint(path, back).ok());
  EXPECT_EQ(back.header.job, "mnist-mlp");
  EXPECT_EQ(back.header.shard_id, 0u);
  EXPECT_EQ(back.header.clock, 30);
  EXPECT_EQ(encode_checkpoint(back.header, back.snapshot), slurp(path));
  EXPECT_EQ(back.snapshot.sparse[0].spec.name, "emb");
  EXPECT_EQ(back.snapshot.dense[0].spec.init.size(), 2u);
  // Adam's update count of every key: pushes over [40, 60), [45, 55), [50, 60).
  std::vector<std::uint32_t> steps(20, 1);
  std::fill(steps.begin() + 5, steps.end(), 2);
  std::fill(steps.begin() + 10, steps.begin() + 15, 3);
  EXPECT_EQ(back.snapshot.dense[0].steps, steps);

  shard_store copy(0);
  ASSERT_TRUE(copy.restore(std::move(back.snapshot)).ok());
  EXPECT_EQ(pull_dense(copy), pull_dense(store));
  EXPECT_EQ(pull_rows(copy, owned), pull_rows(store, owned));
  EXPECT_TRUE(apply(copy, dense_push(1, 1, 45, 10)).duplicate);

  EXPECT_EQ(write_checkpoint(dir.string(), {"x", 1, 40}, store.snapshot()).code(),
            errc::bad_config);
  EXPECT_EQ(write_checkpoint(dir.string(), {"x", 0, -1}, store.snapshot()).code(),
            errc::bad_config);
  EXPECT_EQ(read_checkpoint(path_of(99), back).code(), errc::io_error);
}

TEST_F(Checkpoint, EveryTruncationIsReportedAsSuch) {
  const auto bytes = encode_checkpoint({"job", 0, 10}, store.snapshot());
  ASSERT_GT(bytes.size(), 400u);
  checkpoint out;
  for (std::size_t n = 0; n < bytes.size(); n += 7) {
    auto st = decode_checkpoint(bytes.data(), n, out);
    EXPECT_EQ(st.code(), errc::malformed_message) << n;
    EXPECT_NE(st.message().find("truncated at byte " + std::to_string(n) + " of"),
              std::string::npos)
        << st.message();
  }
  auto longer = bytes;
  longer.push_back(0);
  EXPECT_NE(decode_checkpoint(longer.data(), longer.size(), out).message().find("unexpected bytes"),
            std::string::npos);

  fs::create_directories(dir);
  spit(path_of(10), std::vector<char>(bytes.begin(), bytes.begin() + 300));
  auto st = read_checkpoint(path_of(10), out);
  EXPECT_EQ(st.message(),
            path_of(10) + ": truncated at byte 300 of " + std::to_string(bytes.size()));
}

TEST_F(Checkpoint, EveryBitFlipIsDetected) {
  const auto bytes = encode_checkpoint({"job", 0, 10}, store.snapshot());
  std::mt19937 rng(2024);
  std::uniform_int_distribution<std::size_t> at(0, bytes.size() - 1);
  checkpoint out;
  for (int i = 0; i < 400; ++i) {
    // Every tenth flip lands in the 24-byte header, the rest anywhere.
    const std::size_t pos = i % 10 == 0 ? static_cast<std::size_t>(i / 10 % 24) : at(rng);
    auto flipped = bytes;
    flipped[pos] ^= static_cast<char>(1u << (rng() % 8));
    const auto st = decode_checkpoint(flipped.data(), flipped.size(), out);
    if (pos < 8) {
      EXPECT_EQ(st.message().rfind("bad magic", 0), 0u) << pos;
    } else if (pos < 12 && (flipped[8] != 2 || pos != 8)) {
      EXPECT_EQ(st.code(), errc::version_mismatch) << pos;
      EXPECT_EQ(st.message().rfind("unsupported checkpoint format version ", 0), 0u) << pos;
    } else {
      EXPECT_EQ(st.code(), errc::malformed_message) << pos;
      // (Version 3 flipped to 2, which is still read, fails the header's checksum.)
      const char* expect = pos < 24 ? "checksum mismatch in the header" : "checksum mismatch: ";
      EXPECT_EQ(st.message().rfind(expect, 0), 0u) << pos << ": " << st.message();
    }
  }
  auto future = bytes;
  future[8] = 4;
  EXPECT_EQ(decode_checkpoint(future.data(), future.size(), out).to_string(),
            "version_mismatch: unsupported checkpoint format version 4 (this build reads 2 to 3)");
}

// Version 2 lacked only the list of senders that push in order (the last
// field of the body): such files, written before version 3, still resume.
TEST_F(Checkpoint, VersionTwoFilesStillRestore) {
  auto snap = store.snapshot();
  snap.in_order.clear();  // version 2 could not say
  auto file = encode_checkpoint({"job", 0, 10}, snap);
  // The body's last 8 bytes are the (empty) in-order list's count: drop them
  // and write the sizes, version and checksums as version 2 had them.
  file.erase(file.end() - 12, file.end() - 4);
  const std::uint32_t version = 2;
  const std::uint64_t body = file.size() - 28;
  std::memcpy(file.data() + 8, &version, 4);
  std::memcpy(file.data() + 12, &body, 8);
  auto crc = [&](std::size_t n) {
    return static_cast<std::uint32_t>(crc32_z(0, reinterpret_cast<const Bytef*>(file.data()), n));
  };
  const auto head = crc(20);
  std::memcpy(file.data() + 20, &head, 4);
  const auto all = crc(file.size() - 4);
  std::memcpy(file.data() + file.size() - 4, &all, 4);

  checkpoint out;
  ASSERT_TRUE(decode_checkpoint(file.data(), file.size(), out).ok());
  EXPECT_TRUE(out.snapshot.in_order.empty());
  EXPECT_EQ(out.snapshot.last_seq, snap.last_seq);
  shard_store copy(0);
  ASSERT_TRUE(copy.restore(out.snapshot).ok());
  EXPECT_EQ(pull_dense(copy), pull_dense(store));
  EXPECT_EQ(pull_rows(copy, owned), pull_rows(store, owned));
  EXPECT_TRUE(apply(copy, dense_push(0, 2, 50, 10)).duplicate);
}

// Version 1 kept no per-key update counts for dense tables: resuming Adam
// from it would change the trajectory silently, so it is refused by name.
TEST_F(Checkpoint, VersionOneFilesAreRefused) {
  auto old = encode_checkpoint({"job", 0, 10}, store.snapshot());
  old[8] = 1;
  checkpoint out;
  EXPECT_EQ(decode_checkpoint(old.data(), old.size(), out).to_string(),
            "version_mismatch: unsupported checkpoint format version 1 (this build reads 2 to 3; "
            "version 1 lacks the per-key update counts of dense tables)");
  fs::create_directories(dir);
  spit(path_of(10), old);
  write_at(5);
  latest_checkpoint latest;
  ASSERT_TRUE(find_latest_checkpoint(dir.string(), 0, latest).ok());
  EXPECT_EQ(latest.path, path_of(5));
  ASSERT_EQ(latest.warnings.size(), 1u);
  EXPECT_NE(latest.warnings[0].find("format version 1"), std::string::npos) << latest.warnings[0];
}

// Checksums only catch accidents; the reader must also survive a file whose
// lengths lie consistently (run under ASan to see it never reads past the end).
TEST_F(Checkpoint, LengthsAreBoundedEvenWhenTheChecksumsMatch) {
  const auto bytes = encode_checkpoint({"job", 0, 10}, store.snapshot());
  const auto reseal = [](std::vector<char>& b) {
    const auto crc = [&](std::size_t n) {
      return static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(b.data()), n));
    };
    const std::uint32_t head = crc(20), whole = crc(b.size() - 4);
    std::memcpy(b.data() + 20, &head, 4);
    std::memcpy(b.data() + b.size() - 4, &whole, 4);
  };
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> at(24, bytes.size() - 12);
  checkpoint out;
  int rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    auto lying = bytes;
    const std::size_t pos = at(rng);
    for (std::size_t k = 0; k < 8; ++k) lying[pos + k] = static_cast<char>(i % 2 ? 0xff : rng());
    reseal(lying);
    const auto st = decode_checkpoint(lying.data(), lying.size(), out);
    if (st.ok()) continue;  // a float or a seq changed: still a well-formed file
    ++rejected;
    EXPECT_EQ(st.code(), errc::malformed_message) << st.message();
    const bool placed = st.message().find(" at byte ") != std::string::npos ||
                        st.message().rfind("the header names shard ", 0) == 0;
    EXPECT_TRUE(placed) << st.message();
  }
  EXPECT_GT(rejected, 100);
}

TEST_F(Checkpoint, LatestSkipsCorruptNewerFilesWithAWarning) {
  for (std::int64_t clock : {10, 20, 30}) write_at(clock);
  shard_store other(1);
  ASSERT_TRUE(write_checkpoint(dir.string(), {"job", 1, 40}, other.snapshot()).ok());
  auto data = slurp(path_of(30));
  data[data.size() / 2] ^= 0x10;
  spit(path_of(30), data);

  latest_checkpoint last;
  ASSERT_TRUE(find_latest_checkpoint(dir.string(), 0, last).ok());
  ASSERT_TRUE(last.found());
  EXPECT_EQ(last.path, path_of(20));
  EXPECT_EQ(last.data.header.clock, 20);
  ASSERT_EQ(last.warnings.size(), 1u);
  EXPECT_EQ(last.warnings[0].rfind("shard-0-clock-30.ckpt is corrupt (checksum mismatch: ", 0), 0u)
      << last.warnings[0];
  const std::string tail = "); using shard-0-clock-20.ckpt";
  EXPECT_EQ(last.warnings[0].substr(last.warnings[0].size() - tail.size()), tail);

  data = slurp(path_of(20));
  spit(path_of(20), std::vector<char>(data.begin(), data.end() - 5));
  ASSERT_TRUE(find_latest_checkpoint(dir.string(), 0, last).ok());
  EXPECT_EQ(last.data.header.clock, 10);
  ASSERT_EQ(last.warnings.size(), 2u);
  EXPECT_EQ(last.warnings[1], "shard-0-clock-20.ckpt is corrupt (truncated at byte " +
                                  std::to_string(data.size() - 5) + " of " +
                                  std::to_string(data.size()) + "); using shard-0-clock-10.ckpt");

  fs::remove(path_of(10));
  ASSERT_TRUE(find_latest_checkpoint(dir.string(), 0, last).ok());
  EXPECT_FALSE(last.found());
  ASSERT_EQ(last.warnings.size(), 2u);
  EXPECT_NE(last.warnings[1].find("; no older complete checkpoint"), std::string::npos);
}

TEST_F(Checkpoint, LeftoverTmpFromACrashedWriteIsIgnored) {
  write_at(10);
  const auto bytes = encode_checkpoint({"job", 0, 20}, store.snapshot());
  spit(path_of(20) + ".tmp", std::vector<char>(bytes.begin(), bytes.begin() + bytes.size() / 2));

  latest_checkpoint last;
  ASSERT_TRUE(find_latest_checkpoint(dir.string(), 0, last).ok());
  EXPECT_EQ(last.path, path_of(10));
  EXPECT_EQ(last.warnings,
            std::vector<std::string>{"shard-0-clock-20.ckpt.tmp is an unfinished write; using "
                                     "shard-0-clock-10.ckpt"});

  write_at(20);  // the retried write replaces the leftover
  EXPECT_EQ(names(), (std::vector<std::string>{"shard-0-clock-10.ckpt", "shard-0-clock-20.ckpt"}));
  ASSERT_TRUE(find_latest_checkpoint(dir.string(), 0, last).ok());
  EXPECT_EQ(last.data.header.clock, 20);
  EXPECT_TRUE(last.warnings.empty());
}

TEST_F(Checkpoint, LatestInAnEmptyOrMissingDirectory) {
  latest_checkpoint last;
  EXPECT_EQ(find_latest_checkpoint(dir.string(), 0, last).code(), errc::io_error);
  fs::create_directories(dir);
  spit((dir / "shard-0-clock-007.ckpt").string(), {'x'});  // not a name we write
  ASSERT_TRUE(find_latest_checkpoint(dir.string(), 0, last).ok());
  EXPECT_FALSE(last.found());
  EXPECT_TRUE(last.warnings.empty());
}

TEST_F(Checkpoint, PruneKeepsTheNewestCompleteOnes) {
  for (std::int64_t clock : {10, 20, 30, 40, 50}) write_at(clock);
  shard_store other(1);
  ASSERT_TRUE(write_checkpoint(dir.string(), {"job", 1, 10}, other.snapshot()).ok());
  auto data = slurp(path_of(50));
  data[100] ^= 1;
  spit(path_of(50), data);
  spit(path_of(5) + ".tmp", {'x'});   // stale leftover
  spit(path_of(60) + ".tmp", {'x'});  // maybe being written right now
  spit((dir / "notes.txt").string(), {'x'});

  std::vector<std::string> removed;
  ASSERT_TRUE(prune_checkpoints(dir.string(), 0, 2, &removed).ok());
  EXPECT_EQ(names(),
            (std::vector<std::string>{"notes.txt", "shard-0-clock-30.ckpt", "shard-0-clock-40.ckpt",
                                      "shard-0-clock-60.ckpt.tmp", "shard-1-clock-10.ckpt"}));
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed,
            (std::vector<std::string>{path_of(10), path_of(20), path_of(5) + ".tmp", path_of(50)}));
  EXPECT_EQ(prune_checkpoints(dir.string(), 0, 0).code(), errc::bad_config);
}

// Another shard failed the rounds of clocks 40-70 (no progress file names
// them complete): this shard's newest files must not push out the sets that
// can still be resumed from (before, it kept its newest 3 and deleted all
// three complete sets).
TEST_F(Checkpoint, PruneKeepsTheFilesOfTheNewestCompleteSets) {
  for (std::int64_t clock : {10, 20, 30, 40, 50, 60, 70}) write_at(clock);
  for (std::int64_t clock : {10, 20, 30}) ASSERT_TRUE(write_progress_file(dir.string(), clock, 0));
  ASSERT_TRUE(prune_checkpoints(dir.string(), 0, 3).ok());
  EXPECT_EQ(names(), (std::vector<std::string>{"progress-clock-10.txt", "progress-clock-20.txt",
                                               "progress-clock-30.txt", "shard-0-clock-20.ckpt",
                                               "shard-0-clock-30.ckpt", "shard-0-clock-50.ckpt",
                                               "shard-0-clock-60.ckpt", "shard-0-clock-70.ckpt"}));
}

}  // namespace
}  // namespace troupe
