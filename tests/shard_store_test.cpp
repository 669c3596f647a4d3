// The shard's store: pushes applied through the optimizer, every bad push
// rejected with nothing changed, idempotent retries, pulls and staleness.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "engine/store/checkpoint.hpp"
#include "engine/store/shard_store.hpp"

namespace troupe {
namespace {

class ShardStore : public ::testing::Test {
 protected:
  void SetUp() override {
    spec.id = 1;
    spec.name = "model";
    spec.size = 100;
    spec.init = {{100, 0.5f}};
    spec.optimizer = {optimizer_kind::sgd, 0.1f};
    store.add_dense(spec, {40, 60});
    initial = *store.dense_values(1);
  }

  push_view decoded(const bytes& msg) {
    push_view v;
    EXPECT_TRUE(decode_push(msg, v).ok());
    return v;
  }

  bytes push(std::uint64_t offset, std::size_t n, float value, std::uint64_t seq,
             std::uint32_t table = 1, std::uint64_t pulled = 0) {
    auto w = push_writer::dense({table, 0, 0, seq, pulled}, offset, n);
    for (std::size_t i = 0; i < n; ++i) w.values()[i] = value;
    return std::move(w).finish();
  }

  // A worker's push: seqs without gaps.
  bytes ordered(std::uint64_t seq, std::uint32_t worker = 0) {
    auto w = push_writer::dense({1, worker, 0, seq, 0, false, true}, 40, 20);
    for (std::size_t i = 0; i < 20; ++i) w.values()[i] = 0.5f;
    return std::move(w).finish();
  }

