// The wire codec: round trips of every message, in-place reads, and the
// rejection of truncated, garbage, misaligned-but-valid and mismatched input.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <random>

#include "engine/wire/wire_codec.hpp"

namespace troupe {
namespace {

bytes dense_push(std::size_t n, float base = 0.5f) {
  auto w = push_writer::dense({7, 3, 11, 5, 42}, 100, n);
  for (std::size_t i = 0; i < n; ++i) w.values()[i] = base + static_cast<float>(i);
  return std::move(w).finish();
}

TEST(WireCodec, DensePushRoundTripReadsValuesInPlace) {
  const auto msg = dense_push(1000);
  push_view v;
  ASSERT_TRUE(decode_push(msg, v).ok());
  EXPECT_EQ(v.table, 7u);
  EXPECT_EQ(v.worker, 3u);
  EXPECT_EQ(v.clock, 11);
  EXPECT_EQ(v.seq, 5u);
  EXPECT_EQ(v.pulled_version, 42u);
  EXPECT_FALSE(v.sparse);
  EXPECT_EQ(v.offset, 100u);
  ASSERT_EQ(v.count, 1000u);
  EXPECT_FLOAT_EQ(v.values[0], 0.5f);
  EXPECT_FLOAT_EQ(v.values[999], 999.5f);
  // Zero copy: the view points into the message bytes.
  const auto* p = reinterpret_cast<const char*>(v.values);
  EXPECT_GE(p, msg.data());
  EXPECT_LT(p, msg.data() + msg.size());
  EXPECT_EQ(v.keepalive, nullptr);
  EXPECT_FALSE(v.notify_applied);
  auto w = push_writer::dense({7, 3, 11, 6, 42, true}, 0, 4);
  ASSERT_TRUE(decode_push(std::move(w).finish(), v).ok());
  EXPECT_TRUE(v.notify_applied);
  EXPECT_FALSE(v.in_order);
  EXPECT_EQ(v.seq, 6u);
  auto o = push_writer::dense({7, 3, 11, 8, 42, false, true}, 0, 4);
  ASSERT_TRUE(decode_push(std::move(o).finish(), v).ok());
  EXPECT_FALSE(v.notify_applied);
  EXPECT_TRUE(v.in_order);
  EXPECT_EQ(v.pull_after, push_header::pull_after_kind::none);
  for (const auto kind :
       {push_header::pull_after_kind::bytes, push_header::pull_after_kind::shared}) {
    push_header h{7, 3, 11, 9, 42, true, true};
    h.pull_after = kind;
    auto p = push_writer::dense(h, 0, 4);
    ASSERT_TRUE(decode_push(std::move(p).finish(), v).ok());
    EXPECT_EQ(v.pull_after, kind);
  }
}

TEST(WireCodec, DenseMessageIsOneSegmentWithLittleOverhead) {
  const auto msg = dense_push(100000);
  // Single segment: the segment table says 0 extra segments.
  std::uint32_t count_minus_one;
  std::memcpy(&count_minus_one, msg.data(), 4);
  EXPECT_EQ(count_minus_one, 0u);
  EXPECT_LT(msg.size(), 100000 * 4 + 256);
}

TEST(WireCodec, SparsePushRoundTrip) {
  const std::uint64_t keys[] = {9, 1ull << 40, 3};
  auto w = push_writer::sparse({1, 2, 3, 4, 5}, keys, 3, 4);
  ASSERT_EQ(w.count(), 12u);
  std::iota(w.values(), w.values() + 12, 0.0f);
  const auto msg = std::move(w).finish();
  push_view v;
  ASSERT_TRUE(decode_push(msg, v).ok());
  EXPECT_TRUE(v.sparse);
  EXPECT_EQ(v.keys, (std::vector<std::uint64_t>{9, 1ull << 40, 3}));
  EXPECT_EQ(v.width, 4u);
  ASSERT_EQ(v.count, 12u);
  EXPECT_FLOAT_EQ(v.values[11], 11.0f);
}

TEST(WireCodec, PullRequestsRepliesAcksAndClocksRoundTrip) {
  pull_request_view pr;
  ASSERT_TRUE(decode_pull_request(encode_dense_pull(4, 9, 10, 20), pr).ok());
  EXPECT_EQ(pr.table, 4u);
  EXPECT_EQ(pr.worker, 9u);
  EXPECT_FALSE(pr.sparse);
  EXPECT_EQ(pr.offset, 10u);
  EXPECT_EQ(pr.count, 20u);
  EXPECT_EQ(pr.hold_round, 0u);
  ASSERT_TRUE(decode_pull_request(encode_dense_pull(4, 9, 10, 20, false, 3), pr).ok());
  EXPECT_EQ(pr.hold_round, 3u);  // keep_best's evaluator

  const std::uint64_t keys[] = {5, 6};
  ASSERT_TRUE(decode_pull_request(encode_sparse_pull(4, 9, keys, 2), pr).ok());
  EXPECT_TRUE(pr.sparse);
  EXPECT_EQ(pr.keys, (std::vector<std::uint64_t>{5, 6}));
  EXPECT_EQ(pr.hold_round, 0u);
  ASSERT_TRUE(
      decode_pull_request(encode_sparse_pull(4, 9, keys, 2, false, nullptr, true, 8), pr).ok());
  EXPECT_EQ(pr.hold_round, 8u);

  auto rw = pull_reply_writer::dense(4, 77, 10, 3);
  rw.values()[0] = 1.f;
  rw.values()[1] = 2.f;
  rw.values()[2] = 3.f;
  const auto reply = std::move(rw).finish();
  pull_reply_view rv;
  ASSERT_TRUE(decode_pull_reply(reply, rv).ok());
  EXPECT_EQ(rv.table, 4u);
  EXPECT_EQ(rv.shard_version, 77u);
  EXPECT_EQ(rv.offset, 10u);
  ASSERT_EQ(rv.count, 3u);
  EXPECT_FLOAT_EQ(rv.values[2], 3.f);

  push_ack ack;
  ASSERT_TRUE(decode_push_ack(encode_push_ack({8, 9, 2, true}), ack).ok());
  EXPECT_EQ(ack.seq, 8u);
  EXPECT_EQ(ack.shard_version, 9u);
  EXPECT_EQ(ack.staleness, 2u);
  EXPECT_TRUE(ack.duplicate);

  clock_advance adv;
  ASSERT_TRUE(decode_clock_advance(encode_clock_advance({3, 12345}), adv).ok());
  EXPECT_EQ(adv.worker, 3u);
  EXPECT_EQ(adv.clock, 12345);
}

// A pull reply built in the caller's buffer (a shared-memory slot) is the
// same message; one that does not fit is built in bytes as always.
TEST(WireCodec, PullReplyIsBuiltInACallersBufferWhenItFits) {
  std::vector<std::uint64_t> words(2000);  // 8-byte aligned
  reply_buffer into{reinterpret_cast<char*>(words.data()), words.size() * 8, 0};
  auto w = pull_reply_writer::dense(4, 77, 10, 1000, &into);
  for (std::size_t i = 0; i < 1000; ++i) w.values()[i] = static_cast<float>(i) + 0.5f;
  const auto none = std::move(w).finish();
  EXPECT_TRUE(none.empty());
  ASSERT_GT(into.used, 4000u);
  ASSERT_LE(into.used, into.capacity);
  pull_reply_view v;
  ASSERT_TRUE(decode_pull_reply(into.data, into.used, v).ok());
  EXPECT_EQ(v.shard_version, 77u);
  EXPECT_EQ(v.offset, 10u);
  ASSERT_EQ(v.count, 1000u);
  EXPECT_FLOAT_EQ(v.values[999], 999.5f);
  EXPECT_LT(reinterpret_cast<const char*>(v.values) - into.data, 64);  // read in place

  reply_buffer small{reinterpret_cast<char*>(words.data()), 1024, 0};
  auto w2 = pull_reply_writer::dense(4, 78, 0, 1000, &small);
  for (std::size_t i = 0; i < 1000; ++i) w2.values()[i] = 1.0f;
  const auto reply = std::move(w2).finish();
  EXPECT_EQ(small.used, 0u);
  ASSERT_TRUE(decode_pull_reply(reply, v).ok());
  EXPECT_EQ(v.shard_version, 78u);
  EXPECT_EQ(v.count, 1000u);
}

TEST(WireCodec, RejectsEveryTruncation) {
  const auto msg = dense_push(64);
  for (std::size_t len = 0; len < msg.size(); ++len) {
    bytes cut(msg.begin(), msg.begin() + static_cast<long>(len));
    push_view v;
    const auto st = decode_push(cut, v);
    ASSERT_FALSE(st.ok()) << "accepted a message cut to " << len << " of " << msg.size();
    EXPECT_EQ(st.code(), errc::malformed_message);
  }
}

TEST(WireCodec, RejectsGarbageWithoutCrashing) {
  std::mt19937 rng(7);
  int rejected = 0;
  for (int round = 0; round < 2000; ++round) {
    bytes junk(8 * (1 + rng() % 64));
    for (auto& c : junk) c = static_cast<char>(rng());
    push_view v;
    const auto st = decode_push(junk, v);
    if (!st.ok()) {
      ++rejected;
      EXPECT_TRUE(st.code() == errc::malformed_message || st.code() == errc::version_mismatch ||
                  st.code() == errc::wrong_size)
          << st.to_string();
    } else {
      // Random bytes that happen to decode must still describe sane memory.
      EXPECT_LE(v.count * 4, junk.size());
    }
  }
  EXPECT_GT(rejected, 1900);
}

TEST(WireCodec, CorruptedBytesOfAValidMessageNeverCrash) {
  const auto msg = dense_push(16);
  std::mt19937 rng(11);
  for (int round = 0; round < 3000; ++round) {
    bytes bad = msg;
    for (int flips = 0; flips < 3; ++flips)
      bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
    push_view v;
    if (decode_push(bad, v).ok()) {
      EXPECT_LE(reinterpret_cast<const char*>(v.values) + v.count * 4, bad.data() + bad.size());
    }
  }
}

TEST(WireCodec, RejectsTrailingBytesAndWrongMessageSizes) {
  auto msg = dense_push(4);
  msg.insert(msg.end(), 8, 0);
  push_view v;
  EXPECT_EQ(decode_push(msg, v).code(), errc::malformed_message);
  bytes odd(13, 0);
  EXPECT_EQ(decode_push(odd, v).code(), errc::malformed_message);
}

TEST(WireCodec, RejectsSparseRowsWhoseSizesDisagree) {
  const std::uint64_t keys[] = {1, 2};
  auto w = push_writer::sparse({1, 1, 0, 1, 0}, keys, 2, 3);
  auto msg = std::move(w).finish();
  push_view ok_view;
  ASSERT_TRUE(decode_push(msg, ok_view).ok());
  // A well-formed message that claims width 4 with 6 values.
  auto w2 = push_writer::sparse({1, 1, 0, 1, 0}, keys, 2, 3);
  auto msg2 = std::move(w2).finish();
  // Find the width field (3) in the data section of SparseRows and bump it.
  bool patched = false;
  for (std::size_t i = 8; i + 4 <= msg2.size(); i += 4) {
    std::uint32_t x;
    std::memcpy(&x, msg2.data() + i, 4);
    if (x == 3) {
      x = 4;
      std::memcpy(msg2.data() + i, &x, 4);
      push_view v;
      if (decode_push(msg2, v).code() == errc::wrong_size) patched = true;
      x = 3;
      std::memcpy(msg2.data() + i, &x, 4);
    }
  }
  EXPECT_TRUE(patched);
}

TEST(WireCodec, RejectsOtherProtocolVersions) {
  auto msg = encode_clock_advance({1, 2});
  // The version is the first UInt16 of the root struct's data section.
  std::uint16_t v;
  std::memcpy(&v, msg.data() + 16, 2);
  ASSERT_EQ(v, 1);
  v = 99;
  std::memcpy(msg.data() + 16, &v, 2);
  clock_advance adv;
  EXPECT_EQ(decode_clock_advance(msg, adv).code(), errc::version_mismatch);
}

// Sizes Cap'n Proto cannot hold (or that would wrap in a cast) are refused
// with a typed error before anything is allocated: no kj::Exception escapes.
TEST(WireCodec, WritersRefuseOversizedPayloadsBeforeBuildingAnything) {
  const std::size_t max_floats = max_payload_bytes / sizeof(float);
  EXPECT_TRUE(check_payload(max_floats, max_payload_bytes / 8, "x"));
  EXPECT_EQ(check_payload(max_floats + 1, 0, "x").code(), errc::wrong_size);
  EXPECT_EQ(check_payload(0, max_payload_bytes / 8 + 1, "x").code(), errc::wrong_size);
  auto refuses = [](auto&& build) {
    try {
      build();
    } catch (const troupe_error& e) {
      return e.code() == errc::wrong_size;
    }
    return false;
  };
  const std::uint64_t key = 1;  // never read: the writers refuse first
  const push_header h{1, 0, 0, 1, 0};
  EXPECT_TRUE(refuses([&] { push_writer::dense(h, 0, max_floats + 1); }));
  EXPECT_TRUE(refuses([&] { push_writer::dense(h, 0, std::size_t{1} << 30); }));  // wraps * 4
  EXPECT_TRUE(refuses([&] { pull_reply_writer::dense(1, 0, 0, max_floats + 1); }));
  EXPECT_TRUE(refuses([&] { push_writer::sparse(h, &key, 65, 1u << 20); }));
  EXPECT_TRUE(refuses([&] { pull_reply_writer::sparse(1, 0, &key, 65, 1u << 20); }));
  // num_keys * width overflows size_t: refused, not wrapped into a small message.
  EXPECT_TRUE(refuses([&] { push_writer::sparse(h, &key, std::size_t{1} << 62, 8); }));
  EXPECT_TRUE(refuses([&] { encode_sparse_pull(1, 0, &key, max_payload_bytes / 8 + 1); }));
  auto ok = push_writer::dense(h, 0, 4);  // small ones still build
  EXPECT_EQ(ok.count(), 4u);
}

}  // namespace
}  // namespace troupe