  table_spec spec;
  shard_store store{3};
  std::vector<float> initial;
};

TEST_F(ShardStore, InitialisesItsRangeFromTheSpec) {
  ASSERT_EQ(initial.size(), 20u);
  for (std::size_t i = 0; i < 20; ++i) EXPECT_EQ(initial[i], initial_value(spec, 40 + i));
}

TEST_F(ShardStore, AppliesAPushWithTheOptimizer) {
  auto msg = push(45, 5, 2.0f, 1);
  push_ack ack;
  ASSERT_TRUE(store.apply_push(decoded(msg), ack).ok());
  EXPECT_EQ(ack.seq, 1u);
  EXPECT_EQ(ack.shard_version, 1u);
  EXPECT_FALSE(ack.duplicate);
  const auto& now = *store.dense_values(1);
  for (std::size_t i = 0; i < 20; ++i) {
    const float expect = (i >= 5 && i < 10) ? initial[i] - 0.2f : initial[i];
    EXPECT_FLOAT_EQ(now[i], expect) << i;
  }
}

TEST_F(ShardStore, RejectsBadPushesAndChangesNothing) {
  push_ack ack;
  auto nan_push = push(40, 20, 1.0f, 1);
  {
    push_view v = decoded(nan_push);
    const_cast<float*>(v.values)[7] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_EQ(store.apply_push(v, ack).code(), errc::non_finite);
    const_cast<float*>(v.values)[7] = std::numeric_limits<float>::infinity();
    EXPECT_EQ(store.apply_push(v, ack).code(), errc::non_finite);
    // Finite, but no optimizer state or parameter stays finite under it.
    const_cast<float*>(v.values)[7] = 3e38f;
    const auto st = store.apply_push(v, ack);
    EXPECT_EQ(st.code(), errc::non_finite);
    EXPECT_NE(st.message().find("value 3e+38, beyond the largest gradient a shard applies"),
              std::string::npos)
        << st.message();
  }
  EXPECT_EQ(store.apply_push(decoded(push(55, 10, 1.0f, 2)), ack).code(), errc::out_of_range);
  EXPECT_EQ(store.apply_push(decoded(push(10, 5, 1.0f, 3)), ack).code(), errc::out_of_range);
  EXPECT_EQ(store.apply_push(decoded(push(40, 0, 1.0f, 4)), ack).code(), errc::wrong_size);
  EXPECT_EQ(store.apply_push(decoded(push(40, 5, 1.0f, 5, 9)), ack).code(), errc::unknown_table);
  EXPECT_EQ(*store.dense_values(1), initial);
  EXPECT_EQ(store.version(1), 0u);
  // ...and it keeps serving good pushes, including seq numbers the rejected ones used.
  ASSERT_TRUE(store.apply_push(decoded(push(40, 20, 1.0f, 1)), ack).ok());
  EXPECT_EQ(store.version(1), 1u);
}

// PushRequest.checkedFinite spares the scan only when the caller vouches
// that the push comes from its own process (trust_checked); a flag alone,
// as any process can set it, changes nothing.
TEST_F(ShardStore, ASendersScanIsTrustedOnlyWhenTheCallerVouchesForItsProcess) {
  push_header h{1, 0, 0, 1, 0};
  h.checked_finite = true;
  auto w = push_writer::dense(h, 40, 20);
  for (std::size_t i = 0; i < 20; ++i) w.values()[i] = 1.0f;
  w.values()[3] = std::numeric_limits<float>::quiet_NaN();
  const auto msg = std::move(w).finish();
  push_view v = decoded(msg);
  EXPECT_TRUE(v.checked_finite);
  push_ack ack;
  EXPECT_EQ(store.apply_push(v, ack).code(), errc::non_finite);
  EXPECT_EQ(*store.dense_values(1), initial);
  // Vouched for: not scanned again (what the sender's scan is for).
  ASSERT_TRUE(store.apply_push(v, ack, true).ok());
  EXPECT_TRUE(std::isnan((*store.dense_values(1))[3]));
  EXPECT_FLOAT_EQ((*store.dense_values(1))[4], initial[4] - 0.1f);
}

TEST_F(ShardStore, RetriedPushIsAcknowledgedButNotAppliedTwice) {
  auto msg = push(40, 20, 1.0f, 7);
  push_ack ack;
  ASSERT_TRUE(store.apply_push(decoded(msg), ack).ok());
  const auto once = *store.dense_values(1);
  ASSERT_TRUE(store.apply_push(decoded(msg), ack).ok());
  EXPECT_TRUE(ack.duplicate);
  EXPECT_EQ(*store.dense_values(1), once);
  EXPECT_EQ(store.version(1), 1u);
}

// A worker's pushes to a shard count up from 1 without gaps (PushRequest.
// inOrder): one that skips a seq the shard has not applied is refused and
// changes nothing, so that the missing push, sent again behind it, is not
// taken for a retry and dropped.
TEST_F(ShardStore, InOrderPushThatSkipsASeqIsRefusedUntilTheMissingOneCame) {
  push_ack ack;
  ASSERT_TRUE(store.apply_push(decoded(ordered(1)), ack).ok());
  const auto after_one = *store.dense_values(1);
  EXPECT_EQ(store.apply_push(decoded(ordered(3)), ack).code(), errc::out_of_order);
  EXPECT_EQ(*store.dense_values(1), after_one);
  EXPECT_EQ(store.version(1), 1u);
  ASSERT_TRUE(store.apply_push(decoded(ordered(2)), ack).ok());
  EXPECT_FALSE(ack.duplicate);
  ASSERT_TRUE(store.apply_push(decoded(ordered(3)), ack).ok());
  EXPECT_FALSE(ack.duplicate);
  EXPECT_EQ(store.version(1), 3u);
  // A retry is still a duplicate, not a gap.
  ASSERT_TRUE(store.apply_push(decoded(ordered(2)), ack).ok());
  EXPECT_TRUE(ack.duplicate);
  EXPECT_EQ(store.version(1), 3u);
  // A worker this shard has not heard from starts at 1.
  EXPECT_EQ(store.apply_push(decoded(ordered(2, 5)), ack).code(), errc::out_of_order);
  ASSERT_TRUE(store.apply_push(decoded(ordered(1, 5)), ack).ok());
  // Pushes without the flag (a service client's, whose refused pushes use
  // up their seqs) may skip seqs as before.
  ASSERT_TRUE(store.apply_push(decoded(push(40, 20, 1.0f, 9)), ack).ok());
  EXPECT_EQ(store.version(1), 5u);
}

// A table service gives every connection a new sender id: the seqs kept for
// retries stay bounded however many clients came and went, forgetting those
// heard from longest ago, never a job's in-order worker.
TEST_F(ShardStore, ClientsThatComeAndGoLeaveABoundedSeqTable) {
  push_ack ack;
  ASSERT_TRUE(store.apply_push(decoded(ordered(1)), ack).ok());
  auto client_push = [&](std::uint32_t sender) {
    auto w = push_writer::dense({1, sender, 0, 1, 0}, 40, 1);
    w.values()[0] = 0.f;
    return std::move(w).finish();
  };
  constexpr std::uint32_t first = 1000;
  const auto clients = static_cast<std::uint32_t>(shard_store::max_tracked_senders * 5 / 4);
  std::size_t most = 0;
  for (std::uint32_t c = 0; c < clients; ++c) {
    ASSERT_TRUE(store.apply_push(decoded(client_push(first + c)), ack).ok());
    ASSERT_FALSE(ack.duplicate);
    most = std::max(most, store.tracked_senders());
  }
  EXPECT_LE(most, shard_store::max_tracked_senders);
  EXPECT_GT(store.tracked_senders(), shard_store::max_tracked_senders / 2);
  // The latest clients' retries are still recognised...
  ASSERT_TRUE(store.apply_push(decoded(client_push(first + clients - 1)), ack).ok());
  EXPECT_TRUE(ack.duplicate);
  // ...the earliest client's seq is gone (its retry would be applied again)...
  ASSERT_TRUE(store.apply_push(decoded(client_push(first)), ack).ok());
  EXPECT_FALSE(ack.duplicate);
  // ...and the in-order worker heard from first of all still has its count.
  EXPECT_EQ(store.apply_push(decoded(ordered(3)), ack).code(), errc::out_of_order);
  ASSERT_TRUE(store.apply_push(decoded(ordered(2)), ack).ok());
  EXPECT_FALSE(ack.duplicate);
  ASSERT_TRUE(store.apply_push(decoded(ordered(2)), ack).ok());
  EXPECT_TRUE(ack.duplicate);
}

// In-order senders (a job's workers) are kept before clients, but a peer
// claiming to be ever new workers cannot grow the table either; and the
// sender whose push made room is never the one forgotten.
TEST_F(ShardStore, SendersClaimingToBeEverNewWorkersStayBounded) {
  push_ack ack;
  const auto senders = static_cast<std::uint32_t>(shard_store::max_tracked_senders * 5 / 4);
  std::size_t before = 0, evictions = 0;
  for (std::uint32_t w = 1; w <= senders; ++w) {
    const auto first = ordered(1, w);
    ASSERT_TRUE(store.apply_push(decoded(first), ack).ok());
    ASSERT_FALSE(ack.duplicate) << w;
    ASSERT_LE(store.tracked_senders(), shard_store::max_tracked_senders);
    if (store.tracked_senders() < before) {
      ++evictions;
      ASSERT_TRUE(store.apply_push(decoded(first), ack).ok());
      EXPECT_TRUE(ack.duplicate) << "sender " << w << " forgot its own push";
    }
    before = store.tracked_senders();
  }
  EXPECT_GT(evictions, 0u);
  // Worker 1 was forgotten with the first of them. Its next push is taken
  // at its word, as after a restore: refusing it as out of order would stop
  // it for good (it can never resend the seqs the shard forgot).
  ASSERT_TRUE(store.apply_push(decoded(ordered(2, 1)), ack).ok());
  EXPECT_FALSE(ack.duplicate);
}

// A shard restored from a checkpoint still knows which senders push in
// order, so a stream of new clients after the restore cannot make it forget
// a job's worker's count (which would let that worker skip a seq).
TEST_F(ShardStore, InOrderWorkersOutliveClientsAcrossACheckpoint) {
  push_ack ack;
  ASSERT_TRUE(store.apply_push(decoded(ordered(1)), ack).ok());
  const auto snap = store.snapshot();
  EXPECT_EQ(snap.in_order, std::vector<std::uint32_t>{0});
  checkpoint file;
  const auto bytes = encode_checkpoint({"job", 3, 1}, snap);
  ASSERT_TRUE(decode_checkpoint(bytes.data(), bytes.size(), file).ok());
  EXPECT_EQ(file.snapshot.in_order, snap.in_order);

  shard_store copy{3};
  ASSERT_TRUE(copy.restore(file.snapshot).ok());
  const auto clients = static_cast<std::uint32_t>(shard_store::max_tracked_senders * 5 / 4);
  for (std::uint32_t c = 0; c < clients; ++c) {
    auto w = push_writer::dense({1, 1000 + c, 0, 1, 0}, 40, 1);
    w.values()[0] = 0.f;
    ASSERT_TRUE(copy.apply_push(decoded(std::move(w).finish()), ack).ok());
  }
  EXPECT_LE(copy.tracked_senders(), shard_store::max_tracked_senders);
  EXPECT_EQ(copy.apply_push(decoded(ordered(3)), ack).code(), errc::out_of_order);
  ASSERT_TRUE(copy.apply_push(decoded(ordered(1)), ack).ok());
  EXPECT_TRUE(ack.duplicate);

  // A snapshot naming an in-order sender it has no seq of, or one twice, is
  // refused and changes nothing.
  auto bad = snap;
  bad.in_order.push_back(7);
  const auto before = copy.tracked_senders();
  auto st = copy.restore(bad);
  EXPECT_EQ(st.code(), errc::bad_config);
  EXPECT_EQ(st.message(), "worker 7 pushes in order but has no last push seq");
  bad.in_order = {0, 0};
  st = copy.restore(bad);
  EXPECT_EQ(st.code(), errc::bad_config);
  EXPECT_EQ(st.message(), "in-order workers are not strictly ascending at worker 0");
  EXPECT_EQ(copy.tracked_senders(), before);
  EXPECT_EQ(copy.apply_push(decoded(ordered(3)), ack).code(), errc::out_of_order);
}

// A copy from a primary's snapshot knows each worker's count and stays
// strict about it, but not that of a worker it has no seq of; a copy from
// a checkpoint (which lacks the pushes since) lets each worker skip once.
TEST_F(ShardStore, InOrderSeqsAfterARestore) {
  push_ack ack;
  for (std::uint64_t seq = 1; seq <= 2; ++seq) {
    ASSERT_TRUE(store.apply_push(decoded(ordered(seq)), ack).ok());
  }
  shard_store copy(3);
  copy.add_dense(spec, {40, 60});
  ASSERT_TRUE(copy.restore(store.snapshot()).ok());
  EXPECT_EQ(copy.apply_push(decoded(ordered(4)), ack).code(), errc::out_of_order);
  ASSERT_TRUE(copy.apply_push(decoded(ordered(3)), ack).ok());
  ASSERT_TRUE(copy.apply_push(decoded(ordered(7, 5)), ack).ok());
  copy.allow_resync();
  ASSERT_TRUE(copy.apply_push(decoded(ordered(10)), ack).ok());
  EXPECT_FALSE(ack.duplicate);
  EXPECT_EQ(copy.apply_push(decoded(ordered(12)), ack).code(), errc::out_of_order);
  ASSERT_TRUE(copy.apply_push(decoded(ordered(11)), ack).ok());
  ASSERT_TRUE(copy.apply_push(decoded(ordered(9, 5)), ack).ok());  // worker 5's one skip
  EXPECT_EQ(copy.apply_push(decoded(ordered(11, 5)), ack).code(), errc::out_of_order);
  EXPECT_EQ(copy.version(1), 7u);
}

TEST_F(ShardStore, ObservedStalenessIsVersionGapSincePull) {
  push_ack ack;
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    ASSERT_TRUE(store.apply_push(decoded(push(40, 20, 0.1f, seq, 1, seq - 1)), ack).ok());
    EXPECT_EQ(ack.staleness, 0u);
  }
  // Computed on version 1, applied at version 3: two pushes in between.
  ASSERT_TRUE(store.apply_push(decoded(push(40, 20, 0.1f, 4, 1, 1)), ack).ok());
  EXPECT_EQ(ack.staleness, 2u);
  EXPECT_EQ(ack.shard_version, 4u);
}

TEST_F(ShardStore, PullsReturnTheOwnedValues) {
  pull_request_view req;
  ASSERT_TRUE(decode_pull_request(encode_dense_pull(1, 0, 50, 10), req).ok());
  bytes reply;
  ASSERT_TRUE(store.read_pull(req, reply).ok());
  pull_reply_view v;
  ASSERT_TRUE(decode_pull_reply(reply, v).ok());
  ASSERT_EQ(v.count, 10u);
  EXPECT_EQ(v.offset, 50u);
  for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(v.values[i], initial[10 + i]);

  ASSERT_TRUE(decode_pull_request(encode_dense_pull(1, 0, 50, 11), req).ok());
  EXPECT_EQ(store.read_pull(req, reply).code(), errc::out_of_range);
  ASSERT_TRUE(decode_pull_request(encode_dense_pull(2, 0, 50, 1), req).ok());
  EXPECT_EQ(store.read_pull(req, reply).code(), errc::unknown_table);
}

// A pull over one message's payload is refused as a value (it used to throw
// out of the reply builder and kill the shard actor). Holds 256 MiB.
TEST(ShardStoreLimits, DensePullOverOneMessageIsRefused) {
  const std::uint64_t n = max_payload_bytes / sizeof(float) + 1;
  table_spec spec;
  spec.id = 1;
  spec.name = "big";
  spec.size = n;
  spec.optimizer = {optimizer_kind::sgd, 0.1f};
  shard_store store{0};
  store.add_dense(spec, {0, n});
  pull_request_view req;
  ASSERT_TRUE(decode_pull_request(encode_dense_pull(1, 0, 0, n), req).ok());
  bytes reply;
  const auto st = store.read_pull(req, reply);
  EXPECT_EQ(st.code(), errc::wrong_size) << st.to_string();
  EXPECT_TRUE(reply.empty());
  ASSERT_TRUE(decode_pull_request(encode_dense_pull(1, 0, n - 3, 3), req).ok());
  EXPECT_TRUE(store.read_pull(req, reply).ok());
}

}  // namespace
}  // namespace troupe

namespace troupe {
namespace {

class SparseShardStore : public ::testing::Test {
 protected:
  void SetUp() override {
    spec.id = 5;
    spec.name = "emb";
    spec.kind = table_kind::sparse;
    spec.width = 3;
    spec.row_init_bound = 0.1f;
    spec.optimizer = {optimizer_kind::adagrad, 0.1f};
    store.add_sparse(spec, 2);
    for (std::uint64_t k = 0; owned.size() < 4 || foreign.size() < 1; ++k) {
      (shard_of_row(k, 2) == 0 ? owned : foreign).push_back(k);
    }
  }

  bytes rows_push(const std::vector<std::uint64_t>& keys, std::uint32_t width, float v,
                  std::uint64_t seq) {
    auto w = push_writer::sparse({5, 1, 0, seq, 0}, keys.data(), keys.size(), width);
    for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = v;
    return std::move(w).finish();
  }

  table_spec spec;
  shard_store store{0};
  std::vector<std::uint64_t> owned, foreign;
};

TEST_F(SparseShardStore, RowsAreCreatedOnFirstTouchWithTheSeededInitialiser) {
  EXPECT_EQ(store.sparse_rows(5), 0u);
  pull_request_view req;
  ASSERT_TRUE(decode_pull_request(encode_sparse_pull(5, 1, owned.data(), 2), req).ok());
  bytes reply;
  ASSERT_TRUE(store.read_pull(req, reply).ok());
  pull_reply_view v;
  ASSERT_TRUE(decode_pull_reply(reply, v).ok());
  ASSERT_EQ(v.keys, (std::vector<std::uint64_t>{owned[0], owned[1]}));
  ASSERT_EQ(v.count, 6u);
  for (std::uint32_t c = 0; c < 3; ++c) {
    EXPECT_EQ(v.values[3 + c], initial_row_value(spec, owned[1], c));
    EXPECT_LE(std::fabs(v.values[c]), 0.1f);
  }
  EXPECT_EQ(store.sparse_rows(5), 2u);
  // values + 1 Adagrad slot, 4 bytes each, plus bookkeeping
  EXPECT_GE(store.bytes_per_row(5), 3u * 2u * 4u);
}

TEST_F(SparseShardStore, PushUpdatesOnlyTheTouchedRows) {
  push_view v;
  const auto msg = rows_push({owned[2], owned[3]}, 3, 1.0f, 1);
  ASSERT_TRUE(decode_push(msg, v).ok());
  push_ack ack;
  ASSERT_TRUE(store.apply_push(v, ack).ok());
  EXPECT_EQ(ack.shard_version, 1u);
  EXPECT_EQ(store.sparse_rows(5), 2u);
  // Adagrad's first step moves each value by lr * g / |g| = 0.1.
  const float* row = store.sparse_row(5, owned[2]);
  ASSERT_NE(row, nullptr);
  EXPECT_NEAR(row[1], initial_row_value(spec, owned[2], 1) - 0.1f, 1e-6);
  EXPECT_EQ(store.sparse_row(5, owned[0]), nullptr);
}

// A sparse push that skips a seq creates no rows (nor evicts any).
TEST_F(SparseShardStore, InOrderPushThatSkipsASeqCreatesNoRows) {
  auto w = push_writer::sparse({5, 1, 0, 2, 0, false, true}, owned.data(), 2, 3);
  for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = 1.0f;
  const auto msg = std::move(w).finish();
  push_view v;
  ASSERT_TRUE(decode_push(msg, v).ok());
  push_ack ack;
  EXPECT_EQ(store.apply_push(v, ack).code(), errc::out_of_order);
  EXPECT_EQ(store.sparse_rows(5), 0u);
  EXPECT_EQ(store.version(5), 0u);
}

TEST_F(SparseShardStore, RejectsWrongWidthForeignRowsNanAndDenseMessages) {
  push_ack ack;
  push_view v;
  const auto wide = rows_push({owned[0]}, 4, 1.0f, 1);
  ASSERT_TRUE(decode_push(wide, v).ok());
  EXPECT_EQ(store.apply_push(v, ack).code(), errc::wrong_size);
  const auto foreign_push = rows_push({owned[0], foreign[0]}, 3, 1.0f, 2);
  ASSERT_TRUE(decode_push(foreign_push, v).ok());
  EXPECT_EQ(store.apply_push(v, ack).code(), errc::out_of_range);
  const auto nan_push = rows_push({owned[0]}, 3, std::nanf(""), 3);
  ASSERT_TRUE(decode_push(nan_push, v).ok());
  EXPECT_EQ(store.apply_push(v, ack).code(), errc::non_finite);
  auto dense = push_writer::dense({5, 1, 0, 4, 0}, 0, 3);
  const auto dense_msg = std::move(dense).finish();
  ASSERT_TRUE(decode_push(dense_msg, v).ok());
  EXPECT_EQ(store.apply_push(v, ack).code(), errc::wrong_size);
  // Nothing was created or applied by the rejected pushes.
  EXPECT_EQ(store.sparse_rows(5), 0u);
  EXPECT_EQ(store.version(5), 0u);
}

}  // namespace
}  // namespace troupe

namespace troupe {
namespace {

class BoundedShardStore : public ::testing::Test {
 protected:
  void SetUp() override {
    spec.id = 3;
    spec.name = "bounded";
    spec.kind = table_kind::sparse;
    spec.width = 2;
    spec.row_init_bound = 0.5f;
    spec.max_rows = 8;
    spec.max_row_id = 1000;
    spec.optimizer = {optimizer_kind::sgd, 1.0f};
    store.add_sparse(spec, 1);
  }

  status pull(std::uint32_t worker, const std::vector<std::uint64_t>& keys) {
    pull_request_view req;
    EXPECT_TRUE(
        decode_pull_request(encode_sparse_pull(3, worker, keys.data(), keys.size()), req).ok());
    bytes reply;
    return store.read_pull(req, reply);
  }

  status push(std::uint32_t worker, const std::vector<std::uint64_t>& keys, std::uint64_t seq) {
    auto w = push_writer::sparse({3, worker, 0, seq, 0}, keys.data(), keys.size(), 2);
    for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = 1.0f;
    const auto msg = std::move(w).finish();
    push_view v;
    EXPECT_TRUE(decode_push(msg, v).ok());
    push_ack ack;
    return store.apply_push(v, ack);
  }

  table_spec spec;
  shard_store store{0};
};

TEST_F(BoundedShardStore, EvictsTheLeastRecentlyUsedRowsAndNeverTheRequestsOwn) {
  ASSERT_TRUE(pull(0, {1, 2, 3, 4}).ok());
  ASSERT_TRUE(push(0, {1, 2, 3, 4}, 1).ok());  // rows 1-4 updated
  ASSERT_TRUE(pull(1, {5, 6, 7, 8}).ok());     // full: 8 rows
  ASSERT_TRUE(pull(0, {1, 2}).ok());           // 1, 2 used again
  EXPECT_EQ(store.sparse_rows(3), 8u);
  ASSERT_TRUE(pull(1, {9, 10, 11}).ok());  // 3 new rows: the oldest go (3, 4, 5 ...)
  EXPECT_LE(store.sparse_rows(3), 8u);
  EXPECT_GE(store.evicted_rows(3), 3u);
  for (std::uint64_t kept : {1, 2, 9, 10, 11})
    EXPECT_NE(store.sparse_row(3, kept), nullptr) << kept;
  EXPECT_EQ(store.sparse_row(3, 3), nullptr);
  EXPECT_EQ(store.sparse_row(3, 4), nullptr);
  // The updated values of the kept rows moved with them.
  EXPECT_FLOAT_EQ(store.sparse_row(3, 1)[0], initial_row_value(spec, 1, 0) - 1.0f);
  // An evicted row comes back from the initialiser.
  ASSERT_TRUE(pull(0, {3}).ok());
  EXPECT_FLOAT_EQ(store.sparse_row(3, 3)[1], initial_row_value(spec, 3, 1));
  // The snapshot of an evicting table restores consistently.
  shard_store copy{0};
  ASSERT_TRUE(copy.restore(store.snapshot()).ok());
  EXPECT_EQ(copy.sparse_rows(3), store.sparse_rows(3));
  EXPECT_FLOAT_EQ(copy.sparse_row(3, 1)[0], store.sparse_row(3, 1)[0]);
}

TEST_F(BoundedShardStore, RejectsIdsOutsideTheTableAndOversizedRequests) {
  EXPECT_EQ(pull(0, {5, 1000}).code(), errc::out_of_range);
  EXPECT_EQ(push(0, {1000}, 1).code(), errc::out_of_range);
  EXPECT_EQ(pull(0, {1, 2, 3, 4, 5, 6, 7, 8, 9}).code(), errc::wrong_size);
  EXPECT_EQ(store.sparse_rows(3), 0u);
  EXPECT_EQ(store.cached_row_ids(3), 0u);  // refused requests are not cached either
}

// A table service runs for months, and every client connection is a new
// worker id that looks rows up and leaves. The rows a worker's last request
// resolved are only a cache (for its push, and for a request of the same
// rows again), bounded as a whole by row ids and by workers.
TEST(SparseLookupCache, WorkersThatComeAndGoLeaveABoundedCache) {
  table_spec spec;
  spec.id = 4;
  spec.name = "emb";
  spec.kind = table_kind::sparse;
  spec.width = 1;
  spec.optimizer = {optimizer_kind::sgd, 0.1f};
  shard_store store{0};
  store.add_sparse(spec, 1);
  std::vector<std::uint64_t> keys(1000);
  for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = i * 7 + 1;
  const auto pull = [&](std::uint32_t worker) {
    pull_request_view req;
    EXPECT_TRUE(
        decode_pull_request(encode_sparse_pull(4, worker, keys.data(), keys.size()), req).ok());
    bytes reply;
    return store.read_pull(req, reply);
  };
  ASSERT_TRUE(pull(1).ok());
  EXPECT_EQ(store.cached_row_ids(4), keys.size());
  auto w = push_writer::sparse({4, 1, 0, 1, 0}, keys.data(), keys.size(), 1);
  for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = 1.0f;
  const auto msg = std::move(w).finish();
  push_view v;
  ASSERT_TRUE(decode_push(msg, v).ok());
  push_ack ack;
  ASSERT_TRUE(store.apply_push(v, ack).ok());
  EXPECT_EQ(store.cached_row_ids(4), keys.size());  // one entry for the pull and its push
  EXPECT_EQ(store.cached_lookups(4), 1u);
  EXPECT_FLOAT_EQ(store.sparse_row(4, keys[5])[0], initial_row_value(spec, keys[5], 0) - 0.1f);

  // 3,000 clients of one lookup each: 3 million row ids without the bound.
  for (std::uint32_t client = 100; client < 3100; ++client) ASSERT_TRUE(pull(client).ok());
  EXPECT_LE(store.cached_row_ids(4), 1u << 20);
  EXPECT_GT(store.cached_row_ids(4), 0u);
  EXPECT_EQ(store.sparse_rows(4), keys.size());  // the rows themselves, once each

  // 100,000 clients of one row each: few row ids, but each client an entry.
  keys.resize(1);
  std::size_t most = 0;
  for (std::uint32_t client = 10000; client < 110000; ++client) {
    ASSERT_TRUE(pull(client).ok());
    most = std::max(most, store.cached_lookups(4));
  }
  EXPECT_LE(most, std::size_t{1} << 16);
  EXPECT_GT(store.cached_lookups(4), 0u);
}

}  // namespace
}  // namespace troupe
